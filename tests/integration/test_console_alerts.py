"""The risk alert pages for each role: an officer sees and resolves his caseload's alerts and is
refused (404, the refusal logged) another's; an on-call worker and an administrator are refused
the alerts altogether; a duty manager sees every alert, giving a reason for those outside his
own. The filters each narrow the list; a resolution needs a note; acknowledging and resolving
stop the alert's escalation as the API does; every page and action is in the access log."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import func, select

from crisisline import contacts, escalation_engine
from crisisline.alert_models import AlertEvidence, AlertStatus
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Channel, Delivery, Direction, RecordAccess, StaffRole
from tests.support.alert_desk import (
    ADMIN_PHONE,
    NOON,
    OTHER_MAN,
    Desk,
    listed,
    open_desk,
    raised,
    text,
)
from tests.support.console import Browser, enrolled
from tests.support.risk_alerts import LINE, MANAGER, OFFICER, OFFICER_B, PARTICIPANT, PRIMARY


@pytest.fixture
def desk(app: Flask, clock: FakeClock) -> Desk:
    return open_desk(app, clock)


# ---- an officer ----------------------------------------------------------------------------


def test_an_officer_lists_only_his_caseloads_alerts_and_the_list_is_logged(desk: Desk) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    page = nadia.get("/alerts")
    assert page.status_code == 200
    html = text(page)
    assert listed(html) == {"R2001", "R2002"}
    assert f'href="/alerts/{desk.urgent}"' in html and f'href="/alerts/{desk.other}"' not in html
    # Newest first: the urgent alert of the 24th before the warning of the 20th.
    assert html.index(f"/alerts/{desk.urgent}") < html.index(f"/alerts/{desk.relapse}")
    assert 'href="/alerts" aria-current="page">Alerts</a>' in html
    assert sorted(desk.log(OFFICER)) == sorted(
        [
            ("read", "alert", None, desk.participant_of(desk.urgent)),
            ("read", "alert", None, desk.participant_of(desk.relapse)),
        ]
    )


def test_an_officer_opens_his_alert_and_resolves_it_with_a_note(desk: Desk) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    page = nadia.get(f"/alerts/{desk.relapse}")
    assert page.status_code == 200
    html = text(page)
    assert "Risk alert" in html and "R2001" in html and "Dale Fenwick" in html
    assert "texted words about drink or drug use (relapse)" in html
    assert f'href="/participants/{desk.participant_of(desk.relapse)}"' in html
    assert "I relapsed last night" in html  # she reads her caseload's contacts
    assert f'href="/escalations/{desk.alert(desk.relapse).escalation_id}"' in html
    answer = nadia.post(
        f"/alerts/{desk.relapse}/resolve",
        {"note": "  Rang him: he is at his sister's and seeing his worker tomorrow. "},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/alerts/{desk.relapse}"
    alert = desk.alert(desk.relapse)
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolved_by == "Nadia Whitlock"
    assert alert.resolution_note == (
        "Rang him: he is at his sister's and seeing his worker tomorrow."
    )
    assert desk.escalation(desk.relapse).status == "closed"
    after = text(nadia.get(f"/alerts/{desk.relapse}"))
    assert "Resolved with your note." in after
    assert "by Nadia Whitlock" in after and "seeing his worker tomorrow" in after
    assert "Resolve with this note" not in after  # nothing more to do
    man = desk.participant_of(desk.relapse)
    assert desk.log(OFFICER) == [
        ("read", "alert", desk.relapse, man),
        ("change", "alert", desk.relapse, man),
        ("read", "alert", desk.relapse, man),
    ]


def test_a_resolution_without_a_note_is_refused_and_nothing_changes(desk: Desk) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    nadia.get(f"/alerts/{desk.relapse}")
    with desk.service.svc.db.transaction() as session:
        sent = session.scalar(select(func.count(Delivery.id)))
    for note in ("", "   \n\t "):
        answer = nadia.post(f"/alerts/{desk.relapse}/resolve", {"note": note})
        assert answer.status_code == 422
        html = text(answer)
        assert '<p class="error" id="note-error">Write what was done' in html
        assert 'aria-describedby="note-error"' in html
    alert = desk.alert(desk.relapse)
    assert alert.status == AlertStatus.OPEN and alert.resolution_note is None
    assert desk.escalation(desk.relapse).status == "open"
    with desk.service.svc.db.transaction() as session:
        assert session.scalar(select(func.count(Delivery.id))) == sent
    assert all(action == "read" for action, *_ in desk.log(OFFICER))


def test_a_note_too_long_is_refused_beside_the_field(desk: Desk) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    nadia.get(f"/alerts/{desk.relapse}")
    answer = nadia.post(f"/alerts/{desk.relapse}/resolve", {"note": "x" * 2001})
    assert answer.status_code == 422
    assert "A note has at most 2000 characters" in text(answer)
    assert desk.alert(desk.relapse).status == AlertStatus.OPEN


def test_acknowledging_stops_the_alerts_escalation_so_nobody_else_is_asked(desk: Desk) -> None:
    # The urgent alert's chain asks the officer and the duty manager on call, then goes on.
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    nadia.get(f"/alerts/{desk.urgent}")
    answer = nadia.post(f"/alerts/{desk.urgent}/acknowledge", {})
    assert answer.status_code == 303
    alert = desk.alert(desk.urgent)
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == "Nadia Whitlock" and alert.acknowledged_at == NOON
    record = desk.escalation(desk.urgent)
    assert record.status == "acknowledged" and record.acknowledged_by == "Nadia Whitlock"
    svc = desk.service.svc
    about_it = select(func.count(Delivery.id)).where(
        Delivery.subject_type == "escalation", Delivery.subject_id == record.id
    )
    with svc.db.transaction() as session:
        sent = session.scalar(about_it)
    later = NOON + dt.timedelta(hours=2)
    escalation_engine.sweep_due(svc.db, later, svc.reach)
    with svc.db.transaction() as session:
        assert session.scalar(about_it) == sent  # nobody else is asked
        assert session.get_one(EscalationRecord, record.id).status == "acknowledged"
    assert "You acknowledged it." in text(nadia.get(f"/alerts/{desk.urgent}"))
    # Acknowledging again changes nothing, and says who did.
    nadia.post(f"/alerts/{desk.urgent}/acknowledge", {})
    assert "Nothing changed: Nadia Whitlock has already acknowledged it." in text(
        nadia.get(f"/alerts/{desk.urgent}")
    )
    man = desk.participant_of(desk.urgent)
    assert ("change", "alert", desk.urgent, man) in desk.log(OFFICER)


def test_a_resolved_alert_is_not_resolved_again(desk: Desk) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    nadia.get(f"/alerts/{desk.relapse}")
    nadia.post(f"/alerts/{desk.relapse}/resolve", {"note": "Spoke to him."})
    nadia.post(f"/alerts/{desk.relapse}/resolve", {"note": "A second note."})
    nadia.post(f"/alerts/{desk.relapse}/acknowledge", {})
    alert = desk.alert(desk.relapse)
    assert alert.resolution_note == "Spoke to him."
    assert "Nothing changed: Nadia Whitlock has already resolved it." in text(
        nadia.get(f"/alerts/{desk.relapse}")
    )


def test_an_officer_of_another_caseload_is_refused_the_page_and_the_actions(desk: Desk) -> None:
    owen = desk.sign_in(OFFICER_B, "Owen Barraclough")
    assert listed(text(owen.get("/alerts"))) == {"R2005"}
    for answer in (
        owen.get(f"/alerts/{desk.relapse}"),
        owen.post(f"/alerts/{desk.relapse}/acknowledge", {}),
        owen.post(f"/alerts/{desk.relapse}/resolve", {"note": "Dealt with it."}),
        owen.post(f"/alerts/{desk.relapse}/resolve", {"note": ""}),
    ):
        assert answer.status_code == 404
        assert "There is nothing at this address." in text(answer)
        assert "R2001" not in text(answer)
    alert = desk.alert(desk.relapse)
    assert alert.status == AlertStatus.OPEN and alert.acknowledged_at is None
    assert desk.escalation(desk.relapse).status == "open"
    man = desk.participant_of(desk.relapse)
    refusals = [entry for entry in desk.log(OFFICER_B) if entry[0] == "refused"]
    assert refusals == [("refused", "alert", desk.relapse, man)] * 4
    # An alert that does not exist is answered the same way.
    assert owen.get("/alerts/999999").status_code == 404
    assert "There is nothing at this address." in text(owen.get("/alerts/999999"))


def test_an_officer_may_not_name_a_participant_outside_his_caseload(desk: Desk) -> None:
    owen = desk.sign_in(OFFICER_B, "Owen Barraclough")
    page = owen.get("/alerts?participant=R2001")
    assert page.status_code == 422
    html = text(page)
    assert "No participant you can see has the reference R2001." in html
    assert 'id="participant-error"' in html
    assert "/alerts/" not in html.replace('action="/alerts"', "")


# ---- other roles ---------------------------------------------------------------------------


def test_an_on_call_worker_is_refused_the_alerts(desk: Desk) -> None:
    amira = desk.sign_in(PRIMARY, "Amira Okafor")
    home = text(amira.get("/"))
    assert 'href="/alerts"' not in home and 'href="/escalations"' not in home
    for path in ("/alerts", f"/alerts/{desk.relapse}", "/escalations"):
        assert amira.get(path).status_code == 403
    assert amira.post(f"/alerts/{desk.relapse}/acknowledge", {}).status_code == 403
    assert desk.alert(desk.relapse).status == AlertStatus.OPEN
    assert desk.log(PRIMARY) == []


def test_an_administrator_is_refused_the_alerts(desk: Desk) -> None:
    admin = enrolled(desk.app, "Ruth Calloway", ADMIN_PHONE, [StaffRole.ADMIN], now=NOON)
    browser = Browser(desk.app)
    browser.sign_in(admin, desk.clock)
    home = text(browser.get("/"))
    assert 'href="/alerts"' not in home and 'href="/escalations"' not in home
    for path in ("/alerts", f"/alerts/{desk.relapse}", "/escalations"):
        assert browser.get(path).status_code == 403
    for action in ("acknowledge", "resolve"):
        answer = browser.post(f"/alerts/{desk.relapse}/{action}", {"note": "x"})
        assert answer.status_code == 403
    assert desk.alert(desk.relapse).status == AlertStatus.OPEN


def test_a_duty_manager_sees_every_alert_giving_a_reason_outside_his_own(desk: Desk) -> None:
    priya = desk.sign_in(MANAGER, "Priya Natarajan")
    html = text(priya.get("/alerts"))
    # R2003's alert went to the duty manager, with a missing-officer alert beside it.
    assert listed(html) == {"R2001", "R2002", "R2003", "R2005"}
    # R2003's alerts are hers (they texted her a reply code): no reason asked.
    assert priya.get(f"/alerts/{desk.nobody}").status_code == 200
    # R2005 is nobody she handled: the reason first, then the page.
    asked = priya.get(f"/alerts/{desk.other}")
    assert asked.status_code == 403
    assert "Why do you need this record?" in text(asked)
    assert desk.alert(desk.other).status == AlertStatus.OPEN
    given = priya.post(
        "/reason",
        {
            "participant_id": str(desk.participant_of(desk.other)),
            "next": f"/alerts/{desk.other}",
            "reason_choice": "Duty manager review of a contact or alert",
        },
    )
    assert given.status_code == 303 and given.headers["Location"] == f"/alerts/{desk.other}"
    page = priya.get(f"/alerts/{desk.other}")
    assert page.status_code == 200 and "using again" in text(page)
    answer = priya.post(f"/alerts/{desk.other}/resolve", {"note": "Passed to Owen."})
    assert answer.status_code == 303
    assert desk.alert(desk.other).resolved_by == "Priya Natarajan"
    with desk.service.svc.db.transaction() as session:
        reasons = session.execute(
            select(RecordAccess.action, RecordAccess.reason).where(
                RecordAccess.staff_id == desk.service.ids[MANAGER],
                RecordAccess.participant_id == desk.participant_of(desk.other),
                RecordAccess.record_type == "alert",
                RecordAccess.record_id == desk.other,
            )
        ).all()
    assert {(action, reason) for action, reason in reasons} == {
        ("read", "Duty manager review of a contact or alert"),
        ("change", "Duty manager review of a contact or alert"),
    }


# ---- the filters ---------------------------------------------------------------------------


def _manager(desk: Desk) -> Browser:
    return desk.sign_in(MANAGER, "Priya Natarajan")


def test_the_status_filter_narrows_the_list(desk: Desk) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    nadia.get(f"/alerts/{desk.relapse}")
    nadia.post(f"/alerts/{desk.relapse}/resolve", {"note": "Spoke to him."})
    assert listed(text(nadia.get("/alerts?status=resolved"))) == {"R2001"}
    assert listed(text(nadia.get("/alerts?status=open"))) == {"R2002"}
    assert listed(text(nadia.get("/alerts?status=acknowledged"))) == set()
    refused = nadia.get("/alerts?status=lost")
    assert refused.status_code == 422
    assert 'id="status-error"' in text(refused)


def test_the_severity_filter_and_the_most_severe_order(desk: Desk) -> None:
    priya = _manager(desk)
    assert listed(text(priya.get("/alerts?severity=urgent"))) == {"R2002"}
    assert "R2002" not in listed(text(priya.get("/alerts?severity=warning")))
    html = text(priya.get("/alerts?order=severity"))
    # The urgent alert first, though three warnings were raised after it.
    assert html.index(f"/alerts/{desk.urgent}") < html.index(f"/alerts/{desk.other}")
    newest = text(priya.get("/alerts"))
    assert newest.index(f"/alerts/{desk.other}") < newest.index(f"/alerts/{desk.urgent}")
    assert priya.get("/alerts?severity=dire").status_code == 422


def test_the_participant_filter_narrows_to_one_man(desk: Desk) -> None:
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    page = nadia.get("/alerts?participant=r2002")
    assert page.status_code == 200
    assert listed(text(page)) == {"R2002"}
    assert desk.log(OFFICER) == [("read", "alert", None, desk.participant_of(desk.urgent))]


def test_the_officer_filter_narrows_to_his_caseload(desk: Desk) -> None:
    priya = _manager(desk)
    owen = desk.service.ids[OFFICER_B]
    nadia = desk.service.ids[OFFICER]
    assert listed(text(priya.get(f"/alerts?officer={owen}"))) == {"R2005"}
    assert listed(text(priya.get(f"/alerts?officer={nadia}"))) == {"R2001", "R2002"}
    assert priya.get("/alerts?officer=someone").status_code == 422


def test_the_date_filter_takes_local_days(desk: Desk) -> None:
    priya = _manager(desk)
    assert listed(text(priya.get("/alerts?from=2026-11-24&to=2026-11-24"))) == {"R2002"}
    assert listed(text(priya.get("/alerts?from=2026-11-25"))) == {"R2003", "R2005"}
    assert listed(text(priya.get("/alerts?to=2026-11-20"))) == {"R2001"}
    bad = priya.get("/alerts?from=26/11/2026")
    assert bad.status_code == 422
    assert "Give a date as year-month-day" in text(bad)
    backwards = priya.get("/alerts?from=2026-11-25&to=2026-11-24")
    assert backwards.status_code == 422
    assert "The last day must be on or after the first day." in text(backwards)


def test_the_date_filter_follows_summer_time(desk: Desk) -> None:
    # 30 June 23:30 UTC is 1 July 00:30 in London: it belongs to 1 July.
    desk.resolve_other()
    summer = raised(
        desk.service,
        OTHER_MAN,
        dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC),
        "back on the gear",
        "phrases.substance_relapse",
    )
    desk.clock.advance(NOON - desk.clock.now())
    priya = _manager(desk)
    html = text(priya.get("/alerts?from=2026-07-01&to=2026-07-01"))
    assert f"/alerts/{summer}" in html
    assert f"/alerts/{summer}" not in text(priya.get("/alerts?from=2026-06-30&to=2026-06-30"))


def test_the_list_is_paged(desk: Desk) -> None:
    desk.resolve_other()
    for day in range(1, 27):  # 26 more alerts for R2005, one a day in October
        raised(
            desk.service,
            OTHER_MAN,
            dt.datetime(2026, 10, day, 12, 0, tzinfo=dt.UTC),
            "on the drink",
            "phrases.substance_relapse",
        )
    desk.clock.advance(NOON - desk.clock.now())
    priya = _manager(desk)
    first = text(priya.get("/alerts?officer=" + str(desk.service.ids[OFFICER_B])))
    assert "27 alerts, page 1 of 2." in first
    assert first.count('<tr>\n      <td data-label="Raised">') == 25
    assert 'rel="next"' in first and f"officer={desk.service.ids[OFFICER_B]}" in first
    second = text(priya.get(f"/alerts?officer={desk.service.ids[OFFICER_B]}&page=2"))
    assert second.count('<td data-label="Raised">') == 2
    assert 'rel="prev"' in second


def test_an_alert_with_many_contacts_shows_the_newest_fifty(desk: Desk) -> None:
    svc = desk.service.svc
    man = desk.participant_of(desk.relapse)
    with svc.db.transaction() as session:
        for n in range(60):
            contact, _ = contacts.record(
                session,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                from_number=PARTICIPANT,
                to_number=LINE,
                twilio_sid=None,
                started_at=NOON - dt.timedelta(hours=60 - n),
                participant_id=man,
                body=f"message number {n}",
            )
            session.add(AlertEvidence(alert_id=desk.relapse, contact_id=contact.id, added_at=NOON))
    nadia = desk.sign_in(OFFICER, "Nadia Whitlock")
    html = text(nadia.get(f"/alerts/{desk.relapse}"))
    assert "The newest 50 of the 61 contacts behind it" in html
    assert "message number 59" in html and "message number 10<" in html
    assert "message number 9<" not in html and "I relapsed last night" not in html
    assert html.count('<td data-label="When">') == 50


def test_a_duty_manager_naming_a_man_outside_his_own_gives_a_reason_first(desk: Desk) -> None:
    priya = desk.sign_in(MANAGER, "Priya Natarajan")
    asked = priya.get("/alerts?participant=R2005")
    assert asked.status_code == 403
    html = text(asked)
    assert "Why do you need this record?" in html
    assert 'name="next" value="/alerts?participant=R2005"' in html
    assert desk.log(MANAGER) == []
    priya.post(
        "/reason",
        {
            "participant_id": str(desk.participant_of(desk.other)),
            "next": "/alerts?participant=R2005",
            "reason_choice": "Covering for his responsible officer",
        },
    )
    page = priya.get("/alerts?participant=R2005")
    assert page.status_code == 200 and listed(text(page)) == {"R2005"}
    with desk.service.svc.db.transaction() as session:
        entries = session.execute(
            select(RecordAccess.record_type, RecordAccess.reason).where(
                RecordAccess.staff_id == desk.service.ids[MANAGER]
            )
        ).all()
    assert ("alert", "Covering for his responsible officer") in [tuple(e) for e in entries]
