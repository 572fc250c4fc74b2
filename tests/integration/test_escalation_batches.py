"""A sweep advances a batch of due escalations in one transaction: it must write exactly what
advancing them one by one writes (codes, bundles, deliveries, events), on every engine."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from crisisline import escalation_engine as engine
from crisisline import escalation_policies, staff
from crisisline.db import Database
from crisisline.escalation_models import EscalationCode, EscalationEvent, EscalationRecord
from crisisline.models import Delivery, Staff, StaffRole
from escalation import ByOperator, Reach
from tests.support.app import ENGINES

REACH = Reach("+447700900000", "https://crisis.example.org")
T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
WAIT = dt.timedelta(seconds=30)
# A summary long enough that a burst overflows one bundle (600 characters) into the next.
SUMMARY = "Missed call from a participant at night, asking for a call back about housing {n}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _chain(db: Database, prefix: str, manager: bool) -> dict[str, int]:
    """Two on-call staff and one who leaves; a policy that texts and calls, then finds a gap."""
    ids: dict[str, int] = {}
    with db.transaction() as session:
        people = [
            ("first", f"{prefix}1", StaffRole.ON_CALL),
            ("second", f"{prefix}2", StaffRole.ON_CALL),
            ("leaver", f"{prefix}3", StaffRole.ON_CALL),
        ]
        if manager:
            people.append(("manager", "+447700900199", StaffRole.DUTY_MANAGER))
        for label, phone, role in people:
            person = staff.create(
                session, staff.NewStaff(f"{label} {prefix}", phone, None, [role]), actor="t", now=T0
            )
            ids[label] = person.id
        escalation_policies.put_policy(
            session,
            f"batch-{prefix[-2:]}",
            {
                "steps": [
                    {
                        "targets": [{"staff_id": ids["first"]}],
                        "channels": ["sms"],
                        "wait_seconds": 30,
                    },
                    {
                        "targets": [{"staff_id": ids["first"]}, {"staff_id": ids["second"]}],
                        # The call first: a text just after it is bundled, as after a text.
                        "channels": ["voice", "sms"],
                        "wait_seconds": 30,
                    },
                    {
                        "targets": [{"staff_id": ids["leaver"]}],
                        "channels": ["sms"],
                        "wait_seconds": 30,
                    },
                ],
                "repeat": 1,
            },
            actor="t",
            now=T0,
        )
        # Gone after the policy was written: the third step reaches nobody (skipped, a gap).
        session.get_one(Staff, ids["leaver"]).active = False
    return ids


def _run(db: Database, prefix: str, base: dt.datetime, *, together: bool) -> list[int]:
    """Open a burst, close two (their codes rest), then sweep until every one has run out."""
    opened: list[int] = []
    with db.transaction() as session:
        for n in range(24):
            # Two waves ten seconds apart, so a sweep meets bundles an earlier sweep is holding.
            at = base + (dt.timedelta(seconds=10) if n >= 12 else dt.timedelta(0))
            record = engine.open_escalation(
                session,
                policy_name=f"batch-{prefix[-2:]}",
                subject_type="missed_call",
                subject_id=None,
                participant_id=None,
                summary=SUMMARY.format(n=n),
                now=at,
                reach=REACH,
            )
            opened.append(record.id)
    with db.transaction() as session:
        engine.close_escalation(session, opened[3], ByOperator("t"), base + WAIT / 2, REACH)
    for seconds in range(30, 400, 5):
        now = base + dt.timedelta(seconds=seconds)
        if seconds == 35:
            # The second person's code 1 (given at 30 s) rests: the next wave must pass it over.
            with db.transaction() as session:
                engine.close_escalation(session, opened[0], ByOperator("t"), now, REACH)
        engine.sweep_due(db, now, REACH, together=together)
    with db.transaction() as session:
        still_open = session.scalars(
            select(EscalationRecord.id).where(
                EscalationRecord.id.in_(opened), EscalationRecord.status == "open"
            )
        ).all()
    assert still_open == []
    return opened


def _written(
    db: Database,
    opened: list[int],
    phones: dict[str, str],
    staff_ids: dict[int, str],
    base: dt.datetime,
) -> dict[str, list[Any]]:
    """What one run wrote, with ids, phones and times made relative to the run."""
    index = {escalation_id: n for n, escalation_id in enumerate(opened)}

    def later(at: dt.datetime | None) -> float | None:
        return None if at is None else (at - base).total_seconds()

    with db.transaction() as session:
        deliveries = [
            (
                phones[d.to_number],
                d.purpose,
                d.channel,
                d.body,
                d.segments,
                d.status,
                later(d.next_attempt_at),
            )
            for d in session.scalars(select(Delivery).order_by(Delivery.id))
            if d.to_number in phones and base <= d.created_at < base + dt.timedelta(hours=1)
        ]
        codes = [
            (index[c.escalation_id], phones[c.phone], c.code, c.active, later(c.last_sent_at))
            for c in session.scalars(select(EscalationCode).order_by(EscalationCode.id))
            if c.escalation_id in index
        ]
        events = [
            (
                index[e.escalation_id],
                later(e.at),
                e.kind,
                {
                    k: (
                        staff_ids[v]
                        if k == "staff_id"
                        else re.sub(r"\d+", lambda m: staff_ids[int(m[0])], v)
                        if k == "reason"
                        else v
                    )
                    for k, v in e.detail.items()
                    # The policy's name and the managers' ids differ between the two runs.
                    if k not in ("policy", "duty_managers_told")
                },
            )
            for e in session.scalars(select(EscalationEvent).order_by(EscalationEvent.id))
            if e.escalation_id in index
        ]
        states = [
            (r.status, r.step_index, r.loop, r.version, later(r.exhausted_at))
            for r in session.scalars(
                select(EscalationRecord)
                .where(EscalationRecord.id.in_(opened))
                .order_by(EscalationRecord.id)
            )
        ]
    # Order matters within one escalation's events and one phone's texts (the newest held
    # bundle is the one that is joined); a batch raises its incidents after its notifications,
    # so the order across escalations and phones may differ.
    deliveries.sort(key=lambda d: d[0])
    events.sort(key=lambda e: e[0])
    return {"deliveries": deliveries, "codes": codes, "events": events, "states": states}


def test_a_batched_sweep_writes_exactly_what_one_by_one_writes(db: Database) -> None:
    one_ids = _chain(db, "+4477009001", manager=True)
    batch_ids = _chain(db, "+4477009002", manager=False)
    one_base, batch_base = T0, T0 + dt.timedelta(days=1)
    one = _run(db, "+4477009001", one_base, together=False)
    batch = _run(db, "+4477009002", batch_base, together=True)

    def labels(prefix: str, ids: dict[str, int]) -> tuple[dict[str, str], dict[int, str]]:
        phones = {
            f"{prefix}{n}": label for n, label in ((1, "first"), (2, "second"), (3, "leaver"))
        }
        phones["+447700900199"] = "manager"
        return phones, {v: k for k, v in ids.items()} | {one_ids["manager"]: "manager"}

    one_written = _written(db, one, *labels("+4477009001", one_ids), one_base)
    batch_written = _written(db, batch, *labels("+4477009002", batch_ids), batch_base)
    for kind in ("states", "codes", "events", "deliveries"):
        assert batch_written[kind] == one_written[kind], kind

    # The scenario exercised what it is meant to: bundles that overflowed into a second one,
    # a rested code passed over, calls, skipped steps and incidents to the duty manager.
    deliveries = batch_written["deliveries"]
    bundles = [d for d in deliveries if d[0] == "first" and d[1] == engine.BUNDLE_PURPOSE]
    assert len({d[6] for d in bundles}) < len(bundles), "no bundle overflowed into another"
    assert all(len(d[3]) <= engine.BUNDLE_MAX_CHARS for d in bundles)
    assert any(d[2] == "voice" for d in deliveries)
    assert any(d[0] == "manager" for d in deliveries)
    kinds = {e[2] for e in batch_written["events"]}
    assert {"step_skipped", "gap", "unanswered_incident"} <= kinds
    second_codes = [c[2] for c in batch_written["codes"] if c[1] == "second"]
    # The one closed at 35 s held 1; it rests, so the next wave starts at 12, not 1.
    assert sorted(second_codes) == list(range(1, 24))


def test_every_code_of_a_burst_is_texted_once_per_notification_whatever_bundle_it_joins(
    db: Database,
) -> None:
    ids = _chain(db, "+4477009003", manager=True)
    opened = _run(db, "+4477009003", T0, together=True)
    for phone, person in (("+44770090031", ids["first"]), ("+44770090032", ids["second"])):
        with db.transaction() as session:
            bodies = session.scalars(
                select(Delivery.body).where(Delivery.to_number == phone, Delivery.channel == "sms")
            ).all()
            code_of = {
                c.escalation_id: c.code
                for c in session.scalars(
                    select(EscalationCode).where(EscalationCode.phone == phone)
                )
            }
            notified = [
                code_of[e.escalation_id]
                for e in session.scalars(
                    select(EscalationEvent).where(
                        EscalationEvent.escalation_id.in_(opened),
                        EscalationEvent.kind == "notified",
                    )
                )
                if e.detail["channel"] == "sms"
                and e.detail["staff_id"] == person
                # A closed one is taken out of the bundles still held: its texts are not kept.
                and e.escalation_id not in (opened[0], opened[3])
            ]
        quoted = [
            int(code) for code in re.findall(r"\b(\d+)a\b", " ".join(b or "" for b in bodies))
        ]
        assert notified
        assert sorted(c for c in quoted if c in notified) == sorted(notified), phone


def test_closing_one_escalation_leaves_every_other_code_in_a_held_bundle(db: Database) -> None:
    ids = _chain(db, "+4477009004", manager=False)
    assert ids
    opened = []
    with db.transaction() as session:
        for _ in range(14):
            record = engine.open_escalation(
                session,
                policy_name="batch-04",
                subject_type="missed_call",
                subject_id=None,
                participant_id=None,
                summary="Missed call",  # alike: "4a Missed call." is the tail of "14a ..."
                now=T0,
                reach=REACH,
            )
            opened.append(record.id)
    with db.transaction() as session:
        engine.close_escalation(session, opened[3], ByOperator("t"), T0, REACH)
        engine.close_escalation(session, opened[0], ByOperator("t"), T0, REACH)
    with db.transaction() as session:
        bundle = session.scalars(
            select(Delivery.body).where(Delivery.purpose == engine.BUNDLE_PURPOSE)
        ).one()
    assert re.findall(r"\b(\d+)a\b", bundle or "") == [str(n) for n in (2, 3, *range(5, 15))]


# Per-phone code locks are PostgreSQL advisory locks (SQLite serialises every writer), so this
# test exists only where PostgreSQL is configured, as it always is in CI (.ci/run).
if "postgresql" in ENGINES:

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_a_batch_meeting_a_phone_busy_elsewhere_waits_its_turn_one_by_one(
        db: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        ids = _chain(db, "+4477009005", manager=False)
        assert ids
        opened = []
        with db.transaction() as session:
            for n in range(6):
                record = engine.open_escalation(
                    session,
                    policy_name="batch-05",
                    subject_type="missed_call",
                    subject_id=None,
                    participant_id=None,
                    summary=f"Missed call {n}",
                    now=T0,
                    reach=REACH,
                )
                opened.append(record.id)
        second = "+44770090052"
        swept: list[int] = []
        # A webhook giving the second person a code holds their phone's lock: a batch must not
        # wait for it while holding other phones' locks (a deadlock), so it goes one by one.
        with db.engine.connect() as webhook, webhook.begin():
            webhook.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "code:" + second}
            )
            sweeper = threading.Thread(
                target=lambda: swept.append(engine.sweep_due(db, T0 + WAIT, REACH))
            )
            sweeper.start()
            sweeper.join(timeout=1)
            assert sweeper.is_alive(), "the one-by-one path waits for the phone's lock"
        sweeper.join(timeout=30)
        assert swept == [len(opened)]
        assert "not advanced together (_PhoneBusy)" in caplog.text
        with db.transaction() as session:
            codes = session.scalars(
                select(EscalationCode.code).where(EscalationCode.phone == second)
            ).all()
            fired = session.scalars(
                select(EscalationEvent.escalation_id).where(
                    EscalationEvent.kind == "notified", EscalationEvent.at == T0 + WAIT
                )
            ).all()
        assert sorted(codes) == list(range(1, len(opened) + 1))
        # Each escalation's second step reached both people, by text and by call, once.
        assert sorted(fired) == sorted(opened * 4)
