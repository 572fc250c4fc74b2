"""/api/v1/handover: everything that happened in a period, as the morning handover gives it.

`GET /api/v1/handover?from=&to=` answers the sections of `crisisline.handover.build` for
[from, to) (Instants, as the other filters take them; without either, the last morning
handover's period; with `from` alone, until now). A period that is empty, backwards or longer
than 31 days is a 422 naming `to`. A note is given by its judgement and flags: its text, and
a follow-up's wording, are read from the contact (`/api/v1/contacts/{id}`), whose own reads
are logged with it. Reading the handover is logged once per participant it names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_smorest import abort
from marshmallow import Schema, fields

from crisisline import handover
from crisisline.api import access
from crisisline.api.common import protected_blueprint
from crisisline.api.rota_schemas import Instant
from crisisline.errors import InvalidInput
from crisisline.gate import requires
from crisisline.permissions import Permission
from crisisline.services import services

blueprint = protected_blueprint(
    "handover",
    __name__,
    "/api/v1",
    "The handover: every contact of a period with its note, alerts, follow-ups and failures.",
)


class HandoverQuerySchema(Schema):
    """The period [from, to); without either, the last morning handover's."""

    from_ = Instant(data_key="from")
    to = Instant()


class HandoverShiftSchema(Schema):
    """Who was on call on one rota for part of the period."""

    rota = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    names = fields.List(fields.String())


class HandoverRotaProblemSchema(Schema):
    """A rota whose shifts could not be worked out."""

    rota = fields.String()
    problem = fields.String()


class HandoverNoteSchema(Schema):
    """A contact's current note: the worker's judgement and flags (not its text)."""

    note_id = fields.Integer()
    version = fields.Integer()
    risk_now = fields.String()
    actions = fields.List(fields.String())
    follow_up_wanted = fields.Boolean()
    debrief_wanted = fields.Boolean()
    author = fields.String()
    written_at = fields.DateTime()


class HandoverContactSchema(Schema):
    """One contact of the period (a text conversation counts once)."""

    contact_id = fields.Integer(
        metadata={"description": "The contact its note belongs to (a conversation's first text)."}
    )
    kind = fields.String(
        metadata={
            "description": "call_answered, call_missed, voicemail, call_ringing, call_back, "
            "conversation or text"
        }
    )
    started_at = fields.DateTime()
    handled_by = fields.String(allow_none=True)
    called_back_at = fields.DateTime(allow_none=True)
    texts = fields.Integer(metadata={"description": "A conversation's texts in the period."})
    first_text_at = fields.DateTime(allow_none=True)
    first_reply_at = fields.DateTime(allow_none=True)
    reply_seconds = fields.Integer(allow_none=True)
    takes_note = fields.Boolean()
    no_note_yet = fields.Boolean()
    note = fields.Nested(HandoverNoteSchema, allow_none=True)
    contact = fields.String(metadata={"description": "Link to the contact and its notes."})


class HandoverParticipantContactsSchema(Schema):
    """The contacts of one participant (participant_id null: every unknown caller)."""

    participant_id = fields.Integer(allow_none=True)
    label = fields.String(metadata={"description": "Reference and initials, or Unknown callers."})
    contacts = fields.List(fields.Nested(HandoverContactSchema))


class HandoverCountsSchema(Schema):
    """The period in figures."""

    calls = fields.Integer()
    missed = fields.Integer()
    voicemails = fields.Integer()
    texts = fields.Integer()
    alerts = fields.Integer()
    no_note = fields.Integer()


class HandoverAlertLineSchema(Schema):
    """A risk alert raised in the period, and its state now."""

    alert_id = fields.Integer()
    participant_id = fields.Integer()
    label = fields.String()
    rule = fields.String()
    severity = fields.String()
    reason = fields.String()
    raised_at = fields.DateTime()
    status = fields.String()


class HandoverFollowUpLineSchema(Schema):
    """A follow-up asked of a responsible officer (its wording is on the contact's note)."""

    follow_up_id = fields.Integer()
    contact_id = fields.Integer()
    participant_id = fields.Integer(allow_none=True)
    label = fields.String()
    officer = fields.String(allow_none=True)
    asked_at = fields.DateTime()
    asked_by = fields.String()
    status = fields.String()
    asked_in_period = fields.Boolean()


class HandoverDebriefLineSchema(Schema):
    """A note of the period whose writer wants a debrief."""

    contact_id = fields.Integer()
    participant_id = fields.Integer(allow_none=True)
    label = fields.String()
    author = fields.String()
    written_at = fields.DateTime()


class HandoverEscalationLineSchema(Schema):
    """An escalation that reached a second step or ran out in the period."""

    escalation_id = fields.Integer()
    participant_id = fields.Integer(allow_none=True)
    label = fields.String(allow_none=True)
    subject_type = fields.String()
    summary = fields.String()
    status = fields.String()
    reached_step = fields.Integer()
    ran_out_at = fields.DateTime(allow_none=True)


class HandoverGapSchema(Schema):
    """A time in the next 72 hours when a rota has nobody usable on call."""

    rota = fields.String()
    start = fields.DateTime()
    end = fields.DateTime()
    reason = fields.String()


class HandoverCountByPurposeSchema(Schema):
    """How many failed, for one purpose."""

    purpose = fields.String()
    count = fields.Integer()


class HandoverOutageSchema(Schema):
    """A time the telephony provider refused or did not answer sends."""

    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    delayed = fields.Integer()


class HandoverOverdueSchema(Schema):
    """An escalation the audit found waiting past its next step."""

    escalation_id = fields.Integer()
    at = fields.DateTime()
    late_seconds = fields.Integer()


class HandoverFailuresSchema(Schema):
    """What the scheduler and the telephony reported failing in the period."""

    failed_deliveries = fields.List(fields.Nested(HandoverCountByPurposeSchema))
    outages = fields.List(fields.Nested(HandoverOutageSchema))
    failed_emails = fields.List(fields.Nested(HandoverCountByPurposeSchema))
    overdue_escalations = fields.List(fields.Nested(HandoverOverdueSchema))
    scheduler_beat_at = fields.DateTime(allow_none=True)
    scheduler_stale = fields.Boolean()


class HandoverPlanLineSchema(Schema):
    """A participant whose crisis plan is past its review date, or who has none."""

    participant_id = fields.Integer()
    label = fields.String(metadata={"description": "Reference and initials."})
    review_on = fields.Date(allow_none=True, metadata={"description": "null: no plan."})


class HandoverSchema(Schema):
    """The handover of [start, end), read at `now`."""

    start = fields.DateTime()
    end = fields.DateTime()
    now = fields.DateTime()
    zone = fields.String()
    counts = fields.Nested(HandoverCountsSchema)
    on_call = fields.List(fields.Nested(HandoverShiftSchema))
    rota_problems = fields.List(fields.Nested(HandoverRotaProblemSchema))
    participants = fields.List(fields.Nested(HandoverParticipantContactsSchema))
    alerts = fields.List(fields.Nested(HandoverAlertLineSchema))
    follow_ups_asked = fields.List(fields.Nested(HandoverFollowUpLineSchema))
    follow_ups_open = fields.List(
        fields.Nested(HandoverFollowUpLineSchema),
        metadata={"description": "Every follow-up still open, whenever it was asked."},
    )
    debriefs = fields.List(fields.Nested(HandoverDebriefLineSchema))
    escalations = fields.List(fields.Nested(HandoverEscalationLineSchema))
    gaps = fields.List(
        fields.Nested(HandoverGapSchema),
        allow_none=True,
        metadata={"description": "null: the gaps could not be worked out (never 'no gaps')."},
    )
    failures = fields.Nested(HandoverFailuresSchema)
    plans_past_review = fields.List(
        fields.Nested(HandoverPlanLineSchema),
        metadata={"description": "Active participants whose crisis plan is past its review date."},
    )
    plans_missing = fields.List(
        fields.Nested(HandoverPlanLineSchema),
        metadata={"description": "Active participants with no crisis plan."},
    )


@blueprint.route("/handover", methods=["GET"])
@blueprint.arguments(HandoverQuerySchema, location="query")
@blueprint.response(200, HandoverSchema)
@requires(Permission.HANDOVER_READ)
def get_handover(query: dict[str, Any]) -> dict[str, Any]:
    """The handover of a period: every contact by participant with its note, alerts,
    follow-ups, debriefs, escalations, rota gaps ahead and failures."""
    svc = services()
    now = svc.clock.now()
    zone = svc.settings.zone
    start: dt.datetime | None = query.get("from_")
    end: dt.datetime | None = query.get("to")
    try:
        if start is None and end is None:
            period = handover.default_period(now, svc.settings.handover_time, zone)
        elif start is None and end is not None:
            start = handover.period_ending(end, svc.settings.handover_time, zone).start
            period = handover.check_period(start, end)
        elif start is not None and end is None:
            if start >= now:
                abort(422, messages={"query": {"from": ["must be before now"]}})
            period = handover.check_period(start, now)
        else:
            assert start is not None and end is not None  # for mypy: both were given
            period = handover.check_period(start, end)
    except InvalidInput as error:
        abort(422, messages={"query": {error.field or "to": [error.message]}})
    with svc.db.transaction() as session:
        shown = handover.build(session, period.start, period.end, now=now, zone=zone)
        handover.log_read(session, access.visit(), shown)
    return _json(shown)


def _json(shown: handover.Handover) -> dict[str, Any]:
    return {
        "start": shown.start,
        "end": shown.end,
        "now": shown.now,
        "zone": shown.zone,
        "counts": shown.counts,
        "on_call": shown.on_call,
        "rota_problems": shown.rota_problems,
        "participants": [
            {
                "participant_id": group.participant_id,
                "label": group.label,
                "contacts": [_contact(line) for line in group.contacts],
            }
            for group in shown.participants
        ],
        "alerts": shown.alerts,
        "follow_ups_asked": shown.follow_ups_asked,
        "follow_ups_open": shown.follow_ups_open,
        "debriefs": shown.debriefs,
        "escalations": shown.escalations,
        "gaps": shown.gaps,
        "failures": {
            "failed_deliveries": _by_purpose(shown.failures.failed_deliveries),
            "outages": shown.failures.outages,
            "failed_emails": _by_purpose(shown.failures.failed_emails),
            "overdue_escalations": shown.failures.overdue_escalations,
            "scheduler_beat_at": shown.failures.scheduler_beat_at,
            "scheduler_stale": shown.failures.scheduler_stale,
        },
        "plans_past_review": shown.plans_past_review,
        "plans_missing": shown.plans_missing,
    }


def _contact(line: handover.ContactLine) -> dict[str, Any]:
    return {
        "contact_id": line.contact_id,
        "kind": line.kind,
        "started_at": line.started_at,
        "handled_by": line.handled_by,
        "called_back_at": line.called_back_at,
        "texts": line.texts,
        "first_text_at": line.first_text_at,
        "first_reply_at": line.first_reply_at,
        "reply_seconds": line.reply_seconds,
        "takes_note": line.takes_note,
        "no_note_yet": line.missing_note,
        # The schema dumps the judgement and flags only: the text stays on the contact.
        "note": line.note,
        "contact": f"/api/v1/contacts/{line.contact_id}",
    }


def _by_purpose(pairs: tuple[tuple[str, int], ...]) -> list[dict[str, Any]]:
    return [{"purpose": purpose, "count": count} for purpose, count in pairs]
