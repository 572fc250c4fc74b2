"""Every text staff can receive, produced by the functions the service sends it with.

docs/staff-texts.md lists each one with an example; this test builds the same examples from
the same example data and checks that the table says exactly what the code sends, and that
no text is missing from either side, so the page cannot drift from the code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest

import wording.staff
from crisisline import (
    alerts,
    floods,
    note_prompts,
    provider_outages,
    rota_notices,
    sms_conversations,
    staff,
)
from tests.support.staff_texts import LINE_BREAK, MISSED, TEXT_SUMMARY, table
from wording.sms import is_gsm7

LONDON = ZoneInfo("Europe/London")
VOICEMAIL = (
    "Missed call from R1001 D. Price at 03:12, voicemail left: "
    "https://crisis.example.org/voicemail/WzEyMywxNzY0MjIyNDAwXQ.q9cH3bTq0Qd2hE5mKp2xYz1A"
)
WHO = "R1001 D. Price"
NOTE_LINK = "https://crisis.example.org/notes/link/2n9c.16.tpmmw0.f03Kg-H-7BUuBFuY"
RISK_SUMMARY = "Risk alert 5 (urgent): R1001 texted words about suicide or self-harm"
FLOOD_RULES = floods.FloodRules(zone=LONDON)


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def _bundle() -> str:
    # As crisisline.escalation_engine builds it: the header, then each item after a space.
    items = [wording.staff.bundle_item(MISSED, 2), wording.staff.bundle_item(TEXT_SUMMARY, 3)]
    return " ".join([wording.staff.BUNDLE_HEADER, *items])


def _relay(first: bool, note: str | None = None) -> list[str]:
    texts = sms_conversations.relay_texts(
        WHO, 1, ["I can't sleep, can someone call me?"], first=first, note=note
    )
    return [text.body for text in texts]


# Each row of the table, by the name in its first column.
TEXTS: dict[str, Callable[[], str]] = {
    "Escalation": lambda: wording.staff.notification_text(MISSED, 1),
    "Escalation with a voicemail": lambda: wording.staff.notification_text(VOICEMAIL, 1),
    "Bundle": _bundle,
    "Taken by a colleague": lambda: wording.staff.taken_by_text(MISSED, "Tom Hughes"),
    "Closed by a colleague": lambda: wording.staff.taken_by_text(MISSED, "Tom Hughes", closed=True),
    "Update, still open": lambda: wording.staff.update_text(
        MISSED + ", voicemail left (call the line to hear it)", 1, open_=True
    ),
    "Update, already taken": lambda: wording.staff.update_text(
        MISSED + ", voicemail left (call the line to hear it)", 1, open_=False
    ),
    "Taken, nobody else alerted": lambda: wording.staff.acknowledged_reply_text(1, told=0),
    "Taken, others alerted": lambda: wording.staff.acknowledged_reply_text(1, told=2),
    "Closed": lambda: wording.staff.closed_reply_text(1),
    "Already taken": lambda: wording.staff.already_taken_text(1, "Tom Hughes"),
    "Unknown code": lambda: wording.staff.unknown_code_text(4),
    "Nothing open": lambda: wording.staff.unknown_code_text(None),
    "Which code?": lambda: wording.staff.which_code_text([(2, MISSED), (3, TEXT_SUMMARY)]),
    "Nobody took it": lambda: wording.staff.exhausted_text(MISSED),
    "Escalation overdue": lambda: wording.staff.overdue_text(17, 3),
    "Phone changed": lambda: staff.phone_changed_text([(1, MISSED), (2, TEXT_SUMMARY)]),
    "Test message": lambda: staff.test_message_text("Amira"),
    "Participant's words": lambda: _relay(first=True)[0],
    "How to answer": lambda: _relay(first=True)[1],
    "Participant texted START": lambda: _relay(first=False, note=wording.staff.OPTED_IN_NOTE)[1],
    "Sent and taken, nobody else alerted": lambda: wording.staff.relayed_and_taken_text(WHO, 1, 0),
    "Sent and taken, others alerted": lambda: wording.staff.relayed_and_taken_text(WHO, 1, 1),
    "Handed over, quiet": lambda: wording.staff.handed_over_notice(
        WHO, quiet_for=sms_conversations.QUIET_TAKER_MINUTES
    ),
    "Handed over, shift ended": lambda: wording.staff.handed_over_notice(WHO, quiet_for=None),
    "NOT SENT, opted out": lambda: wording.staff.not_sent_opted_out_text(WHO),
    "NOT SENT, number removed": lambda: wording.staff.not_sent_number_removed_text(WHO),
    "NOT SENT, no code": lambda: wording.staff.not_sent_text(
        "You have more than one open conversation.", [(1, WHO), (3, "+447700900777")]
    ),
    "NOT SENT, nothing open": lambda: wording.staff.not_sent_text("", []),
    "Participant opted out": lambda: wording.staff.opted_out_notice(WHO, "STOP"),
    "Text refused": lambda: wording.staff.refused_notice(WHO),
    "Staff member opted out": lambda: wording.staff.staff_opted_out_notice("Amira Okafor", "STOP"),
    "Texts work again": lambda: wording.staff.STAFF_OPTED_IN_TEXT,
    "HELP": lambda: wording.staff.help_text([(1, WHO)]),
    "WHO": lambda: wording.staff.on_call_now_text(
        ["primary: Amira Okafor", "backup: Tom Hughes", "duty-manager: Priya Natarajan"]
    ),
    "Risk alert": lambda: alerts.alert_text(
        "R1001", "contacted the crisis line 4 times in 24 hours", 1, urgent=False
    ),
    "Urgent risk alert": lambda: alerts.alert_text(
        "R1001", "texted words about suicide or self-harm", 1, urgent=True
    ),
    "Risk alert acknowledged": lambda: wording.staff.acknowledged_reply_text(
        1, told=0, taken="acknowledged"
    ),
    "Risk alert acknowledged by a colleague": lambda: wording.staff.taken_by_text(
        RISK_SUMMARY, "Sam Jones", taken="acknowledged"
    ),
    "Note prompt": lambda: note_prompts.prompt_text(
        "call", _at(5, 2, 14), NOTE_LINK, now=_at(5, 2, 31), zone=LONDON
    ),
    "Note reminder": lambda: note_prompts.reminder_text(
        "call", _at(5, 2, 14), NOTE_LINK, now=_at(5, 3, 1), zone=LONDON
    ),
    "Shift reminder": lambda: rota_notices.reminder_text("primary", _at(5, 9), LONDON),
    "Gaps ahead": lambda: rota_notices.daily_gaps_text(
        2, "primary", (_at(9, 9), _at(9, 21)), LONDON
    ),
    "Rota changed": lambda: rota_notices.rota_changed_text(
        "primary", [(_at(12, 9), _at(19, 9))], [(_at(5, 9), _at(12, 9))], LONDON
    ),
    "New gap": lambda: rota_notices.new_gap_text(
        "primary", [(_at(5, 9), _at(5, 21))], "after a change by Priya Natarajan", LONDON
    ),
    "Flood started": lambda: floods.started_text(_at(4, 2, 10), FLOOD_RULES),
    "Flood over": lambda: floods.ended_text(
        (40, 38, 3, 3), _at(4, 2, 10), _at(4, 2, 41), FLOOD_RULES
    ),
    "Provider recovered": lambda: provider_outages.recovery_text(
        _at(4, 2, 10), _at(4, 2, 13), 6, 1, LONDON
    ),
}
# The participant's own words go verbatim (emoji and all); everything else is the service's.
VERBATIM = {"Participant's words"}


def test_the_table_lists_exactly_the_texts_the_code_sends() -> None:
    assert sorted(table()) == sorted(TEXTS)


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_each_example_in_the_table_is_exactly_what_the_code_sends(name: str) -> None:
    sent = TEXTS[name]()

    assert table()[name] == sent.replace("\n", LINE_BREAK)


@pytest.mark.parametrize("name", sorted(set(TEXTS) - VERBATIM))
def test_each_of_the_services_own_texts_is_plain_gsm7(name: str) -> None:
    assert is_gsm7(TEXTS[name]())


def test_taking_it_with_nobody_else_alerted_says_nothing_about_others() -> None:
    assert (
        wording.staff.acknowledged_reply_text(3, told=0)
        == "Resettle crisis line: you have taken 3."
    )
    assert "other" not in wording.staff.relayed_and_taken_text(WHO, 3, 0)
    assert wording.staff.voice_confirmation("acknowledged", told=0) == (
        "Thank you. You have taken this. Goodbye."
    )


def test_taking_it_with_others_alerted_says_they_have_been_told() -> None:
    assert wording.staff.acknowledged_reply_text(3, told=1) == (
        "Resettle crisis line: you have taken 3. The other person alerted has been told."
    )
    assert wording.staff.acknowledged_reply_text(3, told=2).endswith(
        " The 2 others alerted have been told."
    )
    assert "The other person alerted has been told." in (
        wording.staff.relayed_and_taken_text(WHO, 3, 1)
    )
    assert "The 2 others alerted will be told." in wording.staff.voice_confirmation(
        "acknowledged", told=2
    )


def test_the_bundle_header_says_how_to_take_and_how_to_close_an_item() -> None:
    assert wording.staff.BUNDLE_HEADER == (
        "Resettle crisis line, more alerts. Reply a code below to take one; use c not a to close:"
    )
    assert "c for a closes" not in _bundle()


def test_an_escalation_closed_before_anyone_took_it_is_called_closed_not_taken() -> None:
    # Said on a call or answered in the API (a closed escalation's codes no longer work by SMS).
    assert wording.staff.already_taken_text(1, "Tom Hughes", closed=True) == (
        "Resettle crisis line: 1 was already closed by Tom Hughes."
    )


def test_a_risk_alert_is_acknowledged_in_its_confirmations_as_in_its_text() -> None:
    assert "Reply 1a to acknowledge" in TEXTS["Urgent risk alert"]()
    assert TEXTS["Risk alert acknowledged"]() == "Resettle crisis line: you have acknowledged 1."
    assert "was acknowledged by Sam Jones" in TEXTS["Risk alert acknowledged by a colleague"]()


def test_a_bundle_of_one_item_of_the_longest_kind_fits_one_segment() -> None:
    item = wording.staff.bundle_item("word " * 40, 9999)

    assert len(f"{wording.staff.BUNDLE_HEADER} {item}") <= wording.staff.SMS_SEGMENT
