"""Risk rules run on the contacts the call and text flows record, through the real webhooks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crisisline import alerts, participants, staff
from crisisline.alert_models import RiskAlert
from crisisline.clock import FakeClock
from crisisline.models import Contact, StaffRole
from tests.support.sms_line import ACK, BACKUP, DANIEL, MANAGER, PRIMARY, SmsLine, start_line

OFFICER = "+447700900104"


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    """The SMS line, with Daniel's responsible officer recorded."""
    for running in start_line(tmp_path, database_url, clock):
        with running.svc.db.transaction() as session:
            officer = staff.create(
                session,
                staff.NewStaff("Gareth Lloyd", OFFICER, None, [StaffRole.RESPONSIBLE_OFFICER]),
                actor="t",
                now=clock.now(),
            )
            participants.update(
                session,
                running.ids[DANIEL],
                {"responsible_officer_id": officer.id},
                actor="t",
                now=clock.now(),
                zone=ZoneInfo("Europe/London"),
            )
        running.sim.phone(OFFICER, label="Gareth Lloyd")
        yield running


def _alerts(line: SmsLine) -> list[tuple[str, str]]:
    with line.svc.db.transaction() as session:
        return [
            (a.rule, a.severity) for a in session.scalars(select(RiskAlert).order_by(RiskAlert.id))
        ]


def test_a_text_with_risk_words_raises_an_urgent_alert_to_the_officer(line: SmsLine) -> None:
    line.text(DANIEL, "I want to KILLLL myself tonight...")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("KILLLL myself")
    line.phone(PRIMARY).ignore_unexpected()
    assert ("phrases.self_harm", "urgent") in _alerts(line)
    alert_sms = line.phone(OFFICER).expect_sms("RISK ALERT")
    # The officer is told the category, never the participant's words.
    assert "self-harm" in alert_sms.body
    assert "myself" not in alert_sms.body
    # Urgent alerts go to the duty manager on call as well.
    line.phone(MANAGER).expect_sms("RISK ALERT")


def test_a_crisis_text_nobody_takes_after_the_whole_chain_raises_an_unanswered_alert(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "are you there")
    line.dispatch()
    for phone in (DANIEL, PRIMARY, BACKUP, MANAGER, OFFICER):
        line.phone(phone).ignore_unexpected()  # the chain's own texts and calls
    # crisis-sms: three steps of 5 minutes, run three times; one step fires per sweep.
    for _ in range(12):
        line.wait(dt.timedelta(minutes=10))
    assert [rule for rule, _ in _alerts(line)] == ["unanswered"]
    line.phone(OFFICER).expect_sms("RISK ALERT")


def test_a_failing_rule_never_loses_the_contact_it_was_judging(line: SmsLine) -> None:
    class Broken:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("rules unavailable")

    line.text(DANIEL, "hello")
    line.dispatch()
    with line.svc.db.transaction() as session:
        contact = session.scalars(select(Contact).order_by(Contact.id)).first()
        assert contact is not None
        raised = alerts.evaluate_contact_safely(
            session,
            contact.id,
            line.clock.now(),
            line.svc.reach,
            rules=Broken(),  # type: ignore[arg-type]
            zone=line.svc.settings.zone,
        )
        assert raised == []
    with line.svc.db.transaction() as session:
        assert session.get(Contact, contact.id) is not None
    for phone in (DANIEL, PRIMARY):
        line.phone(phone).ignore_unexpected()
