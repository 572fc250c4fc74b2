"""The call and call-back measures on a hand-built weekend of calls, every figure worked by hand.

The period is Saturday 24 and Sunday 25 October 2026 in Europe/London: the clocks go back at
02:00 BST on the Sunday, so the period is 49 hours long and 01:00 to 02:00 happens twice. The
night is 22:00 to 07:00 local. Times below are UTC unless they say BST or GMT (BST = UTC+1
until 01:00 UTC on the 25th, GMT = UTC after).

Offered calls (c1..c8), and what became of each:

- c1 Sat 10:00 BST, Daniel: answered by Amira (primary, step 0) after 15 s.
- c2 Sat 14:00 BST, Marcus: answered after being missed once: the primary did not answer in
  20 s, Tom (backup, step 1) pressed 1 at 32 s.
- c3 Sat 23:30 BST, an unknown number: hung up after 20 s while the primary rang; its missed-
  call escalation taken by Priya 40 minutes later (2,400 s).
- c4 Sun 01:30 BST (the first 01:30), Daniel: hung up after 45 s (step 2, duty manager with
  the primary); Tom called him back through the line at 09:00 GMT: 8 h 30 min = 30,600 s.
- c5 Sun 01:10 GMT (the second 01:00-02:00; 40 real minutes after c4), Daniel again: the chain
  looped back to the primary and Amira answered at 70 s. His answered call does not return
  his missed one (c4): only a call back through the line or its escalation taken does.
- c6 Sun 03:00 GMT, Marcus: the chain ran out at 90 s (last rung: backup), the fallback
  message, a voicemail; Amira called back at 03:20 GMT and reached his voicemail (Twilio
  reports that as answered): called back after 1,200 s.
- c7 Sun 20:00 GMT, a withheld number: the chain ran out (backup last); nobody can ring him
  back and nobody took its escalation: never called back.
- c8 Sun 21:00 GMT, the unknown number of c3: nobody on call (no step rang), straight to the
  fallback; Tom called the number back on Monday at 22:00 GMT, 25 hours later (90,000 s).

Not offered: n1 started Fri 23:55 BST (before the period) and ended inside it; n2 Tom calling
the line to return calls (staff_call); the call-backs themselves (outbound); n3 a call at
Monday 00:00 GMT, the period's end.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from crisisline import calls, contacts, participants, service_report
from crisisline.call_models import LiveCall
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationPolicyRecord, EscalationRecord
from crisisline.models import Channel, Contact, ContactOutcome, Direction, RiskLevel
from crisisline.reports import Figure, Period, Report
from crisisline.risk_rules import NightHours
from crisisline.services import Services
from tests.support.app import services_of
from tests.support.team import BACKUP, MANAGER, PRIMARY, add_team

LONDON = ZoneInfo("Europe/London")
NIGHT = NightHours(dt.time(22, 0), dt.time(7, 0))
LINE = "+447700900000"
DANIEL, MARCUS, UNKNOWN = "+447700900201", "+447700900202", "+447700900301"
PERIOD = Period.local_days(dt.date(2026, 10, 24), dt.date(2026, 10, 25), LONDON)


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, second, tzinfo=dt.UTC)


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


@dataclass
class Weekend:
    calls: dict[str, int]  # contact ids: c1..c8, n1..n3, and the call-backs b4, b6, b8
    staff: dict[str, int]


def _contact(session: Session, at: dt.datetime, **fields: Any) -> Contact:
    contact, created = contacts.record(session, twilio_sid=None, started_at=at, **fields)
    assert created
    return contact


def _call(
    session: Session,
    at: dt.datetime,
    number: str | None,
    participant_id: int | None,
    outcome: ContactOutcome,
    *,
    step: int,
    ended_after: float,
    answered_after: float | None = None,
    staff_id: int | None = None,
    fallback_after: float | None = None,
    escalation: EscalationRecord | None = None,
    kind: str = "crisis",
) -> int:
    """An incoming call as the live chain leaves it: its contact and its live-call row."""
    contact = _contact(
        session,
        at,
        channel=Channel.VOICE,
        direction=Direction.INBOUND,
        from_number=number,
        to_number=LINE,
        participant_id=participant_id,
        outcome=outcome,
        handled_by_staff_id=staff_id,
    )
    contact.ended_at = at + seconds(ended_after)
    contact.duration_seconds = int(ended_after)
    if answered_after is not None:
        contact.answered_at = at + seconds(answered_after)
        contact.wait_seconds = int(answered_after)
    elif outcome == ContactOutcome.ABANDONED:
        contact.wait_seconds = int(ended_after)
    elif fallback_after is not None:
        contact.wait_seconds = int(fallback_after)
    session.flush()
    session.add(
        LiveCall(
            call_sid=f"CA{contact.id:032d}",
            contact_id=contact.id,
            kind=kind,
            step_index=step,
            loop=0,
            ringing=[],
            accepted_staff_id=staff_id if answered_after is not None else None,
            accepted_at=contact.answered_at,
            fallback_at=at + seconds(fallback_after) if fallback_after is not None else None,
            missed_escalation_id=escalation.id if escalation else None,
            started_at=at,
            updated_at=contact.ended_at,
            detail={},
        )
    )
    session.flush()
    return contact.id


def _missed_escalation(
    session: Session,
    opened: dt.datetime,
    participant_id: int | None,
    *,
    taken_at: dt.datetime | None = None,
    taken_by: int | None = None,
) -> EscalationRecord:
    record = EscalationRecord(
        policy_name="missed-call",
        policy={"steps": [{}, {}, {}], "repeat": 0},
        subject_type="missed_call",
        subject_id=None,
        participant_id=participant_id,
        summary="Missed call",
        status="acknowledged" if taken_at else "exhausted",
        step_index=0,
        loop=0,
        next_due_at=None,
        version=1,
        acknowledged_by="staff" if taken_at else None,
        acknowledged_by_staff_id=taken_by,
        acknowledged_at=taken_at,
        exhausted_at=None if taken_at else opened + dt.timedelta(minutes=30),
        opened_at=opened,
        updated_at=taken_at or opened,
    )
    session.add(record)
    session.flush()
    return record


def _call_back(
    session: Session,
    at: dt.datetime,
    number: str,
    participant_id: int | None,
    staff_id: int,
    *,
    talked: int,
) -> int:
    """A call back through the line (crisisline.calls.start_call_back, call_back_finished)."""
    contact = _contact(
        session,
        at,
        channel=Channel.VOICE,
        direction=Direction.OUTBOUND,
        from_number=LINE,
        to_number=number,
        participant_id=participant_id,
        outcome=ContactOutcome.CALL_BACK,
        handled_by_staff_id=staff_id,
    )
    contact.call_status = "completed"
    contact.answered_at = at + seconds(10)
    contact.ended_at = at + seconds(10 + talked)
    contact.duration_seconds = talked
    session.flush()
    return contact.id


def build_weekend(svc: Services) -> Weekend:
    now = svc.clock.now()
    with svc.db.transaction() as session:
        team = add_team(session, now=now)
        staff = {"amira": team[PRIMARY], "tom": team[BACKUP], "priya": team[MANAGER]}
        people = {}
        for reference, name, phone in (
            ("R2001", "Daniel Reyes", DANIEL),
            ("R2002", "Marcus Webb", MARCUS),
        ):
            people[phone] = participants.create(
                session,
                participants.NewParticipant(reference, name, [phone], None, RiskLevel.MEDIUM),
                actor="t",
                now=now,
            ).id
        daniel, marcus = people[DANIEL], people[MARCUS]
        amira, tom, priya = staff["amira"], staff["tom"], staff["priya"]
        out = ContactOutcome  # the outcomes, short: the calls below read as a table
        calls: dict[str, int] = {}
        calls["n1"] = _call(
            session, utc(23, 22, 55), DANIEL, daniel, out.ANSWERED,
            step=0, ended_after=900, answered_after=12, staff_id=amira,
        )  # fmt: skip
        calls["c1"] = _call(
            session, utc(24, 9), DANIEL, daniel, out.ANSWERED,
            step=0, ended_after=600, answered_after=15, staff_id=amira,
        )  # fmt: skip
        calls["c2"] = _call(
            session, utc(24, 13), MARCUS, marcus, out.ANSWERED,
            step=1, ended_after=900, answered_after=32, staff_id=tom,
        )  # fmt: skip
        c3_at = utc(24, 22, 30)
        taken = _missed_escalation(
            session, c3_at + seconds(20), None, taken_at=c3_at + seconds(2400), taken_by=priya
        )
        calls["c3"] = _call(
            session, c3_at, UNKNOWN, None, out.ABANDONED, step=0, ended_after=20, escalation=taken
        )
        c4_at = utc(25, 0, 30)  # 01:30 BST
        called = _missed_escalation(
            session, c4_at + seconds(45), daniel, taken_at=utc(25, 9), taken_by=tom
        )
        calls["c4"] = _call(
            session, c4_at, DANIEL, daniel, out.ABANDONED, step=2, ended_after=45, escalation=called
        )
        calls["c5"] = _call(
            session, utc(25, 1, 10), DANIEL, daniel, out.ANSWERED,
            step=0, ended_after=1200, answered_after=70, staff_id=amira,
        )  # fmt: skip
        c6_at = utc(25, 3)
        voicemail = _missed_escalation(
            session, c6_at + seconds(200), marcus, taken_at=utc(25, 3, 20), taken_by=amira
        )
        calls["c6"] = _call(
            session, c6_at, MARCUS, marcus, out.VOICEMAIL,
            step=1, ended_after=220, fallback_after=90, escalation=voicemail,
        )  # fmt: skip
        c7_at = utc(25, 20)
        never = _missed_escalation(session, c7_at + seconds(120), None)
        calls["c7"] = _call(
            session, c7_at, None, None, out.MISSED,
            step=1, ended_after=120, fallback_after=90, escalation=never,
        )  # fmt: skip
        # Nobody on call: no step rang (step -1), the fallback at once; its escalation not
        # yet opened when the number was rung back (the contact alone says it was returned).
        calls["c8"] = _call(
            session, utc(25, 21), UNKNOWN, None, out.MISSED,
            step=-1, ended_after=40, fallback_after=0,
        )  # fmt: skip
        calls["n2"] = _call(
            session, utc(25, 8, 59), BACKUP, None, out.STAFF_CALL,
            step=-1, ended_after=300, staff_id=tom, kind="staff",
        )  # fmt: skip
        calls["n3"] = _call(
            session, utc(26, 0), DANIEL, daniel, out.ANSWERED,
            step=0, ended_after=300, answered_after=10, staff_id=amira,
        )  # fmt: skip
        calls["b4"] = _call_back(session, utc(25, 9), DANIEL, daniel, tom, talked=600)
        # Marcus's voicemail picked up: 25 s of a message left, reported "completed".
        calls["b6"] = _call_back(session, utc(25, 3, 20), MARCUS, marcus, amira, talked=25)
        calls["b8"] = _call_back(session, utc(26, 22), UNKNOWN, None, tom, talked=300)
    return Weekend(calls, staff)


@pytest.fixture
def svc(app: Flask) -> Services:
    return services_of(app)


@pytest.fixture
def weekend(svc: Services) -> Weekend:
    return build_weekend(svc)


def report(svc: Services, breakdown: Any = None) -> Report:
    with svc.db.transaction() as session:
        return service_report.build(session, PERIOD, night=NIGHT, breakdown=breakdown)


def contact_ids(weekend: Weekend, *names: str) -> tuple[int, ...]:
    return tuple(sorted(weekend.calls[name] for name in names))


@pytest.mark.hazard("H242")
def test_the_period_crosses_the_clock_change_and_is_49_hours_long() -> None:
    # Saturday 00:00 BST = Friday 23:00 UTC; Monday 00:00 GMT = Monday 00:00 UTC.
    assert (PERIOD.start, PERIOD.end) == (utc(23, 23), utc(26, 0))
    assert PERIOD.hours == 49


@pytest.mark.hazard("H240")
def test_calls_offered_answered_and_how_fast(svc: Services, weekend: Weekend) -> None:
    got = report(svc)
    # Offered: c1..c8 = 8 (not n1, begun before; not n2, staff; not n3, at the end; not the
    # call-backs b4, b6, b8, outbound).
    offered = got.figure("calls.offered")
    assert offered.value == 8
    assert offered.contact_ids == contact_ids(weekend, *(f"c{i}" for i in range(1, 9)))
    # Answered: c1, c2 (after the primary missed it), c5 = 3; never the voicemail c6.
    answered = got.figure("calls.answered")
    assert (answered.value, answered.contact_ids) == (3, contact_ids(weekend, "c1", "c2", "c5"))
    # Answer rate: 3 / 8 = 0.375.
    rate = got.figure("calls.answer_rate")
    assert (rate.value, rate.numerator, rate.denominator) == (0.375, 3, 8)
    assert rate.contact_ids == answered.contact_ids
    # Within 60 s, of calls answered (as NHS 111 counts it): c1 15 s, c2 32 s; c5 70 s is
    # not: 2 / 3.
    within = got.figure("calls.answered_within_60s")
    assert (within.numerator, within.denominator) == (2, 3)
    assert within.value == pytest.approx(2 / 3)
    assert within.contact_ids == contact_ids(weekend, "c1", "c2")
    # Times to answer sorted: 15, 32, 70. Median, nearest rank ceil(0.5 x 3) = 2nd: 32 s;
    # 90th percentile, ceil(0.9 x 3) = 3rd: 70 s.
    median = got.figure("calls.time_to_answer_median")
    p90 = got.figure("calls.time_to_answer_p90")
    assert (median.value, p90.value) == (32, 70)
    assert median.contact_ids == p90.contact_ids == answered.contact_ids


def test_abandoned_fallback_and_voicemails(svc: Services, weekend: Weekend) -> None:
    got = report(svc)
    # Abandoned: c3 (20 s) and c4 (45 s) = 2.
    abandoned = got.figure("calls.abandoned")
    assert (abandoned.value, abandoned.contact_ids) == (2, contact_ids(weekend, "c3", "c4"))
    # After over 30 s: c4 only, of the 8 offered: 1 / 8 = 0.125.
    late = got.figure("calls.abandoned_after_30s")
    assert (late.value, late.numerator, late.denominator) == (0.125, 1, 8)
    assert late.contact_ids == contact_ids(weekend, "c4")
    # The fallback message: c6, c7 (the chain ran out) and c8 (nobody on call) = 3.
    fallback = got.figure("calls.fallback")
    assert (fallback.value, fallback.contact_ids) == (3, contact_ids(weekend, "c6", "c7", "c8"))
    # Voicemails left: c6 = 1.
    voicemails = got.figure("calls.voicemails")
    assert (voicemails.value, voicemails.contact_ids) == (1, contact_ids(weekend, "c6"))


@pytest.mark.hazard("H241")
def test_missed_calls_called_back_and_how_soon(svc: Services, weekend: Weekend) -> None:
    got = report(svc)
    # Missed: the abandoned c3, c4, the voicemail c6, the run-out c7, c8 = 5 (never c5, which
    # was answered, though Daniel had been missed just before).
    missed = got.figure("callbacks.missed")
    assert missed.value == 5
    assert missed.contact_ids == contact_ids(weekend, "c3", "c4", "c6", "c7", "c8")
    # Called back: c3 (taken, 2,400 s), c4 (rung back, 30,600 s), c6 (his voicemail picked
    # up: 1,200 s), c8 (rung back, 90,000 s); not c7: 4 / 5 = 0.8.
    back = got.figure("callbacks.called_back_share")
    assert (back.value, back.numerator, back.denominator) == (0.8, 4, 5)
    assert back.contact_ids == contact_ids(weekend, "c3", "c4", "c6", "c8")
    # Sorted: 1,200, 2,400, 30,600, 90,000. Median: ceil(0.5 x 4) = 2nd = 2,400 s;
    # 90th percentile: ceil(0.9 x 4) = 4th = 90,000 s.
    assert got.figure("callbacks.time_median").value == 2400
    assert got.figure("callbacks.time_p90").value == 90000
    assert got.figure("callbacks.time_median").contact_ids == back.contact_ids
    # Not within 24 hours (86,400 s): c7 (never) and c8 (25 hours) = 2, listed.
    late = got.figure("callbacks.not_within_24h")
    assert (late.value, late.contact_ids) == (2, contact_ids(weekend, "c7", "c8"))


@pytest.mark.hazard("H243")
def test_every_drill_down_lists_exactly_the_contacts_counted(
    svc: Services, weekend: Weekend
) -> None:
    got = report(svc)
    for figure in _own(got.figures):
        if figure.numerator is not None:
            assert len(figure.contact_ids) == figure.numerator, figure.key
        elif figure.key.endswith(("_median", "_p90")):
            continue  # the calls whose times were measured (checked above)
        else:
            assert len(figure.contact_ids) == figure.value, figure.key
        with svc.db.transaction() as session:
            rows = service_report.contact_rows(session, figure.contact_ids)
        assert tuple(sorted(r.contact_id for r in rows)) == figure.contact_ids
        # Never a staff call, a call-back, or a call outside the period.
        not_offered = {weekend.calls[n] for n in ("n1", "n2", "n3", "b4", "b6", "b8")}
        assert not_offered.isdisjoint(figure.contact_ids), figure.key


def _own(figures: list[Figure]) -> list[Figure]:
    return [f for f in figures if f.key.startswith(("calls.", "callbacks."))]


def _add_up(got: Report, expected_groups: dict[str, dict[str, int]]) -> None:
    """Each group's counts, numerators and denominators as worked out, summing to the whole."""
    for key in ("calls.offered", "calls.answered", "calls.abandoned", "callbacks.missed"):
        total = got.figure(key).value
        parts = {label: _find(figures, key).value for label, figures in got.groups.items()}
        assert parts == expected_groups[key], key
        assert sum(v or 0 for v in parts.values()) == total, key
    for key in (
        "calls.answer_rate",
        "calls.answered_within_60s",
        "calls.abandoned_after_30s",
        "callbacks.called_back_share",
    ):
        whole = got.figure(key)
        numerators = sum(_find(g, key).numerator or 0 for g in got.groups.values())
        denominators = sum(_find(g, key).denominator or 0 for g in got.groups.values())
        assert (numerators, denominators) == (whole.numerator, whole.denominator), key
        ids = sorted(i for g in got.groups.values() for i in _find(g, key).contact_ids)
        assert tuple(ids) == whole.contact_ids, key


def _find(figures: list[Figure], key: str) -> Figure:
    return next(f for f in figures if f.key == key)


@pytest.mark.hazard("H244")
def test_day_and_night_add_up_to_the_whole(svc: Services, weekend: Weekend) -> None:
    got = report(svc, "day_night")
    # Night (22:00-07:00 local): c3 23:30 BST, c4 01:30 BST, c5 01:10 GMT, c6 03:00 GMT.
    # Day: c1 10:00 BST, c2 14:00 BST, c7 20:00 GMT, c8 21:00 GMT.
    _add_up(
        got,
        {
            "calls.offered": {"day": 4, "night": 4},
            "calls.answered": {"day": 2, "night": 1},
            "calls.abandoned": {"day": 0, "night": 2},
            "callbacks.missed": {"day": 2, "night": 3},
        },
    )
    night = got.groups["night"]
    # Night answer rate: c5 of c3, c4, c5, c6 = 1 / 4.
    assert _find(night, "calls.answer_rate").value == 0.25
    assert _find(night, "calls.answer_rate").contact_ids == contact_ids(weekend, "c5")


@pytest.mark.hazard("H244")
def test_by_staff_each_call_is_with_who_answered_or_returned_it(
    svc: Services, weekend: Weekend
) -> None:
    got = report(svc, "staff")
    # Amira: answered c1, c5, called back c6. Tom: answered c2, called back c4 and c8.
    # Priya: took c3's escalation. Nobody: c7.
    _add_up(
        got,
        {
            "calls.offered": {
                "Amira Okafor": 3,
                "Tom Hughes": 3,
                "Priya Natarajan": 1,
                "nobody": 1,
            },
            "calls.answered": {
                "Amira Okafor": 2,
                "Tom Hughes": 1,
                "Priya Natarajan": 0,
                "nobody": 0,
            },
            "calls.abandoned": {
                "Amira Okafor": 0,
                "Tom Hughes": 1,
                "Priya Natarajan": 1,
                "nobody": 0,
            },
            "callbacks.missed": {
                "Amira Okafor": 1,
                "Tom Hughes": 2,
                "Priya Natarajan": 1,
                "nobody": 1,
            },
        },
    )


@pytest.mark.hazard("H244")
def test_by_rota_each_call_is_with_the_step_of_the_chain_it_last_rang(
    svc: Services, weekend: Weekend
) -> None:
    got = report(svc, "rota")
    # The shipped crisis chain: step 0 primary, 1 backup, 2 duty manager with the primary.
    # primary: c1, c3, c5; backup: c2, c6, c7; both: c4; no step rang: c8.
    offered = {label: _find(g, "calls.offered").contact_ids for label, g in got.groups.items()}
    assert offered == {
        "backup": contact_ids(weekend, "c2", "c6", "c7"),
        "duty-manager + primary": contact_ids(weekend, "c4"),
        "no rota": contact_ids(weekend, "c8"),
        "primary": contact_ids(weekend, "c1", "c3", "c5"),
    }


def test_the_csv_parses_back_to_the_same_figures(svc: Services, weekend: Weekend) -> None:
    got = report(svc)
    rows = list(csv.DictReader(io.StringIO(service_report.figures_csv(got))))
    by_key = {row["measure"]: row for row in rows if row["group"] == "all"}
    for figure in _own(got.figures):
        row = by_key[figure.key]
        assert float(row["value"]) == pytest.approx(figure.value), figure.key
        assert int(row["contacts"]) == len(figure.contact_ids), figure.key


@pytest.mark.hazard("H244")
def test_an_empty_period_measures_nothing_rather_than_zero(svc: Services, weekend: Weekend) -> None:
    empty = Period.local_days(dt.date(2026, 10, 10), dt.date(2026, 10, 10), LONDON)
    with svc.db.transaction() as session:
        got = service_report.build(session, empty, night=NIGHT)
    assert got.figure("calls.offered").value == 0
    # A share or a median of no calls is "none", never 0% or 0 s.
    for key in ("calls.answer_rate", "calls.time_to_answer_median", "callbacks.time_p90"):
        assert got.figure(key).value is None, key


def test_the_facts_are_read_in_a_fixed_number_of_queries(svc: Services, weekend: Weekend) -> None:
    def count_queries() -> int:
        statements: list[str] = []

        def seen(*args: Any) -> None:
            statements.append(args[2])

        event.listen(svc.db.engine, "before_cursor_execute", seen)
        try:
            report(svc, "staff")
        finally:
            event.remove(svc.db.engine, "before_cursor_execute", seen)
        return len(statements)

    count_queries()  # the first report warms the routing cache (the crisis chain)
    before = count_queries()
    with svc.db.transaction() as session:
        for minute in range(10):
            _call(
                session, utc(24, 12, minute), MARCUS, None, ContactOutcome.MISSED,
                step=0, ended_after=100, fallback_after=90,
            )  # fmt: skip
    # Ten more calls, the same statements: never a query per call.
    assert count_queries() == before


# ---- through the real call flow -------------------------------------------------------------


def _flow_receive(svc: Services, sid: str, number: str) -> calls.CallPlan:
    with svc.db.transaction() as session:
        return calls.receive_call(
            session,
            calls.IncomingCall(sid, number, LINE, svc.clock.now(), "GB"),
            svc.messages,
        )


def _flow_ring_on(svc: Services, clock: FakeClock, sid: str, after: float) -> calls.CallPlan:
    clock.advance(seconds(after))
    with svc.db.transaction() as session:
        return calls.dial_finished(session, sid, svc.clock.now(), svc.messages)


def _flow_ended(svc: Services, clock: FakeClock, sid: str, after: float) -> None:
    clock.advance(seconds(after))
    with svc.db.transaction() as session:
        calls.call_ended(
            session,
            sid,
            status="completed",
            duration_seconds=int(after),
            now=svc.clock.now(),
            reach=svc.reach,
            zone=svc.settings.zone,
        )


@pytest.mark.hazard("H240")
def test_calls_through_the_real_flow_are_measured_as_the_flow_left_them(
    svc: Services, clock: FakeClock
) -> None:
    # 26 November 2026 from 12:00 UTC (GMT): Amira on the primary rota, Tom on backup.
    with svc.db.transaction() as session:
        team = add_team(session, now=svc.clock.now())
        participants.create(
            session,
            participants.NewParticipant("R2001", "Daniel Reyes", [DANIEL], None, RiskLevel.LOW),
            actor="t",
            now=svc.clock.now(),
        )
    tom = team[BACKUP]
    start = svc.clock.now()
    # A: the primary does not answer in 20 s; the backup rings and Tom presses 1 at 26 s.
    plan = _flow_receive(svc, "CA" + "a" * 32, DANIEL)
    second = _flow_ring_on(svc, clock, "CA" + "a" * 32, 20).ring
    assert second is not None and [r.phone for r in second.recipients] == [BACKUP]
    clock.advance(seconds(6))
    with svc.db.transaction() as session:
        assert calls.accept(session, plan.call_id, tom, svc.clock.now()) == "accepted"
    _flow_ended(svc, clock, "CA" + "a" * 32, 600)
    # B: the unknown caller rings through primary, backup, duty manager, primary, backup:
    # 90 s, the fallback, no message, he hangs up 30 s later: missed, escalated.
    clock.advance(dt.timedelta(minutes=10))
    _flow_receive(svc, "CA" + "b" * 32, UNKNOWN)
    for _ in range(4):
        assert _flow_ring_on(svc, clock, "CA" + "b" * 32, 20).action == "ring"
    assert _flow_ring_on(svc, clock, "CA" + "b" * 32, 10).action == "fallback"
    _flow_ended(svc, clock, "CA" + "b" * 32, 30)
    # C: Daniel hangs up after 45 s while the duty manager and the primary ring.
    clock.advance(dt.timedelta(minutes=10))
    _flow_receive(svc, "CA" + "c" * 32, DANIEL)
    _flow_ring_on(svc, clock, "CA" + "c" * 32, 20)
    _flow_ring_on(svc, clock, "CA" + "c" * 32, 20)
    _flow_ended(svc, clock, "CA" + "c" * 32, 5)
    c_started = svc.clock.now() - seconds(45)
    # Amira rings the line 15 minutes later and returns Daniel's call (newest first: key 1);
    # his voicemail picks up ("completed"): a call-back made.
    clock.advance(dt.timedelta(minutes=15))
    staff_sid = "CA" + "d" * 32
    assert _flow_receive(svc, staff_sid, PRIMARY).action == "staff_menu"
    with svc.db.transaction() as session:
        choice = calls.call_back_choice(session, staff_sid, "1")
        assert choice is not None and choice.number == DANIEL
        outbound = calls.start_call_back(
            session, staff_sid, choice, now=svc.clock.now(), reach=svc.reach
        )
        outbound_id = outbound.id
    called_back_at = svc.clock.now()
    clock.advance(seconds(40))
    with svc.db.transaction() as session:
        assert calls.call_back_finished(
            session,
            staff_sid,
            outbound_id,
            dial_status="completed",
            duration_seconds=25,
            now=svc.clock.now(),
        )
    _flow_ended(svc, clock, staff_sid, 5)

    day = start.astimezone(LONDON).date()
    with svc.db.transaction() as session:
        got = service_report.build(
            session, Period.local_days(day, day, LONDON), night=NIGHT, breakdown="staff"
        )
    # Offered: A, B, C = 3 (Amira's own call and her call-back are not). Answered: A = 1, at
    # 26 s (the primary's 20 s and 6 s of the backup's ring): within 60 s, 1 / 1.
    assert got.figure("calls.offered").value == 3
    assert (
        got.figure("calls.answer_rate").numerator,
        got.figure("calls.answer_rate").denominator,
    ) == (1, 3)
    assert got.figure("calls.time_to_answer_median").value == 26
    assert got.figure("calls.answered_within_60s").value == 1.0
    # Fallback: B. Abandoned: C (45 s: after 30 s, 1 / 3). Missed: B and C.
    assert got.figure("calls.fallback").value == 1
    assert got.figure("calls.abandoned_after_30s").numerator == 1
    assert got.figure("callbacks.missed").value == 2
    # Called back: C, by Amira, (45 s + 15 min) = 945 s after it began; B never: 1 / 2.
    back = got.figure("callbacks.called_back_share")
    assert (back.numerator, back.denominator) == (1, 2)
    assert (
        got.figure("callbacks.time_median").value
        == (called_back_at - c_started).total_seconds()
        == 945
    )
    assert got.figure("callbacks.not_within_24h").value == 1
    # By staff: Tom answered A, Amira returned C, nobody has B.
    offered = {label: _find(g, "calls.offered").value for label, g in got.groups.items()}
    assert offered == {"Amira Okafor": 1, "Tom Hughes": 1, "nobody": 1}


@pytest.mark.hazard("H244")
def test_a_crisis_chain_that_cannot_be_read_leaves_the_report_whole_under_no_rota(
    svc: Services, weekend: Weekend
) -> None:
    # A stored chain the code cannot parse (written by hand in the database, say): the rota
    # is only the breakdown's label, and the figures must still come.
    with svc.db.transaction() as session:
        session.add(
            EscalationPolicyRecord(
                name="crisis-call",
                document={"steps": "not a list", "repeat": 0},
                updated_at=svc.clock.now(),
                updated_by="t",
            )
        )
    got = report(svc, "rota")
    assert got.figure("calls.offered").value == 8
    assert list(got.groups) == ["no rota"]
    assert _find(got.groups["no rota"], "calls.offered").value == 8
