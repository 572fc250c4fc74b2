"""Settings: parsed once, typed, immutable; missing production settings stop start-up by name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from crisisline.settings import SettingsError, load_settings
from tests.support.app import TEST_AUTH_TOKEN


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
        ({"FLOOD_WINDOW_MINUTES": "0"}, "FLOOD_WINDOW_MINUTES"),
        ({"FLOOD_UNKNOWN_TEXTS": "five"}, "FLOOD_UNKNOWN_TEXTS"),
        ({"FLOOD_UNKNOWN_CALLS": "-1"}, "FLOOD_UNKNOWN_CALLS"),
        ({"AUTO_REPLY_COUNTRIES": "GB,UK"}, "AUTO_REPLY_COUNTRIES"),
        ({"AUTO_REPLIES_PER_NUMBER_PER_HOUR": "61"}, "AUTO_REPLIES_PER_NUMBER_PER_HOUR"),
        ({"AUTO_REPLIES_PER_HOUR": "0"}, "AUTO_REPLIES_PER_HOUR"),
        ({"DATABASE_RETRY_SECONDS": "9"}, "DATABASE_RETRY_SECONDS"),  # past Twilio's 15 s
        ({"DATABASE_RETRY_SECONDS": "0"}, "DATABASE_RETRY_SECONDS"),
        ({"API_RATE_LIMIT": "lots per minute"}, "API_RATE_LIMIT"),
        ({"API_RATE_LIMIT_STORAGE_URL": "carrier-pigeon://loft"}, "API_RATE_LIMIT_STORAGE_URL"),
    ],
)
def test_a_wrong_setting_stops_start_up_naming_it(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env, str(tmp_path))


def test_flood_settings_have_safe_defaults_and_are_read(tmp_path: Path) -> None:
    """H146: the flood thresholds are settings, with defaults a small UK line can live with."""
    default = load_settings({}, str(tmp_path))
    assert (default.flood_window_minutes, default.flood_unknown_texts) == (5, 5)
    assert default.flood_unknown_calls == 5
    assert default.auto_reply_countries == ("GB",)
    assert (default.auto_replies_per_number_per_hour, default.auto_replies_per_hour) == (3, 30)
    chosen = load_settings(
        {
            "FLOOD_WINDOW_MINUTES": "10",
            "FLOOD_UNKNOWN_TEXTS": "20",
            "FLOOD_UNKNOWN_CALLS": "8",
            "AUTO_REPLY_COUNTRIES": " gb, ie ,GB",
            "AUTO_REPLIES_PER_NUMBER_PER_HOUR": "2",
            "AUTO_REPLIES_PER_HOUR": "100",
        },
        str(tmp_path),
    )
    assert chosen.flood_window_minutes == 10
    assert (chosen.flood_unknown_texts, chosen.flood_unknown_calls) == (20, 8)
    assert chosen.auto_reply_countries == ("GB", "IE")
    assert (chosen.auto_replies_per_number_per_hour, chosen.auto_replies_per_hour) == (2, 100)


def test_the_spool_lives_in_instance_unless_spool_dir_says_otherwise(tmp_path: Path) -> None:
    default = load_settings({}, str(tmp_path))
    assert default.spool_path == tmp_path / "spool"
    assert default.database_retry_seconds == 4
    moved = load_settings(
        {"SPOOL_DIR": "/var/lib/crisisline/spool", "DATABASE_RETRY_SECONDS": "8"}, str(tmp_path)
    )
    assert moved.spool_path == Path("/var/lib/crisisline/spool")
    assert moved.database_retry_seconds == 8


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


def test_dispatch_settings_default_to_eight_workers_a_4_s_timeout_and_a_24_h_horizon(
    tmp_path: Path,
) -> None:
    settings = load_settings({}, instance_path=str(tmp_path))
    assert settings.dispatch_workers == 8
    assert settings.twilio_request_timeout == 4.0
    assert settings.crisis_retry_hours == 24
    tuned = load_settings(
        {"DISPATCH_WORKERS": "16", "TWILIO_REQUEST_TIMEOUT": "2.5", "CRISIS_RETRY_HOURS": "48"},
        instance_path=str(tmp_path),
    )
    assert (tuned.dispatch_workers, tuned.twilio_request_timeout, tuned.crisis_retry_hours) == (
        16,
        2.5,
        48,
    )


def test_bad_dispatch_settings_stop_start_up_naming_each(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(
            {"DISPATCH_WORKERS": "0", "TWILIO_REQUEST_TIMEOUT": "60", "CRISIS_RETRY_HOURS": "x"},
            instance_path=str(tmp_path),
        )
    for name in ("DISPATCH_WORKERS", "TWILIO_REQUEST_TIMEOUT", "CRISIS_RETRY_HOURS"):
        assert name in str(error.value)


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


# ---- settings a live line starts with (safety review) -----------------------------------------


LIVE_ENV = {
    "TELEPHONY": "twilio",
    "SECRET_KEY": "a-long-random-secret-key-for-the-test",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
    "PUBLIC_BASE_URL": "https://crisis.example.org",
    "CRISIS_LINE_NUMBER": "+447700900000",
}


@pytest.mark.hazard("H87")
def test_a_live_line_refuses_an_http_public_base_url(tmp_path: Path) -> None:
    """TELEPHONY=twilio with PUBLIC_BASE_URL=http://...: every callback URL the service writes
    is plain http and every signature is checked against http:// while Twilio signs the https
    URL it was given, so every webhook answers 403 and every call goes to Twilio's fallback."""
    env = {**LIVE_ENV, "PUBLIC_BASE_URL": "http://crisis.example.org"}
    with pytest.raises(SettingsError, match="PUBLIC_BASE_URL"):
        load_settings(env, instance_path=str(tmp_path))


@pytest.mark.hazard("H89")
def test_a_fallback_number_that_is_the_crisis_line_itself_is_refused(tmp_path: Path) -> None:
    """When failing safe the voice fallback dials FALLBACK_NUMBER; if that is the crisis line the
    caller is put through to the same failing line again instead of to a person."""
    env = {**LIVE_ENV, "FALLBACK_NUMBER": "07700 900000"}
    with pytest.raises(SettingsError, match="FALLBACK_NUMBER"):
        load_settings(env, instance_path=str(tmp_path))
