"""The console's contact page and note form: a worker files a note on a call she took, errors
come back beside their fields with nothing lost, a correction keeps the first version, a text's
note is its conversation's, and others are refused as for a record they cannot see (404, the
refusal logged) or asked for the break-glass reason; the participant's timeline links each
handled contact to its note or its form."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from crisisline.clock import FakeClock
from crisisline.note_models import RiskNow
from tests.support.alert_desk import text
from tests.support.notes import ADMIN, Line, open_line
from tests.support.risk_alerts import BACKUP, MANAGER, OFFICER, PARTICIPANT, PRIMARY


@pytest.fixture
def line(app: Flask, clock: FakeClock) -> Line:
    return open_line(app, clock)


def _error(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def test_a_worker_files_a_note_on_a_call_she_took_and_sees_it(line: Line) -> None:
    amira = line.sign_in(PRIMARY)
    form = amira.get(f"/contacts/{line.call}/note")
    assert form.status_code == 200
    html = text(form)
    assert "Save the note" in html and "R2001" in html
    assert all(f'id="risk-{level.value}"' in html for level in RiskNow)
    assert 'name="correction_reason"' not in html  # a first note asks no reason
    assert 'id="follow-up-no" value="no" checked' in html  # defaults: no follow-up, no debrief
    saved = amira.post(
        f"/contacts/{line.call}/note",
        {"what_happened": "Rang after a row at the hostel; calmer by the end.", "risk_now": "low"},
    )
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"/contacts/{line.call}"
    page = text(amira.get(f"/contacts/{line.call}"))
    assert "Note saved." in page
    assert "Rang after a row at the hostel; calmer by the end." in page
    assert "Written by Amira Okafor" in page and "Handled by</dt><dd>Amira Okafor" in page
    assert "Correct this note" in page
    (note,) = line.versions(line.call)
    assert note.follow_up_wanted is False and note.debrief_wanted is False and note.actions == []


def test_errors_come_back_beside_their_fields_and_nothing_typed_is_lost(line: Line) -> None:
    amira = line.sign_in(PRIMARY)
    amira.get(f"/contacts/{line.call}/note")
    answer = amira.post(
        f"/contacts/{line.call}/note",
        {
            "what_happened": "  ",
            "factors": "Lives alone; his daughter visits on Sundays.",
            "actions": "other",
            "other_action": "",
            "follow_up_wanted": "yes",
            "follow_up_what": "Ask about his benefits",
        },
    )
    assert answer.status_code == 422
    html = text(answer)
    assert _error(html, "risk_now").startswith("Choose the risk now")
    assert _error(html, "what_happened") == "say what happened"
    assert "Lives alone; his daughter visits on Sundays." in html
    assert 'id="action-other" value="other" checked' in html
    assert "Ask about his benefits" in html and 'id="follow-up-yes" value="yes" checked' in html
    assert '<details class="note-more" open>' in html
    assert line.versions(line.call) == []
    answer = amira.post(
        f"/contacts/{line.call}/note",
        {"what_happened": "Talked.", "risk_now": "low", "actions": "other"},
    )
    assert answer.status_code == 422
    assert _error(text(answer), "other_action") == "say what the other action was"


def test_a_correction_is_prefilled_needs_a_reason_and_keeps_the_first_version(
    line: Line,
) -> None:
    line.write(PRIMARY, line.call, "He was low after court.", RiskNow.MEDIUM)
    amira = line.sign_in(PRIMARY)
    form = text(amira.get(f"/contacts/{line.call}/note"))
    assert "Correct the note" in form and "He was low after court.</textarea>" in form
    assert 'id="risk-medium" value="medium" required checked' in form
    assert 'name="correction_reason"' in form
    refused = amira.post(
        f"/contacts/{line.call}/note",
        {"what_happened": "He was low after court; rang his sister.", "risk_now": "medium"},
    )
    assert refused.status_code == 422
    assert _error(text(refused), "correction_reason") == "say why the note is being corrected"
    assert "He was low after court; rang his sister." in text(refused)
    saved = amira.post(
        f"/contacts/{line.call}/note",
        {
            "what_happened": "He was low after court; rang his sister.",
            "risk_now": "medium",
            "correction_reason": "Left out the call to his sister",
        },
    )
    assert saved.status_code == 303
    page = text(amira.get(f"/contacts/{line.call}"))
    assert "Correction saved (version 2)." in page
    assert "version 2, corrected" in page and "Earlier versions" in page
    assert "He was low after court.</dd>" in page  # version 1, as written
    assert "Left out the call to his sister" in page
    assert [v.version for v in line.versions(line.call)] == [1, 2]


def test_next_is_followed_only_within_the_site(line: Line) -> None:
    amira = line.sign_in(PRIMARY)
    man = line.id(PARTICIPANT)
    amira.get(f"/contacts/{line.call}/note?next=/participants/{man}")
    first = amira.post(
        f"/contacts/{line.call}/note",
        {"what_happened": "Talked.", "risk_now": "low", "next": f"/participants/{man}"},
    )
    assert first.headers["Location"] == f"/participants/{man}"
    second = amira.post(
        f"/contacts/{line.call}/note",
        {
            "what_happened": "Talked more.",
            "risk_now": "low",
            "correction_reason": "More",
            "next": "https://elsewhere.example/",
        },
    )
    assert second.headers["Location"] == f"/contacts/{line.call}"


def test_any_text_of_a_conversation_leads_to_its_opening_texts_note(line: Line) -> None:
    tom = line.sign_in(BACKUP)
    for text_id in (line.reply, line.later_text):
        assert tom.get(f"/contacts/{text_id}").headers["Location"] == f"/contacts/{line.opening}"
        assert (
            tom.get(f"/contacts/{text_id}/note").headers["Location"]
            == f"/contacts/{line.opening}/note"
        )
    page = text(tom.get(f"/contacts/{line.opening}"))
    assert "Text conversation" in page and "No note yet" in page and "Write the note" in page


def test_a_high_risk_note_says_it_raised_an_alert(line: Line) -> None:
    amira = line.sign_in(PRIMARY)
    amira.get(f"/contacts/{line.call}/note")
    amira.post(
        f"/contacts/{line.call}/note",
        {"what_happened": "Spoke of ending things.", "risk_now": "high"},
    )
    page = text(amira.get(f"/contacts/{line.call}"))
    assert "It raised a warning risk alert" in page
    assert "risk alert" in page and 'href="/alerts/' not in page  # she cannot read alerts
    nadia = line.sign_in(OFFICER)
    assert 'href="/alerts/' in text(nadia.get(f"/contacts/{line.call}"))


def test_another_worker_gets_not_found_and_the_refusal_is_logged(line: Line) -> None:
    line.write(PRIMARY, line.call, "Talked about his week.")
    tom = line.sign_in(BACKUP)
    for path in (f"/contacts/{line.call}", f"/contacts/{line.call}/note"):
        answer = tom.get(path)
        assert answer.status_code == 404 and "Talked about his week" not in text(answer)
    tom.get(f"/contacts/{line.opening}")  # a page of his, for the form's CSRF token
    posted = tom.post(
        f"/contacts/{line.call}/note",
        {"what_happened": "Mine", "risk_now": "low", "correction_reason": "Mine"},
    )
    assert posted.status_code == 404
    man = line.id(PARTICIPANT)
    refusals = [entry for entry in line.log(BACKUP) if entry[0] == "refused"]
    assert refusals == [("refused", "contact_note", line.call, man, None)] * 3
    assert len(line.versions(line.call)) == 1


def test_the_administrator_is_refused(line: Line) -> None:
    admin = line.sign_in(ADMIN)
    assert admin.get(f"/contacts/{line.call}").status_code == 403
    assert admin.get(f"/contacts/{line.call}/note").status_code == 403


def test_a_duty_manager_gives_a_reason_then_reads_and_writes(line: Line) -> None:
    line.write(PRIMARY, line.call, "Talked about his week.")
    priya = line.sign_in(MANAGER)
    asked = priya.get(f"/contacts/{line.call}")
    assert asked.status_code == 403 and "Why do you need this record?" in text(asked)
    given = priya.post(
        "/reason",
        {
            "participant_id": str(line.id(PARTICIPANT)),
            "reason_choice": "Duty manager review of a contact or alert",
            "next": f"/contacts/{line.call}",
        },
    )
    assert given.headers["Location"] == f"/contacts/{line.call}"
    page = text(priya.get(f"/contacts/{line.call}"))
    assert "Talked about his week." in page and "Correct this note" in page
    priya.get(f"/contacts/{line.call}/note")
    saved = priya.post(
        f"/contacts/{line.call}/note",
        {"what_happened": "Reviewed.", "risk_now": "low", "correction_reason": "Review"},
    )
    assert saved.status_code == 303
    assert line.versions(line.call)[-1].author_staff_id == line.id(MANAGER)


def test_a_contact_nobody_handled_says_it_takes_no_note(line: Line) -> None:
    nadia = line.sign_in(OFFICER)
    page = nadia.get(f"/contacts/{line.missed}")
    assert page.status_code == 200 and "so it takes no note" in text(page)
    assert "Write the note" not in text(page)
    form = nadia.get(f"/contacts/{line.missed}/note")
    assert form.status_code == 409 and "This contact takes no note" in text(form)


def test_the_timeline_links_each_handled_contact_to_its_note_or_form(line: Line) -> None:
    line.write(BACKUP, line.opening, "Could not sleep; talked him down.")
    nadia = line.sign_in(OFFICER)
    man = line.id(PARTICIPANT)
    html = text(nadia.get(f"/participants/{man}"))
    assert f'href="/contacts/{line.opening}">Note</a>' in html
    form_link = re.search(rf'href="/contacts/{line.call}/note\?next=[^"]*">No note yet</a>', html)
    assert form_link is not None
    assert f"/contacts/{line.missed}" not in html  # a missed call takes none
    assert f"/contacts/{line.later_text}" not in html  # the conversation's note is the first's


def test_a_form_without_its_csrf_token_is_refused(line: Line) -> None:
    amira = line.sign_in(PRIMARY)
    answer = amira.post(
        f"/contacts/{line.call}/note", {"what_happened": "x", "risk_now": "low"}, csrf=False
    )
    assert answer.status_code == 400
    assert line.versions(line.call) == []


def test_a_note_whose_alert_cannot_be_raised_tells_her_to_ring_the_duty_manager(
    line: Line,
) -> None:
    amira = line.sign_in(PRIMARY)
    amira.get(f"/contacts/{line.unknown_call}/note")
    saved = amira.post(
        f"/contacts/{line.unknown_call}/note",
        {"what_happened": "Said he is on the bridge.", "risk_now": "immediate"},
    )
    assert saved.status_code == 303
    page = text(amira.get(f"/contacts/{line.unknown_call}"))
    assert "No risk alert could be raised" in page and "ring the duty manager now" in page
    assert "Said he is on the bridge." in page and "an unknown caller" in page
