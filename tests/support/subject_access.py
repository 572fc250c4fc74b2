"""A participant with a whole record for subject access tests, and another man whose record must
never leak into his bundle.

Kieran Ashdown (R3001, +447700900401) called (answered by an on-call worker), texted the line and
was texted back, left two voicemails (one recording held at the provider, one whose recording
cannot be fetched), has a note in two versions (the second a correction), a risk alert, a
correction of his details, a lifted legal hold, and entries in the access log. His texts and
notes mention a member of staff's number and a third party's number (both to be redacted) and his
own second number (to be kept).

Lionel Fairweather (R3002, +447700900402) has a call, a text with distinctive words, a note, an
alert and a voicemail of his own: none of it may appear in Kieran's bundle.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from flask import Flask

from crisisline import contacts, participants, record_access, staff
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.data_protection_models import LegalHold, ParticipantCorrection
from crisisline.models import Channel, Direction, RiskLevel, StaffRole
from crisisline.note_models import ContactNote, RiskNow
from crisisline.telephony import FakeTelephony
from tests.support.app import services_of

LINE: Final = "+447700900000"
KIERAN: Final = "+447700900401"
KIERAN_SECOND: Final = "+447700900403"
LIONEL: Final = "+447700900402"
WORKER: Final = "+447700900410"  # Amara Quayle, on-call worker
OFFICER: Final = "+447700900411"  # Bryony Castellan, responsible officer
ADMIN: Final = "+447700900412"  # Cedric Holloway, administrator
THIRD_PARTY: Final = "+447700900499"  # his sister's number, mentioned in a text
STAFF_NAMES: Final = ("Amara Quayle", "Bryony Castellan", "Cedric Holloway")
HELD_RECORDING: Final = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0001"
LOST_RECORDING: Final = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0002"
LIONEL_RECORDING: Final = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0003"
AUDIO: Final = b"ID3\x03\x00fake-mp3-of-kieran"
LIONEL_AUDIO: Final = b"ID3\x03\x00fake-mp3-of-lionel-zebra"
# Words, numbers and names that are Lionel's alone: none may appear anywhere in Kieran's bundle.
LIONEL_MARKS: Final = (
    "Lionel",
    "Fairweather",
    "R3002",
    "+447700900402",
    "07700 900402",
    "07700900402",
    "marmalade lighthouse",
    "quokka",
    "zebra",
)
T0: Final = dt.datetime(2026, 10, 1, 22, 15, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Record:
    """The ids the tests look for."""

    kieran: int
    lionel: int
    worker: int
    officer: int
    admin: int
    call: int
    text_in: int
    text_out: int
    voicemail: int
    lost_voicemail: int
    removed_text: int
    alert: int


def seed(app: Flask, telephony: FakeTelephony) -> Record:
    """Both men's records, and the audio the fake provider holds."""
    db = services_of(app).db
    telephony.recordings[HELD_RECORDING] = AUDIO
    telephony.recordings[LIONEL_RECORDING] = LIONEL_AUDIO
    with db.transaction() as session:
        worker = staff.create(
            session,
            staff.NewStaff(STAFF_NAMES[0], WORKER, None, [StaffRole.ON_CALL]),
            actor="test",
            now=T0,
        ).id
        officer = staff.create(
            session,
            staff.NewStaff(STAFF_NAMES[1], OFFICER, None, [StaffRole.RESPONSIBLE_OFFICER]),
            actor="test",
            now=T0,
        ).id
        admin = staff.create(
            session,
            staff.NewStaff(STAFF_NAMES[2], ADMIN, None, [StaffRole.ADMIN]),
            actor="test",
            now=T0,
        ).id
        kieran = participants.create(
            session,
            participants.NewParticipant(
                "R3001", "Kieran Ashdown", [KIERAN, KIERAN_SECOND], officer, RiskLevel.HIGH
            ),
            actor="test",
            now=T0,
        ).id
        lionel = participants.create(
            session,
            participants.NewParticipant(
                "R3002", "Lionel Fairweather", [LIONEL], officer, RiskLevel.LOW
            ),
            actor="test",
            now=T0,
        ).id

        def contact(
            man: int,
            number: str,
            minutes: int,
            channel: Channel,
            direction: Direction,
            outcome: str,
            *,
            body: str | None = None,
            by: int | None = None,
            recording: str | None = None,
        ) -> int:
            inbound = direction == Direction.INBOUND
            row, _ = contacts.record(
                session,
                channel=channel,
                direction=direction,
                from_number=number if inbound else LINE,
                to_number=LINE if inbound else number,
                twilio_sid=None,
                started_at=T0 + dt.timedelta(minutes=minutes),
                participant_id=man,
                body=body,
                outcome=outcome,
                handled_by_staff_id=by,
            )
            row.recording_url = recording
            if channel == Channel.VOICE:
                row.ended_at = row.started_at + dt.timedelta(minutes=9)
                row.duration_seconds = 540
            return row.id

        call = contact(kieran, KIERAN, 0, Channel.VOICE, Direction.INBOUND, "answered", by=worker)
        text_in = contact(
            kieran,
            KIERAN_SECOND,
            30,
            Channel.SMS,
            Direction.INBOUND,
            "relayed",
            body=f"cant sleep. my sister on {THIRD_PARTY[:3]} 7700 900499 says hi, "
            "or text me on 07700 900403",
        )
        text_out = contact(
            kieran,
            KIERAN_SECOND,
            35,
            Channel.SMS,
            Direction.OUTBOUND,
            "sent",
            body="Hi, it's the line. Amara here. If it gets worse ring 07700 900410 or "
            "Samaritans on 116 123.",
            by=worker,
        )
        voicemail = contact(
            kieran,
            KIERAN,
            120,
            Channel.VOICE,
            Direction.INBOUND,
            "voicemail",
            recording=HELD_RECORDING,
        )
        lost = contact(
            kieran,
            KIERAN,
            180,
            Channel.VOICE,
            Direction.INBOUND,
            "voicemail",
            recording=LOST_RECORDING,
        )
        removed = contact(
            kieran,
            KIERAN,
            240,
            Channel.SMS,
            Direction.INBOUND,
            "relayed",
            body="[removed under the retention schedule]",
        )
        session.add_all(
            [
                ContactNote(
                    contact_id=call,
                    version=1,
                    participant_id=kieran,
                    author_staff_id=worker,
                    author=f"staff:{worker}",
                    written_at=T0 + dt.timedelta(minutes=15),
                    what_happened="He rang after a row about the hostel; talked it through.",
                    risk_now=RiskNow.MEDIUM,
                    actions=["safety_plan"],
                ),
                ContactNote(
                    contact_id=call,
                    version=2,
                    participant_id=kieran,
                    author_staff_id=worker,
                    author=f"staff:{worker}",
                    written_at=T0 + dt.timedelta(minutes=50),
                    what_happened="He rang after a row at the probation hostel; calmer by the end.",
                    risk_now=RiskNow.LOW,
                    actions=["safety_plan"],
                    factors="Rang his officer on 07700 900411 <script>alert(1)</script>",
                    correction_reason="It was the probation hostel, not the day centre.",
                ),
            ]
        )
        alert = RiskAlert(
            participant_id=kieran,
            rule="night_calls",
            severity=AlertSeverity.WARNING,
            reason="3 calls between midnight and 6 a.m.",
            status=AlertStatus.ACKNOWLEDGED,
            raised_at=T0 + dt.timedelta(minutes=181),
            last_seen_at=T0 + dt.timedelta(minutes=181),
            recipient_staff_id=officer,
            routed_to="officer",
            acknowledged_by=f"staff:{officer}",
            acknowledged_by_staff_id=officer,
            acknowledged_at=T0 + dt.timedelta(hours=9),
        )
        session.add(alert)
        session.add(
            ParticipantCorrection(
                participant_id=kieran,
                at=T0 + dt.timedelta(days=1),
                actor=f"staff:{admin}",
                reason="His name was misspelt at intake.",
                changes={"name": ["Kieran Ashdon", "Kieran Ashdown"]},
            )
        )
        session.add(
            LegalHold(
                participant_id=kieran,
                reason="Coroner's inquiry about the hostel.",
                set_at=T0 + dt.timedelta(days=2),
                set_by=f"staff:{admin}",
                lifted_at=T0 + dt.timedelta(days=20),
                lifted_by=f"staff:{admin}",
                lift_reason="Inquiry closed.",
            )
        )
        for man in (kieran, lionel):
            record_access.record(
                session,
                f"staff:{officer}",
                action="read",
                record_type="participant",
                record_id=man,
                participant_id=man,
                at=T0 + dt.timedelta(hours=10),
            )
        record_access.record(
            session,
            "integration:probation-case-system",
            action="read",
            record_type="contacts",
            record_id=None,
            participant_id=kieran,
            at=T0 + dt.timedelta(hours=11),
        )
        # Lionel's record, distinctive throughout.
        lionel_call = contact(
            lionel, LIONEL, 5, Channel.VOICE, Direction.INBOUND, "answered", by=worker
        )
        contact(
            lionel,
            LIONEL,
            7,
            Channel.SMS,
            Direction.INBOUND,
            "relayed",
            body="marmalade lighthouse quokka",
        )
        contact(
            lionel,
            LIONEL,
            9,
            Channel.VOICE,
            Direction.INBOUND,
            "voicemail",
            recording=LIONEL_RECORDING,
        )
        session.add(
            ContactNote(
                contact_id=lionel_call,
                version=1,
                participant_id=lionel,
                author_staff_id=worker,
                author=f"staff:{worker}",
                written_at=T0 + dt.timedelta(minutes=20),
                what_happened="Lionel spoke about the quokka.",
                risk_now=RiskNow.LOW,
                actions=[],
            )
        )
        session.add(
            RiskAlert(
                participant_id=lionel,
                rule="zebra_rule",
                severity=AlertSeverity.INFO,
                reason="zebra",
                raised_at=T0,
                last_seen_at=T0,
                routed_to="officer",
            )
        )
        session.flush()
        return Record(
            kieran,
            lionel,
            worker,
            officer,
            admin,
            call,
            text_in,
            text_out,
            voicemail,
            lost,
            removed,
            alert.id,
        )
