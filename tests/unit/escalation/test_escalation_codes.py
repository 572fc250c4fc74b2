"""Reply codes: the lowest free number per phone, and a parser that forgives how people type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation import ReplyCommand, allocate_code, format_code, parse_reply


def test_the_first_code_on_a_phone_is_1() -> None:
    assert allocate_code(set()) == 1


def test_the_lowest_free_code_is_reused_once_freed() -> None:
    assert allocate_code({1, 2, 3}) == 4
    assert allocate_code({1, 3, 4}) == 2
    assert allocate_code({2, 3}) == 1


@given(st.sets(st.integers(min_value=1, max_value=50)))
def test_an_allocated_code_is_free_positive_and_the_lowest_such(in_use: set[int]) -> None:
    code = allocate_code(in_use)

    assert code >= 1
    assert code not in in_use
    assert all(lower in in_use for lower in range(1, code))


@pytest.mark.parametrize(
    "text",
    ["3a", "3A", "a3", "A3", "ack 3", "ACK 3", "ack3", "acknowledge 3", "'3a'", '"3a"', " 3a ",
     "3 a", "3a.", "\u20183a\u2019", "3ack", "03a", "3a\n"],
)  # fmt: skip
def test_acknowledgements_are_read_however_they_are_typed(text: str) -> None:
    assert parse_reply(text) == ReplyCommand(action="acknowledge", code=3)


@pytest.mark.parametrize("text", ["3c", "3C", "c3", "close 3", "Close 3", "close3", "'3c'", "3 c"])
def test_closes_are_read_however_they_are_typed(text: str) -> None:
    assert parse_reply(text) == ReplyCommand(action="close", code=3)


@pytest.mark.parametrize(
    ("text", "action"),
    [("a", "acknowledge"), ("A", "acknowledge"), ("ack", "acknowledge"), (" a ", "acknowledge"),
     ("c", "close"), ("C", "close"), ("close", "close")],
)  # fmt: skip
def test_a_bare_letter_means_the_last_escalation_sent_to_that_phone(text: str, action: str) -> None:
    assert parse_reply(text) == ReplyCommand(action=action, code=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "hello", "ok", "3", "a3a", "3ab", "0a", "00a", "I can take 3a",
     "3a please", "call me", "3x", "+447700900123a", "12345a", "yes", "STOP", "\u0663a",
     "acknowledgement 3", "3 acked", "a 3 c"],
)  # fmt: skip
def test_other_text_is_not_a_command(text: str) -> None:
    assert parse_reply(text) is None


def test_non_text_input_is_not_a_command() -> None:
    assert parse_reply(None) is None
    assert parse_reply(3) is None


@given(st.text())
def test_parsing_never_raises(text: str) -> None:
    result = parse_reply(text)

    assert result is None or isinstance(result, ReplyCommand)
    if result is not None and result.code is not None:
        assert result.code >= 1


@given(
    code=st.integers(min_value=1, max_value=9999),
    action=st.sampled_from(["acknowledge", "close"]),
    upper=st.booleans(),
    padding=st.sampled_from(["", " ", "  ", "\t", "\n"]),
    quote=st.sampled_from(["", "'", '"']),
)
def test_formatted_codes_round_trip(
    code: int, action: str, upper: bool, padding: str, quote: str
) -> None:
    written = format_code(code, action)  # type: ignore[arg-type]
    typed = padding + quote + (written.upper() if upper else written) + quote + padding

    assert parse_reply(typed) == ReplyCommand(action=action, code=code)  # type: ignore[arg-type]


@given(code=st.integers(min_value=1, max_value=9999))
def test_the_letter_first_and_word_forms_round_trip(code: int) -> None:
    assert parse_reply(f"a{code}") == ReplyCommand("acknowledge", code)
    assert parse_reply(f"ack {code}") == ReplyCommand("acknowledge", code)
    assert parse_reply(f"close {code}") == ReplyCommand("close", code)
    assert parse_reply(f"c{code}") == ReplyCommand("close", code)


def test_format_code_refuses_codes_that_cannot_be_sent() -> None:
    assert format_code(3, "acknowledge") == "3a"
    assert format_code(12, "close") == "12c"
    with pytest.raises(ValueError, match="positive"):
        format_code(0, "acknowledge")
