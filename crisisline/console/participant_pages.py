"""Participants: search, a participant's page with his timeline and weekly chart, his earlier
details and legal hold, placing and lifting a legal hold, and his voicemails played through the
service.

Each view reads the request, calls crisisline.participant_story and renders a template. Every
view showing anything of one participant opens his record through the access log first
(`open_participant_record`): outside the person's grant it answers 404, outside their own it
asks for a reason (break-glass).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

import phonenumbers
from flask import Response, flash, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from crisisline import (
    alert_desk,
    legal_holds,
    participant_corrections,
    participant_story,
    recording_deletion,
    voicemail_links,
)
from crisisline.console.common import (
    blueprint,
    menu_item,
    open_participant_record,
    person,
    visit,
)
from crisisline.errors import DomainError
from crisisline.escalation_models import EscalationRecord
from crisisline.gate import requires
from crisisline.participant_story import Cursor, Entry, EscalationEntry
from crisisline.permissions import Permission
from crisisline.record_access import Action
from crisisline.services import services

menu_item("Participants", "console.participants", Permission.PARTICIPANTS_READ, order=20)

MAX_SEARCH_LENGTH: Final = 200
MAX_PAGE: Final = 100_000
# The chart's SVG carries pygal's own <style> (and an inert config script): its answer allows
# inline style and nothing else, where every page of the console allows no inline style at all.
CHART_POLICY: Final = {
    "default-src": "'none'",
    "style-src": "'unsafe-inline'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}

View = TypeVar("View", bound=Callable[..., Any])


def _content_security_policy(policy: dict[str, str]) -> Callable[[View], View]:
    """Give one view's answers their own content security policy instead of the app's.

    flask-talisman reads a view's own options from `talisman_view_options`, which its per-view
    decorator sets; the app's Talisman (crisisline.console) is not reachable from here.
    """

    def mark(view: View) -> View:
        setattr(view, "talisman_view_options", {"content_security_policy": policy})  # noqa: B010
        return view

    return mark


# ---------------------------------------------------------------------------------------------
# Search


@blueprint.get("/participants")
@requires(Permission.PARTICIPANTS_READ)
def participants() -> ResponseReturnValue:
    """Find a participant by reference, name or phone number, among those the person reaches."""
    text = request.args.get("q", "")[:MAX_SEARCH_LENGTH]
    page = min(request.args.get("page", 1, type=int) or 1, MAX_PAGE)
    svc = services()
    with svc.db.transaction() as session:
        found = participant_story.find(
            session, visit(), text, page=page, region=svc.settings.default_region
        )
    return render_template("participant_search.html", q=text.strip(), found=found)


# ---------------------------------------------------------------------------------------------
# A participant's page


@blueprint.get("/participants/<int:participant_id>")
@requires(Permission.PARTICIPANTS_READ)
def participant(participant_id: int) -> ResponseReturnValue:
    """His details, then one timeline of his calls, texts, voicemails, escalations and alerts
    (for those who may read his contacts), newest first, and his contacts by week."""
    chosen, errors = participant_story.read_filter(
        request.args.getlist("kind"), request.args.get("since"), request.args.get("until")
    )
    after_token = request.args.get("after", "").strip()
    after = Cursor.read(after_token, "after") if after_token else None
    actor = person()
    svc = services()
    now = svc.clock.now()
    zone = svc.settings.zone
    with svc.db.transaction() as session:
        record = participant_story.participant(session, participant_id)
        open_participant_record(
            session,
            Permission.PARTICIPANTS_READ,
            participant_id=participant_id,
            record_type="participant",
            record_id=participant_id,
        )
        seen = participant_story.reach(session, actor, participant_id, now)
        timeline = None
        if seen.anything and not errors:
            timeline = participant_story.timeline(
                session, actor, participant_id, seen=seen, chosen=chosen, after=after, zone=zone
            )
        actions = _escalation_actions(session, timeline.entries if timeline else [])
        weeks = (
            participant_story.weekly_contacts(
                session, participant_id, now, zone, svc.risk_rules.night
            )
            if seen.contacts
            else []
        )
        holds = (
            legal_holds.history(session, participant_id)
            if actor.may(Permission.LEGAL_HOLDS_WRITE)
            else []
        )
        page = render_template(
            "participant_page.html",
            participant=record,
            hold=legal_holds.current(session, participant_id),
            holds=holds,
            names=participant_corrections.actor_names(
                session, [h.set_by for h in holds] + [h.lifted_by for h in holds]
            ),
            may_hold=actor.may(Permission.LEGAL_HOLDS_WRITE),
            may_edit=actor.may(Permission.PARTICIPANTS_WRITE),
            may_read_plan=actor.may(Permission.CRISIS_PLANS_READ),
            corrections=participant_corrections.earlier_details(session, participant_id),
            seen=seen,
            chosen=chosen,
            errors=errors,
            timeline=timeline,
            days=_by_day(timeline.entries if timeline else [], zone),
            actions=actions,
            weeks=weeks,
            night=svc.risk_rules.night,
            after=after,
            here=request.full_path.rstrip("?"),
            kind_names=participant_story.KIND_NAMES,
        )
    return page, 422 if errors else 200


def _escalation_actions(session: Session, entries: Sequence[Entry]) -> dict[int, tuple[bool, bool]]:
    """Whether the person may take and close each escalation on the page (the reply codes'
    rules, crisisline.alert_desk)."""
    actor = person()
    actions: dict[int, tuple[bool, bool]] = {}
    for entry in entries:
        if isinstance(entry, EscalationEntry):
            record = session.get(EscalationRecord, entry.id)
            if record is not None:
                actions[entry.id] = (
                    alert_desk.may_take(session, actor, record),
                    alert_desk.may_close(session, actor, record),
                )
    return actions


def _by_day(entries: Sequence[Entry], zone: ZoneInfo) -> list[tuple[dt.date, list[Entry]]]:
    """The entries under the local day they happened on, newest first as given."""
    return [
        (day, list(group))
        for day, group in groupby(entries, key=lambda entry: entry.at.astimezone(zone).date())
    ]


# ---------------------------------------------------------------------------------------------
# Legal holds


@blueprint.post("/participants/<int:participant_id>/legal-hold")
@requires(Permission.LEGAL_HOLDS_WRITE)
def legal_hold_place(participant_id: int) -> ResponseReturnValue:
    """Place a legal hold on him, with its reason: retention leaves his records alone."""
    return _hold_change(participant_id, lifting=False)


@blueprint.post("/participants/<int:participant_id>/legal-hold/lift")
@requires(Permission.LEGAL_HOLDS_WRITE)
def legal_hold_lift(participant_id: int) -> ResponseReturnValue:
    """Lift the legal hold on him, with its reason."""
    return _hold_change(participant_id, lifting=True)


def _hold_change(participant_id: int, *, lifting: bool) -> ResponseReturnValue:
    reason = request.form.get("reason", "")[: participant_corrections.REASON_MAX + 1]
    svc = services()
    status = 422
    error = ""
    try:
        with svc.db.transaction() as session:
            participant_story.participant(session, participant_id)
            open_participant_record(
                session,
                Permission.LEGAL_HOLDS_WRITE,
                participant_id=participant_id,
                record_type="participant",
                record_id=participant_id,
                action=Action.CHANGE,
            )
            change = legal_holds.lift if lifting else legal_holds.place
            change(session, participant_id, reason, actor=person().label, now=svc.clock.now())
    except DomainError as problem:
        if problem.field not in ("reason", "legal_hold"):
            raise
        error = problem.message
        status = 409 if problem.field == "legal_hold" else 422
    if error:
        with svc.db.transaction() as session:
            record = participant_story.participant(session, participant_id)
            open_participant_record(
                session,
                Permission.LEGAL_HOLDS_WRITE,
                participant_id=participant_id,
                record_type="participant",
                record_id=participant_id,
            )
            hold = legal_holds.current(session, participant_id)
            return render_template(
                "legal_hold_form.html",
                participant=record,
                hold=hold,
                names=participant_corrections.actor_names(session, [hold.set_by] if hold else []),
                lifting=lifting,
                reason=reason,
                error=error,
            ), status
    flash("The legal hold is lifted." if lifting else "The legal hold is in place.")
    return redirect(f"/participants/{participant_id}#legal-hold-heading", code=303)


# ---------------------------------------------------------------------------------------------
# The weekly chart


@blueprint.get("/participants/<int:participant_id>/chart.svg")
@_content_security_policy(CHART_POLICY)
@requires(Permission.CONTACTS_READ)
def participant_chart(participant_id: int) -> ResponseReturnValue:
    """His calls and texts by week over the last 12 weeks, day and night stacked, as SVG."""
    svc = services()
    with svc.db.transaction() as session:
        participant_story.participant(session, participant_id)
        open_participant_record(
            session,
            Permission.CONTACTS_READ,
            participant_id=participant_id,
            record_type="contacts_chart",
            record_id=participant_id,
        )
        weeks = participant_story.weekly_contacts(
            session, participant_id, svc.clock.now(), svc.settings.zone, svc.risk_rules.night
        )
    svg = participant_story.weekly_chart(weeks)
    return Response(svg, mimetype="image/svg+xml")


# ---------------------------------------------------------------------------------------------
# Voicemails


@blueprint.get("/participants/<int:participant_id>/voicemails/<int:contact_id>")
@requires(Permission.CONTACTS_READ)
def participant_voicemail(participant_id: int, contact_id: int) -> ResponseReturnValue:
    """Play one of his voicemails, fetched from the provider through the telephony port (the
    provider's address never reaches the browser). Each play is logged."""
    svc = services()
    with svc.db.transaction() as session:
        participant_story.participant(session, participant_id)
        # Logged before the audio is fetched: no message is ever heard without its entry.
        open_participant_record(
            session,
            Permission.CONTACTS_READ,
            participant_id=participant_id,
            record_type="voicemail",
            record_id=contact_id,
            action=Action.PLAY,
        )
        recording = None
        if not recording_deletion.was_deleted(session, contact_id, participant_id):
            recording = participant_story.voicemail_recording(session, participant_id, contact_id)
    if recording is None:
        # Deleted at the provider under the retention schedule: say so, rather than 404.
        return Response(
            voicemail_links.DELETED + "\n",
            status=voicemail_links.DELETED_STATUS,
            mimetype="text/plain",
        )
    # The same few fetches at once as the texted links' (a flood of plays cannot tie up
    # every web thread waiting on the provider).
    with voicemail_links.fetch_slot() as free:
        if not free:
            return Response(
                voicemail_links.BUSY + voicemail_links.HOW_ELSE + "\n",
                status=voicemail_links.BUSY_STATUS,
                mimetype="text/plain",
            )
        audio = voicemail_links.fetch(svc.telephony, recording)
    if audio is None:
        return Response(
            "The message cannot be played just now. " + voicemail_links.HOW_ELSE + "\n",
            status=503,
            mimetype="text/plain",
        )
    # Played from memory and never stored: the app's headers already say no-store; said here
    # too, so no change to them can let a browser or proxy keep a participant's voice.
    response = Response(audio, mimetype="audio/mpeg")
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------------
# Words and numbers on these pages


@blueprint.app_template_filter("participant_duration")
def participant_duration(seconds: int | None) -> str:
    """A wait or a call's length as people say it: "45 s", "2 min 05 s"."""
    if seconds is None:
        return "not recorded"
    minutes, rest = divmod(max(0, seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


@blueprint.app_template_filter("participant_phone")
def participant_phone(e164: str) -> str:
    """A number as people in the service's country write it: "07700 900123"."""
    try:
        parsed = phonenumbers.parse(e164, services().settings.default_region)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))


@blueprint.app_template_filter("participant_clock")
def participant_clock(instant: dt.datetime) -> str:
    """The time of day in the service's zone: "18:05"."""
    return f"{instant.astimezone(services().settings.zone):%H:%M}"


@blueprint.app_template_filter("participant_day")
def participant_day(day: dt.date) -> str:
    """A day as a heading: "Thursday 26 November 2026"."""
    return f"{day:%A} {day.day} {day:%B %Y}"


@blueprint.app_template_filter("participant_moment")
def participant_moment(instant: dt.datetime) -> str:
    """A day and time in the service's zone: "Thursday 26 November 2026, 18:05"."""
    local = instant.astimezone(services().settings.zone)
    return f"{participant_day(local.date())}, {local:%H:%M}"


@blueprint.app_template_filter("participant_words")
def participant_words(value: str) -> str:
    """A stored value such as "very_high" or "duty_manager" in words: "very high"."""
    return str(value).replace("_", " ")
