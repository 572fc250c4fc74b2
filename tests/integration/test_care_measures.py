"""The text, note, escalation, alert and rota measures (crisisline.care_measures and
crisisline.cover_measures) on a hand-built weekend, each figure worked out by hand below
(comments with the arithmetic): every drill-down lists exactly the contacts counted, and a
breakdown by day and night, by staff member or by rota adds up to the whole.

The period is the local days Saturday 24 and Sunday 25 October 2026, Europe/London, across the
clocks going back (02:00 BST becomes 01:00 GMT on the Sunday): from Friday 23 October 23:00
UTC to Monday 26 October 00:00 UTC, 49 hours. Times below are UTC; local time is UTC+1 before
Sunday 01:00 UTC and UTC after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from crisisline import (
    care_measures,
    contacts,
    cover_measures,
    note_prompts,
    participants,
    rota_service,
    staff,
)
from crisisline.alert_models import AlertEvidence, AlertSeverity, AlertStatus, RiskAlert
from crisisline.conversation_models import SmsConversation
from crisisline.escalation_models import EscalationEvent, EscalationRecord
from crisisline.flood_models import Flood, FloodContact
from crisisline.models import Channel, Contact, ContactOutcome, Direction, RiskLevel
from crisisline.reports import Context, Figure, Period, Report, compute
from crisisline.risk_rules import NightHours
from crisisline.rota_models import RotaRecord
from crisisline.service_report import build, contact_rows, staff_names
from tests.support.app import services_of
from tests.support.handover import DANIEL, MARCUS, _call, _text_in, add_people, note
from tests.support.team import add_weekly_rota

UTC = dt.UTC
LONDON = ZoneInfo("Europe/London")
SETUP = dt.datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
PERIOD = Period.local_days(dt.date(2026, 10, 24), dt.date(2026, 10, 25), LONDON)
NIGHT = NightHours(dt.time(22, 0), dt.time(7, 0))
CONTEXT = Context(PERIOD, NIGHT, handover_time=dt.time(8, 30))
LINE = "+447700900000"
STRANGER = "+447700900777"
MODULES = [care_measures, cover_measures]
MY_KEYS = (
    "texts.conversations",
    "texts.first_reply_median",
    "texts.first_reply_p90",
    "texts.replied_within_5min",
    "texts.no_reply",
    "escalations.second_step",
    "escalations.last_step",
    "escalations.ran_out",
    "alerts.raised",
    "alerts.time_to_ack_median",
    "rota.gap_hours",
    "notes.within_30min",
    "notes.by_handover",
)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """An instant in October 2026, UTC."""
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=UTC)


@dataclass
class Weekend:
    """The ids of what was built, by name."""

    staff: dict[str, int]
    contacts: dict[str, int]


def _conversation(
    session: Session,
    opened: dt.datetime,
    phone: str,
    participant_id: int | None,
    *,
    taken_by: int | None,
    last: dt.datetime,
    closed: dt.datetime | None = None,
) -> SmsConversation:
    conversation = SmsConversation(
        phone=phone,
        participant_id=participant_id,
        status="closed" if closed else "open",
        handled_by_staff_id=taken_by,
        opened_at=opened,
        last_message_at=last,
        closed_at=closed,
    )
    session.add(conversation)
    session.flush()
    return conversation


def _text_out(
    session: Session,
    when: dt.datetime,
    conversation: SmsConversation,
    staff_id: int | None,
) -> Contact:
    """A text to the texter: a person's words (`staff_id`) or the service's own (None)."""
    contact, _ = contacts.record(
        session,
        channel=Channel.SMS,
        direction=Direction.OUTBOUND,
        from_number=LINE,
        to_number=conversation.phone,
        twilio_sid=None,
        started_at=when,
        participant_id=conversation.participant_id,
        body="BODY-out",
        outcome=ContactOutcome.SENT,
        handled_by_staff_id=staff_id,
    )
    contact.conversation_id = conversation.id
    session.flush()
    return contact


def _escalation(
    session: Session,
    opened: dt.datetime,
    subject_type: str,
    subject_id: int | None,
    reached: list[tuple[int, int]],
    *,
    exhausted_at: dt.datetime | None = None,
) -> EscalationRecord:
    record = EscalationRecord(
        policy_name="crisis-sms",
        policy={"steps": [{}, {}, {}], "repeat": 1},
        subject_type=subject_type,
        subject_id=subject_id,
        participant_id=None,
        summary="Escalation",
        status="exhausted" if exhausted_at else "open",
        step_index=0,
        loop=0,
        next_due_at=opened,
        version=1,
        opened_at=opened,
        updated_at=opened,
        exhausted_at=exhausted_at,
    )
    session.add(record)
    session.flush()
    for minutes, (step, loop) in enumerate(reached):
        session.add(
            EscalationEvent(
                escalation_id=record.id,
                at=opened + dt.timedelta(minutes=5 * minutes),
                kind="notified",
                detail={"step": step, "loop": loop},
            )
        )
    session.flush()
    return record


def _alert(
    session: Session,
    participant_id: int,
    raised: dt.datetime,
    rule: str,
    severity: AlertSeverity,
    evidence: list[int],
    *,
    acknowledged: dt.datetime | None = None,
    by: int | None = None,
    officer: int | None = None,
) -> RiskAlert:
    alert = RiskAlert(
        participant_id=participant_id,
        rule=rule,
        severity=severity,
        reason="a reason",
        status=AlertStatus.ACKNOWLEDGED if acknowledged else AlertStatus.OPEN,
        raised_at=raised,
        last_seen_at=raised,
        recipient_staff_id=officer,
        routed_to="officer",
        acknowledged_at=acknowledged,
        acknowledged_by_staff_id=by,
    )
    session.add(alert)
    session.flush()
    for contact_id in evidence:
        session.add(AlertEvidence(alert_id=alert.id, contact_id=contact_id, added_at=raised))
    session.flush()
    return alert


def _nobody(session: Session, rota_id: int, start: dt.datetime, end: dt.datetime) -> None:
    rota_service.add_override(
        session,
        rota_id,
        rota_service.NewOverride(staff_id=None, start=start, end=end, mode="replace", reason="t"),
        actor="t",
        now=SETUP,
    )


def build_weekend(session: Session) -> Weekend:
    """Everything of the weekend, in one transaction."""
    people = add_people(session, SETUP)
    amira, tom, olu = people["amira"], people["tom"], people["olu"]
    monday = dt.datetime(2026, 10, 5, 9, 0)
    primary = add_weekly_rota(session, "primary", amira, now=SETUP, first_handoff=monday)
    backup = add_weekly_rota(session, "backup", tom, now=SETUP, first_handoff=monday)
    daniel, marcus = (
        participants.create(
            session,
            participants.NewParticipant(ref, name, [phone], olu, RiskLevel.HIGH),
            actor="t",
            now=SETUP,
        ).id
        for ref, name, phone in (
            ("R1001", "Daniel Price", DANIEL),
            ("R1002", "Marcus Reid", MARCUS),
        )
    )
    found: dict[str, int] = {}

    # ---- texts
    # C1, Saturday 11:00 BST (day), taken by Amira: the automatic acknowledgement at once
    # (nobody's words), her reply after 4 minutes; closed 10 minutes after its last text.
    c1 = _conversation(
        session,
        at(24, 10),
        DANIEL,
        daniel,
        taken_by=amira,
        last=at(24, 10, 20),
        closed=at(24, 10, 30),
    )
    found["c1"] = _text_in(session, at(24, 10), DANIEL, daniel, "BODY", conversation_id=c1.id).id
    _text_out(session, at(24, 10), c1, None)
    _text_out(session, at(24, 10, 4), c1, amira)
    _text_in(session, at(24, 10, 20), DANIEL, daniel, "BODY", conversation_id=c1.id)
    # C2, Saturday 22:00 BST (night), taken by Tom, who replied after 6 minutes; still open.
    c2 = _conversation(session, at(24, 21), MARCUS, marcus, taken_by=tom, last=at(24, 21, 20))
    found["c2"] = _text_in(session, at(24, 21), MARCUS, marcus, "BODY", conversation_id=c2.id).id
    _text_out(session, at(24, 21, 6), c2, tom)
    # C3, Sunday 01:30 GMT (the clocks went back at 01:00 UTC), from an unknown number: the
    # acknowledgement only, nobody took it or replied.
    c3 = _conversation(session, at(25, 1, 30), STRANGER, None, taken_by=None, last=at(25, 1, 30))
    found["c3"] = _text_in(session, at(25, 1, 30), STRANGER, None, "BODY", conversation_id=c3.id).id
    _text_out(session, at(25, 1, 30), c3, None)
    # C4, Sunday 03:00 GMT: its chain ran out at 03:45; Amira replied at 04:10 (70 minutes)
    # and took it; closed at 05:00, half an hour after its last text.
    c4 = _conversation(
        session, at(25, 3), DANIEL, daniel, taken_by=amira, last=at(25, 4, 30), closed=at(25, 5)
    )
    found["c4"] = _text_in(session, at(25, 3), DANIEL, daniel, "BODY", conversation_id=c4.id).id
    found["c4_second"] = _text_in(
        session, at(25, 3, 2), DANIEL, daniel, "BODY", conversation_id=c4.id
    ).id
    _text_out(session, at(25, 3), c4, None)
    _text_out(session, at(25, 4, 10), c4, amira)
    # Before the period (Friday 23:50 BST), replied to inside it: not the period's.
    c0 = _conversation(
        session,
        at(23, 22, 50),
        MARCUS,
        marcus,
        taken_by=tom,
        last=at(23, 23, 5),
        closed=at(23, 23, 10),
    )
    found["c0"] = _text_in(
        session, at(23, 22, 50), MARCUS, marcus, "BODY", conversation_id=c0.id
    ).id
    _text_out(session, at(23, 23, 5), c0, tom)

    # ---- calls (for the notes, the escalations and the alerts)
    # M1: Marcus's missed call, Saturday 12:00; V1: Daniel's voicemail, Sunday 19:00.
    found["m1"] = _call(session, at(24, 12), MARCUS, marcus, ContactOutcome.MISSED).id
    found["v1"] = _call(session, at(25, 19), DANIEL, daniel, ContactOutcome.VOICEMAIL).id
    # H1 Amira 14:00-14:10 Sat, note 14:30 (20 min). H2 Tom 16:00-16:10, note 16:50 (40 min).
    h1 = _call(session, at(24, 14), DANIEL, daniel, ContactOutcome.ANSWERED, amira)
    h2 = _call(session, at(24, 16), MARCUS, marcus, ContactOutcome.ANSWERED, tom)
    # H3: Tom's call-back Sunday 05:00-05:05, note at 08:00 UTC: before the 08:30 handover,
    # which is 08:30 UTC now that the clocks have gone back (in BST it would be 07:30 UTC).
    h3, _ = contacts.record(
        session,
        channel=Channel.VOICE,
        direction=Direction.OUTBOUND,
        from_number=LINE,
        to_number=MARCUS,
        twilio_sid=None,
        started_at=at(25, 5),
        participant_id=marcus,
        outcome=ContactOutcome.CALL_BACK,
        handled_by_staff_id=tom,
    )
    h3.ended_at = at(25, 5, 5)
    # H7: Amira's call Sunday 18:00 whose end was never recorded; a note at 18:05.
    h7 = _call(session, at(25, 18), DANIEL, daniel, ContactOutcome.ANSWERED, amira)
    h7.ended_at = None
    # H8: Tom's call Sunday 02:00-02:20, note at 09:00: after the handover.
    h8 = _call(session, at(25, 2), MARCUS, marcus, ContactOutcome.ANSWERED, tom)
    h8.ended_at = at(25, 2, 20)
    # Before the period: Amira's call Friday 22:30 UTC (23:30 BST).
    h0 = _call(session, at(23, 22, 30), DANIEL, daniel, ContactOutcome.ANSWERED, amira)
    session.flush()
    for key, contact in (("h1", h1), ("h2", h2), ("h3", h3), ("h7", h7), ("h8", h8), ("h0", h0)):
        found[key] = contact.id
    note(session, h1.id, amira, at(24, 14, 30), "NOTE")
    note(session, h1.id, amira, at(25, 12), "NOTE again", reason="more")  # v2: not the first
    note(session, h2.id, tom, at(24, 16, 50), "NOTE")
    note(session, h3.id, tom, at(25, 8), "NOTE")
    note(session, h7.id, amira, at(25, 18, 5), "NOTE")
    note(session, h8.id, tom, at(25, 9), "NOTE")
    note(session, h0.id, amira, at(23, 22, 45), "NOTE")
    # The conversations' notes: C1 at 10:45 (15 minutes after it closed at 10:30), C4 at 05:20
    # (20 minutes after it closed); none on C2.
    note(session, found["c1"], amira, at(24, 10, 45), "NOTE")
    note(session, found["c4"], amira, at(25, 5, 20), "NOTE")

    # ---- escalations
    # E1 (C4's chain): every step of the first round and the first of the second, ran out.
    _escalation(
        session,
        at(25, 3),
        "sms_conversation",
        c4.id,
        [(0, 0), (1, 0), (2, 0), (0, 1)],
        exhausted_at=at(25, 3, 45),
    )
    # E2 (M1's chain): the first two steps. E3 (an alert's chain): the first step only.
    _escalation(session, at(24, 12), "missed_call", found["m1"], [(0, 0), (1, 0)])
    # E5: a missed-call chain whose subject is gone: counted, with no contact to list.
    _escalation(session, at(25, 20), "missed_call", None, [(0, 0), (1, 0)])
    # Before the period, reaching its second step inside it: not the period's.
    _escalation(session, at(23, 22, 58), "missed_call", found["m1"], [(0, 0), (1, 0)])

    # ---- risk alerts
    a1 = _alert(
        session,
        marcus,
        at(24, 12, 5),
        "unanswered",
        AlertSeverity.URGENT,
        [found["m1"]],
        acknowledged=at(24, 12, 15),
        by=olu,
        officer=olu,
    )
    _escalation(session, at(24, 12, 5), "risk_alert", a1.id, [(0, 0)])
    _alert(
        session,
        daniel,
        at(25, 3, 5),
        "phrases.self_harm",
        AlertSeverity.WARNING,
        [found["c4"], found["c4_second"]],
        acknowledged=at(25, 3, 25),
        by=olu,
        officer=olu,
    )
    _alert(
        session, daniel, at(25, 20), "unanswered", AlertSeverity.URGENT, [found["v1"]], officer=olu
    )
    _alert(session, daniel, at(23, 22), "unanswered", AlertSeverity.URGENT, [found["h0"]])

    # ---- the rotas
    # Nobody on primary from Friday 20:00 to Saturday 02:00 UTC (straddling the period's start
    # at Friday 23:00 UTC); nobody on backup across the clock change, Sunday 00:30 to 02:30 UTC.
    _nobody(session, primary, at(23, 20), at(24, 2))
    _nobody(session, backup, at(25, 0, 30), at(25, 2, 30))
    # Tom left on 1 November, after the period: his shifts in it were covered.
    staff.deactivate(session, tom, actor="t", now=dt.datetime(2026, 11, 1, tzinfo=UTC))
    return Weekend(people, found)


def _report(app: Flask, breakdown: Any = None) -> tuple[Weekend, Report]:
    db = services_of(app).db
    with db.transaction() as session:
        weekend = build_weekend(session)
    with db.transaction() as session:
        report = compute(session, CONTEXT, MODULES, breakdown=breakdown, staff_names=staff_names)
    return weekend, report


def _mine(figures: list[Figure]) -> dict[str, Figure]:
    return {f.key: f for f in figures if f.key in MY_KEYS}


def test_the_period_crosses_the_clock_change() -> None:
    assert PERIOD.start == at(23, 23) and PERIOD.end == at(26, 0)
    assert PERIOD.hours == 49


def test_texts_conversations_first_human_reply_and_no_reply(app: Flask) -> None:
    weekend, report = _report(app)
    c = weekend.contacts
    figures = _mine(report.figures)
    # C1, C2, C3, C4 opened in the period (C3 from an unknown number counts); C0 opened before.
    assert figures["texts.conversations"].value == 4
    assert figures["texts.conversations"].contact_ids == tuple(
        sorted((c["c1"], c["c2"], c["c3"], c["c4"]))
    )
    # First human replies: C1 240 s, C2 360 s, C4 70 min = 4200 s (after its chain ran out);
    # the acknowledgements (nobody's words) are not replies. Sorted [240, 360, 4200]:
    # median is rank ceil(0.5 * 3) = 2: 360; the 90th percentile rank ceil(0.9 * 3) = 3: 4200.
    replied = tuple(sorted((c["c1"], c["c2"], c["c4"])))
    assert figures["texts.first_reply_median"].value == 360
    assert figures["texts.first_reply_median"].contact_ids == replied
    assert figures["texts.first_reply_p90"].value == 4200
    assert figures["texts.first_reply_p90"].contact_ids == replied
    # Within 5 minutes (300 s): C1 only, of 4 conversations: 1 / 4 = 0.25.
    within = figures["texts.replied_within_5min"]
    assert (within.value, within.numerator, within.denominator) == (0.25, 1, 4)
    assert within.contact_ids == (c["c1"],)
    # No human reply: C3.
    assert figures["texts.no_reply"].value == 1
    assert figures["texts.no_reply"].contact_ids == (c["c3"],)


def test_escalations_second_step_last_step_and_ran_out(app: Flask) -> None:
    weekend, report = _report(app)
    c = weekend.contacts
    figures = _mine(report.figures)
    # Opened in the period: E1 (steps 1, 2, 3 and round 2), E2 (steps 1, 2), E3 (step 1),
    # E5 (steps 1, 2, no contact). Second step: E1, E2, E5 = 3; last (third) step: E1; ran out: E1.
    assert figures["escalations.second_step"].value == 3
    # The drill-down: E1's conversation (its first text in) and E2's missed call; E5 has none.
    assert figures["escalations.second_step"].contact_ids == tuple(sorted((c["c4"], c["m1"])))
    assert figures["escalations.last_step"].value == 1
    assert figures["escalations.last_step"].contact_ids == (c["c4"],)
    assert figures["escalations.ran_out"].value == 1
    assert figures["escalations.ran_out"].contact_ids == (c["c4"],)


def test_alerts_by_rule_and_severity_and_time_to_acknowledge(app: Flask) -> None:
    weekend, report = _report(app)
    c = weekend.contacts
    figures = _mine(report.figures)
    raised = figures["alerts.raised"]
    # A1 unanswered/urgent, A2 phrases.self_harm/warning, A3 unanswered/urgent; A0 before.
    assert raised.value == 3
    assert raised.parts == (("phrases.self_harm/warning", 1.0), ("unanswered/urgent", 2.0))
    assert raised.contact_ids == tuple(sorted((c["m1"], c["c4"], c["c4_second"], c["v1"])))
    # Acknowledged: A1 after 600 s, A2 after 1200 s; A3 not. Median rank ceil(0.5 * 2) = 1: 600.
    ack = figures["alerts.time_to_ack_median"]
    assert (ack.value, ack.numerator, ack.denominator) == (600, 2, 3)
    assert ack.parts == ()  # the count not acknowledged is the 1 of "2 of 3", not a time
    assert ack.contact_ids == tuple(sorted((c["m1"], c["c4"], c["c4_second"])))


def test_rota_gap_hours_per_rota_clipped_to_the_period(app: Flask) -> None:
    _, report = _report(app)
    gaps = _mine(report.figures)["rota.gap_hours"]
    # primary: Friday 23:00 (the period's start) to Saturday 02:00 = 3 h; backup: Sunday
    # 00:30 to 02:30 UTC = 2 h of real time (01:30 BST to 01:30 GMT on the clock). Tom, who
    # left after the period, was on call for the rest of it: no gap. 3 + 2 = 5.
    assert gaps.value == 5
    assert gaps.parts == (("backup", 2.0), ("primary", 3.0))
    assert gaps.contact_ids == ()


def test_notes_within_30_minutes_and_by_the_handover(app: Flask) -> None:
    weekend, report = _report(app)
    c = weekend.contacts
    figures = _mine(report.figures)
    # Handled in the period: H1, H2, H3, H7, H8 and the conversations C1, C2, C4 (C3 was
    # taken by nobody) = 8. Within 30 minutes of the end: H1 (20 min), C1 (15), C4 (20) = 3;
    # not H2 (40), H3 (ended 05:05, note 08:00), H8 (6 h 40), H7 (no end), C2 (no note).
    within = figures["notes.within_30min"]
    assert (within.numerator, within.denominator, within.value) == (3, 8, 3 / 8)
    assert within.contact_ids == tuple(sorted((c["h1"], c["c1"], c["c4"])))
    # By the first handover after the end (Sunday 08:30 GMT = 08:30 UTC for all of them but
    # H7 and C2): H1, H2, H3 (08:00), C1, C4 = 5; not H8 (09:00), H7 (no end), C2 (no note).
    handover = figures["notes.by_handover"]
    assert (handover.numerator, handover.denominator, handover.value) == (5, 8, 5 / 8)
    assert handover.contact_ids == tuple(sorted((c["h1"], c["h2"], c["h3"], c["c1"], c["c4"])))


def test_every_drill_down_lists_the_contacts_it_counts(app: Flask) -> None:
    _, report = _report(app)
    db = services_of(app).db
    with db.transaction() as session:
        for figure in _mine(report.figures).values():
            rows = contact_rows(session, figure.contact_ids)
            assert sorted(row.contact_id for row in rows) == list(figure.contact_ids), figure.key


def _adds_up(report: Report) -> None:
    whole = _mine(report.figures)
    groups = [_mine(figures) for figures in report.groups.values()]
    for key, figure in whole.items():
        mine = [g[key] for g in groups if key in g]
        if figure.numerator is not None:
            assert sum(f.numerator or 0 for f in mine) == figure.numerator, key
            assert sum(f.denominator or 0 for f in mine) == figure.denominator, key
        elif key.endswith(("_median", "_p90")):
            continue  # a median of groups is not the median of the whole
        else:
            assert sum(f.value or 0 for f in mine) == figure.value, key
        union = sorted({i for f in mine for i in f.contact_ids})
        assert union == list(figure.contact_ids), key


def test_a_breakdown_by_day_and_night_adds_up_to_the_whole(app: Flask) -> None:
    weekend, report = _report(app, "day_night")
    assert set(report.groups) == {"day", "night"}
    _adds_up(report)
    # Night is 22:00 to 07:00 local: C2 (22:00 BST), C3 (01:30 GMT), C4 (03:00 GMT) are night.
    night = _mine(report.groups["night"])
    assert night["texts.conversations"].value == 3
    assert _mine(report.groups["day"])["texts.conversations"].contact_ids == (
        weekend.contacts["c1"],
    )


def test_a_breakdown_by_staff_adds_up_to_the_whole(app: Flask) -> None:
    weekend, report = _report(app, "staff")
    _adds_up(report)
    amira = _mine(report.groups["Amira Okafor"])
    # Amira's handled contacts: H1, H7, C1, C4; in time: H1, C1, C4.
    assert (amira["notes.within_30min"].numerator, amira["notes.within_30min"].denominator) == (
        3,
        4,
    )
    # The unknown texter's conversation nobody took is nobody's.
    assert _mine(report.groups["nobody"])["texts.no_reply"].contact_ids == (weekend.contacts["c3"],)


def test_the_quiet_hour_is_the_note_prompts_own() -> None:
    assert care_measures.TEXTS_QUIET == note_prompts.TEXTS_QUIET


def test_figures_of_no_facts_are_none_not_zero() -> None:
    figures = {f.key: f for m in MODULES for f in m.figures([], CONTEXT)}
    assert set(figures) == set(MY_KEYS)
    for key in ("texts.first_reply_median", "texts.replied_within_5min", "notes.within_30min"):
        assert figures[key].value is None, key
    assert figures["texts.conversations"].value == 0
    assert figures["rota.gap_hours"].value == 0


def test_a_rota_that_cannot_be_worked_out_counts_as_a_gap_for_the_whole_period(
    app: Flask,
) -> None:
    """H248: a rota whose stored definition no longer reads shows the whole period as its gap,
    never none."""
    db = services_of(app).db
    with db.transaction() as session:
        build_weekend(session)
        session.execute(
            update(RotaRecord).where(RotaRecord.name == "backup").values(shift_length="garbage")
        )
    with db.transaction() as session:
        report = compute(session, CONTEXT, MODULES)
    gaps = _mine(report.figures)["rota.gap_hours"]
    # backup unknown for all 49 hours; primary's 3 hours as before: 52.
    assert gaps.parts == (("backup", 49.0), ("primary", 3.0))
    assert gaps.value == 52


def test_a_worker_who_left_during_the_period_leaves_its_rota_a_gap(app: Flask) -> None:
    db = services_of(app).db
    with db.transaction() as session:
        weekend = build_weekend(session)
        staff.deactivate(session, weekend.staff["amira"], actor="t", now=at(25, 12))
    with db.transaction() as session:
        report = compute(session, CONTEXT, MODULES)
    gaps = _mine(report.figures)["rota.gap_hours"]
    # Amira (primary's only member) left on the Sunday: primary is counted empty for all 49
    # hours (a gap shown, never hidden); backup's 2 hours as before (Tom left afterwards).
    assert gaps.parts == (("backup", 2.0), ("primary", 49.0))
    assert gaps.value == 51


def test_a_flood_and_a_conversation_that_took_up_gathered_texts(app: Flask) -> None:
    """A flood's escalation lists the texts it gathered; a conversation that took up a text
    gathered earlier counts its wait from that first text."""
    db = services_of(app).db
    with db.transaction() as session:
        people = add_people(session, SETUP)
        flood = Flood(started_at=at(24, 9), last_gathered_at=at(24, 9, 1), texts=2)
        session.add(flood)
        session.flush()
        gathered = [
            _text_in(session, at(24, 9, minute), number, None, "BODY", ContactOutcome.GATHERED)
            for minute, number in ((0, "+447700900801"), (1, STRANGER))
        ]
        for contact in gathered:
            session.add(
                FloodContact(
                    contact_id=contact.id,
                    flood_id=flood.id,
                    channel="sms",
                    from_number=contact.from_number,
                )
            )
        _escalation(session, at(24, 9), "flood", flood.id, [(0, 0), (1, 0)])
        # The stranger texts again at 09:20: a conversation opens and takes up his 09:01 text;
        # a worker replies at 09:22, 21 minutes after he first texted.
        conversation = _conversation(
            session, at(24, 9, 20), STRANGER, None, taken_by=people["tom"], last=at(24, 9, 22)
        )
        gathered[1].conversation_id = conversation.id
        _text_in(session, at(24, 9, 20), STRANGER, None, "BODY", conversation_id=conversation.id)
        _text_out(session, at(24, 9, 22), conversation, people["tom"])
        flood_ids = tuple(sorted(c.id for c in gathered))
        first_text = gathered[1].id
    with db.transaction() as session:
        figures = _mine(compute(session, CONTEXT, MODULES).figures)
    assert figures["escalations.second_step"].contact_ids == flood_ids
    assert figures["texts.conversations"].contact_ids == (first_text,)
    assert figures["texts.first_reply_median"].value == 21 * 60


def test_a_breakdown_by_rota_adds_up_and_puts_each_gap_on_its_rota(app: Flask) -> None:
    _, report = _report(app, "rota")
    _adds_up(report)
    assert _mine(report.groups["primary"])["rota.gap_hours"].value == 3
    assert _mine(report.groups["backup"])["rota.gap_hours"].value == 2
    # Texts, alerts, escalations and notes are on no rota.
    assert _mine(report.groups["no rota"])["texts.conversations"].value == 4


def test_the_service_report_carries_these_measures(app: Flask) -> None:
    db = services_of(app).db
    with db.transaction() as session:
        build_weekend(session)
    with db.transaction() as session:
        report = build(session, PERIOD, night=NIGHT, handover_time=dt.time(8, 30))
    assert report.figure("texts.replied_within_5min").value == 0.25
    assert report.figure("notes.by_handover").numerator == 5


def test_a_rota_counts_its_gaps_only_from_when_it_was_made(app: Flask) -> None:
    db = services_of(app).db
    with db.transaction() as session:
        weekend = build_weekend(session)
        # Made on the Sunday at 12:00 UTC, its first turn on Monday 2 November: nobody on it
        # from 12:00 to the period's end at midnight, 12 hours. One made after the period: none.
        for name, made in (("night-cover", at(25, 12)), ("later", at(28, 12))):
            add_weekly_rota(
                session,
                name,
                weekend.staff["amira"],
                now=made,
                first_handoff=dt.datetime(2026, 11, 2, 9, 0),
            )
    with db.transaction() as session:
        gaps = _mine(compute(session, CONTEXT, MODULES).figures)["rota.gap_hours"]
    assert gaps.parts == (("backup", 2.0), ("night-cover", 12.0), ("primary", 3.0))
    assert gaps.value == 17
