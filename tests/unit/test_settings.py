"""Settings: parsed once, typed, immutable; missing production settings stop start-up by name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from crisisline.settings import SettingsError, load_settings


def test_defaults_give_a_local_service_on_sqlite_with_console_telephony(tmp_path: Path) -> None:
    settings = load_settings({}, instance_path=str(tmp_path))
    assert settings.telephony == "console"
    assert settings.database_url == f"sqlite:///{tmp_path / 'crisisline.db'}"
    assert settings.timezone == "Europe/London"
    assert settings.default_region == "GB"
    assert settings.twilio_api_base_url == "https://api.twilio.com"
    assert settings.crisis_line_number == "+447700900000"
    assert settings.fallback_number is None


def test_local_secrets_are_generated_once_into_instance_and_reused(tmp_path: Path) -> None:
    first = load_settings({}, instance_path=str(tmp_path))
    second = load_settings({}, instance_path=str(tmp_path))
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert first.twilio_auth_token == second.twilio_auth_token
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_settings_are_immutable(tmp_path: Path) -> None:
    settings = load_settings({}, instance_path=str(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.telephony = "twilio"  # type: ignore[misc]


def test_twilio_telephony_without_its_settings_stops_start_up_naming_each(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"TELEPHONY": "twilio", "TWILIO_ACCOUNT_SID": "AC1"}, str(tmp_path))
    message = str(error.value)
    for name in ("TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "CRISIS_LINE_NUMBER", "SECRET_KEY"):
        assert name in message
    assert "TWILIO_ACCOUNT_SID" not in message


def test_twilio_telephony_with_everything_set_starts(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "TELEPHONY": "twilio",
            "TWILIO_ACCOUNT_SID": "AC" + "2" * 32,
            "TWILIO_AUTH_TOKEN": "token",
            "PUBLIC_BASE_URL": "https://crisis.example.org/",
            "CRISIS_LINE_NUMBER": "07700 900000",
            "SECRET_KEY": "k",
            "FALLBACK_NUMBER": "07700 900900",
            "TWILIO_API_BASE_URL": "http://127.0.0.1:8765/",
        },
        str(tmp_path),
    )
    assert settings.public_base_url == "https://crisis.example.org"
    assert settings.crisis_line_number == "+447700900000"
    assert settings.fallback_number == "+447700900900"
    assert settings.twilio_api_base_url == "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TELEPHONY": "pigeon"}, "TELEPHONY"),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"),
        ({"DEFAULT_REGION": "XX"}, "DEFAULT_REGION"),
        ({"FALLBACK_NUMBER": "12"}, "FALLBACK_NUMBER"),
        ({"PUBLIC_BASE_URL": "crisis.example.org"}, "PUBLIC_BASE_URL"),
        ({"API_RATE_LIMIT": "lots per minute"}, "API_RATE_LIMIT"),
        ({"API_RATE_LIMIT_STORAGE_URL": "carrier-pigeon://loft"}, "API_RATE_LIMIT_STORAGE_URL"),
    ],
)
def test_a_wrong_setting_stops_start_up_naming_it(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env, str(tmp_path))


@pytest.mark.parametrize(
    "url", ["postgres://u@db.example.org/crisis", "postgresql://u@db.example.org/crisis"]
)
def test_platform_postgres_urls_are_given_the_psycopg_driver(tmp_path: Path, url: str) -> None:
    settings = load_settings({"DATABASE_URL": url}, str(tmp_path))
    assert settings.database_url == "postgresql+psycopg://u@db.example.org/crisis"


def test_the_app_refuses_to_start_with_missing_twilio_settings(tmp_path: Path) -> None:
    from crisisline.app import create_app

    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        create_app(environ={"TELEPHONY": "twilio", "INSTANCE_PATH": str(tmp_path)})


def test_a_dotenv_file_fills_in_what_the_environment_leaves_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("TIMEZONE=Europe/Dublin\nDEFAULT_REGION=IE\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFAULT_REGION", "GB")
    monkeypatch.delenv("TIMEZONE", raising=False)
    settings = load_settings(instance_path=str(tmp_path / "instance"))
    assert settings.timezone == "Europe/Dublin"
    assert settings.default_region == "GB"


def test_the_api_rate_limit_defaults_to_300_a_minute_in_memory(tmp_path: Path) -> None:
    settings = load_settings({}, str(tmp_path))
    assert settings.api_rate_limit == "300 per minute"
    assert settings.api_rate_limit_storage_url == "memory://"
    shared = load_settings(
        {"API_RATE_LIMIT": "20/second;300/minute", "API_RATE_LIMIT_STORAGE_URL": "redis://r:6379"},
        str(tmp_path),
    )
    assert shared.api_rate_limit == "20/second;300/minute"
    assert shared.api_rate_limit_storage_url == "redis://r:6379"
