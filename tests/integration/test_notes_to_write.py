"""Notes to write on the Now board: each person sees the contacts he handled in the last week,
was prompted for, and whose note is not written yet, oldest first, each a link to its note form;
never another worker's; a contact drops off when its note is written (by anyone) or after a
week; and the participants shown are in the access log."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from crisisline import contact_notes, note_prompts
from crisisline.clock import FakeClock
from tests.support.alert_desk import text
from tests.support.notes import Line, open_line
from tests.support.risk_alerts import BACKUP, MANAGER, PARTICIPANT, PRIMARY


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    opened = open_line(app, clock)
    svc = opened.service.svc
    note_prompts.run(svc.db, clock.now(), svc.settings)  # the scheduler's pass: the prompts
    return opened


def _to_write(line: Line, phone: str) -> tuple[list[int], int]:
    svc = line.service.svc
    with svc.db.transaction() as session:
        rows, total = contact_notes.notes_to_write(session, line.id(phone), line.clock.now())
        return [row.contact_id for row in rows], total


def test_each_worker_sees_only_his_own_contacts_without_a_note_oldest_first(line: Line) -> None:
    assert _to_write(line, PRIMARY) == ([line.call, line.unknown_call], 2)
    assert _to_write(line, BACKUP) == ([line.opening], 1)
    assert _to_write(line, MANAGER) == ([], 0)


def test_a_note_written_by_anyone_settles_it_and_a_week_later_it_is_no_longer_listed(
    line: Line,
) -> None:
    line.write(
        MANAGER,
        line.call,
        "Priya wrote it from what Amira told her at handover.",
        reason="Amira is off sick; writing her note",
    )
    assert _to_write(line, PRIMARY) == ([line.unknown_call], 1)
    line.clock.advance(dt.timedelta(days=7))
    assert _to_write(line, PRIMARY) == ([], 0)


def test_the_board_links_each_to_its_note_form_and_logs_the_participants_shown(
    line: Line,
) -> None:
    browser = line.sign_in(PRIMARY)
    page = browser.get("/")
    assert page.status_code == 200
    html = text(page)
    assert "Notes to write" in html
    assert "2 contacts you handled this week have no note yet." in html
    for contact_id in (line.call, line.unknown_call):
        assert f'href="/contacts/{contact_id}/note"' in html
    assert f'href="/contacts/{line.opening}/note"' not in html  # Tom's, not hers
    shown = [entry for entry in line.log(PRIMARY) if entry[1] == "contact_note"]
    assert [(action, participant) for action, _, _, participant, _ in shown] == [
        ("read", line.service.ids[PARTICIPANT])
    ]

    # Once written, the section goes: nothing is left to chase.
    line.write(PRIMARY, line.call, "He rang after a row; talked it through.")
    line.write(PRIMARY, line.unknown_call, "A man who would not give his name; signposted.")
    assert "Notes to write" not in text(browser.get("/now/board"))
