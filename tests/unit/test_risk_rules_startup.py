"""An invalid risk rules file stops the crisis line from starting, naming the line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from crisisline import risk_rules
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.risk_rules import RiskRulesError
from crisisline.telephony import FakeTelephony
from tests.support.app import START, make_settings


def _start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'crisisline.db'}")
    create_app(
        {"TESTING": True}, settings=settings, clock=FakeClock(START), telephony=FakeTelephony()
    )


def test_the_shipped_rules_are_loaded_into_the_composition_root(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'crisisline.db'}")
    app = create_app({"TESTING": True}, settings=settings, telephony=FakeTelephony())
    assert app.extensions["crisisline"].risk_rules.frequency.min_contacts == 3


def test_an_invalid_rules_file_stops_start_up_naming_the_line_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = risk_rules.DEFAULT_PATH.read_text(encoding="utf-8")
    broken = tmp_path / "risk_rules.toml"
    broken.write_text(shipped.replace('severity = "urgent"', 'severity = "red"', 1))
    monkeypatch.setattr(risk_rules, "DEFAULT_PATH", broken)
    with pytest.raises(RiskRulesError) as caught:
        _start(tmp_path)
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if '"red"' in text)
    assert f"line {line}" in str(caught.value)
    assert "phrases.categories.self_harm.severity" in str(caught.value)


def test_a_rules_file_that_is_not_toml_stops_start_up_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "risk_rules.toml"
    broken.write_text('[night]\nstart = "00:00"\nend = 06:00\n')
    monkeypatch.setattr(risk_rules, "DEFAULT_PATH", broken)
    with pytest.raises(RiskRulesError, match="line 3"):
        _start(tmp_path)
