"""The note prompt's texts and link, without a database: one segment, nothing about the
participant, and a signed token that says the contact, whom it was for and until when."""

from __future__ import annotations

import datetime as dt
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from crisisline import note_prompts
from crisisline.contact_notes import HandledKind
from crisisline.delivery_kinds import ROUTINE, DeliveryKind, kind_of
from crisisline.logs import redact_text
from wording.sms import is_gsm7, segment_count

LONDON = ZoneInfo("Europe/London")
SECRET = "unit-test-secret-key"
BASE = "https://crisis.example.org"
NOW = dt.datetime(2026, 12, 6, 2, 40, tzinfo=dt.UTC)


def _link(contact_id: int = 987_654, staff_id: int = 1_200) -> str:
    expires = NOW + dt.timedelta(hours=12)
    value = note_prompts.token(SECRET, note_prompts.Link(contact_id, staff_id, expires))
    return BASE + note_prompts.LINK_PATH + value


@pytest.mark.parametrize("kind", get_args(HandledKind))
@pytest.mark.parametrize("took_hours_ago", [0.5, 5])  # the same day, and the day before
def test_each_text_fits_one_gsm7_segment_with_a_large_contact_and_staff_id(
    kind: HandledKind, took_hours_ago: float
) -> None:
    took = NOW - dt.timedelta(hours=took_hours_ago)
    for text in (
        note_prompts.prompt_text(kind, took, _link(), now=NOW, zone=LONDON),
        note_prompts.reminder_text(kind, took, _link(), now=NOW, zone=LONDON),
    ):
        assert is_gsm7(text)
        assert segment_count(text) == 1, (len(text), text)
        assert text.endswith(_link())  # the link whole, last: nothing after it to cut it


def test_the_time_is_local_and_names_the_day_only_when_it_was_not_today() -> None:
    summer_now = dt.datetime(2026, 7, 1, 1, 30, tzinfo=dt.UTC)  # 02:30 BST
    earlier = summer_now - dt.timedelta(minutes=20)
    assert " at 02:10: " in note_prompts.prompt_text(
        "call", earlier, "L", now=summer_now, zone=LONDON
    )
    yesterday = summer_now - dt.timedelta(hours=3)  # 23:30 BST on Tuesday 30 June
    assert " at 23:30 Tue 30 Jun: " in note_prompts.reminder_text(
        "text", yesterday, "L", now=summer_now, zone=LONDON
    )


def test_a_token_reads_back_as_the_contact_the_person_and_the_expiry() -> None:
    expires = NOW + dt.timedelta(hours=12)
    value = note_prompts.token(SECRET, note_prompts.Link(42, 7, expires))

    assert note_prompts.read(SECRET, value, NOW) == note_prompts.Link(42, 7, expires)
    assert len(value) <= 40


def test_a_token_is_refused_from_its_expiry_on() -> None:
    expires = NOW + dt.timedelta(hours=1)
    value = note_prompts.token(SECRET, note_prompts.Link(42, 7, expires))

    note_prompts.read(SECRET, value, expires - dt.timedelta(seconds=1))
    with pytest.raises(note_prompts.Expired):
        note_prompts.read(SECRET, value, expires)


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "16.7.tpmmw0",  # a payload without a signature
        "16.7.tpmmw0.AAAAAAAAAAAAAAAA",  # a made-up signature
        "16.7.tpmmw0.." + "A" * 16,
        "é.7.tpmmw0.AAAAAAAAAAAAAAAA",
        "x" * 500,
    ],
)
def test_anything_not_signed_for_a_note_link_is_refused(value: str) -> None:
    with pytest.raises(note_prompts.LinkError) as refused:
        note_prompts.read(SECRET, value, NOW)
    assert not isinstance(refused.value, note_prompts.Expired)


def test_a_token_signed_with_another_key_or_changed_is_refused() -> None:
    link = note_prompts.Link(42, 7, NOW + dt.timedelta(hours=1))
    other = note_prompts.token("another key", link)
    mine = note_prompts.token(SECRET, link)
    moved = note_prompts.token(SECRET, note_prompts.Link(43, 7, link.expires_at))

    for value in (other, moved.split(".", 1)[0] + "." + mine.split(".", 1)[1]):
        with pytest.raises(note_prompts.LinkError):
            note_prompts.read(SECRET, value, NOW)


def test_prompts_and_reminders_are_routine_and_never_hold_up_a_crisis_text() -> None:
    for purpose in (note_prompts.PROMPT, note_prompts.REMINDER):
        assert kind_of(purpose) == DeliveryKind(ROUTINE, crisis=False)


def test_a_signed_token_whose_expiry_is_beyond_any_date_is_refused_not_an_error() -> None:
    # Only a token signed with the key can say this, but the page must still answer it.
    value = note_prompts._signer(SECRET).sign("1.1.zzzzzzzzzzzzz").decode("ascii")

    with pytest.raises(note_prompts.LinkError):
        note_prompts.read(SECRET, value, NOW)


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 - - "GET {path} HTTP/1.1" 302 -',
        '127.0.0.1 - - "GET /login?next={encoded} HTTP/1.1" 200 -',
        '127.0.0.1 - - "POST /login?next={encoded}&x=1 HTTP/1.1" 303 "https://h{path}"',
        "GET /login?next={lower} HTTP/1.1",
    ],
)
def test_a_note_links_token_never_survives_into_a_log_line(line: str) -> None:
    value = _link().rsplit("/", 1)[1]
    path = note_prompts.LINK_PATH + value
    filled = line.format(
        path=path, encoded=path.replace("/", "%2F"), lower=path.replace("/", "%2f")
    )

    redacted = redact_text(filled)

    assert value not in redacted
    assert value.split(".")[-1] not in redacted  # not even its signature
    assert "[redacted]" in redacted
