"""Escalation texts: plain GSM-7, one SMS segment, and the codes people reply with."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation import ReplyCommand, parse_reply
from wording.sms import is_gsm7
from wording.staff import (
    SMS_SEGMENT,
    TWO_SEGMENTS,
    acknowledged_reply_text,
    already_taken_text,
    bundle_item,
    closed_reply_text,
    exhausted_text,
    notification_text,
    plain,
    split_link,
    spoken,
    taken_by_text,
    unknown_code_text,
    update_text,
    voice_confirmation,
    voice_prompt,
)


def test_the_notification_says_what_it_is_about_and_how_to_reply() -> None:
    assert notification_text("Text from participant P-104 unanswered", 3) == (
        "Resettle crisis line: Text from participant P-104 unanswered. "
        "Reply 3a to take this, 3c to close."
    )


def test_the_codes_in_a_notification_are_read_back_by_the_reply_parser() -> None:
    text = notification_text("Missed call", 12)

    assert parse_reply("12a") == ReplyCommand("acknowledge", 12)
    assert "Reply 12a to take this, 12c to close." in text


def test_curly_quotes_and_dashes_in_a_summary_become_plain() -> None:
    text = notification_text("\u201cI can\u2019t cope\u201d \u2013 text at night\u2026", 1)

    assert '"I can\'t cope" - text at night' in text
    assert is_gsm7(text)


def test_taken_by_tells_the_others_who_took_it() -> None:
    assert taken_by_text("Missed call from P-7", "Sam Jones") == (
        "Resettle crisis line: Missed call from P-7 was taken by Sam Jones. No action needed."
    )
    assert "was closed by Sam" in taken_by_text("Missed call", "Sam", closed=True)


def test_an_empty_summary_still_makes_sense() -> None:
    assert notification_text("   ", 2).startswith("Resettle crisis line: a contact needs a person.")


def test_a_long_summary_is_shortened_so_the_text_fits_one_segment_with_its_codes() -> None:
    text = notification_text("word " * 100, 9999)

    assert len(text) <= SMS_SEGMENT
    assert text.endswith(" word... Reply 9999a to take this, 9999c to close.")


TEXTS: list[Callable[[str], str]] = [
    lambda s: notification_text(s, 42),
    lambda s: taken_by_text(s, s),
    lambda s: taken_by_text(s, s, closed=True),
    exhausted_text,
    lambda s: already_taken_text(7, s),
]


@pytest.mark.parametrize("make", TEXTS)
@given(summary=st.text(max_size=400))
def test_every_text_is_gsm7_and_one_segment_whatever_the_summary(
    make: Callable[[str], str], summary: str
) -> None:
    text = make(summary)

    assert is_gsm7(text)
    assert len(text) <= SMS_SEGMENT
    assert "\n" not in text


@given(st.text())
def test_plain_keeps_only_single_septet_gsm7_on_one_line(text: str) -> None:
    cleaned = plain(text)

    assert is_gsm7(cleaned)
    assert all(character not in "^{}\\[~]|`\n\r\t" for character in cleaned)
    assert cleaned == cleaned.strip()


def test_replies_to_staff_are_short_and_plain() -> None:
    for text in (
        acknowledged_reply_text(3, told=0),
        acknowledged_reply_text(3, told=12),
        closed_reply_text(3),
        unknown_code_text(3),
        unknown_code_text(None),
        already_taken_text(3, "Sam"),
    ):
        assert is_gsm7(text)
        assert len(text) <= SMS_SEGMENT


def test_the_voice_prompt_names_the_keys() -> None:
    prompt = voice_prompt("A text from a participant has not been answered")

    assert "Press 4 to take this" in prompt
    assert "Press 5" in prompt
    assert "star to repeat" in prompt
    assert "You have taken this" in voice_confirmation("acknowledged", told=1)
    assert "next person" in voice_confirmation("escalated")
    assert "Press 4" in voice_confirmation("invalid")


LINK = "https://crisis.example.org/voicemail/WzEyMywxNzY0MjIyNDAwXQ.q9cH3bTq0Qd2hE5mKp2xYz1AbCdEfG"
LINKED_TEXTS: list[Callable[[str], str]] = [
    lambda s: notification_text(s, 4242),
    exhausted_text,
    lambda s: update_text(s, 4242, open_=True),
    lambda s: update_text(s, 4242, open_=False),
    lambda s: update_text(s, None, open_=True),
]


@pytest.mark.parametrize("make", LINKED_TEXTS)
@given(words=st.text(max_size=400))
def test_a_voicemail_link_is_never_cut_and_the_text_fits_two_segments(
    make: Callable[[str], str], words: str
) -> None:
    text = make(f"{words}, voicemail left: {LINK}")

    assert f" {LINK} " in text  # whole, and apart from any full stop after it
    assert is_gsm7(text)
    assert len(text) <= TWO_SEGMENTS


def test_a_missed_call_text_with_a_voicemail_link_reads_as_a_sentence() -> None:
    text = notification_text(
        f"Missed call from R1001 D. Price at 03:12, voicemail left: {LINK}", 12
    )

    assert text == (
        "Resettle crisis line: Missed call from R1001 D. Price at 03:12, voicemail left: "
        f"{LINK} . Reply 12a to take this, 12c to close."
    )


def test_bundles_taken_texts_and_spoken_prompts_leave_the_link_out() -> None:
    summary = f"Missed call from R1001 D. Price at 03:12, voicemail left: {LINK}"

    assert (
        bundle_item(summary, 12) == "12a Missed call from R1001 D. Price at 03:12, voicemail left."
    )
    taken = taken_by_text(summary, "Sam Jones")
    assert "voicemail" in taken and "https" not in taken and len(taken) <= SMS_SEGMENT
    spoken = voice_prompt(summary)
    assert "voicemail left. Press 4" in spoken and "http" not in spoken


def test_only_a_voicemail_link_at_the_end_is_kept_whole() -> None:
    other = notification_text("see https://example.org/elsewhere " + "word " * 60, 9)
    assert len(other) <= SMS_SEGMENT
    assert split_link(f"voicemail left: {LINK}") == ("voicemail left", LINK)
    assert split_link(f"{LINK} then words") == (f"{LINK} then words", None)


def test_a_floods_api_hint_is_kept_out_of_texts_and_calls() -> None:
    """H140: the flood's summary names the API query for the record; a text or call says the
    counts, not the query."""
    summary = (
        "Flood: 14 texts from 14 unknown numbers since 02:10, gathered here. "
        "See GET /api/v1/contacts?from=2026-11-26T02:10:00Z&direction=inbound"
    )
    text = notification_text(summary, 3)
    assert "14 texts from 14 unknown numbers since 02:10" in text and "api" not in text
    assert spoken(summary) == "Flood: 14 texts from 14 unknown numbers since 02:10, gathered here"
