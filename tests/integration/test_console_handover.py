"""The handover page: a duty manager (or the clinical lead) opens any period, sees every
section with each note's text, the presets and the period fields; a time it cannot read shows
the form again with the message beside the field (422); others are refused; reading it is
logged once per participant named."""

from __future__ import annotations

import html as html_module

from flask import Flask
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import RecordAccess
from tests.support.app import services_of
from tests.support.console import Browser, Person, enrol
from tests.support.handover import (
    AMIRA,
    CARA,
    END,
    OLU,
    PRIYA,
    SAM,
    Night,
    build_night,
)

PERIOD = "from=2026-12-05T08%3A30Z&to=2026-12-06T08%3A30Z"


def _night(app: Flask, clock: FakeClock) -> Night:
    with services_of(app).db.transaction() as session:
        night = build_night(session)
    clock.set(END)
    return night


def _signed_in(app: Flask, clock: FakeClock, night: Night, key: str, phone: str) -> Browser:
    staff_id = night.staff[key]
    secret, codes = enrol(services_of(app).db, staff_id, clock.now())
    browser = Browser(app)
    browser.sign_in(Person(staff_id, key, phone, None, secret, codes), clock)
    return browser


def _text(page_html: str) -> str:
    return html_module.unescape(page_html)


def test_a_duty_manager_reads_the_handover_of_the_period(app: Flask, clock: FakeClock) -> None:
    night = _night(app, clock)
    priya = _signed_in(app, clock, night, "priya", PRIYA)
    page = priya.get(f"/handover?{PERIOD}")
    assert page.status_code == 200
    html = _text(page.get_data(as_text=True))
    assert 'href="/handover" aria-current="page">Handover</a>' in html
    assert "From Sat 5 Dec 08:30 to Sun 6 Dec 08:30 (Europe/London)" in html
    assert "3 calls (2 missed), 2 texts, 1 alert, 2 with no note yet." in html
    assert f'href="/participants/{night.participants["daniel"]}">R1001 D.P.</a>' in html
    # The note's text is on the page (the email never has it); the bodies are not.
    assert "NOTE-second" in html and "NOTE-first" not in html
    assert "NOTE-follow ring him at ten" in html
    assert "Risk now: Medium" in html
    assert html.count("No note yet.") == 2
    assert "First reply after 8 min." in html
    assert "Called back Sat 5 Dec, 09:10." in html and "Not called back." in html
    assert f'href="/alerts/{night.alerts["in_period"]}"' in html
    assert f'href="/escalations/{night.escalations["ran_out"]}"' in html
    assert "ran out Sun 6 Dec, 03:30" in html
    assert "primary: Mon 7 Dec, 10:00 to Mon 7 Dec, 12:00" in html
    assert "Texts and calls that failed: escalation 2" in html
    for body in night.bodies:
        assert body not in html
    # The period fields hold it in local time; the presets are links.
    assert 'value="2026-12-05T08:30"' in html and 'value="2026-12-06T08:30"' in html
    assert ">Since 17:00 yesterday</a>" in html and ">Last 24 hours</a>" in html


def test_without_a_period_it_is_the_last_morning_handover(app: Flask, clock: FakeClock) -> None:
    night = _night(app, clock)
    cara = _signed_in(app, clock, night, "cara", CARA)
    html = _text(cara.get("/handover").get_data(as_text=True))
    assert "From Sat 5 Dec 08:30 to Sun 6 Dec 08:30 (Europe/London)" in html
    html = _text(cara.get("/handover?from=17:00").get_data(as_text=True))
    assert "From Sat 5 Dec 17:00 to Sun 6 Dec 08:30 (Europe/London)" in html


def test_a_period_it_cannot_read_shows_the_form_again_with_the_message(
    app: Flask, clock: FakeClock
) -> None:
    night = _night(app, clock)
    priya = _signed_in(app, clock, night, "priya", PRIYA)
    page = priya.get("/handover?from=2026-12-06T08:00&to=2026-12-05T08:00")
    assert page.status_code == 422
    html = _text(page.get_data(as_text=True))
    assert 'id="handover-to-error">must be after the start</p>' in html
    assert 'aria-invalid="true" aria-describedby="handover-to-error"' in html
    assert 'value="2026-12-05T08:00"' in html  # what was typed, kept
    assert "Contacts by participant" not in html
    page = priya.get("/handover?from=0001-01-01T00:00%2B01:00")
    assert page.status_code == 422
    assert "give a time from 2000 to 2199" in _text(page.get_data(as_text=True))
    page = priya.get("/handover?from=teatime")
    assert page.status_code == 422
    assert "'teatime' is not a time" in _text(page.get_data(as_text=True))


def test_workers_officers_and_administrators_are_refused(app: Flask, clock: FakeClock) -> None:
    night = _night(app, clock)
    for key, phone in (("amira", AMIRA), ("olu", OLU), ("sam", SAM)):
        browser = _signed_in(app, clock, night, key, phone)
        page = browser.get(f"/handover?{PERIOD}")
        assert page.status_code == 403, key
        assert "NOTE-second" not in page.get_data(as_text=True)
        assert 'href="/handover"' not in browser.get("/").get_data(as_text=True)


def test_reading_it_is_logged_once_per_participant_named(app: Flask, clock: FakeClock) -> None:
    night = _night(app, clock)
    priya = _signed_in(app, clock, night, "priya", PRIYA)
    priya.get(f"/handover?{PERIOD}")
    with services_of(app).db.transaction() as session:
        logged = session.execute(
            select(RecordAccess.participant_id, RecordAccess.record_type).where(
                RecordAccess.actor == f"staff:{night.staff['priya']}",
                RecordAccess.record_type == "handover",
            )
        ).all()
    assert sorted(logged) == sorted(
        # Leon had no contact in the period, but has no crisis plan: the handover names him.
        (night.participants[key], "handover")
        for key in ("daniel", "marcus", "leon")
    )
