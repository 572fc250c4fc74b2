"""Risk alerts on a real database: rules at their thresholds, routing, cooldown, acknowledgement."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crisisline import alerts, contacts, participants
from crisisline import escalation_engine as engine
from crisisline.alert_models import AlertStatus
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.jobs import Jobs
from crisisline.models import Channel, Direction
from tests.support.risk_alerts import (
    HIGH_RISK,
    INACTIVE,
    LAPSED,
    LINE,
    MANAGER,
    NO_OFFICER,
    OFFICER,
    OFFICER_B,
    PARTICIPANT,
    PRIMARY,
    WINTER_NOON,
    Service,
    alerts_service,
)


@pytest.fixture
def service(app: Flask, clock: FakeClock) -> Service:
    """Officers, on-call staff on rotas primary/backup/duty-manager, and four participants
    (tests/support/risk_alerts.py)."""
    return alerts_service(app, clock)


def _at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def _json(response: TestResponse) -> Any:
    body = response.get_json()
    assert body is not None
    return body


# ---- frequency -----------------------------------------------------------------------------


def test_frequency_fires_at_three_contacts_in_24_hours_and_not_at_two(service: Service) -> None:
    assert service.contact(PARTICIPANT, _at(2026, 11, 25, 13), channel=Channel.VOICE) == []
    assert service.contact(PARTICIPANT, _at(2026, 11, 26, 2), channel=Channel.VOICE) == []
    raised = service.contact(PARTICIPANT, _at(2026, 11, 26, 12), channel=Channel.VOICE)
    assert [a.rule for a in raised] == ["frequency"]
    alert = raised[0]
    assert alert.severity.value == "warning"
    assert alert.recipient_staff_id == service.ids[OFFICER]
    assert "3 times in 24 hours" in alert.reason
    (text,) = service.texts_to(OFFICER)
    assert text.startswith("Resettle RISK ALERT: R2001 contacted the crisis line 3")
    assert text.endswith("Reply 1a to acknowledge, 1c to close.")
    assert len(text) <= 160
    assert service.texts_to(MANAGER) == []  # a warning waits for the officer


def test_frequency_does_not_count_a_contact_outside_the_window(service: Service) -> None:
    service.contact(PARTICIPANT, _at(2026, 11, 25, 11, 59), channel=Channel.VOICE)
    service.contact(PARTICIPANT, _at(2026, 11, 26, 2), channel=Channel.VOICE)
    assert service.contact(PARTICIPANT, _at(2026, 11, 26, 12), channel=Channel.VOICE) == []


def test_frequency_fires_at_two_contacts_for_a_high_risk_participant(service: Service) -> None:
    assert service.contact(HIGH_RISK, _at(2026, 11, 26, 1), channel=Channel.VOICE) == []
    raised = service.contact(HIGH_RISK, _at(2026, 11, 26, 9), channel=Channel.VOICE)
    assert [a.rule for a in raised] == ["frequency"]
    assert "alert level for high risk is 2" in raised[0].reason


def test_texts_in_one_conversation_count_as_one_contact(service: Service) -> None:
    # Each text within 30 minutes of the one before: one conversation, one contact.
    for minute in (0, 5, 10, 20, 45, 50):
        assert service.contact(PARTICIPANT, _at(2026, 11, 26, 10, minute), body="hi") == []
    assert service.contact(PARTICIPANT, _at(2026, 11, 26, 11, 21), body="hello again") == []
    raised = service.contact(PARTICIPANT, _at(2026, 11, 26, 13), channel=Channel.VOICE)
    assert [a.rule for a in raised] == ["frequency"]
    assert "3 times" in raised[0].reason


@pytest.mark.parametrize(
    ("first_contact", "fires"),
    [
        # 29 March 2026, clocks go forward: at 11:00 BST the window opens at 11:00 GMT on the
        # 28th (11:00 UTC), 23 real hours back.
        (_at(2026, 3, 28, 10, 30), False),
        (_at(2026, 3, 28, 11, 30), True),
    ],
)
def test_the_frequency_window_is_wall_clock_hours_when_the_clocks_go_forward(
    service: Service, first_contact: dt.datetime, fires: bool
) -> None:
    service.contact(PARTICIPANT, first_contact, channel=Channel.VOICE)
    service.contact(PARTICIPANT, _at(2026, 3, 29, 8), channel=Channel.VOICE)
    raised = service.contact(PARTICIPANT, _at(2026, 3, 29, 10), channel=Channel.VOICE)
    assert bool(raised) is fires


@pytest.mark.parametrize(
    ("first_contact", "fires"),
    [
        # 25 October 2026, clocks go back: at 12:00 GMT the window opens at 12:00 BST on the
        # 24th (11:00 UTC), 25 real hours back.
        (_at(2026, 10, 24, 10, 30), False),
        (_at(2026, 10, 24, 11, 30), True),
    ],
)
def test_the_frequency_window_is_wall_clock_hours_when_the_clocks_go_back(
    service: Service, first_contact: dt.datetime, fires: bool
) -> None:
    service.contact(PARTICIPANT, first_contact, channel=Channel.VOICE)
    service.contact(PARTICIPANT, _at(2026, 10, 25, 3), channel=Channel.VOICE)
    raised = service.contact(PARTICIPANT, _at(2026, 10, 25, 12), channel=Channel.VOICE)
    assert bool(raised) is fires


def test_outbound_contacts_are_never_counted(service: Service) -> None:
    for hour in (1, 2, 3):
        assert (
            service.contact(
                PARTICIPANT, _at(2026, 11, 26, hour), direction=Direction.OUTBOUND, body="end it"
            )
            == []
        )


# ---- phrases -------------------------------------------------------------------------------


def test_an_urgent_phrase_goes_to_the_officer_and_the_duty_manager_at_once(
    service: Service,
) -> None:
    raised = service.contact(PARTICIPANT, body="I'm going to K.I.L.L MYSELLLF tonight")
    assert [(a.rule, a.severity.value) for a in raised] == [("phrases.self_harm", "urgent")]
    alert = raised[0]
    assert alert.reason == "texted words about self-harm or suicide"
    assert service.texts_to(OFFICER) and service.texts_to(MANAGER)
    assert service.texts_to(OFFICER)[0].startswith("Resettle RISK ALERT URGENT:")
    # The participant's words never leave the contact record.
    assert all("MYSEL" not in body.upper() for _, body in service.texts())


def test_a_warning_phrase_goes_to_the_officer_only(service: Service) -> None:
    raised = service.contact(PARTICIPANT, body="ive RELAPSED, sorry")
    assert [a.rule for a in raised] == ["phrases.substance_relapse"]
    assert service.texts_to(OFFICER)
    assert service.texts_to(MANAGER) == []


def test_a_phrase_inside_a_longer_word_raises_nothing(service: Service) -> None:
    assert service.contact(PARTICIPANT, body="Working on my skills, it's stable, begun") == []
    assert service.texts() == []


def test_a_voicemail_transcript_is_checked_for_phrases(service: Service) -> None:
    raised = service.contact(
        PARTICIPANT,
        _at(2026, 11, 26, 14),
        channel=Channel.VOICE,
        outcome="voicemail",
        body="I've got a knife",
    )
    assert [a.rule for a in raised] == ["phrases.harm_to_others"]
    assert raised[0].reason == "left a voicemail with words about harming someone else or weapons"


def test_logs_never_hold_the_words_or_the_numbers(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    service.contact(PARTICIPANT, body="gonna kill myself, no point living")
    assert "risk alert" in caplog.text
    assert "myself" not in caplog.text and "point living" not in caplog.text
    assert PARTICIPANT not in caplog.text and OFFICER not in caplog.text


# ---- cooldown ------------------------------------------------------------------------------


def test_a_repeat_within_the_cooldown_adds_to_the_open_alert(service: Service) -> None:
    (first,) = service.contact(PARTICIPANT, _at(2026, 11, 26, 12), body="want to die")
    (again,) = service.contact(PARTICIPANT, _at(2026, 11, 26, 13), body="I want to die")
    assert again.id == first.id
    assert again.count == 2
    assert again.last_seen_at == _at(2026, 11, 26, 13)
    with service.svc.db.transaction() as session:
        assert len(alerts.evidence(session, first.id)) == 2
    assert len(service.texts_to(OFFICER)) == 1  # one text, not two
    # After the 6-hour cooldown, a new alert.
    later = service.contact(PARTICIPANT, _at(2026, 11, 26, 18, 1), body="want to die")
    (self_harm,) = [a for a in later if a.rule == "phrases.self_harm"]
    assert self_harm.id != first.id


def test_a_repeat_of_an_urgent_rule_after_acknowledgement_raises_a_new_alert(
    service: Service,
) -> None:
    (first,) = service.contact(PARTICIPANT, body="want to die")
    with service.svc.db.transaction() as session:
        alerts.acknowledge(
            session, first.id, actor="Nadia", now=service.clock.now(), reach=service.svc.reach
        )
    (again,) = service.contact(PARTICIPANT, WINTER_NOON + dt.timedelta(hours=1), body="bye, end it")
    assert again.id != first.id


def test_evaluating_a_contact_twice_counts_it_once(service: Service) -> None:
    (alert,) = service.contact(PARTICIPANT, body="want to die")
    with service.svc.db.transaction() as session:
        contact_id = alerts.evidence(session, alert.id)[0].id
        again = alerts.evaluate_contact(
            session,
            contact_id,
            service.clock.now(),
            service.svc.reach,
            rules=service.svc.risk_rules,
            zone=service.svc.settings.zone,
        )
    assert again == []
    assert [a.count for a in service.alerts()] == [1]


# ---- routing -------------------------------------------------------------------------------


def test_an_alert_goes_to_the_officer_recorded_when_the_contact_happened(
    service: Service,
) -> None:
    (first,) = service.contact(PARTICIPANT, body="I relapsed")
    with service.svc.db.transaction() as session:
        participants.update(
            session,
            service.ids[PARTICIPANT],
            {"responsible_officer_id": service.ids[OFFICER_B]},
            actor="t",
            now=service.clock.now(),
            zone=ZoneInfo("Europe/London"),
        )
    (second,) = service.contact(PARTICIPANT, WINTER_NOON + dt.timedelta(hours=1), body="relapse")
    # Inside the cooldown, but a new officer hears about it from the start.
    assert second.id != first.id
    assert first.recipient_staff_id == service.ids[OFFICER]
    assert second.recipient_staff_id == service.ids[OFFICER_B]
    assert len(service.texts_to(OFFICER)) == 1
    assert len(service.texts_to(OFFICER_B)) == 1


@pytest.mark.parametrize("who", [NO_OFFICER, LAPSED])
def test_without_an_active_officer_the_duty_manager_gets_it_and_a_warning(
    service: Service, who: str
) -> None:
    raised = service.contact(who, body="ive relapsed")
    assert [a.rule for a in raised] == ["phrases.substance_relapse", "missing_officer"]
    assert all(a.routed_to == "duty_manager" and a.recipient_staff_id is None for a in raised)
    assert len(service.texts_to(MANAGER)) == 2
    assert service.texts_to(INACTIVE) == []
    # The warning about the missing officer is not repeated on every alert.
    later = service.contact(who, WINTER_NOON + dt.timedelta(hours=7), body="relapsed again")
    assert [a.rule for a in later] == ["phrases.substance_relapse", "missing_officer"]
    assert later[1].id == raised[1].id and later[1].count == 2


# ---- unanswered, voicemail at night, repeated nights, opting out --------------------------


def test_an_unanswered_call_raises_an_urgent_alert(service: Service) -> None:
    with service.svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=PARTICIPANT,
            to_number=LINE,
            twilio_sid="CA" + "1" * 32,
            started_at=service.clock.now(),
            participant_id=service.ids[PARTICIPANT],
            outcome="no-answer",
        )
        alert = alerts.raise_unanswered(
            session,
            contact_id=contact.id,
            kind="call",
            now=service.clock.now(),
            reach=service.svc.reach,
            rules=service.svc.risk_rules,
        )
        assert alert is not None
        assert (alert.rule, alert.severity.value) == ("unanswered", "urgent")
        again = alerts.raise_unanswered(
            session,
            contact_id=contact.id,
            kind="call",
            now=service.clock.now(),
            reach=service.svc.reach,
            rules=service.svc.risk_rules,
        )
        assert again is None  # once per contact
    assert service.texts_to(MANAGER)


@pytest.mark.parametrize(
    ("at", "fires"),
    [
        (_at(2026, 11, 26, 0, 0), True),
        (_at(2026, 11, 26, 5, 59), True),
        (_at(2026, 11, 26, 6, 0), False),
        (_at(2026, 11, 25, 23, 59), False),
        # Summer: 23:30 UTC is 00:30 BST.
        (_at(2026, 7, 1, 23, 30), True),
        (_at(2026, 7, 2, 5, 30), False),
    ],
)
def test_a_voicemail_at_night_raises_an_alert(
    service: Service, at: dt.datetime, fires: bool
) -> None:
    raised = service.contact(PARTICIPANT, at, channel=Channel.VOICE, outcome="voicemail")
    assert ("voicemail_at_night" in [a.rule for a in raised]) is fires


def test_a_call_at_night_without_a_voicemail_is_not_a_voicemail_alert(service: Service) -> None:
    raised = service.contact(PARTICIPANT, _at(2026, 11, 26, 3), channel=Channel.VOICE)
    assert "voicemail_at_night" not in [a.rule for a in raised]


@pytest.mark.parametrize(
    ("earlier", "fires"),
    [
        (_at(2026, 11, 20, 2), True),  # six days before
        (_at(2026, 11, 19, 2), True),  # seven days before, by the clock
        (_at(2026, 11, 18, 2), False),  # eight days before
        (_at(2026, 11, 25, 12), False),  # daytime
        (_at(2026, 11, 26, 1), False),  # the same night
    ],
)
def test_contact_on_two_nights_within_seven_days_raises_an_alert(
    service: Service, earlier: dt.datetime, fires: bool
) -> None:
    service.contact(PARTICIPANT, earlier, channel=Channel.VOICE)
    raised = service.contact(PARTICIPANT, _at(2026, 11, 26, 2), channel=Channel.VOICE)
    assert ("repeated_night" in [a.rule for a in raised]) is fires


def test_repeated_nights_counts_local_nights_across_the_clock_change(service: Service) -> None:
    # 00:30 BST on 30 March is 23:30 UTC on the 29th: a night contact, in local time.
    assert service.contact(PARTICIPANT, _at(2026, 3, 29, 23, 30), channel=Channel.VOICE) == []
    raised = service.contact(PARTICIPANT, _at(2026, 4, 1, 1), channel=Channel.VOICE)
    assert [a.rule for a in raised] == ["repeated_night"]
    assert "on 2 nights in the last 7 days" in raised[0].reason


@pytest.mark.parametrize(("body", "fires"), [("STOP", True), ("Stop.", True), ("stop it", False)])
def test_texting_stop_raises_an_opt_out_alert(service: Service, body: str, fires: bool) -> None:
    raised = service.contact(PARTICIPANT, body=body)
    assert ("opt_out" in [a.rule for a in raised]) is fires


# ---- acknowledgement and escalation ------------------------------------------------------------


def test_an_urgent_alert_nobody_acknowledges_escalates(service: Service) -> None:
    (alert,) = service.contact(PARTICIPANT, body="going to end it all")
    assert {to for to, _ in service.texts()} == {OFFICER, MANAGER}
    service.clock.advance(dt.timedelta(seconds=899))
    assert Jobs(service.svc).sweep_escalations() == 0
    service.clock.advance(dt.timedelta(seconds=1))
    assert Jobs(service.svc).sweep_escalations() == 1
    assert service.texts_to(PRIMARY)  # the policy's second step: duty manager and primary
    with service.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, alert.escalation_id)
        assert (record.step_index, record.status) == (1, "open")


def test_the_officers_reply_code_acknowledges_the_alert(service: Service) -> None:
    service.contact(PARTICIPANT, body="I relapsed")
    with service.svc.db.transaction() as session:
        outcome = engine.act_by_phone(
            session, OFFICER, "1a", service.clock.now(), service.svc.reach
        )
    assert outcome is not None and outcome.changed
    (stored,) = service.alerts()
    assert stored.status == AlertStatus.ACKNOWLEDGED
    assert stored.acknowledged_by == "Nadia Whitlock"
    assert stored.acknowledged_by_staff_id == service.ids[OFFICER]
    assert stored.acknowledged_at == service.clock.now()


def test_a_reply_code_from_the_wrong_phone_is_refused(service: Service) -> None:
    service.contact(PARTICIPANT, body="I relapsed")
    with service.svc.db.transaction() as session:
        outcome = engine.act_by_phone(
            session, OFFICER_B, "1a", service.clock.now(), service.svc.reach
        )
    assert outcome is not None and not outcome.changed
    (stored,) = service.alerts()
    assert stored.status == AlertStatus.OPEN


def test_a_warning_nobody_acknowledges_is_reported_to_the_duty_managers(
    service: Service,
) -> None:
    service.contact(PARTICIPANT, body="I relapsed")
    service.clock.advance(dt.timedelta(minutes=120))
    Jobs(service.svc).sweep_escalations()
    (text,) = service.texts_to(MANAGER)
    assert text.startswith("URGENT")


# ---- the API -------------------------------------------------------------------------------


def test_the_api_lists_filters_and_shows_evidence(
    service: Service, client: FlaskClient, auth: dict[str, str]
) -> None:
    service.contact(PARTICIPANT, body="I relapsed")
    service.contact(HIGH_RISK, WINTER_NOON + dt.timedelta(hours=1), body="want to die")
    everything = client.get("/api/v1/alerts", headers=auth)
    assert everything.status_code == 200
    assert [a["rule"] for a in _json(everything)] == [
        "phrases.self_harm",
        "phrases.substance_relapse",
    ]
    urgent = _json(client.get("/api/v1/alerts?severity=urgent", headers=auth))
    assert [a["participant_id"] for a in urgent] == [service.ids[HIGH_RISK]]
    mine = client.get(f"/api/v1/alerts?participant_id={service.ids[PARTICIPANT]}", headers=auth)
    assert [a["rule"] for a in _json(mine)] == ["phrases.substance_relapse"]
    later = _json(client.get("/api/v1/alerts?from=2026-11-26T12:30:00Z", headers=auth))
    assert [a["rule"] for a in later] == ["phrases.self_harm"]
    alert_id = _json(mine)[0]["id"]
    one = _json(client.get(f"/api/v1/alerts/{alert_id}", headers=auth))
    (evidence,) = one["evidence"]
    assert evidence["channel"] == "sms" and evidence["body"] == "I relapsed"
    assert one["escalation"] == f"/api/v1/escalations/{one['escalation_id']}"
    assert _json(client.get("/api/v1/alerts?status=open", headers=auth))
    assert client.get("/api/v1/alerts?severity=severe", headers=auth).status_code == 422
    assert client.get("/api/v1/alerts/999", headers=auth).status_code == 404


def test_the_api_acknowledges_and_resolves_with_a_note(
    service: Service, client: FlaskClient, auth: dict[str, str]
) -> None:
    (alert,) = service.contact(PARTICIPANT, body="want to die")
    acked = client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=auth)
    assert acked.status_code == 200
    assert _json(acked)["status"] == "acknowledged"
    assert _json(acked)["acknowledged_by"] == "integration:tests"
    with service.svc.db.transaction() as session:
        record = session.get_one(EscalationRecord, alert.escalation_id)
        assert record.status == "acknowledged"  # the escalation stops too
    missing_note = client.post(f"/api/v1/alerts/{alert.id}/resolve", json={}, headers=auth)
    assert missing_note.status_code == 422
    resolved = client.post(
        f"/api/v1/alerts/{alert.id}/resolve",
        json={"note": "Spoke to him; safety plan reviewed with the crisis team."},
        headers=auth,
    )
    assert resolved.status_code == 200
    assert _json(resolved)["status"] == "resolved"
    assert _json(resolved)["resolved_by"] == "integration:tests"
    assert _json(resolved)["resolution_note"].startswith("Spoke to him")
    again = client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=auth)
    assert again.status_code == 409
    assert _json(client.get("/api/v1/alerts?status=resolved", headers=auth))[0]["id"] == alert.id


# ---- urgent words the safety review found missed ----------------------------------------------


@pytest.mark.hazard("H60")
def test_new_urgent_words_after_the_alerts_chain_ran_out_reach_someone(service: Service) -> None:
    (first,) = service.contact(PARTICIPANT, WINTER_NOON, body="I want to end it all")
    # Nobody acknowledges: the risk-alert chain runs twice through its two steps, then ends.
    for _ in range(4):
        service.clock.advance(dt.timedelta(seconds=900))
        Jobs(service.svc).sweep_escalations()
    with service.svc.db.transaction() as session:
        assert session.get_one(EscalationRecord, first.escalation_id).status == "exhausted"
    texts_before = len(service.texts())
    # Two hours later (inside the 6-hour phrase cooldown) he texts again.
    again = service.contact(
        PARTICIPANT, WINTER_NOON + dt.timedelta(hours=2), body="going to kill myself tonight"
    )
    new_to_officer_or_manager = [
        to for to, _ in service.texts()[texts_before:] if to in (OFFICER, MANAGER)
    ]
    assert again and again[0].status == AlertStatus.OPEN
    # New urgent evidence must reach a person: a new alert (and texts), not a silent count += 1.
    assert again[0].id != first.id, "merged silently into an alert whose chain already ran out"
    assert new_to_officer_or_manager


@pytest.mark.hazard("H61")
@pytest.mark.parametrize(
    "body",
    [
        "i want to kill my self",  # "myself" split in two: the commonest misspelling
        "gonna hang my self tonight",
        "I cannot go on",
        "i can not go on anymore",
        "kms",
        "im going to kms tonight",
    ],
)
def test_realistic_self_harm_texts_raise_the_urgent_alert(service: Service, body: str) -> None:
    raised = service.contact(PARTICIPANT, body=body)
    assert "phrases.self_harm" in [a.rule for a in raised]
