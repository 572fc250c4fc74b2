"""GSM-7 text: the alphabet, look-alike replacement, segment counting and splitting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wording.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    is_gsm7,
    segment_count,
    sms_encoding,
    split_for_sms,
    to_gsm7,
)

gsm7_text = st.text(alphabet=GSM7_BASIC + GSM7_EXTENSION)
sentences = st.lists(st.text(min_size=1, max_size=30).filter(str.strip), max_size=80).map(" ".join)


# The alphabet


def test_the_tables_have_the_127_basic_and_10_extension_characters_of_gsm_03_38() -> None:
    assert len(GSM7_BASIC) == len(set(GSM7_BASIC)) == 127
    assert len(GSM7_EXTENSION) == len(set(GSM7_EXTENSION)) == 10
    assert "\x1b" not in GSM7_BASIC


@pytest.mark.parametrize(
    "text",
    ["Call 999 now", "£5 @ café, Øre, Straße", "Δ_ΦΓΛΩΠΨΣΘΞ", "€[]{}^~|\\", "line\nbreak\r\n", ""],
)
def test_gsm7_text_is_recognised(text: str) -> None:
    assert is_gsm7(text)
    assert sms_encoding(text) == "GSM-7"


@pytest.mark.parametrize("text", ["can\u2019t", "\u201cquoted\u201d", "wait\u2026", "🙂", "ł", "á"])
def test_text_with_any_non_gsm7_character_is_ucs2(text: str) -> None:
    assert not is_gsm7(text)
    assert sms_encoding(text) == "UCS-2"


# Replacing look-alikes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("can\u2019t \u2018this\u2019", "can't 'this'"),
        ("\u201cHelp\u201d \u201ehere\u201f", '"Help" "here"'),
        ("9\u201317 \u2014 now \u2212 later", "9-17 - now - later"),
        ("wait\u2026", "wait..."),
        ("07700\u00a0900123\u202fx", "07700 900123 x"),
        ("tab\there", "tab here"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("na\u00efve fa\u00e7ade \u00e1", "naive facade a"),
        ("\ufb01ne \uff21\u00b2", "fine A2"),
        ("still Ç, é, Ü", "still Ç, é, Ü"),
        ("\u00a9 \u00d7", "(c) x"),
    ],
)
def test_to_gsm7_swaps_look_alikes_for_their_gsm7_equivalents(text: str, expected: str) -> None:
    assert to_gsm7(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok 🙂", "ok ?"),
        ("thanks 👍🏽", "thanks ?"),  # skin tone modifier dropped: one emoji, one mark
        ("love ❤️", "love ?"),  # variation selector dropped
        ("Łódź", "?odz"),
        ("日本", "??"),
    ],
)
def test_to_gsm7_replaces_what_has_no_equivalent_with_one_mark_each(
    text: str, expected: str
) -> None:
    assert to_gsm7(text) == expected


def test_to_gsm7_turns_a_typical_word_processor_fallback_text_into_one_segment() -> None:
    text = (
        "If you\u2019re in danger now, call 999 \u2014 or NHS 111, option 2. "
        "Samaritans: 116\u00a0123\u2026 Text SHOUT to 85258."
    )

    converted = to_gsm7(text)

    assert converted == (
        "If you're in danger now, call 999 - or NHS 111, option 2. "
        "Samaritans: 116 123... Text SHOUT to 85258."
    )
    assert segment_count(text) == 2  # UCS-2 would cost two segments
    assert segment_count(converted) == 1


def test_to_gsm7_takes_another_replacement_mark_but_only_a_gsm7_one() -> None:
    assert to_gsm7("a 🙂", replacement="") == "a "
    with pytest.raises(ValueError, match="GSM-7"):
        to_gsm7("a", replacement="\u2026")


@given(st.text())
def test_to_gsm7_output_is_always_gsm7(text: str) -> None:
    assert is_gsm7(to_gsm7(text))


@given(st.text())
def test_to_gsm7_is_idempotent(text: str) -> None:
    once = to_gsm7(text)
    assert to_gsm7(once) == once


@given(gsm7_text)
def test_to_gsm7_leaves_gsm7_text_unchanged(text: str) -> None:
    assert to_gsm7(text) == text


# Segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),  # 162 septets
        ("a" * 159 + "€", 2),  # the euro takes two septets: 161
        ("ł" * 70, 1),
        ("ł" * 71, 2),
        ("ł" * 134, 2),
        ("ł" * 135, 3),
        ("😀" * 35, 1),  # 70 UTF-16 code units
        ("😀" * 36, 2),
    ],
)
def test_segment_count_follows_gsm7_and_ucs2_limits(text: str, segments: int) -> None:
    assert segment_count(text) == segments


def test_an_extension_character_is_not_split_across_segments() -> None:
    # 306 septets would divide into two segments of 153, but the euro's escape pair cannot
    # straddle the boundary after 152 letters, so a third segment is needed.
    text = "a" * 152 + "€" + "a" * 152

    assert segment_count(text) == 3


def test_an_emoji_surrogate_pair_is_not_split_across_segments() -> None:
    text = "ł" * 66 + "😀" + "ł" * 66  # 134 code units, pair at 67-68

    assert segment_count(text) == 3


def test_one_curly_apostrophe_makes_a_160_character_text_cost_three_segments() -> None:
    text = "a" * 159 + "\u2019"

    assert segment_count(text) == 3
    assert segment_count(to_gsm7(text)) == 1


@given(st.text(), st.text())
def test_segment_count_never_falls_when_text_is_appended(head: str, tail: str) -> None:
    assert segment_count(head) <= segment_count(head + tail)


@given(st.text(min_size=1))
def test_any_non_empty_text_is_at_least_one_segment(text: str) -> None:
    assert segment_count(text) >= 1


@given(gsm7_text)
def test_gsm7_text_within_160_septets_is_one_segment(text: str) -> None:
    septets = sum(2 if character in GSM7_EXTENSION else 1 for character in text)
    if text and septets <= 160:
        assert segment_count(text) == 1


# Splitting long texts


LONG_RELAY = (
    "From ***321 at 03:12: I keep thinking about what happened at the hostel and I can't "
    "sleep. My licence meeting is on Thursday and I don't know if I can face it. I haven't "
    "used but I've been thinking about it a lot. Please can someone ring me back, I'd rather "
    "talk to Priya if she's on. I'm at my sister's flat."
)


def strip_prefix(part: str) -> str:
    return re.sub(r"^\(\d+/\d+\) ", "", part)


def test_a_text_that_fits_one_segment_is_returned_whole_without_numbering() -> None:
    assert split_for_sms("  Reply 1a to accept.  ", max_parts=3) == ["Reply 1a to accept."]


def test_a_long_text_is_split_at_spaces_into_numbered_single_segment_parts() -> None:
    parts = split_for_sms(LONG_RELAY, max_parts=5)

    assert len(parts) == 3
    assert [part[:6] for part in parts] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert all(segment_count(part) == 1 for part in parts)
    assert " ".join(strip_prefix(part) for part in parts).split() == LONG_RELAY.split()


def test_parts_may_span_several_segments_when_asked() -> None:
    parts = split_for_sms(LONG_RELAY, max_parts=5, segments_per_part=2)

    assert len(parts) == 2
    assert all(segment_count(part) <= 2 for part in parts)


def test_a_text_needing_more_parts_than_allowed_is_cut_with_an_ellipsis() -> None:
    parts = split_for_sms(LONG_RELAY, max_parts=2)

    assert len(parts) == 2
    assert parts[0].startswith("(1/2) ")
    assert parts[-1].endswith("...")
    assert all(segment_count(part) == 1 for part in parts)


def test_a_word_longer_than_a_part_is_cut_rather_than_dropped() -> None:
    link = "https://crisis.example.org/c/" + "x" * 300

    parts = split_for_sms(link, max_parts=5)

    assert "".join(strip_prefix(part) for part in parts) == link
    assert all(segment_count(part) == 1 for part in parts)


def test_a_ucs2_text_is_split_into_parts_of_70_code_units() -> None:
    text = " ".join(["I can\u2019t cope"] * 20)

    parts = split_for_sms(text, max_parts=10)

    assert len(parts) > 1
    assert all(segment_count(part) == 1 for part in parts)


def test_blank_text_gives_no_parts() -> None:
    assert split_for_sms("  \n ", max_parts=2) == []


@pytest.mark.parametrize(("max_parts", "segments"), [(0, 1), (1, 0)])
def test_split_refuses_a_limit_below_one(max_parts: int, segments: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_for_sms("hello", max_parts=max_parts, segments_per_part=segments)


@given(sentences, st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=3))
def test_split_parts_always_fit_and_never_exceed_the_limit(
    text: str, max_parts: int, segments: int
) -> None:
    parts = split_for_sms(text, max_parts, segments_per_part=segments)

    assert len(parts) <= max_parts
    assert all(segment_count(part) <= segments for part in parts)


@given(sentences)
def test_split_keeps_every_character_when_the_limit_is_not_reached(text: str) -> None:
    parts = split_for_sms(text, max_parts=1000)

    bodies = [strip_prefix(part) for part in parts] if len(parts) > 1 else parts
    assert "".join("".join(bodies).split()) == "".join(text.split())
