"""Notes on contacts through the flow on a real database: versions kept in order and never
changed, a correction's reason, the follow-up each version opens, changes or withdraws, who may
read and write a note (the worker who took the contact, the participant's officer, the duty
manager and the clinical lead with a reason; not another worker, not the administrator), the
access log, contacts that take no note, and the risk alert a high or immediate note raises,
routed as any other alert."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from crisisline import contact_notes, record_access
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.alerts import NOTE_RISK_COOLDOWN, Alerting
from crisisline.clock import FakeClock
from crisisline.contact_notes import NoNoteTaken, NoteInput, NoteRefused
from crisisline.errors import Conflict, InvalidInput
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.note_models import ContactNote, FollowUp, FollowUpStatus, NoteAction, RiskNow
from crisisline.permissions import Permission
from tests.support.notes import ADMIN, LEAD, NAMES, Line, open_line
from tests.support.risk_alerts import BACKUP, MANAGER, OFFICER, OFFICER_B, PARTICIPANT, PRIMARY


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    return open_line(app, clock)


def _alerts(line: Line) -> list[RiskAlert]:
    with line.service.svc.db.transaction() as session:
        rows = list(session.scalars(select(RiskAlert).order_by(RiskAlert.id)))
        for row in rows:
            session.expunge(row)
        return rows


# ---- versions ------------------------------------------------------------------------------


def test_versions_are_kept_in_order_and_a_correction_never_changes_the_first(line: Line) -> None:
    first = line.write(PRIMARY, line.call, "He was low after court; we made a plan for tonight.")
    line.clock.advance(dt.timedelta(minutes=30))
    second = line.write(
        PRIMARY,
        line.call,
        "He was low after court; we made a plan and he will ring his sister.",
        RiskNow.MEDIUM,
        correction_reason="Left out that he agreed to ring his sister",
    )
    assert (first.note.version, second.note.version) == (1, 2)
    one, two = line.versions(line.call)
    assert one.id == first.note.id and two.id == second.note.id
    assert one.what_happened == "He was low after court; we made a plan for tonight."
    assert one.risk_now == RiskNow.LOW and one.correction_reason is None
    assert one.written_at == line.clock.now() - dt.timedelta(minutes=30)
    assert two.risk_now == RiskNow.MEDIUM
    assert two.correction_reason == "Left out that he agreed to ring his sister"
    assert one.author == two.author == f"staff:{line.id(PRIMARY)}"
    assert one.author_staff_id == line.id(PRIMARY)
    assert one.participant_id == line.id(PARTICIPANT)
    with line.service.svc.db.transaction() as session:
        assert contact_notes.current(session, line.call).id == two.id  # type: ignore[union-attr]


def test_a_correction_without_a_reason_is_refused_and_nothing_is_written(line: Line) -> None:
    line.write(PRIMARY, line.call)
    for reason in (None, "   "):
        with pytest.raises(InvalidInput) as refused:
            line.write(PRIMARY, line.call, "Corrected words", correction_reason=reason)
        assert refused.value.field == "correction_reason"
    assert [v.version for v in line.versions(line.call)] == [1]
    # The refused writes left no entry in the access log: their transactions rolled back.
    assert [entry[0] for entry in line.log(PRIMARY)] == ["change"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"what": "   "}, "what_happened"),
        ({"what": "x" * 10_001}, "what_happened"),
        ({"actions": (NoteAction.OTHER,)}, "other_action"),
        ({"follow_up_wanted": True}, "follow_up_what"),
        ({"factors": "f" * 5_001}, "factors"),
    ],
)
def test_a_note_at_fault_names_its_field_and_nothing_is_written(
    line: Line, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        line.write(PRIMARY, line.call, **fields)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert line.versions(line.call) == []


def test_the_follow_up_is_opened_changed_and_withdrawn_by_versions(line: Line) -> None:
    def follow_up() -> FollowUp | None:
        with line.service.svc.db.transaction() as session:
            found = session.scalars(
                select(FollowUp).where(FollowUp.contact_id == line.call)
            ).first()
            if found is not None:
                session.expunge(found)
            return found

    first = line.write(
        PRIMARY, line.call, follow_up_wanted=True, follow_up_what="Ring him about his hostel"
    )
    opened = follow_up()
    assert opened is not None and opened.status == FollowUpStatus.OPEN
    assert opened.officer_staff_id == line.id(OFFICER)
    assert (opened.what, opened.note_id) == ("Ring him about his hostel", first.note.id)
    second = line.write(
        PRIMARY,
        line.call,
        follow_up_wanted=True,
        follow_up_what="Ring him about his hostel and his GP",
        correction_reason="He asked about his GP too",
    )
    changed = follow_up()
    assert changed is not None and changed.id == opened.id
    assert (changed.status, changed.what) == (
        FollowUpStatus.OPEN,
        "Ring him about his hostel and his GP",
    )
    assert changed.note_id == second.note.id
    line.write(PRIMARY, line.call, correction_reason="Sorted it with him myself")
    withdrawn = follow_up()
    assert withdrawn is not None and withdrawn.status == FollowUpStatus.WITHDRAWN


# ---- who may read and write ----------------------------------------------------------------


@pytest.mark.parametrize("phone", [PRIMARY, OFFICER])
def test_the_worker_who_took_it_and_his_officer_write_and_read_without_a_reason(
    line: Line, phone: str
) -> None:
    saved = line.write(phone, line.call)
    assert saved.note.author_staff_id == line.id(phone)
    with line.service.svc.db.transaction() as session:
        shown = contact_notes.read_notes(session, line.visit(phone), line.call)
        assert [v.note.id for v in shown.versions] == [saved.note.id]
        assert shown.versions[0].author_name == NAMES[phone]
        assert shown.handler_name == "Amira Okafor" and shown.kind == "call"
    man = line.id(PARTICIPANT)
    assert line.log(phone) == [
        ("change", "contact_note", line.call, man, None),
        ("read", "contact_note", line.call, man, None),
    ]


@pytest.mark.parametrize("phone", [MANAGER, LEAD])
def test_a_duty_manager_and_the_clinical_lead_write_and_read_with_a_reason(
    line: Line, phone: str
) -> None:
    with pytest.raises(record_access.ReasonRequired):
        line.write(phone, line.call)
    assert line.versions(line.call) == []
    saved = line.write(phone, line.call, reason="Duty manager review of a contact or alert")
    assert saved.note.author_staff_id == line.id(phone)
    with line.service.svc.db.transaction() as session:
        notes = contact_notes.note_versions(
            session, line.visit(phone, "Clinical review"), line.call
        )
        assert [note.id for note in notes] == [saved.note.id]
    man = line.id(PARTICIPANT)
    assert line.log(phone) == [
        ("change", "contact_note", line.call, man, "Duty manager review of a contact or alert"),
        ("read", "contact_note", line.call, man, "Clinical review"),
    ]


def test_another_on_call_worker_who_handled_the_man_lately_is_refused(line: Line) -> None:
    # Tom took R2001's text conversation last night, so he reaches R2001's record; Amira's
    # call is hers, and so is its note.
    line.write(PRIMARY, line.call)
    for permission in (Permission.CONTACTS_READ, Permission.NOTES_WRITE):
        with line.service.svc.db.transaction() as session, pytest.raises(NoteRefused):
            contact_notes.open_note(session, line.visit(BACKUP), permission, line.call)
    with pytest.raises(NoteRefused):
        line.write(BACKUP, line.call, "Not mine to write", correction_reason="Trying")
    # ...and the other way round: the conversation's note is Tom's, not Amira's.
    line.write(BACKUP, line.opening, "Could not sleep, voices loud; agreed to ring GP.")
    with pytest.raises(NoteRefused):
        line.write(PRIMARY, line.opening, correction_reason="x")
    assert len(line.versions(line.call)) == 1 and len(line.versions(line.opening)) == 1


@pytest.mark.parametrize("phone", [ADMIN, OFFICER_B])
def test_the_administrator_and_another_officer_are_refused(line: Line, phone: str) -> None:
    line.write(PRIMARY, line.call)
    with pytest.raises(NoteRefused):
        line.write(phone, line.call, correction_reason="Tidying", reason="Clinical review")
    with line.service.svc.db.transaction() as session, pytest.raises(NoteRefused):
        contact_notes.read_notes(session, line.visit(phone, "Clinical review"), line.call)
    assert len(line.versions(line.call)) == 1
    assert line.log(phone) == []  # the entry points log the refusal in its own transaction


def test_a_contact_nobody_handled_takes_no_note(line: Line) -> None:
    with pytest.raises(NoNoteTaken) as refused:
        line.write(OFFICER, line.missed)
    assert "nobody handled it" in refused.value.message
    assert line.versions(line.missed) == []
    # His officer may read the missed call, which shows no note and offers none.
    with line.service.svc.db.transaction() as session:
        shown = contact_notes.read_notes(session, line.visit(OFFICER), line.missed)
        assert shown.subject.handled is None and shown.versions == []


def test_a_text_conversations_note_belongs_to_its_opening_text(line: Line) -> None:
    with line.service.svc.db.transaction() as session:
        for text in (line.opening, line.reply, line.later_text):
            assert contact_notes.note_contact_id(session, text) == line.opening
    line.write(BACKUP, line.opening, "Could not sleep; talked him down.")
    # Any text of it reaches the same note: a second version, a correction.
    with pytest.raises(InvalidInput):
        line.write(BACKUP, line.later_text, "A second note on the same conversation")
    line.write(BACKUP, line.reply, "Talked him down; he slept.", correction_reason="Ending")
    assert [v.version for v in line.versions(line.opening)] == [1, 2]
    assert line.versions(line.later_text) == line.versions(line.reply) == []


def test_an_unknown_callers_note_is_the_workers_and_the_duty_managers(line: Line) -> None:
    line.write(PRIMARY, line.unknown_call, "A friend of a participant, worried about him.")
    # No participant: nothing to break the glass on, and no officer's caseload.
    line.write(MANAGER, line.unknown_call, "Checked: not one of ours.", correction_reason="Added")
    with pytest.raises(NoteRefused):
        line.write(OFFICER, line.unknown_call, correction_reason="x")
    assert [v.participant_id for v in line.versions(line.unknown_call)] == [None, None]
    assert line.log(PRIMARY) == [("change", "contact_note", line.unknown_call, None, None)]


# ---- risk alerts ---------------------------------------------------------------------------


def test_a_high_risk_note_raises_a_warning_alert_to_his_officer(line: Line) -> None:
    saved = line.write(
        PRIMARY, line.call, "He spoke of ending things; would not say more.", RiskNow.HIGH
    )
    (alert,) = _alerts(line)
    assert (alert.rule, alert.severity) == ("note_risk_high", AlertSeverity.WARNING)
    assert alert.participant_id == line.id(PARTICIPANT)
    assert alert.recipient_staff_id == line.id(OFFICER) and alert.routed_to == "officer"
    assert saved.note.alert_id == alert.id and saved.alert is not None and not saved.alert_failed
    assert "high risk now in the worker's note on his call" in alert.reason
    with line.service.svc.db.transaction() as session:
        chase = session.get_one(EscalationRecord, alert.escalation_id)
        assert chase.status == "open" and chase.subject_type == "risk_alert"
    (text,) = line.service.texts_to(OFFICER)
    assert text.startswith("Resettle RISK ALERT: R2001 ")
    assert line.service.texts_to(MANAGER) == []
    assert all("ending things" not in body for _, body in line.service.texts())
    # Unacknowledged, it goes to the duty managers as every warning does.
    line.clock.advance(dt.timedelta(minutes=120))
    Jobs(line.service.svc).sweep_escalations()
    assert line.service.texts_to(MANAGER)


def test_an_immediate_risk_note_raises_an_urgent_alert_to_the_officer_and_duty_manager(
    line: Line,
) -> None:
    saved = line.write(BACKUP, line.opening, "Said he has pills saved up.", RiskNow.IMMEDIATE)
    (alert,) = _alerts(line)
    assert (alert.rule, alert.severity) == ("note_risk_immediate", AlertSeverity.URGENT)
    assert saved.note.alert_id == alert.id
    assert "text conversation" in alert.reason
    assert line.service.texts_to(OFFICER)[0].startswith("Resettle RISK ALERT URGENT: R2001 ")
    assert line.service.texts_to(MANAGER)[0].startswith("Resettle RISK ALERT URGENT: R2001 ")


@pytest.mark.parametrize("level", [RiskNow.NONE, RiskNow.LOW, RiskNow.MEDIUM])
def test_a_note_below_high_raises_no_alert(line: Line, level: RiskNow) -> None:
    saved = line.write(PRIMARY, line.call, risk=level)
    assert saved.note.alert_id is None and saved.alert is None
    assert _alerts(line) == [] and line.service.texts() == []


def test_a_correction_keeping_the_level_raises_no_second_alert_inside_the_cooldown(
    line: Line,
) -> None:
    first = line.write(PRIMARY, line.call, "Spoke of ending things.", RiskNow.IMMEDIATE)
    sent = len(line.service.texts())
    line.clock.advance(dt.timedelta(hours=2))
    for risk in (RiskNow.IMMEDIATE, RiskNow.HIGH):  # the same level, or lower
        again = line.write(
            PRIMARY, line.call, "Spoke of ending things tonight.", risk, correction_reason="typo"
        )
        assert again.note.alert_id == first.note.alert_id
    assert len(_alerts(line)) == 1 and len(line.service.texts()) == sent


def test_a_correction_raising_the_level_raises_the_urgent_alert(line: Line) -> None:
    line.write(PRIMARY, line.call, "Low, angry.", RiskNow.HIGH)
    raised = line.write(
        PRIMARY, line.call, "He has a rope.", RiskNow.IMMEDIATE, correction_reason="He rang back"
    )
    warning, urgent = _alerts(line)
    assert (warning.severity, urgent.severity) == (AlertSeverity.WARNING, AlertSeverity.URGENT)
    assert raised.note.alert_id == urgent.id
    assert line.service.texts_to(MANAGER)


def test_after_the_cooldown_a_correction_at_the_same_level_alerts_again(line: Line) -> None:
    first = line.write(PRIMARY, line.call, "Spoke of ending things.", RiskNow.HIGH)
    line.clock.advance(NOTE_RISK_COOLDOWN + dt.timedelta(minutes=1))
    again = line.write(
        PRIMARY, line.call, "Still speaking of it.", RiskNow.HIGH, correction_reason="Rang again"
    )
    assert again.note.alert_id is not None and again.note.alert_id != first.note.alert_id
    assert [a.status for a in _alerts(line)] == [AlertStatus.OPEN, AlertStatus.OPEN]


def test_the_note_is_kept_when_its_alert_cannot_be_raised(
    line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    # Rules that cannot say how long an officer has to acknowledge a warning: routing the
    # alert fails, as a fault anywhere in the alert's path would.
    svc = line.service.svc
    rules = dataclasses.replace(svc.risk_rules, acknowledgement=None)  # type: ignore[arg-type]
    broken = Alerting(svc.reach, rules, svc.settings.zone)
    note = NoteInput(what_happened="He has pills saved up.", risk_now=RiskNow.HIGH)
    with caplog.at_level(logging.ERROR), line.service.svc.db.transaction() as session:
        saved = contact_notes.write_note(
            session, line.visit(PRIMARY), line.call, note, alerting=broken
        )
        assert saved.alert_failed and saved.alert is None
    (kept,) = line.versions(line.call)
    assert kept.what_happened == "He has pills saved up." and kept.alert_id is None
    assert "could not be raised" in caplog.text and "pills" not in caplog.text


def test_logs_never_hold_the_notes_words(line: Line, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        line.write(PRIMARY, line.call, "Mentioned his daughter Kayleigh.", RiskNow.HIGH)
    assert "Kayleigh" not in caplog.text and "+4477009005" not in caplog.text


def test_two_versions_saved_at_the_same_moment_keep_one_and_answer_the_other(
    line: Line,
) -> None:
    # Nadia's version 1 lands while Amira is saving hers: Amira's is answered, never lost in an
    # error, and Nadia's stands.
    db = line.service.svc.db
    landed: list[int] = []

    def the_other_saves(session: Session | None = None, *_: object) -> None:
        if landed or (
            session is not None and not any(isinstance(row, ContactNote) for row in session.new)
        ):
            return
        with db.transaction() as other:
            subject = contact_notes.subject_of(other, line.call)
            assert subject.handled is not None
            written = contact_notes.add_version(
                other,
                subject.handled,
                NoteInput("Written by the other person first.", RiskNow.LOW),
                author=f"staff:{line.id(OFFICER)}",
                author_staff_id=line.id(OFFICER),
                now=line.clock.now(),
            )
            landed.append(written.id)

    note = NoteInput("Amira's account of the call.", RiskNow.LOW)
    if str(db.url).startswith("sqlite"):
        # SQLite takes the write lock as a transaction begins, so the two are one after the
        # other: the later finds a note already there and is asked why it corrects it.
        the_other_saves()
        expected: type[Exception] = InvalidInput
        field = "correction_reason"
    else:
        # PostgreSQL: the other commits between Amira's reading that there is no note and her
        # writing version 1, so hers clashes on (contact, version).
        expected, field = Conflict, "what_happened"
    with pytest.raises(expected) as clash, db.transaction() as session:
        event.listen(session, "before_flush", the_other_saves)
        contact_notes.write_note(
            session, line.visit(PRIMARY), line.call, note, alerting=line.alerting()
        )
    assert getattr(clash.value, "field", None) == field
    (kept,) = line.versions(line.call)
    assert kept.id == landed[0] and kept.what_happened == "Written by the other person first."


def test_an_unknown_callers_high_risk_note_tells_the_worker_no_alert_was_raised(
    line: Line,
) -> None:
    saved = line.write(PRIMARY, line.unknown_call, "Said he is on the bridge.", RiskNow.IMMEDIATE)
    assert saved.alert is None and saved.alert_failed
    assert saved.note.what_happened == "Said he is on the bridge."
    assert _alerts(line) == []
