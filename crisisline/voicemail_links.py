"""Voicemail links: the missed-call text carries a link that plays the caller's message.

Issue 6 asks for the missed-call SMS to say whether a voicemail was left "with a link to it".
Twilio's own recording URL will not do: it either needs the account's credentials (with
"enforce HTTP auth on media URLs") or, without it, plays the participant's voice to anyone
who ever sees the URL, for as long as the recording exists.

So the link points at this service, `PUBLIC_BASE_URL/voicemail/<token>`:

- The token is signed with SECRET_KEY (itsdangerous) and names the contact and when the link
  expires (VOICEMAIL_LINK_HOURS after the call began, 72 by default). It is the same token
  every time it is written for that call, so a repeated webhook writes the same text. Nothing
  else is in it: no number, no name. A changed or made-up token is refused exactly like an
  unknown one (404).
- Opening the link fetches the recording through the telephony port (`fetch_recording`): the
  Twilio adapter asks TWILIO_API_BASE_URL (Twilio's API; the simulator locally) with the
  account's credentials, and only for a recording URL on Twilio's API: the credentials are
  never sent anywhere else. It plays it (audio/mpeg, never cached, never indexed, no
  referrer), and each play is written to the audit log and the record access log (naming the
  missed-call escalation whose texts carried the link: the link cannot say which of the
  people it went to opened it).
- An expired link, a recording that cannot be fetched or a deployment with console telephony
  answers a short page saying how to hear the message instead: call the crisis number from the
  staff member's registered phone (the call-back menu plays it). A recording deleted under the
  retention schedule answers 410 saying so. Never a 500.
- The audio passes through memory only: nothing is written to disk (no temporary file, no
  cache), and every answer says `Cache-Control: no-store`.
- Access logs never carry the token (crisisline.logs redacts it).
- The web threads also answer callers' webhooks, so links never hold more than two of a
  process's threads (more answer 503), a download is abandoned after 20 s, and a HEAD request
  (a link checker) fetches nothing.

Opening the link is not an acknowledgement: the missed-call escalation goes on until someone
replies with its code or calls the participant back through the line.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from flask import Blueprint, Response, request
from itsdangerous import BadSignature, URLSafeSerializer

from crisisline import audit, record_access, recording_deletion
from crisisline.gate import declare
from crisisline.models import Contact
from crisisline.permissions import Permission
from crisisline.services import services
from crisisline.settings import Settings
from crisisline.telephony import Telephony, TelephonyError

log = logging.getLogger(__name__)
blueprint = Blueprint("voicemail_links", __name__)
# Public to the gate on purpose: a voicemail link is its own signed, expiring secret.
declare(blueprint, Permission.PUBLIC)

PATH: Final = "/voicemail/"
SALT: Final = "crisisline.voicemail-link"
FETCH_DEADLINE_SECONDS: Final = 20.0  # the whole download, however slowly it trickles in
# The web threads also answer Twilio's webhooks for callers: links may hold at most this many
# of a process's threads at once (link previews, a forwarded link, reloads); more answer 503.
MAX_FETCHES_PER_PROCESS: Final = 2
_fetching = threading.BoundedSemaphore(MAX_FETCHES_PER_PROCESS)
MAX_BYTES: Final = 20 * 1024 * 1024  # a two-minute message is well under 1 MB
BUSY_STATUS: Final = 503
BUSY: Final = "The line is busy playing messages; try again in a minute. "
# A recording deleted at the provider under the retention schedule: there is nothing left to
# play, through the link, the console or the call-back menu.
DELETED: Final = "This message was deleted under the retention schedule. It cannot be played."
DELETED_STATUS: Final = 410
HOW_ELSE: Final = (
    "To hear the message, call the crisis line from your registered phone: "
    "the call-back menu plays it."
)
_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


class LinkError(Exception):
    """A voicemail link that cannot be used: unknown (or tampered with), or expired."""


class Expired(LinkError):
    """A genuine link whose time is up."""


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def token(secret_key: str, contact_id: int, expires_at: dt.datetime) -> str:
    """A signed token for the voicemail of contact `contact_id`, usable until `expires_at`."""
    return str(_serializer(secret_key).dumps([contact_id, int(expires_at.timestamp())]))


def url(settings: Settings, contact_id: int, since: dt.datetime) -> str:
    """The link to the voicemail of contact `contact_id`, usable for VOICEMAIL_LINK_HOURS
    from `since` (the call's start: the same link however often it is written)."""
    expires_at = since + dt.timedelta(hours=settings.voicemail_link_hours)
    return settings.public_base_url + PATH + token(settings.secret_key, contact_id, expires_at)


def read(secret_key: str, value: str, now: dt.datetime) -> int:
    """The contact id a token names; LinkError if it is not ours, Expired if its time is up."""
    try:
        payload = _serializer(secret_key).loads(value)
    except BadSignature:
        raise LinkError("not a voicemail link") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(type(part) is int for part in payload)
    ):
        raise LinkError("not a voicemail link")
    contact_id, expires = payload
    if now.timestamp() >= expires:
        raise Expired("the link has expired")
    return int(contact_id)


def fetch(telephony: Telephony, recording_url: str) -> bytes | None:
    """The recording's audio, through the telephony port, or None if it cannot be had (logged,
    without the URL)."""
    try:
        return telephony.fetch_recording(
            recording_url, max_bytes=MAX_BYTES, deadline_seconds=FETCH_DEADLINE_SECONDS
        )
    except TelephonyError as error:
        log.warning("voicemail link opened: the recording cannot be fetched (%s)", error)
        return None


@contextmanager
def fetch_slot() -> Iterator[bool]:
    """One of the few recording fetches this process runs at once (the link's and the
    console's together); False when all are in use, and the caller answers 503."""
    acquired = _fetching.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            _fetching.release()


def _page(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, mimetype="text/plain", headers=_HEADERS)


@blueprint.get(PATH + "<string:value>")
def listen(value: str) -> Response:
    """Play the voicemail a link names, or say how else to hear it."""
    svc = services()
    now = svc.clock.now()
    try:
        contact_id = read(svc.settings.secret_key, value, now)
    except Expired:
        return _page(410, "This voicemail link has expired. " + HOW_ELSE)
    except LinkError:
        return _page(404, "Not found.")
    with svc.db.transaction() as session:
        contact = session.get(Contact, contact_id)
        recording_url = contact.recording_url if contact is not None else None
        participant_id = contact.participant_id if contact is not None else None
        deleted = not recording_url and recording_deletion.was_deleted(session, contact_id)
    if deleted:
        return _page(DELETED_STATUS, DELETED)
    if not recording_url:
        return _page(404, "Not found.")
    if request.method == "HEAD":
        # A link checker or preview asking what is there: nothing is fetched or played.
        return Response(status=200, mimetype="audio/mpeg", headers=_HEADERS)
    with fetch_slot() as free:
        if not free:
            log.warning(
                "voicemail link opened while %d others were playing", MAX_FETCHES_PER_PROCESS
            )
            return _page(BUSY_STATUS, BUSY + HOW_ELSE)
        audio = fetch(svc.telephony, recording_url)
    if audio is None:
        return _page(503, "The message cannot be played from this link just now. " + HOW_ELSE)
    with svc.db.transaction() as session:
        audit.record(
            session,
            actor="voicemail link",
            action="voicemail.played",
            record_type="contact",
            record_id=contact_id,
            at=now,
        )
        record_access.voicemail_played(
            session,
            contact_id,
            participant_id,
            now,
            record_access.Origin(request.remote_addr, request.user_agent.string),
        )
    response = Response(audio, status=200, mimetype="audio/mpeg", headers=_HEADERS)
    response.headers["Content-Disposition"] = "inline"
    return response
