"""The console's participant pages: search by reference, name or any form of phone number,
narrowed to the participants a person's grant reaches; a participant's page with his details and
one timeline (paged, filtered by kind and local date), his voicemails played through the service
and logged, and his contacts by week, day and night as a pygal chart."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import contacts, participant_story, participants, voicemail_links
from crisisline import escalation_engine as engine
from crisisline.alert_models import AlertSeverity, AlertStatus, RiskAlert
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Channel, Contact, Direction, RecordAccess, RiskLevel, StaffRole
from crisisline.telephony import FakeTelephony
from tests.support.app import services_of
from tests.support.console import Browser, Person, enrol, enrolled
from tests.support.engine_line import PRIMARY, staffed_line

LINE = "+447700900000"
DYLAN_PHONE = "+447700900501"
LEE_PHONE = "+447700900502"
RECORDING = "https://api.twilio.com/2010-04-01/Accounts/AC" + "1" * 32 + "/Recordings/RE" + "c" * 32
AUDIO = b"ID3\x03\x00fake mp3 frames \xff\xfb"


@dataclass
class Team:
    officer: Person  # Dylan's responsible officer
    other_officer: Person  # Lee's
    worker: Person  # on call
    other_worker: Person
    manager: Person  # duty manager
    admin: Person
    dylan: int
    lee: int


@pytest.fixture
def team(app: Flask, clock: FakeClock) -> Team:
    now = clock.now()
    roles = StaffRole
    officer = enrolled(app, "Gareth Lloyd", "+447700900111", [roles.RESPONSIBLE_OFFICER], now=now)
    other = enrolled(app, "Helen Marsh", "+447700900112", [roles.RESPONSIBLE_OFFICER], now=now)
    worker = enrolled(app, "Amira Okafor", "+447700900113", [roles.ON_CALL], now=now)
    other_worker = enrolled(app, "Tom Hughes", "+447700900114", [roles.ON_CALL], now=now)
    manager = enrolled(app, "Priya Natarajan", "+447700900115", [roles.DUTY_MANAGER], now=now)
    admin = enrolled(app, "Sam Admin", "+447700900116", [roles.ADMIN], now=now)
    svc = services_of(app)
    with svc.db.transaction() as session:
        dylan = participants.create(
            session,
            participants.NewParticipant(
                reference="R1001",
                name="Dylan Price",
                phones=[DYLAN_PHONE, "+447700900511"],
                responsible_officer_id=officer.staff_id,
                risk_level=RiskLevel.HIGH,
            ),
            actor="t",
            now=now,
        ).id
        lee = participants.create(
            session,
            participants.NewParticipant(
                reference="R1002",
                name="Lee Carter",
                phones=[LEE_PHONE],
                responsible_officer_id=other.staff_id,
                risk_level=RiskLevel.MEDIUM,
            ),
            actor="t",
            now=now,
        ).id
    return Team(officer, other, worker, other_worker, manager, admin, dylan, lee)


def _signed_in(app: Flask, clock: FakeClock, who: Person) -> Browser:
    browser = Browser(app)
    answer = browser.sign_in(who, clock)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return browser


def _contact(
    app: Flask,
    participant_id: int | None,
    at: dt.datetime,
    *,
    channel: Channel = Channel.SMS,
    direction: Direction = Direction.INBOUND,
    body: str | None = None,
    outcome: str | None = None,
    staff_id: int | None = None,
    wait: int | None = None,
    duration: int | None = None,
    recording: str | None = None,
) -> int:
    svc = services_of(app)
    with svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=channel,
            direction=direction,
            from_number=DYLAN_PHONE if direction == Direction.INBOUND else LINE,
            to_number=LINE if direction == Direction.INBOUND else DYLAN_PHONE,
            twilio_sid=None,
            started_at=at,
            participant_id=participant_id,
            body=body,
            outcome=outcome,
            handled_by_staff_id=staff_id,
        )
        contact.wait_seconds = wait
        contact.duration_seconds = duration
        contact.recording_url = recording
        return contact.id


def _alert(app: Flask, participant_id: int, at: dt.datetime, recipient: int) -> int:
    with services_of(app).db.transaction() as session:
        alert = RiskAlert(
            participant_id=participant_id,
            rule="voicemail_at_night",
            severity=AlertSeverity.WARNING,
            reason="A voicemail left at 03:10",
            status=AlertStatus.OPEN,
            raised_at=at,
            last_seen_at=at,
            recipient_staff_id=recipient,
            routed_to="officer",
        )
        session.add(alert)
        session.flush()
        return alert.id


def _escalation(app: Flask, participant_id: int, at: dt.datetime, taken_by: str | None) -> int:
    with services_of(app).db.transaction() as session:
        record = EscalationRecord(
            policy_name="test-chain",
            policy={},
            subject_type="missed_call",
            subject_id=None,
            participant_id=participant_id,
            summary="Missed call from R1001 D. Price",
            status="acknowledged" if taken_by else "open",
            step_index=0,
            loop=0,
            next_due_at=None,
            version=1,
            acknowledged_by=taken_by,
            acknowledged_at=at + dt.timedelta(minutes=3) if taken_by else None,
            opened_at=at,
            updated_at=at,
        )
        session.add(record)
        session.flush()
        return record.id


def _log(app: Flask, **where: object) -> list[RecordAccess]:
    with services_of(app).db.transaction() as session:
        query = select(RecordAccess).order_by(RecordAccess.id)
        for name, value in where.items():
            query = query.where(getattr(RecordAccess, name) == value)
        rows = list(session.scalars(query))
        for row in rows:
            session.expunge(row)
        return rows


def _found(page: str) -> list[str]:
    """The references listed on a search page, in order."""
    return re.findall(r'<a href="/participants/\d+">(R\d+) ', page)


def _entries(page: str) -> list[str]:
    """The timeline's entries on a page, newest first, as KIND-ID."""
    return re.findall(r'<li class="participant-entry [^"]+" id="([a-z]+-\d+)">', page)


# ---- search ---------------------------------------------------------------------------------


def test_search_finds_by_reference_in_any_case(app: Flask, clock: FakeClock, team: Team) -> None:
    priya = _signed_in(app, clock, team.manager)
    answer = priya.get("/participants?q=r1001")
    assert answer.status_code == 200
    assert _found(answer.get_data(as_text=True)) == ["R1001"]


def test_search_finds_by_part_of_the_name_in_any_case(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    priya = _signed_in(app, clock, team.manager)
    assert _found(priya.get("/participants?q=PRIC").get_data(as_text=True)) == ["R1001"]
    assert _found(priya.get("/participants?q=ar").get_data(as_text=True)) == ["R1002"]
    assert _found(priya.get("/participants?q=").get_data(as_text=True)) == ["R1001", "R1002"]


@pytest.mark.parametrize(
    "typed", ["07700 900511", "+44 7700 900511", "447700900511", "+447700900511", "(07700) 900-511"]
)
def test_search_finds_by_any_form_of_any_of_his_numbers(
    app: Flask, clock: FakeClock, team: Team, typed: str
) -> None:
    priya = _signed_in(app, clock, team.manager)
    answer = priya.get("/participants?" + urlencode({"q": typed}))
    assert _found(answer.get_data(as_text=True)) == ["R1001"]


def test_nothing_found_says_so(app: Flask, clock: FakeClock, team: Team) -> None:
    priya = _signed_in(app, clock, team.manager)
    page = priya.get("/participants?q=Nobody+Here").get_data(as_text=True)
    assert _found(page) == []
    assert "Nobody you reach matches “Nobody Here”" in page


def test_the_list_is_logged_one_entry_per_participant_shown(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    priya = _signed_in(app, clock, team.manager)
    priya.get("/participants?q=")
    logged = _log(app, staff_id=team.manager.staff_id, record_type="participant")
    assert sorted((e.participant_id, e.action, e.record_id) for e in logged) == [
        (team.dylan, "read", None),
        (team.lee, "read", None),
    ]


def test_the_list_is_paged(app: Flask, clock: FakeClock, team: Team) -> None:
    with services_of(app).db.transaction() as session:
        for n in range(30):
            participants.create(
                session,
                participants.NewParticipant(
                    reference=f"S{n:03d}",
                    name=f"Sample Person {n}",
                    phones=[f"+4477009006{n:02d}"],
                    responsible_officer_id=None,
                    risk_level=RiskLevel.LOW,
                ),
                actor="t",
                now=clock.now(),
            )
    priya = _signed_in(app, clock, team.manager)
    first = priya.get("/participants?q=sample").get_data(as_text=True)
    assert len(_found_samples(first)) == participant_story.SEARCH_PAGE_SIZE
    assert "page 1 of 2" in first and "page=2" in first
    second = priya.get("/participants?q=sample&page=2").get_data(as_text=True)
    assert len(_found_samples(second)) == 30 - participant_story.SEARCH_PAGE_SIZE
    assert set(_found_samples(first)).isdisjoint(_found_samples(second))


def _found_samples(page: str) -> list[str]:
    return re.findall(r'<a href="/participants/\d+">(S\d+) ', page)


# ---- narrowing --------------------------------------------------------------------------------


def test_an_officer_finds_and_opens_only_his_caseload(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    gareth = _signed_in(app, clock, team.officer)
    assert _found(gareth.get("/participants?q=").get_data(as_text=True)) == ["R1001"]
    assert _found(gareth.get("/participants?q=07700 900502").get_data(as_text=True)) == []
    assert gareth.get(f"/participants/{team.dylan}").status_code == 200
    refused = gareth.get(f"/participants/{team.lee}")
    assert refused.status_code == 404
    assert "Lee Carter" not in refused.get_data(as_text=True)
    assert [
        (e.action, e.record_type, e.participant_id)
        for e in _log(app, staff_id=team.officer.staff_id, action="refused")
    ] == [("refused", "participant", team.lee)]


def test_an_on_call_worker_reaches_only_the_men_whose_contacts_he_handled(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    amira = _signed_in(app, clock, team.worker)
    assert _found(amira.get("/participants?q=").get_data(as_text=True)) == []
    assert amira.get(f"/participants/{team.dylan}").status_code == 404
    _contact(
        app,
        team.dylan,
        clock.now() - dt.timedelta(days=2),
        channel=Channel.VOICE,
        outcome="answered",
        staff_id=team.worker.staff_id,
    )
    assert _found(amira.get("/participants?q=").get_data(as_text=True)) == ["R1001"]
    assert amira.get(f"/participants/{team.dylan}").status_code == 200
    assert amira.get(f"/participants/{team.lee}").status_code == 404
    # Another worker, who handled nothing, still reaches nobody.
    tom = _signed_in(app, clock, team.other_worker)
    assert tom.get(f"/participants/{team.dylan}").status_code == 404
    assert [e.participant_id for e in _log(app, action="refused")] == [
        team.dylan,
        team.lee,
        team.dylan,
    ]


def test_an_unknown_participant_is_not_found(app: Flask, clock: FakeClock, team: Team) -> None:
    priya = _signed_in(app, clock, team.manager)
    assert priya.get("/participants/999999").status_code == 404
    assert priya.get("/participants/999999/chart.svg").status_code == 404


def test_a_duty_manager_gives_a_reason_to_open_a_participant_outside_his_own(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    priya = _signed_in(app, clock, team.manager)
    asked = priya.get(f"/participants/{team.dylan}")
    assert asked.status_code == 403
    page = asked.get_data(as_text=True)
    assert "Why do you need this record?" in page
    assert "Dylan Price" not in page
    assert f'name="next" value="/participants/{team.dylan}"' in page
    given = priya.post(
        "/reason",
        {
            "participant_id": str(team.dylan),
            "next": f"/participants/{team.dylan}",
            "reason_choice": "other",
            "reason": "Checking on him after a call from the hostel",
        },
    )
    assert given.status_code == 303
    assert given.headers["Location"] == f"/participants/{team.dylan}"
    opened = priya.get(f"/participants/{team.dylan}")
    assert opened.status_code == 200
    assert "R1001 Dylan Price" in opened.get_data(as_text=True)
    reads = _log(
        app, staff_id=team.manager.staff_id, record_type="participant", participant_id=team.dylan
    )
    assert reads and {e.reason for e in reads} == {"Checking on him after a call from the hostel"}
    # Asked once per sign-in: the chart and the page again need no new reason.
    assert priya.get(f"/participants/{team.dylan}/chart.svg").status_code == 200


# ---- the page ---------------------------------------------------------------------------------


def test_the_page_shows_his_details(app: Flask, clock: FakeClock, team: Team) -> None:
    gareth = _signed_in(app, clock, team.officer)
    page = gareth.get(f"/participants/{team.dylan}").get_data(as_text=True)
    assert "<h1>R1001 Dylan Price</h1>" in page
    assert "Gareth Lloyd" in page
    assert ">high</span>" in page
    assert "active" in page
    assert "07700 900501" in page and "07700 900511" in page
    logged = _log(app, staff_id=team.officer.staff_id, record_type="participant")
    assert [(e.action, e.record_id, e.participant_id) for e in logged] == [
        ("read", team.dylan, team.dylan)
    ]


def test_an_administrator_sees_his_details_but_none_of_his_contacts(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    _contact(app, team.dylan, clock.now() - dt.timedelta(hours=1), body="words for staff only")
    voicemail = _contact(
        app,
        team.dylan,
        clock.now() - dt.timedelta(hours=2),
        channel=Channel.VOICE,
        outcome="voicemail",
        recording=RECORDING,
    )
    sam = _signed_in(app, clock, team.admin)
    # Not his own: break-glass first, as for any grant over every participant.
    assert sam.get(f"/participants/{team.dylan}").status_code == 403
    sam.post(
        "/reason",
        {
            "participant_id": str(team.dylan),
            "next": f"/participants/{team.dylan}",
            "reason_choice": "Covering for his responsible officer",
        },
    )
    answer = sam.get(f"/participants/{team.dylan}")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "R1001 Dylan Price" in page and "Gareth Lloyd" in page
    assert "Your role shows his details only" in page
    assert "words for staff only" not in page
    assert "Timeline" not in page and "chart.svg" not in page and "<audio" not in page
    assert sam.get(f"/participants/{team.dylan}/chart.svg").status_code == 403
    assert sam.get(f"/participants/{team.dylan}/voicemails/{voicemail}").status_code == 403


def test_the_timeline_shows_calls_texts_voicemails_escalations_and_alerts_newest_first(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    now = clock.now()
    worker = team.worker.staff_id
    call = _contact(
        app,
        team.dylan,
        now - dt.timedelta(hours=6),
        channel=Channel.VOICE,
        outcome="answered",
        staff_id=worker,
        wait=25,
        duration=312,
    )
    missed = _contact(
        app,
        team.dylan,
        now - dt.timedelta(hours=5),
        channel=Channel.VOICE,
        outcome="abandoned",
        wait=48,
        duration=50,
    )
    voicemail = _contact(
        app,
        team.dylan,
        now - dt.timedelta(hours=4),
        channel=Channel.VOICE,
        outcome="voicemail",
        wait=90,
        duration=130,
        recording=RECORDING,
    )
    escalation = _escalation(app, team.dylan, now - dt.timedelta(hours=4), "Amira Okafor")
    text_in = _contact(
        app, team.dylan, now - dt.timedelta(hours=3), body="can someone ring me", outcome="relayed"
    )
    text_out = _contact(
        app,
        team.dylan,
        now - dt.timedelta(hours=2),
        direction=Direction.OUTBOUND,
        body="Ringing you in 5 minutes. Amira",
        outcome="sent",
        staff_id=worker,
    )
    auto = _contact(
        app,
        team.dylan,
        now - dt.timedelta(hours=2, minutes=30),
        direction=Direction.OUTBOUND,
        body="We have your message.",
        outcome="sent",
    )
    alert = _alert(app, team.dylan, now - dt.timedelta(hours=1), team.officer.staff_id)
    _contact(app, team.lee, now - dt.timedelta(minutes=30), body="Lee's own words")

    gareth = _signed_in(app, clock, team.officer)
    page = gareth.get(f"/participants/{team.dylan}").get_data(as_text=True)
    assert _entries(page) == [
        f"alerts-{alert}",
        f"texts-{text_out}",
        f"texts-{auto}",
        f"texts-{text_in}",
        # At the same instant: the escalation the voicemail opened shows above it.
        f"escalations-{escalation}",
        f"voicemails-{voicemail}",
        f"calls-{missed}",
        f"calls-{call}",
    ]
    assert "Lee&#39;s own words" not in page and "Lee's own words" not in page
    # Calls: answered by whom, wait, duration, outcome.
    answered = _entry(page, f"calls-{call}")
    assert "Call from him" in answered and "Amira Okafor" in answered
    assert "25 s" in answered and "5 min 12 s" in answered and "answered" in answered
    hung_up = _entry(page, f"calls-{missed}")
    assert "nobody" in hung_up and "48 s" in hung_up and "he hung up" in hung_up
    # Texts both ways, with who wrote those to him.
    assert "Text from him" in _entry(page, f"texts-{text_in}")
    assert "can someone ring me" in _entry(page, f"texts-{text_in}")
    relayed = _entry(page, f"texts-{text_out}")
    assert "Text to him" in relayed and "Written by Amira Okafor" in relayed
    assert "Ringing you in 5 minutes. Amira" in relayed
    assert "The line's own reply" in _entry(page, f"texts-{auto}")
    # The escalation: summary, status, who took it.
    taken = _entry(page, f"escalations-{escalation}")
    assert "Missed call from R1001 D. Price" in taken
    assert "acknowledged" in taken and "Amira Okafor" in taken
    # The alert: rule, severity, status, and a link to its page.
    raised = _entry(page, f"alerts-{alert}")
    assert f'href="/alerts/{alert}"' in raised
    assert "Voicemail at night" in raised and "warning" in raised and "open" in raised
    # The voicemail plays from the service, never from the provider.
    played = _entry(page, f"voicemails-{voicemail}")
    assert f'src="/participants/{team.dylan}/voicemails/{voicemail}"' in played
    assert "twilio" not in page.lower() and RECORDING not in page


def _entry(page: str, entry_id: str) -> str:
    start = page.index(f'id="{entry_id}"')
    return page[start : page.index("</li>", start)]


def test_an_on_call_worker_sees_contacts_but_not_alerts_nor_escalations_he_was_not_asked(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    now = clock.now()
    text = _contact(
        app, team.dylan, now - dt.timedelta(hours=1), body="hello", staff_id=team.worker.staff_id
    )
    _alert(app, team.dylan, now - dt.timedelta(minutes=30), team.officer.staff_id)
    _escalation(app, team.dylan, now - dt.timedelta(minutes=20), None)
    amira = _signed_in(app, clock, team.worker)
    page = amira.get(f"/participants/{team.dylan}").get_data(as_text=True)
    assert _entries(page) == [f"texts-{text}"]
    assert 'id="kind-alerts"' not in page and 'id="kind-escalations"' in page


def test_a_worker_asked_to_take_an_escalation_sees_it_and_takes_it_from_the_page(
    app: Flask, clock: FakeClock
) -> None:
    line = staffed_line(app, clock)
    now = clock.now()
    with line.svc.db.transaction() as session:
        man = participants.create(
            session,
            participants.NewParticipant(
                reference="R2001",
                name="Dylan Price",
                phones=[DYLAN_PHONE],
                responsible_officer_id=None,
                risk_level=RiskLevel.HIGH,
            ),
            actor="t",
            now=now,
        ).id
    text = _contact(app, man, now, body="are you there")
    with line.svc.db.transaction() as session:
        escalation_id = engine.open_escalation(
            session,
            policy_name="test-chain",
            subject_type="missed_call",
            subject_id=None,
            participant_id=man,
            summary="Text from R2001 D. Price",
            now=now,
            reach=line.svc.reach,
        ).id
    secret, codes = enrol(line.svc.db, line.ids[PRIMARY], now)
    amira = _signed_in(
        app, clock, Person(line.ids[PRIMARY], "Amira Okafor", PRIMARY, None, secret, codes)
    )
    page = amira.get(f"/participants/{man}").get_data(as_text=True)
    assert _entries(page) == [f"escalations-{escalation_id}", f"texts-{text}"]
    assert "are you there" in page
    assert f'action="/escalations/{escalation_id}/take"' in page
    taken = amira.post(f"/escalations/{escalation_id}/take", {"next": f"/participants/{man}"})
    assert taken.status_code == 303 and taken.headers["Location"] == f"/participants/{man}"
    with line.svc.db.transaction() as session:
        assert session.get_one(EscalationRecord, escalation_id).status == "acknowledged"


def test_the_timeline_is_paged_newest_first_without_gaps_or_repeats(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    now = clock.now()
    made = []
    for n in range(45):
        # Pairs of contacts at the same instant: the id breaks the tie across pages.
        made.append(_contact(app, team.dylan, now - dt.timedelta(minutes=n // 2), body=f"m{n}"))
    alert = _alert(app, team.dylan, now - dt.timedelta(minutes=10), team.officer.staff_id)
    gareth = _signed_in(app, clock, team.officer)
    seen: list[str] = []
    path = f"/participants/{team.dylan}"
    pages = 0
    while path:
        page = gareth.get(path).get_data(as_text=True)
        pages += 1
        entries = _entries(page)
        assert len(entries) <= participant_story.PAGE_SIZE
        seen += entries
        older = re.search(r'<a href="([^"]+)">Older entries</a>', page)
        path = older.group(1).replace("&amp;", "&") if older else ""
        if pages > 1:
            assert "Back to the newest" in page
    assert pages == 3
    expected = sorted(
        [(now - dt.timedelta(minutes=n // 2), 0, made[n], f"texts-{made[n]}") for n in range(45)]
        + [(now - dt.timedelta(minutes=10), 2, alert, f"alerts-{alert}")],
        reverse=True,
    )
    assert seen == [key for *_, key in expected]


def test_a_made_up_page_of_the_timeline_is_refused_with_a_message(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    gareth = _signed_in(app, clock, team.officer)
    for after in ("nonsense", "1.9.1", "-5.0.1", "999999999999999999.0.1", "1.0"):
        answer = gareth.get(f"/participants/{team.dylan}?after={after}")
        assert answer.status_code == 422
        assert "That page of the timeline does not exist." in answer.get_data(as_text=True)


def test_the_timeline_is_filtered_by_kind(app: Flask, clock: FakeClock, team: Team) -> None:
    now = clock.now()
    call = _contact(
        app, team.dylan, now - dt.timedelta(hours=3), channel=Channel.VOICE, outcome="missed"
    )
    voicemail = _contact(
        app,
        team.dylan,
        now - dt.timedelta(hours=2),
        channel=Channel.VOICE,
        outcome="voicemail",
        recording=RECORDING,
    )
    text = _contact(app, team.dylan, now - dt.timedelta(hours=1), body="hi")
    alert = _alert(app, team.dylan, now, team.officer.staff_id)
    gareth = _signed_in(app, clock, team.officer)
    base = f"/participants/{team.dylan}"

    def shown(query: str) -> list[str]:
        return _entries(gareth.get(f"{base}?{query}").get_data(as_text=True))

    assert shown("kind=calls") == [f"calls-{call}"]
    assert shown("kind=voicemails") == [f"voicemails-{voicemail}"]
    assert shown("kind=texts&kind=alerts") == [f"alerts-{alert}", f"texts-{text}"]
    assert shown("kind=escalations") == []
    page = gareth.get(f"{base}?kind=calls").get_data(as_text=True)
    assert 'id="kind-calls" value="calls" checked' in page
    refused = gareth.get(f"{base}?kind=notes")
    assert refused.status_code == 422
    assert "Choose calls, texts, voicemails, escalations or alerts." in refused.get_data(
        as_text=True
    )


def test_the_timeline_is_filtered_by_local_dates(app: Flask, clock: FakeClock, team: Team) -> None:
    # 23:30 UTC on 14 July is 00:30 on 15 July in London (summer time): the 15th, locally.
    late = _contact(app, team.dylan, dt.datetime(2026, 7, 14, 23, 30, tzinfo=dt.UTC), body="a")
    before = _contact(app, team.dylan, dt.datetime(2026, 7, 14, 22, 30, tzinfo=dt.UTC), body="b")
    after = _contact(app, team.dylan, dt.datetime(2026, 7, 15, 23, 30, tzinfo=dt.UTC), body="c")
    gareth = _signed_in(app, clock, team.officer)
    base = f"/participants/{team.dylan}"
    page = gareth.get(f"{base}?since=2026-07-15&until=2026-07-15").get_data(as_text=True)
    assert _entries(page) == [f"texts-{late}"]
    assert "Wednesday 15 July 2026" in page
    assert _entries(gareth.get(f"{base}?until=2026-07-14").get_data(as_text=True)) == [
        f"texts-{before}"
    ]
    assert _entries(gareth.get(f"{base}?since=2026-07-16").get_data(as_text=True)) == [
        f"texts-{after}"
    ]
    wrong = gareth.get(f"{base}?since=15/07/2026")
    assert wrong.status_code == 422
    assert "Give a date as the calendar shows it" in wrong.get_data(as_text=True)
    backwards = gareth.get(f"{base}?since=2026-07-16&until=2026-07-15")
    assert backwards.status_code == 422
    assert "The last day must be on or after the first." in backwards.get_data(as_text=True)


# ---- voicemails -----------------------------------------------------------------------------


def test_a_voicemail_plays_through_the_service_and_each_play_is_logged(
    app: Flask, clock: FakeClock, team: Team, telephony: FakeTelephony
) -> None:
    telephony.recordings[RECORDING] = AUDIO
    voicemail = _contact(
        app,
        team.dylan,
        clock.now() - dt.timedelta(hours=1),
        channel=Channel.VOICE,
        outcome="voicemail",
        recording=RECORDING,
    )
    gareth = _signed_in(app, clock, team.officer)
    path = f"/participants/{team.dylan}/voicemails/{voicemail}"
    for _ in range(2):
        played = gareth.client.get(path, base_url="https://crisis.example.org")
        assert played.status_code == 200
        assert played.data == AUDIO
        assert played.mimetype == "audio/mpeg"
        assert played.headers["Cache-Control"] == "no-store"
    assert telephony.fetched_recordings == [RECORDING, RECORDING]
    plays = _log(app, action="play")
    assert [(e.staff_id, e.record_type, e.record_id, e.participant_id) for e in plays] == [
        (team.officer.staff_id, "voicemail", voicemail, team.dylan)
    ] * 2


def test_a_voicemail_is_played_only_for_its_own_participant_and_within_the_grant(
    app: Flask, clock: FakeClock, team: Team, telephony: FakeTelephony
) -> None:
    telephony.recordings[RECORDING] = AUDIO
    lees = _contact(
        app, team.lee, clock.now(), channel=Channel.VOICE, outcome="voicemail", recording=RECORDING
    )
    call = _contact(app, team.dylan, clock.now(), channel=Channel.VOICE, outcome="answered")
    gareth = _signed_in(app, clock, team.officer)
    # Lee's voicemail under Dylan's page, a call with no message, and Lee's own page.
    assert gareth.get(f"/participants/{team.dylan}/voicemails/{lees}").status_code == 404
    assert gareth.get(f"/participants/{team.dylan}/voicemails/{call}").status_code == 404
    assert gareth.get(f"/participants/{team.dylan}/voicemails/999999").status_code == 404
    assert gareth.get(f"/participants/{team.lee}/voicemails/{lees}").status_code == 404
    assert telephony.fetched_recordings == []
    assert _log(app, action="play") == []
    refused = _log(app, action="refused")
    assert [(e.record_type, e.record_id, e.participant_id) for e in refused] == [
        ("voicemail", lees, team.lee)
    ]


def test_a_voicemail_that_cannot_be_fetched_says_how_else_to_hear_it(
    app: Flask, clock: FakeClock, team: Team, telephony: FakeTelephony
) -> None:
    voicemail = _contact(
        app,
        team.dylan,
        clock.now(),
        channel=Channel.VOICE,
        outcome="voicemail",
        recording=RECORDING,
    )
    gareth = _signed_in(app, clock, team.officer)
    answer = gareth.get(f"/participants/{team.dylan}/voicemails/{voicemail}")
    assert answer.status_code == 503
    assert "call the crisis line from your registered phone" in answer.get_data(as_text=True)


def test_while_every_fetch_slot_is_busy_a_play_is_refused_and_nothing_is_fetched(
    app: Flask, clock: FakeClock, team: Team, telephony: FakeTelephony
) -> None:
    """The console's plays and the texted links' share the process's few fetches at once."""
    telephony.recordings[RECORDING] = b"ID3 audio"
    voicemail = _contact(
        app,
        team.dylan,
        clock.now(),
        channel=Channel.VOICE,
        outcome="voicemail",
        recording=RECORDING,
    )
    gareth = _signed_in(app, clock, team.officer)
    with contextlib.ExitStack() as held:
        for _ in range(voicemail_links.MAX_FETCHES_PER_PROCESS):
            assert held.enter_context(voicemail_links.fetch_slot())
        answer = gareth.get(f"/participants/{team.dylan}/voicemails/{voicemail}")
        assert answer.status_code == 503
        assert "busy playing messages" in answer.get_data(as_text=True)
        assert telephony.fetched_recordings == []
    # The slots given back, the same play goes through.
    played = gareth.get(f"/participants/{team.dylan}/voicemails/{voicemail}")
    assert played.status_code == 200 and played.data == b"ID3 audio"


# ---- the weekly chart -----------------------------------------------------------------------


def test_the_chart_is_an_svg_with_its_own_policy_and_the_page_keeps_its_own(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    _contact(app, team.dylan, clock.now() - dt.timedelta(days=1), body="x")
    gareth = _signed_in(app, clock, team.officer)
    chart = gareth.get(f"/participants/{team.dylan}/chart.svg")
    assert chart.status_code == 200
    assert chart.mimetype == "image/svg+xml"
    root = ET.fromstring(chart.data)  # noqa: S314  # the service's own answer, not untrusted
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Calls and texts from him, by week" in chart.get_data(as_text=True)
    policy = chart.headers["Content-Security-Policy"]
    assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy
    assert b"<script src" not in chart.data and b'xlink:href="http' not in chart.data
    page = gareth.get(f"/participants/{team.dylan}")
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    text = page.get_data(as_text=True)
    assert f'<img src="/participants/{team.dylan}/chart.svg"' in text
    assert "<caption>Each week's figures</caption>" in text
    logged = _log(app, record_type="contacts_chart")
    assert [(e.staff_id, e.participant_id) for e in logged] == [(team.officer.staff_id, team.dylan)]


def test_the_weeks_count_day_and_night_on_the_local_clock_across_a_clock_change(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    # The service's night is 00:00 to 06:00 on the London clock (config/risk_rules.toml). Now is
    # Thursday 26 November 2026; the twelve weeks start on Monday 7 September. The clocks went
    # back at 02:00 BST on Sunday 25 October (01:00 UTC).
    def at(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
        return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)

    def from_him(when: dt.datetime, direction: Direction = Direction.INBOUND) -> None:
        _contact(app, team.dylan, when, body="x", direction=direction)

    from_him(at(2026, 9, 6, 22, 0))  # 23:00 BST Sunday 6 Sept: before the twelve weeks
    from_him(at(2026, 9, 6, 23, 30))  # 00:30 BST Monday 7 Sept: week 1, night
    from_him(at(2026, 9, 7, 4, 59))  # 05:59 BST: week 1, night
    from_him(at(2026, 9, 7, 5, 0))  # 06:00 BST: week 1, day
    from_him(at(2026, 10, 24, 5, 30))  # 06:30 BST Saturday 24 Oct: week 7, day
    from_him(at(2026, 10, 24, 23, 30))  # 00:30 BST Sunday 25 Oct: week 7, night
    from_him(at(2026, 10, 25, 1, 30))  # 01:30 GMT, after the change: week 7, night
    from_him(at(2026, 10, 25, 5, 30))  # 05:30 GMT (was 06:30 in summer): week 7, night
    from_him(at(2026, 10, 25, 6, 0))  # 06:00 GMT: week 7, day
    from_him(at(2026, 10, 25, 23, 30))  # 23:30 GMT Sunday: week 7, day
    from_him(at(2026, 10, 26, 0, 0))  # 00:00 GMT Monday 26 Oct: week 8, night
    from_him(at(2026, 11, 26, 3, 0))  # 03:00 GMT today: week 12, night
    from_him(at(2026, 11, 26, 3, 0), Direction.OUTBOUND)  # to him: not counted
    _contact(app, team.lee, at(2026, 11, 26, 3, 0), body="x")  # another man's: not counted

    with services_of(app).db.transaction() as session:
        weeks = participant_story.weekly_contacts(
            session,
            team.dylan,
            clock.now(),
            services_of(app).settings.zone,
            services_of(app).risk_rules.night,
        )
    assert [week.starts for week in weeks] == [
        dt.date(2026, 9, 7) + dt.timedelta(weeks=n) for n in range(12)
    ]
    counts = {week.starts: (week.day, week.night) for week in weeks if week.total}
    assert counts == {
        dt.date(2026, 9, 7): (1, 2),
        dt.date(2026, 10, 19): (3, 3),
        dt.date(2026, 10, 26): (0, 1),
        dt.date(2026, 11, 23): (0, 1),
    }
    gareth = _signed_in(app, clock, team.officer)
    page = gareth.get(f"/participants/{team.dylan}").get_data(as_text=True)
    assert '<tr><th scope="row">19 Oct 2026</th><td>3</td><td>3</td><td>6</td></tr>' in page
    assert "4 by day and 7 at night in all" in page


def test_the_chart_reads_one_index_range_not_his_whole_history(
    app: Flask, clock: FakeClock, team: Team
) -> None:
    # Contacts older than the twelve weeks are outside the query's range: they count nowhere.
    for days in (100, 200, 400):
        _contact(app, team.dylan, clock.now() - dt.timedelta(days=days), body="old")
    with services_of(app).db.transaction() as session:
        weeks = participant_story.weekly_contacts(
            session,
            team.dylan,
            clock.now(),
            services_of(app).settings.zone,
            services_of(app).risk_rules.night,
        )
        assert sum(week.total for week in weeks) == 0
        assert session.scalar(select(Contact.id).where(Contact.participant_id == team.dylan))
