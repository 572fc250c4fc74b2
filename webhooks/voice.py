"""Crisis calls: voice webhooks. Each checks the signature, asks crisisline.calls, answers TwiML.

What callers hear is in config/crisis_line.toml (wording.callers); what staff hear when a call
reaches them or when they call the line to return a missed call is in wording.staff.

Every handler that a caller's call passes through fails safe: if anything goes wrong (the
database is down, a bug), the caller hears the crisis numbers, and FALLBACK_NUMBER is dialled
where one is set. A caller never meets silence or Twilio's stock error message.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
from collections.abc import Callable

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import Dial, VoiceResponse

import wording.staff
from crisisline import call_intake, calls
from crisisline.services import Services, services
from webhooks import spooled
from webhooks.fallback import fail_safe_voice, twiml
from webhooks.forms import (
    MAX_FIELD,
    Form,
    FormError,
    cleaned,
    optional_int,
    required,
    sid,
    text,
)
from webhooks.security import signed_by_twilio

blueprint = Blueprint("voice_webhooks", __name__, url_prefix="/webhooks/voice")
log = logging.getLogger(__name__)
SCREEN_TIMEOUT_SECONDS = 10
# A call in one of these states is over: in a Dial action, the caller has hung up.
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def fail_safe(view: Callable[[], Response]) -> Callable[[], Response]:
    """Answer with the fail-safe TwiML if the handler raises anything at all but bad input
    (FormError: 422 naming the field; the database was never the trouble)."""

    @functools.wraps(view)
    def wrapper() -> Response:
        try:
            return view()
        except FormError as error:
            body = {"code": 422, "message": error.message, "field": error.field}
            return Response(json.dumps(body), status=422, mimetype="application/json")
        except Exception:
            # Logged without the form: it carries the caller's number.
            log.exception("voice webhook %s failed; answering with the fail-safe", request.path)
            return twiml(fail_safe_voice())

    return wrapper


def spooled_on_failure(view: Callable[[], Response]) -> Callable[[], Response]:
    """Keep the request in the spool (crisisline.spool) if the handler cannot record it, so the
    contact is recorded once the database is back; then let `fail_safe` answer the caller."""

    @functools.wraps(view)
    def wrapper() -> Response:
        received_at = services().clock.now()
        try:
            return view()
        except FormError:
            raise  # bad input: nothing to keep
        except Exception:
            spooled.keep(services(), received_at)
            raise

    return wrapper


def _say(response: VoiceResponse | Dial, text: str, svc: Services) -> None:
    response.say(text, voice=svc.messages.voice, language=svc.messages.language)


def _ring_document(
    call_id: int | str,
    ring: calls.Ring,
    greeting: str | None,
    voice: str,
    language: str,
    public_base_url: str,
    crisis_line_number: str,
) -> str:
    """TwiML that says `greeting` (if any), then rings `ring`'s phones at once, each answered
    through screening for call `call_id`."""
    response = VoiceResponse()
    if greeting is not None:
        response.say(greeting, voice=voice, language=language)
    dial = response.dial(
        # The ring this Dial is: a repeated or late action for it must not skip the next.
        action=f"{public_base_url}/webhooks/voice/dial?step={ring.step}&loop={ring.loop}",
        method="POST",
        timeout=ring.timeout,
        # The crisis number, never a staff phone, is what anyone on the call sees.
        caller_id=crisis_line_number,
        answer_on_bridge=True,
    )
    for recipient in ring.recipients:
        screen = f"/webhooks/voice/screen?call={call_id}&staff={recipient.staff_id}"
        dial.number(recipient.phone, url=public_base_url + screen, method="POST")
    return str(response)


# Stands for the call's id in a kept ring document (see _ring_response).
_CALL_ID_MARK = "CALL-ID-HERE"


def _answer(plan: calls.CallPlan, svc: Services, greeting: str | None) -> Response:
    """The TwiML for `plan`, after `greeting` if one is given."""
    if plan.action == "ring" and plan.ring is not None:
        return _ring_response(plan.call_id, plan.ring, svc, greeting)
    response = VoiceResponse()
    if greeting is not None:
        _say(response, greeting, svc)
    return twiml(_render(plan, svc, response))


def _ring_response(call_id: int, ring: calls.Ring, svc: Services, greeting: str | None) -> Response:
    """The TwiML that rings `ring` for call `call_id`, after `greeting` if one is given.

    Every new call rings the same few phones with the same words, so the document is built
    with the twilio library once per kind of ring (its phones, step, timeout, wording and
    URLs) with a mark where the call's id goes, and kept; each call writes its id (a number)
    in place of the mark. The document is then character for character the one built for
    that call alone. If the mark is not found exactly once per phone (a wording that
    contains it, say), the document is built for the call alone instead.
    """
    messages, settings = svc.messages, svc.settings
    kind = (
        ring,
        greeting,
        messages.voice,
        messages.language,
        settings.public_base_url,
        settings.crisis_line_number,
    )
    parts = _ring_parts(*kind)
    if parts is None:
        return Response(_ring_document(call_id, *kind), status=200, mimetype="text/xml")
    return Response(str(int(call_id)).join(parts), status=200, mimetype="text/xml")


@functools.lru_cache(maxsize=256)
def _ring_parts(
    ring: calls.Ring,
    greeting: str | None,
    voice: str,
    language: str,
    public_base_url: str,
    crisis_line_number: str,
) -> tuple[str, ...] | None:
    """A ring's document split where the call's id goes, or None if that cannot be done."""
    document = _ring_document(
        _CALL_ID_MARK, ring, greeting, voice, language, public_base_url, crisis_line_number
    )
    parts = tuple(document.split(_CALL_ID_MARK))
    return parts if len(parts) == len(ring.recipients) + 1 else None


def _render(plan: calls.CallPlan, svc: Services, response: VoiceResponse) -> VoiceResponse:
    """Everything but a ring (`_answer` sends rings to `_ring_response`)."""
    if plan.action == "fallback":
        messages = svc.messages
        _say(response, messages.fallback_spoken, svc)
        _say(response, messages.voicemail_prompt, svc)
        response.record(
            action=svc.url("/webhooks/voice/voicemail"),
            method="POST",
            max_length=messages.voicemail_max_seconds,
            play_beep=True,
            timeout=10,
        )
        # Nothing recorded (the caller stayed silent): say the numbers once more, then end.
        _say(response, messages.fallback_spoken, svc)
        response.hangup()
        return response
    if plan.action == "staff_menu":
        return _staff_menu(plan, svc, response)
    response.hangup()
    return response


def incoming(form: Form, now: dt.datetime, region: str) -> calls.IncomingCall:
    """A call to the crisis number as its first webhook's form gives it; FormError names a
    malformed CallSid. A From or To that is not a number is a withheld caller, never refused."""
    return calls.IncomingCall(
        call_sid=sid("CallSid", form=form),
        from_raw=cleaned(form.get("From"), MAX_FIELD) or None,
        to_raw=cleaned(form.get("To"), MAX_FIELD) or None,
        now=now,
        region=region,
    )


@blueprint.post("")
@signed_by_twilio
@fail_safe
@spooled_on_failure
def incoming_call() -> Response:
    """A call to the crisis number: greet, then ring the first step of the crisis-call chain."""
    svc = services()
    call = incoming(request.form, svc.clock.now(), svc.settings.default_region)
    deadline = svc.db.deadline()
    # The common case in one statement (PostgreSQL); anything else, or nothing written: the
    # general path, which finds the database as if the one-statement path had not run. Both
    # try a lost connection again on fresh ones until the same deadline.
    plan = call_intake.receive_new_call(svc.db, call, svc.messages, deadline)
    if plan is None:
        plan = svc.db.in_transaction(
            lambda session: calls.receive_call(session, call, svc.messages, svc.alerting),
            deadline,
        )
    # The staff call-back menu is not greeted: the caller is one of the team.
    return _answer(plan, svc, None if plan.action == "staff_menu" else svc.messages.greeting)


@blueprint.post("/screen")
@signed_by_twilio
def screen() -> Response:
    """On the staff leg: say who is calling and wait for 1. No key or any other key hangs up."""
    svc = services()
    response = VoiceResponse()
    try:
        call_id, staff_id = _call_and_staff()
    except FormError:
        response.hangup()
        return twiml(response)
    try:
        with svc.db.transaction() as session:
            text = calls.screening_text(session, call_id, svc.messages)
    except Exception:
        log.exception("screening: could not look up call %s", call_id)
        text = svc.messages.screening.format(caller=wording.staff.SCREENING_UNKNOWN_CALLER)
    gather = response.gather(
        num_digits=1,
        action=svc.url(f"/webhooks/voice/screen/answer?call={call_id}&staff={staff_id}"),
        method="POST",
        timeout=SCREEN_TIMEOUT_SECONDS,
    )
    _say(gather, text, svc)
    # A voicemail or a missed press must never be bridged: end the staff leg explicitly.
    _say(response, svc.messages.screening_missed, svc)
    response.hangup()
    return twiml(response)


@blueprint.post("/screen/answer")
@signed_by_twilio
def screen_answer() -> Response:
    """1 accepts: recorded by the service, then the TwiML ends and Twilio bridges the call."""
    svc = services()
    response = VoiceResponse()
    try:
        call_id, staff_id = _call_and_staff()
    except FormError:
        response.hangup()
        return twiml(response)
    if request.form.get("Digits", "").strip() != "1":
        _say(response, svc.messages.screening_missed, svc)
        response.hangup()
        return twiml(response)
    try:
        with svc.db.transaction() as session:
            accepted = calls.accept(session, call_id, staff_id, svc.clock.now(), svc.reach)
    except Exception:
        # A person pressed 1: connecting them to the caller is safer than refusing because the
        # record could not be written. The Dial action will not know; the log says why.
        log.exception("screening: could not record acceptance of call %s", call_id)
        accepted = "accepted"
    if accepted == "ended":
        _say(response, wording.staff.VOICE_CALLER_HUNG_UP, svc)
        response.hangup()
    elif accepted != "accepted":
        _say(response, wording.staff.VOICE_CALL_TAKEN, svc)
        response.hangup()
    return twiml(response)


@blueprint.post("/dial")
@signed_by_twilio
@fail_safe
def dial_finished() -> Response:
    """The Dial ended: finished if someone accepted, else the next step or the fallback."""
    svc = services()
    call_sid = sid("CallSid")
    with svc.db.transaction() as session:
        plan = calls.dial_finished(
            session,
            call_sid,
            svc.clock.now(),
            svc.messages,
            svc.alerting,
            ended_ring=_ring_in_url(),
            # Twilio still requests the action after the caller hangs up, with the call's
            # final status; his final status callback records how it ended.
            caller_gone=request.form.get("CallStatus", "").strip() in FINAL_CALL_STATUSES,
        )
    return _answer(plan, svc, None)


def record_voicemail(svc: Services, form: Form, now: dt.datetime) -> None:
    """Keep the voicemail the Record action `form` reports and make sure someone calls back;
    FormError names a malformed CallSid. A lost connection is tried again on a fresh one."""
    call_sid = sid("CallSid", form=form)
    recording_url = text("RecordingUrl", calls.RECORDING_URL_STORED, form=form)
    duration = lenient_duration("RecordingDuration", form)
    svc.db.in_transaction(
        lambda session: calls.voicemail_left(
            session,
            call_sid,
            recording_url=recording_url,
            duration_seconds=duration,
            now=now,
            reach=svc.reach,
            zone=svc.settings.zone,
            alerting=svc.alerting,
            flood_rules=svc.flood_rules,
        )
    )


@blueprint.post("/voicemail")
@signed_by_twilio
@fail_safe
@spooled_on_failure
def voicemail() -> Response:
    """The caller's message is saved: open the missed-call escalation and thank them."""
    svc = services()
    record_voicemail(svc, request.form, svc.clock.now())
    response = VoiceResponse()
    _say(response, svc.messages.voicemail_thanks, svc)
    response.hangup()
    return twiml(response)


@blueprint.post("/status")
@signed_by_twilio
def status() -> Response | tuple[dict[str, str], int]:
    """The call's status callback: complete the contact once and chase a call nobody took."""
    svc = services()
    try:
        call_sid = sid("CallSid")
        call_status = required("CallStatus")
        duration = lenient_duration("CallDuration", request.form)
    except FormError as error:
        return {"message": error.message, "field": error.field}, 422
    if call_status in FINAL_CALL_STATUSES:
        try:
            with svc.db.transaction() as session:
                calls.call_ended(
                    session,
                    call_sid,
                    status=call_status,
                    duration_seconds=duration,
                    now=svc.clock.now(),
                    reach=svc.reach,
                    zone=svc.settings.zone,
                    alerting=svc.alerting,
                    flood_rules=svc.flood_rules,
                )
        except Exception as error:
            # Twilio does not retry status callbacks; the scheduler's auditor chases any call
            # whose end was not handled (calls.chase_unfinished), so nothing is lost here.
            log.error(
                "call status callback failed (%s); the auditor will chase it", type(error).__name__
            )
    return Response(status=204)


# ---- a staff member calling the line to call someone back -----------------------------------


def _staff_menu(plan: calls.CallPlan, svc: Services, response: VoiceResponse) -> VoiceResponse:
    if not plan.menu:
        _say(response, wording.staff.VOICE_NO_MISSED_CALLS, svc)
        response.hangup()
        return response
    gather = response.gather(
        num_digits=1,
        action=svc.url(f"/webhooks/voice/call-back?call={plan.call_id}"),
        method="POST",
        timeout=10,
    )
    labels = [c.label if c.number else None for c in plan.menu]
    _say(gather, wording.staff.voice_call_back_menu(labels), svc)
    _say(response, wording.staff.VOICE_NO_CHOICE, svc)
    response.hangup()
    return response


@blueprint.post("/call-back")
@signed_by_twilio
@fail_safe
def call_back() -> Response:
    """Connect the staff member to the missed caller they chose, showing the crisis number."""
    svc = services()
    response = VoiceResponse()
    digit = request.form.get("Digits", "").strip()[:1]
    call_sid = sid("CallSid")
    with svc.db.transaction() as session:
        choice = calls.call_back_choice(session, call_sid, digit)
        if choice is None:
            _say(response, wording.staff.VOICE_NOT_A_CHOICE, svc)
            response.hangup()
            return twiml(response)
        outbound = calls.start_call_back(
            session, call_sid, choice, now=svc.clock.now(), reach=svc.reach
        )
    if choice.recording_url:
        _say(response, wording.staff.VOICE_THEIR_MESSAGE, svc)
        response.play(choice.recording_url)
    if not choice.number:
        _say(response, wording.staff.VOICE_WITHHELD, svc)
        response.hangup()
        return twiml(response)
    _say(response, wording.staff.voice_calling_back(choice.label), svc)
    response.dial(
        choice.number,
        caller_id=svc.settings.crisis_line_number,
        answer_on_bridge=True,
        # The outbound contact is completed (answered or not, how long) when the Dial ends.
        action=svc.url(f"/webhooks/voice/call-back/done?contact={outbound.id}"),
        method="POST",
    )
    return twiml(response)


@blueprint.post("/call-back/done")
@signed_by_twilio
def call_back_done() -> Response:
    """The call-back's Dial ended: complete its outbound contact once, then end the staff leg."""
    svc = services()
    response = VoiceResponse()
    response.hangup()
    try:
        contact_id = _call_back_contact()
        with svc.db.transaction() as session:
            calls.call_back_finished(
                session,
                sid("CallSid"),
                contact_id,
                dial_status=required("DialCallStatus"),
                duration_seconds=lenient_duration("DialCallDuration", request.form),
                now=svc.clock.now(),
            )
    except FormError as error:
        log.warning("call-back action: %s; nothing recorded", error.message)
    except Exception:
        # The staff member's call is over either way; the escalation was taken at call-back.
        log.exception("call-back action could not be recorded")
    return twiml(response)


def lenient_duration(name: str, form: Form) -> int | None:
    """A duration Twilio reports, or None if it is not a whole number a column holds: a call
    or a voicemail is never turned away for its length."""
    try:
        return optional_int(name, form=form)
    except FormError:
        log.warning("%s is not a whole number of seconds; recorded without it", name)
        return None


def _is_id(value: str) -> bool:
    # str.isdigit() alone also passes "²" or "٣", which int() refuses; ids fit in 12 digits.
    return value.isascii() and value.isdigit() and len(value) <= 12


def _ring_in_url() -> tuple[int, int] | None:
    step, loop = request.args.get("step", ""), request.args.get("loop", "")
    return (int(step), int(loop)) if _is_id(step) and _is_id(loop) else None


def _call_back_contact() -> int:
    contact = request.args.get("contact", "")
    if not _is_id(contact):
        raise FormError("contact", "the call-back action URL names no contact")
    return int(contact)


def _call_and_staff() -> tuple[int, int]:
    call = request.args.get("call", "")
    staff = request.args.get("staff", "")
    if not (_is_id(call) and _is_id(staff)):
        raise FormError("call", "the screening URL names no call or staff member")
    return int(call), int(staff)
