"""A crisis call end to end, to the note form: the simulator plays Daniel and the on-call
worker's phone against the real webhooks; the scheduler's `note-prompts` job texts the worker
through the real Twilio adapter; the worker follows the link, signs in and lands on the form."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from tests.support.call_line import BACKUP, DANIEL, LINE, MANAGER, PRIMARY, Line, start_call_line
from tests.support.console import Browser, Person, enrol


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    yield from start_call_line(tmp_path, database_url, clock)


def scheduler_pass(line: Line) -> None:
    """The scheduler's `note-prompts` job as the leading scheduler runs it, then the outbox."""
    jobs = {job.name: job for job in Jobs(line.svc).scheduler_jobs("e2e")}
    jobs["leadership"].run()
    try:
        jobs["note-prompts"].run()
    finally:
        stop = jobs["leadership"].stop
        assert stop is not None
        stop()
    line.deliver()


def test_after_a_call_the_worker_is_texted_the_link_and_it_opens_the_note_form(
    line: Line,
) -> None:
    line.sim.phone(PRIMARY).will_answer("1")
    line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()
    line.sim.phone(PRIMARY).expect_call("Crisis line call from Daniel, R1001", answered=True)
    contact = line.contact()
    local = contact.answered_at.astimezone(line.svc.settings.zone)  # type: ignore[union-attr]

    scheduler_pass(line)
    scheduler_pass(line)
    # Pressing 1 texted the link to Daniel's crisis plan (tests/e2e/test_crisis_plan_link_e2e.py).
    line.sim.phone(PRIMARY).expect_sms("his crisis plan:", from_=LINE)

    prompt = line.sim.phone(PRIMARY).expect_sms(
        f"Resettle crisis line: please write your note on the call you took at {local:%H:%M}: "
        "https://crisis.example.org/notes/link/",
        from_=LINE,
    )
    line.sim.phone(PRIMARY).expect_no_sms()
    for phone in (DANIEL, BACKUP, MANAGER):
        line.sim.phone(phone).expect_no_sms()
    assert "Daniel" not in prompt.body and "7700" not in prompt.body

    found = re.search(r"https://crisis\.example\.org(/notes/link/\S+)$", prompt.body)
    assert found is not None
    path = found.group(1)
    secret, codes = enrol(line.svc.db, line.ids[PRIMARY], line.clock.now())
    amira = Person(line.ids[PRIMARY], "Amira Okafor", PRIMARY, None, secret, codes)
    browser = Browser(line.app)
    assert browser.get(path).status_code == 302  # to the sign-in page, and back
    assert browser.sign_in(amira, line.clock, next_path=path).headers["Location"] == path
    landed = browser.get(path)
    assert landed.status_code == 303
    assert landed.headers["Location"].endswith(f"/contacts/{contact.id}/note")

    # No note yet half an hour later: one reminder, to the same phone, and only one.
    line.clock.advance(dt.timedelta(minutes=line.svc.settings.note_reminder_minutes))
    scheduler_pass(line)
    line.clock.advance(dt.timedelta(minutes=30))
    scheduler_pass(line)
    line.sim.phone(PRIMARY).expect_sms(
        "Resettle crisis line: reminder, no note yet on the call you took at", from_=LINE
    )
    line.sim.phone(PRIMARY).expect_no_sms()
    line.sim.phone(DANIEL).expect_no_sms()
