"""The handover for a period: every contact that started in it and nothing outside it, by
participant, with notes or "no note yet"; alerts, follow-ups, debriefs, escalations, gaps and
failures; periods across midnight and across both clock changes; the default period and the
times people write ("17:00", "yesterday 17:00"). Worked out by hand from tests/support/handover.py.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select, update

from crisisline import handover, heartbeat
from crisisline.conversation_models import SmsConversation
from crisisline.errors import InvalidInput
from crisisline.models import ContactOutcome, RecordAccess, StaffRole
from crisisline.note_models import RiskNow
from crisisline.permissions import Actor
from crisisline.record_access import Visit
from crisisline.rota_models import RotaRecord
from tests.support.app import services_of
from tests.support.handover import (
    DANIEL,
    END,
    MARCUS,
    NOW,
    START,
    Night,
    _call,
    _text_in,
    add_people,
    at,
    build_night,
    note,
)

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


def _night(app: Flask) -> tuple[Night, handover.Handover]:
    db = services_of(app).db
    with db.transaction() as session:
        night = build_night(session)
    with db.transaction() as session:
        shown = handover.build(session, START, END, now=NOW, zone=LONDON)
    return night, shown


def _lines(shown: handover.Handover) -> dict[str, list[tuple[str, dt.datetime]]]:
    return {
        group.label: [(line.kind, line.started_at) for line in group.contacts]
        for group in shown.participants
    }


def test_a_period_across_midnight_holds_every_contact_in_it_and_nothing_outside(
    app: Flask,
) -> None:
    night, shown = _night(app)
    assert _lines(shown) == {
        "R1001 D.P.": [
            ("call_answered", at(5, 22, 10)),
            ("conversation", at(5, 23, 50)),
        ],
        "R1002 M.R.": [("call_missed", START), ("call_back", at(5, 9, 10))],
        "Unknown callers": [("voicemail", at(6, 2)), ("text", at(6, 3))],
    }
    # Leon's call a second before the start and Marcus's at the end are not in it, nor is
    # the command Amira texted from her own phone.
    ids = {line.contact_id for group in shown.participants for line in group.contacts}
    assert night.contacts["before"] not in ids
    assert night.contacts["at_end"] not in ids
    assert shown.counts == handover.Counts(
        calls=3, missed=2, voicemails=1, texts=2, alerts=1, no_note=2
    )


def test_each_handled_contact_has_its_current_note_or_no_note_yet(app: Flask) -> None:
    night, shown = _night(app)
    lines = {line.kind: line for group in shown.participants for line in group.contacts}
    answered = lines["call_answered"]
    assert answered.handled_by == "Amira Okafor"
    assert answered.note is not None
    assert answered.note.version == 2
    assert answered.note.risk_now == RiskNow.MEDIUM
    assert answered.note.what_happened == "NOTE-second"
    assert answered.note.follow_up_wanted and answered.note.debrief_wanted
    assert answered.note.actions == (
        "Safety plan discussed",
        "Signposted to Samaritans / Shout / NHS 111",
    )
    assert answered.note.author == "Amira Okafor"
    # The conversation (taken by Amira) and Tom's call-back were handled: no note yet.
    conversation = lines["conversation"]
    assert conversation.takes_note and conversation.note is None and conversation.missing_note
    assert conversation.contact_id == night.contacts["conversation"]
    assert conversation.texts == 3
    assert conversation.first_reply_at == at(5, 23, 58)
    assert conversation.reply_seconds == 8 * 60
    assert lines["call_back"].missing_note
    assert lines["call_back"].handled_by == "Tom Hughes"
    # Nobody handled the missed call, the voicemail or the lone text: they take no note.
    for kind in ("call_missed", "voicemail", "text"):
        assert not lines[kind].takes_note
    assert lines["call_missed"].called_back_at == at(5, 9, 10)
    assert lines["voicemail"].called_back_at is None


def test_alerts_follow_ups_debriefs_and_escalations_of_the_period(app: Flask) -> None:
    night, shown = _night(app)
    assert [(a.alert_id, a.status, a.label) for a in shown.alerts] == [
        (night.alerts["in_period"], "acknowledged", "R1001 D.P.")
    ]
    assert [(f.contact_id, f.what, f.officer, f.asked_by) for f in shown.follow_ups_asked] == [
        (night.contacts["answered"], "NOTE-follow ring him at ten", "Olu Bello", "Amira Okafor")
    ]
    # Still open: the one asked on 1 December, and tonight's.
    assert [f.contact_id for f in shown.follow_ups_open] == [
        night.contacts["old_call"],
        night.contacts["answered"],
    ]
    assert [f.asked_in_period for f in shown.follow_ups_open] == [False, True]
    assert [(d.contact_id, d.author, d.label) for d in shown.debriefs] == [
        (night.contacts["answered"], "Amira Okafor", "R1001 D.P.")
    ]
    assert [(e.escalation_id, e.reached_step, e.ran_out_at) for e in shown.escalations] == [
        (night.escalations["second_step"], 2, None),
        (night.escalations["ran_out"], 1, at(6, 3, 30)),
    ]


def test_gaps_ahead_and_failures_reported(app: Flask) -> None:
    _, shown = _night(app)
    assert shown.gaps is not None
    assert [(g.rota, g.start, g.end) for g in shown.gaps] == [("primary", at(7, 10), at(7, 12))]
    failures = shown.failures
    assert failures.failed_deliveries == (("escalation", 2),)
    assert [(o.started_at, o.delayed) for o in failures.outages] == [(at(6, 4), 3)]
    assert failures.failed_emails == (("handover", 1),)
    assert [(o.late_seconds, o.at) for o in failures.overdue_escalations] == [(180, at(6, 5, 30))]
    assert failures.scheduler_stale and failures.scheduler_beat_at is None


def test_who_was_on_call(app: Flask) -> None:
    _, shown = _night(app)
    assert [(s.rota, s.names, s.start, s.end) for s in shown.on_call] == [
        ("backup", ("Tom Hughes",), START, END),
        ("primary", ("Amira Okafor",), START, END),
    ]


def test_the_plain_text_holds_no_body_no_note_text_and_no_phone_number(app: Flask) -> None:
    night, shown = _night(app)
    text = handover.plain_text(shown, link="https://crisis.example.org/handover")
    assert "Crisis line handover, Sunday 6 December" in text
    assert "3 calls (2 missed), 2 texts, 1 alert, 2 with no note yet." in text
    assert "R1001 D.P." in text and "Daniel" not in text and "Price" not in text
    assert "No note yet" in text
    assert "first reply after 8 min" in text
    for secret in [*night.bodies, *night.note_texts]:
        assert secret not in text
    for number in (DANIEL, MARCUS, "+447700900555", "+447700900556", "07700"):
        assert number not in text


def _contacts_at(app: Flask, instants: list[dt.datetime]) -> dict[dt.datetime, int]:
    """One unknown caller's missed call at each instant; contact ids by instant."""
    with services_of(app).db.transaction() as session:
        return {
            instant: _call(session, instant, "+447700900999", None, ContactOutcome.MISSED).id
            for instant in instants
        }


def _shown_ids(app: Flask, start: dt.datetime, end: dt.datetime) -> set[int]:
    with services_of(app).db.transaction() as session:
        shown = handover.build(session, start, end, now=end, zone=LONDON)
    return {line.contact_id for group in shown.participants for line in group.contacts}


def test_a_period_across_the_october_clock_change(app: Flask) -> None:
    # 17:00 BST on Saturday 24 October to 08:30 GMT on Sunday 25 October: 16.5 hours.
    start = handover.parse_since(
        "yesterday 17:00", dt.datetime(2026, 10, 25, 9, 0, tzinfo=UTC), LONDON
    )
    end = handover.parse_since("08:30", dt.datetime(2026, 10, 25, 9, 0, tzinfo=UTC), LONDON)
    assert start == dt.datetime(2026, 10, 24, 16, 0, tzinfo=UTC)
    assert end == dt.datetime(2026, 10, 25, 8, 30, tzinfo=UTC)
    inside = [
        start,
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # the first 01:30 (BST)
        dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # the second 01:30 (GMT)
        end - dt.timedelta(seconds=1),
    ]
    outside = [start - dt.timedelta(seconds=1), end]
    ids = _contacts_at(app, inside + outside)
    assert _shown_ids(app, start, end) == {ids[i] for i in inside}


def test_a_period_across_the_march_clock_change(app: Flask) -> None:
    # The default period on Sunday 29 March: 08:30 GMT Saturday to 08:30 BST Sunday, 23 hours.
    now = dt.datetime(2026, 3, 29, 9, 0, tzinfo=UTC)
    period = handover.default_period(now, dt.time(8, 30), LONDON)
    assert period.start == dt.datetime(2026, 3, 28, 8, 30, tzinfo=UTC)
    assert period.end == dt.datetime(2026, 3, 29, 7, 30, tzinfo=UTC)
    assert period.end - period.start == dt.timedelta(hours=23)
    inside = [
        period.start,
        dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC),  # 00:59 GMT
        dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 02:00 BST
        period.end - dt.timedelta(seconds=1),
    ]
    outside = [period.start - dt.timedelta(seconds=1), period.end]
    ids = _contacts_at(app, inside + outside)
    assert _shown_ids(app, period.start, period.end) == {ids[i] for i in inside}


def test_the_default_period_runs_from_one_handover_to_the_next(app: Flask) -> None:
    at_830 = dt.time(8, 30)
    # Before 08:30: the period that ended yesterday morning.
    early = handover.default_period(dt.datetime(2026, 12, 6, 8, 29, tzinfo=UTC), at_830, LONDON)
    assert (early.start, early.end) == (at(4, 8, 30), at(5, 8, 30))
    # At 08:30 and after: the one that ended this morning.
    on_time = handover.default_period(NOW, at_830, LONDON)
    assert (on_time.start, on_time.end) == (START, END)
    # Across October's change: 25 hours.
    autumn = handover.default_period(dt.datetime(2026, 10, 25, 12, 0, tzinfo=UTC), at_830, LONDON)
    assert autumn.start == dt.datetime(2026, 10, 24, 7, 30, tzinfo=UTC)
    assert autumn.end == dt.datetime(2026, 10, 25, 8, 30, tzinfo=UTC)
    assert autumn.end - autumn.start == dt.timedelta(hours=25)


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # Before 17:00: yesterday's; after it: today's.
        ("17:00", dt.datetime(2026, 12, 6, 8, 30, tzinfo=UTC), at(5, 17)),
        ("17:00", dt.datetime(2026, 12, 6, 18, 0, tzinfo=UTC), at(6, 17)),
        ("17:00", dt.datetime(2026, 12, 6, 17, 0, tzinfo=UTC), at(6, 17)),
        ("yesterday 17:00", dt.datetime(2026, 12, 6, 18, 0, tzinfo=UTC), at(5, 17)),
        ("today 08:30", dt.datetime(2026, 12, 6, 18, 0, tzinfo=UTC), at(6, 8, 30)),
        # In summer, 17:00 local is 16:00 UTC.
        (
            "17:00",
            dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
            dt.datetime(2026, 6, 30, 16, 0, tzinfo=UTC),
        ),
        ("2026-12-05", NOW, at(5, 0)),
        ("2026-12-05T17:00", NOW, at(5, 17)),
        ("2026-07-01T17:00", NOW, dt.datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),
        ("2026-12-05T17:00+01:00", NOW, at(5, 16)),
        ("2026-12-05T17:00Z", NOW, at(5, 17)),
        ("now", NOW, NOW),
    ],
)
def test_parse_since_reads_the_times_people_write(
    text: str, now: dt.datetime, expected: dt.datetime
) -> None:
    assert handover.parse_since(text, now, LONDON) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "give a time"),
        ("teatime", "is not a time"),
        ("25:00", "is not a time of day"),
        ("2026-03-29T01:30", "never happens"),
        ("2026-10-25T01:30", "happens twice"),
        ("0001-01-01T00:00+01:00", "give a time from 2000 to 2199"),
        ("9999-12-31T23:59", "give a time from 2000 to 2199"),
    ],
)
def test_parse_since_refuses_what_it_cannot_read_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        handover.parse_since(text, NOW, LONDON, field="from")
    assert refused.value.field == "from"
    assert words in refused.value.message


def test_a_reversed_empty_or_too_long_period_is_refused(app: Flask) -> None:
    with services_of(app).db.transaction() as session:
        for start, end in ((END, START), (START, START), (START, START + dt.timedelta(days=32))):
            with pytest.raises(InvalidInput) as refused:
                handover.build(session, start, end, now=NOW, zone=LONDON)
            assert refused.value.field == "to"


def test_a_conversation_opened_before_the_period_counts_its_texts_in_it(app: Flask) -> None:
    db = services_of(app).db
    with db.transaction() as session:
        ids = add_people(session)
        conversation = SmsConversation(
            phone="+447700900998",
            participant_id=None,
            status="open",
            handled_by_staff_id=ids["amira"],
            opened_at=at(5, 8, 0),
            last_message_at=at(5, 9, 0),
        )
        session.add(conversation)
        session.flush()
        opening = _text_in(
            session, at(5, 8, 0), "+447700900998", None, "BODY-a", conversation_id=conversation.id
        )
        _text_in(
            session, at(5, 9, 0), "+447700900998", None, "BODY-b", conversation_id=conversation.id
        )
        note(session, opening.id, ids["amira"], at(5, 8, 20), "NOTE-early")
    with db.transaction() as session:
        shown = handover.build(session, START, END, now=NOW, zone=LONDON)
    [group] = shown.participants
    [line] = group.contacts
    assert group.label == "Unknown callers"
    assert (line.kind, line.texts, line.contact_id) == ("conversation", 1, opening.id)
    assert line.first_text_at == at(5, 8, 0)
    assert line.note is not None and line.note.what_happened == "NOTE-early"


def test_reading_it_is_logged_once_per_participant_named(app: Flask) -> None:
    night, shown = _night(app)
    actor = Actor(
        "person", "Priya Natarajan", night.staff["priya"], frozenset({StaffRole.DUTY_MANAGER})
    )
    with services_of(app).db.transaction() as session:
        handover.log_read(session, Visit(actor=actor, at=NOW), shown)
    with services_of(app).db.transaction() as session:
        logged = session.execute(
            select(RecordAccess.participant_id, RecordAccess.record_type).where(
                RecordAccess.actor == actor.label
            )
        ).all()
    assert sorted(logged) == sorted(
        # Leon had no contact in the period, but has no crisis plan: the handover names him.
        (night.participants[key], "handover")
        for key in ("daniel", "marcus", "leon")
    )


def test_a_rota_that_cannot_be_worked_out_is_said_and_the_rest_still_shows(app: Flask) -> None:
    """A broken rota must not blank the handover, and gaps that cannot be worked out are never
    shown as none."""
    db = services_of(app).db
    with db.transaction() as session:
        build_night(session)
        session.execute(
            update(RotaRecord)
            .where(RotaRecord.name == "backup")
            .values(shift_length="now and then")
        )
    with db.transaction() as session:
        shown = handover.build(session, START, END, now=NOW, zone=LONDON)
    assert [(p.rota, bool(p.problem)) for p in shown.rota_problems] == [("backup", True)]
    assert [s.rota for s in shown.on_call] == ["primary"]
    assert shown.gaps is None
    assert shown.counts.calls == 3
    text = handover.plain_text(shown, link=None)
    assert "backup: could not be worked out" in text
    assert "Could not be worked out: check the rotas." in text


def test_the_scheduler_is_reported_only_when_its_beat_is_over_a_minute_old(app: Flask) -> None:
    db = services_of(app).db
    with db.transaction() as session:
        heartbeat.beat(
            session, name="s1", pid=1, started_at=START, now=NOW - dt.timedelta(seconds=30)
        )
    with db.transaction() as session:
        fresh = handover.build(session, START, END, now=NOW, zone=LONDON).failures
    assert not fresh.scheduler_stale and not fresh.any
    with db.transaction() as session:
        late = handover.build(session, START, END, now=NOW + dt.timedelta(minutes=1), zone=LONDON)
    assert late.failures.scheduler_stale
    assert "The scheduler's last beat was Sun 6 Dec 08:29" in handover.plain_text(late, link=None)
