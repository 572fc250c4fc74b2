"""The text asking the worker who handled a contact to write its note, and its one reminder.

Calls and texts go through the real webhooks (the Twilio simulator plays the phones); the
scheduler's `note-prompts` job is run by hand as the scheduler would, with the fake clock moved
between passes. The link in the text is followed in the console by the Flask test client.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crisisline import contact_notes, note_prompts, staff, voicemail_links
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.logs import redact_text
from crisisline.models import AuditEntry, Contact, Delivery
from crisisline.note_models import NotePrompt, RiskNow
from crisisline.services import Services
from tests.support.call_line import BACKUP, DANIEL, LINE, MANAGER, PRIMARY, Line, start_call_line
from tests.support.console import Browser, Person, enrol
from tests.support.sms_line import DANIEL as TEXTING_DANIEL
from tests.support.sms_line import SmsLine, daniel_reaches_primary, start_line
from wording.sms import is_gsm7, segment_count

NOTE_TEXTS = (note_prompts.PROMPT, note_prompts.REMINDER)
LINK = re.compile(r"https://crisis\.example\.org(/notes/link/(\S+))$")


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    """Calls through the simulator; phones keep what a test does not read."""
    for found in start_call_line(tmp_path, database_url, clock):
        for phone in (PRIMARY, BACKUP, MANAGER, DANIEL):
            found.sim.phone(phone).ignore_unexpected()
        yield found


@pytest.fixture
def texts(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    """Texts through the simulator, with the reminder after 10 minutes."""
    for found in start_line(tmp_path, database_url, clock, NOTE_REMINDER_MINUTES="10"):
        for phone in (PRIMARY, BACKUP, MANAGER, TEXTING_DANIEL):
            found.phone(phone).ignore_unexpected()
        yield found


def run_pass(svc: Services) -> note_prompts.PassReport:
    """One pass of the scheduler's `note-prompts` job."""
    return Jobs(svc).send_note_prompts()


def note_texts(svc: Services) -> list[Delivery]:
    """Every prompt and reminder in the outbox, oldest first."""
    with svc.db.transaction() as session:
        return list(
            session.scalars(
                select(Delivery).where(Delivery.purpose.in_(NOTE_TEXTS)).order_by(Delivery.id)
            )
        )


def prompt_row(svc: Services, contact_id: int) -> NotePrompt | None:
    with svc.db.transaction() as session:
        return session.get(NotePrompt, contact_id)


def answered_call(line: Line, talk_seconds: int = 60) -> Contact:
    """Daniel calls, the primary presses 1 and they talk; the call has ended."""
    line.sim.phone(PRIMARY).will_answer("1", talk_seconds=talk_seconds)
    line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()
    contact = line.contact()
    assert contact.outcome == "answered" and contact.ended_at is not None
    return contact


def link_of(delivery: Delivery) -> str:
    """The path of the link a prompt or reminder ends with."""
    found = LINK.search(delivery.body)
    assert found is not None, delivery.body
    return found.group(1)


def write_note(svc: Services, contact_id: int, staff_id: int) -> None:
    with svc.db.transaction() as session:
        handled = contact_notes.handled_contact(session, contact_id)
        assert handled is not None
        contact_notes.add_version(
            session,
            handled,
            contact_notes.NoteInput("Talked it through; he is safe tonight.", RiskNow.LOW),
            author=f"staff:{staff_id}",
            author_staff_id=staff_id,
            now=svc.clock.now(),
        )


# ---- calls ---------------------------------------------------------------------------------


def test_an_accepted_call_gets_one_prompt_to_the_handlers_phone_whatever_the_passes(
    line: Line,
) -> None:
    contact = answered_call(line)

    for _ in range(3):
        run_pass(line.svc)
    line.clock.advance(dt.timedelta(minutes=5))
    run_pass(line.svc)

    (prompt,) = note_texts(line.svc)
    assert prompt.purpose == note_prompts.PROMPT
    assert prompt.to_number == PRIMARY
    assert prompt.from_number == LINE
    assert prompt.body.startswith(
        "Resettle crisis line: please write your note on the call you took at "
    )
    link = note_prompts.read(
        line.svc.settings.secret_key, link_of(prompt).rsplit("/", 1)[1], line.clock.now()
    )
    assert (link.contact_id, link.staff_id) == (contact.id, line.ids[PRIMARY])
    row = prompt_row(line.svc, contact.id)
    assert row is not None and row.prompt_delivery_id == prompt.id
    assert row.staff_id == line.ids[PRIMARY] and row.ended_at == contact.ended_at


def test_two_passes_that_find_the_same_call_send_one_prompt(line: Line) -> None:
    contact = answered_call(line)
    svc, now = line.svc, line.clock.now()
    # Both schedulers have read the contact as not yet prompted before either writes.
    with svc.db.transaction() as session:
        first = note_prompts.ended_unprompted(session, now)
    with svc.db.transaction() as session:
        second = note_prompts.ended_unprompted(session, now)
    assert [e.contact_id for e in first] == [e.contact_id for e in second] == [contact.id]

    sent = [note_prompts.prompt(svc.db, ended, now, svc.settings) for ended in first + second]

    assert sent == [True, False]
    assert len(note_texts(svc)) == 1


def test_two_passes_racing_in_threads_send_one_prompt(line: Line) -> None:
    answered_call(line)
    svc, now = line.svc, line.clock.now()
    start = threading.Barrier(2)
    reports: list[note_prompts.PassReport] = []

    def racer() -> None:
        start.wait()
        reports.append(note_prompts.run(svc.db, now, svc.settings))

    racers = [threading.Thread(target=racer) for _ in range(2)]
    for racer_thread in racers:
        racer_thread.start()
    for racer_thread in racers:
        racer_thread.join(timeout=30)

    assert sorted(report.prompted for report in reports) == [0, 1]
    assert len(note_texts(svc)) == 1


def test_one_reminder_after_the_configured_minutes_and_never_another(line: Line) -> None:
    contact = answered_call(line)
    run_pass(line.svc)
    assert line.svc.settings.note_reminder_minutes == 30

    line.clock.advance(dt.timedelta(minutes=29))
    assert run_pass(line.svc).reminded == 0
    line.clock.advance(dt.timedelta(minutes=1))
    assert run_pass(line.svc).reminded == 1
    for _ in range(3):
        line.clock.advance(dt.timedelta(minutes=30))
        assert run_pass(line.svc) == note_prompts.PassReport(0, 0)

    prompt, reminder = note_texts(line.svc)
    assert reminder.purpose == note_prompts.REMINDER
    assert reminder.to_number == PRIMARY and reminder.from_number == LINE
    assert reminder.body.startswith(
        "Resettle crisis line: reminder, no note yet on the call you took at "
    )
    row = prompt_row(line.svc, contact.id)
    assert row is not None
    assert row.reminder_delivery_id == reminder.id
    assert row.reminded_at == prompt.created_at + dt.timedelta(minutes=30)
    assert row.reminder_due_at is None


def test_two_reminders_racing_send_one(line: Line) -> None:
    contact = answered_call(line)
    run_pass(line.svc)
    line.clock.advance(dt.timedelta(minutes=31))
    svc, now = line.svc, line.clock.now()

    sent = [note_prompts.remind(svc.db, contact.id, now, svc.settings) for _ in range(2)]

    assert sent == [True, False]
    assert [d.purpose for d in note_texts(svc)] == [note_prompts.PROMPT, note_prompts.REMINDER]


def test_no_reminder_once_the_note_is_written(line: Line) -> None:
    contact = answered_call(line)
    run_pass(line.svc)
    line.clock.advance(dt.timedelta(minutes=10))
    write_note(line.svc, contact.id, line.ids[PRIMARY])

    line.clock.advance(dt.timedelta(minutes=25))
    assert run_pass(line.svc) == note_prompts.PassReport(0, 0)

    assert [d.purpose for d in note_texts(line.svc)] == [note_prompts.PROMPT]
    row = prompt_row(line.svc, contact.id)
    assert row is not None and row.reminder_due_at is None and row.reminded_at is None


def test_no_prompt_when_the_note_was_written_before_the_pass(line: Line) -> None:
    contact = answered_call(line)
    write_note(line.svc, contact.id, line.ids[PRIMARY])

    run_pass(line.svc)
    line.clock.advance(dt.timedelta(hours=1))
    run_pass(line.svc)

    assert note_texts(line.svc) == []
    row = prompt_row(line.svc, contact.id)
    assert row is not None and row.detail == {"not_sent": "note already written"}


def test_a_call_back_through_the_line_gets_its_prompt_and_the_missed_call_none(
    line: Line,
) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    line.sim.phone(DANIEL).call(LINE, message="Call me")
    line.sim.run_pending()
    line.deliver()
    line.sim.phone(DANIEL).will_answer()
    staff_call = line.sim.phone(PRIMARY).call(LINE, "1")
    line.sim.run_pending()
    assert staff_call.bridged_to == DANIEL

    run_pass(line.svc)
    run_pass(line.svc)

    with line.svc.db.transaction() as session:
        call_back = session.scalars(select(Contact).where(Contact.outcome == "call_back")).one()
    assert call_back.ended_at is not None
    (prompt,) = note_texts(line.svc)
    assert prompt.to_number == PRIMARY
    assert "please write your note on your call-back at " in prompt.body
    link = note_prompts.read(
        line.svc.settings.secret_key, link_of(prompt).rsplit("/", 1)[1], line.clock.now()
    )
    assert link.contact_id == call_back.id


def test_a_missed_call_with_a_voicemail_is_never_prompted(line: Line) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    line.sim.phone(DANIEL).call(LINE, message="Please ring me back")
    line.sim.run_pending()
    with line.svc.db.transaction() as session:
        outcomes = list(session.scalars(select(Contact.outcome)))
    assert outcomes == ["voicemail"]

    for _ in range(3):
        line.clock.advance(dt.timedelta(minutes=31))
        run_pass(line.svc)

    assert note_texts(line.svc) == []
    with line.svc.db.transaction() as session:
        assert session.scalars(select(NotePrompt)).all() == []


def test_a_missed_call_without_a_message_is_never_prompted(line: Line) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    line.sim.phone(DANIEL).call(LINE)
    line.sim.run_pending()

    line.clock.advance(dt.timedelta(hours=2))
    run_pass(line.svc)

    assert note_texts(line.svc) == []


def test_a_call_that_ended_before_the_look_back_is_not_prompted(line: Line) -> None:
    answered_call(line)
    line.clock.advance(note_prompts.LOOKBACK + dt.timedelta(minutes=1))

    run_pass(line.svc)

    assert note_texts(line.svc) == []


def test_an_inactive_worker_gets_no_text_and_the_log_names_no_number(
    line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    contact = answered_call(line)
    with line.svc.db.transaction() as session:
        staff.deactivate(session, line.ids[PRIMARY], actor="test", now=line.clock.now())

    with caplog.at_level(logging.INFO, logger="crisisline.note_prompts"):
        run_pass(line.svc)
        line.clock.advance(dt.timedelta(hours=1))
        run_pass(line.svc)

    assert note_texts(line.svc) == []
    row = prompt_row(line.svc, contact.id)
    assert row is not None and row.detail == {"not_sent": "worker inactive"}
    assert row.reminder_due_at is None
    (warning,) = [
        r
        for r in caplog.records
        if r.name == "crisisline.note_prompts" and r.levelno == logging.WARNING
    ]
    assert f"contact {contact.id}" in warning.getMessage()
    assert "inactive" in warning.getMessage()
    for record in caplog.records:
        assert "7700" not in record.getMessage() and "+44" not in record.getMessage()


def test_the_texts_name_no_number_no_participant_and_fit_one_segment(line: Line) -> None:
    answered_call(line)
    run_pass(line.svc)
    line.clock.advance(dt.timedelta(minutes=30))
    run_pass(line.svc)

    sent = note_texts(line.svc)
    assert [d.purpose for d in sent] == [note_prompts.PROMPT, note_prompts.REMINDER]
    for delivery in sent:
        body = delivery.body
        assert re.search(r"\d{6,}", body) is None, body
        for word in ("7700", "+44", "Daniel", "Price", "R1001", "safe"):
            assert word not in body
        assert is_gsm7(body) and segment_count(body) == 1, body
        assert delivery.to_number not in (DANIEL,)


# ---- text conversations --------------------------------------------------------------------


def test_a_taken_text_conversation_is_prompted_an_hour_after_its_last_text(
    texts: SmsLine,
) -> None:
    daniel_reaches_primary(texts)
    texts.phone(PRIMARY).reply("1 I'm here Daniel, are you safe?")
    texts.dispatch()
    opening = texts.contacts()[0]
    (conversation,) = texts.conversations()
    assert conversation.handled_by_staff_id == texts.ids[PRIMARY]

    run_pass(texts.svc)
    texts.clock.advance(dt.timedelta(minutes=59))
    run_pass(texts.svc)
    assert note_texts(texts.svc) == []

    texts.clock.advance(dt.timedelta(minutes=1))
    run_pass(texts.svc)
    run_pass(texts.svc)

    (prompt,) = note_texts(texts.svc)
    assert prompt.to_number == PRIMARY
    assert "please write your note on your text conversation at " in prompt.body
    link = note_prompts.read(
        texts.svc.settings.secret_key, link_of(prompt).rsplit("/", 1)[1], texts.clock.now()
    )
    assert (link.contact_id, link.staff_id) == (opening.id, texts.ids[PRIMARY])

    # The configured reminder: 10 minutes here.
    texts.clock.advance(dt.timedelta(minutes=9))
    run_pass(texts.svc)
    texts.clock.advance(dt.timedelta(minutes=1))
    run_pass(texts.svc)
    run_pass(texts.svc)
    assert [d.purpose for d in note_texts(texts.svc)] == [
        note_prompts.PROMPT,
        note_prompts.REMINDER,
    ]


def test_a_taken_text_conversation_closed_by_its_worker_is_prompted_at_once(
    texts: SmsLine,
) -> None:
    daniel_reaches_primary(texts)
    texts.phone(PRIMARY).reply("1 I'm here Daniel")
    texts.dispatch()
    texts.phone(PRIMARY).reply("1c")
    texts.dispatch()
    (conversation,) = texts.conversations()
    assert conversation.status == "closed"

    run_pass(texts.svc)

    (prompt,) = note_texts(texts.svc)
    assert prompt.to_number == PRIMARY
    row = prompt_row(texts.svc, texts.contacts()[0].id)
    assert row is not None and row.ended_at == conversation.closed_at


def test_a_text_nobody_took_is_never_prompted(texts: SmsLine) -> None:
    daniel_reaches_primary(texts)

    for _ in range(4):
        texts.clock.advance(dt.timedelta(minutes=31))
        run_pass(texts.svc)

    (conversation,) = texts.conversations()
    assert conversation.handled_by_staff_id is None
    assert note_texts(texts.svc) == []


# ---- the link ------------------------------------------------------------------------------


def person(line: Line, phone: str, name: str) -> Person:
    """A member of the line's team with a console account."""
    staff_id = line.ids[phone]
    secret, codes = enrol(line.svc.db, staff_id, line.clock.now())
    return Person(staff_id, name, phone, None, secret, codes)


def prompted_link(line: Line) -> tuple[Contact, str]:
    contact = answered_call(line)
    run_pass(line.svc)
    (prompt,) = note_texts(line.svc)
    return contact, link_of(prompt)


def audit_actions(line: Line) -> list[tuple[str, str, int | None]]:
    with line.svc.db.transaction() as session:
        return [
            (entry.action, entry.actor, entry.record_id)
            for entry in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("note_link.%"))
                .order_by(AuditEntry.id)
            )
        ]


def test_the_link_asks_for_a_sign_in_then_takes_its_worker_to_the_note_form(
    line: Line, caplog: pytest.LogCaptureFixture
) -> None:
    contact, path = prompted_link(line)
    amira = person(line, PRIMARY, "Amira Okafor")
    browser = Browser(line.app)

    first = browser.get(path)
    assert first.status_code == 302
    assert first.headers["Location"] == "/login?next=" + path.replace("/", "%2F")

    signed_in = browser.sign_in(amira, line.clock, next_path=path)
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == path
    with caplog.at_level(logging.INFO):
        landed = browser.get(path)

    assert landed.status_code == 303
    assert landed.headers["Location"].endswith(f"/contacts/{contact.id}/note")
    assert audit_actions(line) == [("note_link.opened", f"staff:{line.ids[PRIMARY]}", contact.id)]
    token = path.rsplit("/", 1)[1]
    assert all(token not in record.getMessage() for record in caplog.records)
    assert token not in redact_text(f'"GET {path} HTTP/1.1" 303')
    assert token not in redact_text(f'"GET /login?next={path.replace("/", "%2F")} HTTP/1.1"')


def test_another_person_signed_in_is_refused_and_shown_nothing_of_the_contact(
    line: Line,
) -> None:
    contact, path = prompted_link(line)
    tom = person(line, BACKUP, "Tom Hughes")
    browser = Browser(line.app)
    browser.sign_in(tom, line.clock, next_path=path)

    page = browser.get(path)

    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "sent to another member of staff" in text
    for secret in ("Daniel", "R1001", "Amira", f"/contacts/{contact.id}"):
        assert secret not in text
    assert audit_actions(line) == [("note_link.refused", f"staff:{line.ids[BACKUP]}", contact.id)]


def test_an_expired_link_is_refused_even_to_its_worker(line: Line) -> None:
    contact, path = prompted_link(line)
    line.clock.advance(dt.timedelta(hours=line.svc.settings.note_link_hours, seconds=1))
    amira = person(line, PRIMARY, "Amira Okafor")
    browser = Browser(line.app)
    browser.sign_in(amira, line.clock, next_path=path)

    page = browser.get(path)

    assert page.status_code == 410
    text = page.get_data(as_text=True)
    assert "This link has expired" in text
    assert f"/contacts/{contact.id}" not in text


def test_a_changed_or_made_up_link_is_not_found(line: Line) -> None:
    contact, path = prompted_link(line)
    amira = person(line, PRIMARY, "Amira Okafor")
    browser = Browser(line.app)
    browser.sign_in(amira, line.clock)
    token = path.rsplit("/", 1)[1]
    contact_part, rest = token.split(".", 1)
    secret = line.svc.settings.secret_key
    expires = line.clock.now() + dt.timedelta(hours=1)
    forged = [
        # another contact's id with this link's signature
        f"{note_prompts._base36(contact.id + 1)}.{rest}",
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # a changed signature
        token[:20],  # cut short, as a phone might wrap it
        "made-up",
        # a genuine voicemail link's token: signed with the same key for another purpose
        voicemail_links.token(secret, contact.id, expires),
        # signed with another key
        note_prompts.token(
            "another-key", note_prompts.Link(contact.id, line.ids[PRIMARY], expires)
        ),
    ]
    assert contact_part == note_prompts._base36(contact.id)

    for value in forged:
        page = browser.get(note_prompts.LINK_PATH + value)
        assert page.status_code == 404, value
        assert "not one the crisis line sent" in page.get_data(as_text=True)
    assert audit_actions(line) == []
