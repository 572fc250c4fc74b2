"""The shipped risk phrases against realistic crisis texts, and ordinary texts that must not match.

Each crisis message below is written as a participant in crisis might text the line at night
(invented, not taken from any person's record). A message in the first table that raises no
alert is a crisis nobody is told about; one in the second that raises an urgent alert sends an
officer and the duty manager after a man who only asked about his appointment. When the clinical
lead changes the phrase list in config/risk_rules.toml, this table shows what the change does.
"""

from __future__ import annotations

import pytest

from crisisline import risk_rules


@pytest.fixture(scope="module")
def rules() -> risk_rules.RiskRules:
    return risk_rules.load()


CRISIS_TEXTS = [
    ("I can't cope tonight", "self_harm"),
    ("I'm at home, I've got the pills out", "self_harm"),
    ("i cant take it anymore", "self_harm"),
    ("Honestly I don't want to be here anymore", "self_harm"),
    ("I wish I was dead", "self_harm"),
    ("i just want it all to end", "self_harm"),
    ("Took all my tablets about an hour ago", "self_harm"),
    ("I've taken the lot. sorry", "self_harm"),
    ("Ive swallowed them all", "self_harm"),
    ("had 30 paracetamol with vodka", "self_harm"),
    ("I'm on the bridge, gonna jump off", "self_harm"),
    ("been cutting again, there's blood everywhere", "self_harm"),
    ("I've written a note for my mum", "self_harm"),
    ("this is goodbye. tell my kids I love them", "self_harm"),
    ("theres no way out for me", "self_harm"),
    ("I'm gonna do meself in tonight", "self_harm"),
    ("want to go to sleep and never wake up", "self_harm"),
    ("im not coping at all", "self_harm"),
]

ORDINARY_TEXTS = [
    "Can you call me back about my appointment tomorrow",
    "I'm coping ok today thanks",
    "What time is group on Thursday?",
    "I took my tablets this morning like the doctor said",
    "Picked up my prescription from the chemist, all good",
    "The hostel staff have been good to me this week",
    "I passed my drug test!",
    "Can I change my signing in day to Friday",
    "Got the job at the warehouse, start Monday",
    "Thanks for the chat last night, feeling a lot better",
    "My phone was dead, sorry I missed your call",
    "Is the office open on the bank holiday?",
    "I need help filling in a housing form",
    "The pills the GP gave me are helping me sleep",
    "Going to the gym to keep my head straight",
    "My mum says thank you for the letter",
    "I woke up early and went for a walk by the river",
    "Can someone ring me, it's not urgent",
]


@pytest.mark.parametrize(("text", "category"), CRISIS_TEXTS)
def test_a_realistic_crisis_text_raises_its_phrase_alert(
    rules: risk_rules.RiskRules, text: str, category: str
) -> None:
    assert category in [c.name for c in rules.phrases.categories_in(text)]


@pytest.mark.parametrize("text", ORDINARY_TEXTS)
def test_an_ordinary_text_raises_no_phrase_alert(rules: risk_rules.RiskRules, text: str) -> None:
    assert rules.phrases.categories_in(text) == []
