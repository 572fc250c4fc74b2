"""Settings: read once from the environment into one typed, immutable object."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits
import phonenumbers
from dotenv import dotenv_values
from limits import storage as rate_limit_storage

from crisisline import phones
from crisisline.mail import parse_smtp_url

TELEPHONY_CHOICES = ("console", "twilio")
DEFAULT_CRISIS_LINE_NUMBER = "+447700900000"  # Ofcom drama range: never a real line
# Where the API's rate-limit counts can be kept: the schemes the limits library reads.
RATE_LIMIT_STORAGE_SCHEMES = frozenset(
    scheme
    for kind in (
        rate_limit_storage.MemoryStorage,
        rate_limit_storage.RedisStorage,
        rate_limit_storage.RedisClusterStorage,
        rate_limit_storage.RedisSentinelStorage,
        rate_limit_storage.MemcachedStorage,
        rate_limit_storage.MongoDBStorage,
    )
    for scheme in kind.STORAGE_SCHEME
)


# How a yes-or-no setting may be written (SAR_STAFF_NAMES).
_YES = frozenset({"on", "yes", "true", "1"})
_NO = frozenset({"off", "no", "false", "0"})


class SettingsError(RuntimeError):
    """Start-up cannot go on: the message names every setting that is missing or wrong."""


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment, already checked and coerced."""

    database_url: str
    secret_key: str
    telephony: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_api_base_url: str
    crisis_line_number: str
    public_base_url: str
    timezone: str
    default_region: str
    fallback_number: str | None
    instance_path: str
    # How long before an on-call shift starts its staff are reminded (SHIFT_REMINDER_MINUTES).
    shift_reminder_minutes: int = 60
    # How long the voicemail link in a missed-call text plays the message (VOICEMAIL_LINK_HOURS).
    voicemail_link_hours: int = 72
    # How many API requests one token may make (API_RATE_LIMIT, Flask-Limiter's notation), and
    # where the counts are kept (API_RATE_LIMIT_STORAGE_URL): memory:// counts per process.
    api_rate_limit: str = "300 per minute"
    api_rate_limit_storage_url: str = "memory://"
    # Floods (crisisline.floods): more than this many texts (calls) from unknown numbers within
    # FLOOD_WINDOW_MINUTES are gathered into one escalation.
    flood_window_minutes: int = 5
    flood_unknown_texts: int = 5
    flood_unknown_calls: int = 5
    # Automatic replies to texters not on any participant's record: only to numbers of these
    # countries (AUTO_REPLY_COUNTRIES), at most so many per number and in all, per hour.
    auto_reply_countries: tuple[str, ...] = ("GB",)
    auto_replies_per_number_per_hour: int = 3
    auto_replies_per_hour: int = 30
    # Where a webhook keeps a call or text it could not record, until the scheduler records it
    # (SPOOL_DIR; empty: instance/spool). Must survive a restart of the process (crisisline.spool).
    spool_dir: str = ""
    # How long a webhook keeps trying the database when it finds its connection lost, before it
    # answers with its fail-safe and keeps the request in the spool (DATABASE_RETRY_SECONDS).
    database_retry_seconds: int = 4
    # How many sends the outbox dispatcher runs at once (DISPATCH_WORKERS).
    dispatch_workers: int = 8
    # The longest one Twilio REST request may take, connect and reply (TWILIO_REQUEST_TIMEOUT).
    twilio_request_timeout: float = 4.0
    # How long a crisis delivery is retried through a provider outage (CRISIS_RETRY_HOURS).
    crisis_retry_hours: int = 24
    # Console sign-in sessions: at most SESSION_MAX_HOURS in all, SESSION_IDLE_MINUTES idle.
    session_max_hours: int = 12
    session_idle_minutes: int = 30
    # Notes (crisisline.note_prompts): the worker who handled a contact is texted a link to its
    # note form when it ends, reminded once NOTE_REMINDER_MINUTES later if there is still no
    # note; the link works for NOTE_LINK_HOURS.
    note_reminder_minutes: int = 30
    note_link_hours: int = 12
    # The morning handover (crisisline.handover): sent every day at HANDOVER_TIME, local time.
    handover_time: dt.time = dt.time(8, 30)
    # The daily retention run (crisisline.retention): at RETENTION_TIME, local time, once a day.
    retention_time: dt.time = dt.time(2, 30)
    # Wake-ups (crisisline.wakeups): a commit that creates work starts the scheduler's job at
    # once. WAKEUPS=off leaves the scheduler polling every second (a benchmark's baseline).
    wakeups: bool = True
    # A subject access bundle names the staff who handled his contacts (SAR_STAFF_NAMES) only
    # when the service's policy says so; otherwise it gives their role alone.
    sar_staff_names: bool = False
    # Email (crisisline.email_outbox): SMTP_URL such as smtp://user:pass@host:587 (STARTTLS) or
    # smtps://user:pass@host:465 (TLS from the start); empty: no email, the handover goes as a
    # text. EMAIL_FROM is the sender's address.
    smtp_url: str = ""
    email_from: str = "crisis-line@localhost"
    # The service report's targets, in percent (crisisline.service_report): calls answered
    # within 60 s, calls abandoned after 30 s (at most), calls answered by a person on the
    # rota, texts replied to by a person within 5 minutes.
    target_answered_within_60s: float = 95.0
    target_abandoned_after_30s: float = 5.0
    target_answer_rate: float = 90.0
    target_text_replied_within_5min: float = 90.0

    @property
    def session_absolute_limit(self) -> dt.timedelta:
        """How long a console session lasts at most from its sign-in."""
        return dt.timedelta(hours=self.session_max_hours)

    @property
    def session_idle_limit(self) -> dt.timedelta:
        """How long a console session lasts without a request."""
        return dt.timedelta(minutes=self.session_idle_minutes)

    @property
    def spool_path(self) -> Path:
        """The directory of the webhook spool (SPOOL_DIR, or instance/spool)."""
        return Path(self.spool_dir) if self.spool_dir else Path(self.instance_path) / "spool"

    @property
    def zone(self) -> ZoneInfo:
        """The service's time zone, used for everything shown to people."""
        return ZoneInfo(self.timezone)


def load_settings(
    environ: Mapping[str, str] | None = None, instance_path: str | None = None
) -> Settings:
    """Settings from `environ` (default os.environ); SettingsError names each problem."""
    if environ is None:
        # A .env file in the working directory fills in what the real environment leaves unset.
        env = {k: v for k, v in dotenv_values(".env").items() if v is not None}
        env.update(os.environ)
    else:
        env = dict(environ)
    instance = Path(instance_path or env.get("INSTANCE_PATH") or Path.cwd() / "instance")
    problems: list[str] = []

    def text(name: str, default: str = "") -> str:
        return env.get(name, "").strip() or default

    telephony = text("TELEPHONY", "console").lower()
    if telephony not in TELEPHONY_CHOICES:
        problems.append(
            f"TELEPHONY must be one of {', '.join(TELEPHONY_CHOICES)}, not {telephony!r}"
        )

    timezone = text("TIMEZONE", "Europe/London")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"TIMEZONE {timezone!r} is not an IANA time zone such as Europe/London")

    region = text("DEFAULT_REGION", "GB").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(f"DEFAULT_REGION {region!r} is not a two-letter region code such as GB")
        region = "GB"

    def phone(name: str, default: str | None) -> str | None:
        raw = text(name)
        if not raw:
            return default
        try:
            return phones.normalise(raw, region)
        except phones.InvalidPhoneNumber as exc:
            problems.append(f"{name} {exc}")
            return default

    production = telephony == "twilio"
    required = ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "CRISIS_LINE_NUMBER"]
    if production:
        # A live line must not run on a throwaway key or guess where Twilio reaches it.
        missing = [name for name in [*required, "SECRET_KEY"] if not text(name)]
        if missing:
            problems.append("TELEPHONY=twilio needs " + ", ".join(missing))

    public_base_url = text("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    if not public_base_url.startswith(("http://", "https://")):
        problems.append(
            f"PUBLIC_BASE_URL must start with http:// or https://, not {public_base_url!r}"
        )

    def whole(name: str, default: int, highest: int) -> int:
        raw = text(name, str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= highest:
            problems.append(f"{name} must be a whole number from 1 to {highest}, not {raw!r}")
            return default
        return int(raw)

    raw_wakeups = text("WAKEUPS", "on").lower()
    if raw_wakeups not in _YES | _NO:
        problems.append(f"WAKEUPS must be on or off, not {raw_wakeups!r}")
    wakeups = raw_wakeups not in _NO
    shift_reminder_minutes = whole("SHIFT_REMINDER_MINUTES", 60, 1440)
    voicemail_link_hours = whole("VOICEMAIL_LINK_HOURS", 72, 720)
    session_max_hours = whole("SESSION_MAX_HOURS", 12, 24)
    session_idle_minutes = whole("SESSION_IDLE_MINUTES", 30, 720)
    flood_window_minutes = whole("FLOOD_WINDOW_MINUTES", 5, 60)
    flood_unknown_texts = whole("FLOOD_UNKNOWN_TEXTS", 5, 1000)
    flood_unknown_calls = whole("FLOOD_UNKNOWN_CALLS", 5, 1000)
    auto_replies_per_number_per_hour = whole("AUTO_REPLIES_PER_NUMBER_PER_HOUR", 3, 60)
    auto_replies_per_hour = whole("AUTO_REPLIES_PER_HOUR", 30, 10000)
    countries = tuple(
        dict.fromkeys(c.strip().upper() for c in text("AUTO_REPLY_COUNTRIES", "GB").split(","))
    )
    wrong = [c for c in countries if c not in phonenumbers.SUPPORTED_REGIONS]
    if wrong or not countries:
        problems.append(
            "AUTO_REPLY_COUNTRIES must be two-letter region codes separated by commas, such as "
            f"GB or GB,IE, not {text('AUTO_REPLY_COUNTRIES')!r}"
        )
        countries = ("GB",)
    # Twilio gives up on a webhook after 15 s; a connection attempt may take 5 s more than the
    # budget (crisisline.db.CONNECT_TIMEOUT_SECONDS), so 8 s is the most that stays inside it.
    database_retry_seconds = whole("DATABASE_RETRY_SECONDS", 4, 8)
    dispatch_workers = whole("DISPATCH_WORKERS", 8, 64)
    crisis_retry_hours = whole("CRISIS_RETRY_HOURS", 24, 72)

    def percent(name: str, default: float) -> float:
        raw = text(name, f"{default:g}")
        try:
            value = float(raw.rstrip("%"))
        except ValueError:
            value = -1.0
        if not 0 <= value <= 100:
            problems.append(f"{name} must be a percentage from 0 to 100, not {raw!r}")
            return default
        return value

    targets = {
        "target_answered_within_60s": percent("TARGET_ANSWERED_WITHIN_60S", 95),
        "target_abandoned_after_30s": percent("TARGET_ABANDONED_AFTER_30S", 5),
        "target_answer_rate": percent("TARGET_ANSWER_RATE", 90),
        "target_text_replied_within_5min": percent("TARGET_TEXT_REPLIED_WITHIN_5MIN", 90),
    }
    note_reminder_minutes = whole("NOTE_REMINDER_MINUTES", 30, 1440)
    note_link_hours = whole("NOTE_LINK_HOURS", 12, 168)
    raw_handover = text("HANDOVER_TIME", "08:30")
    try:
        handover_time = dt.time.fromisoformat(raw_handover)
    except ValueError:
        problems.append(f"HANDOVER_TIME must be a local time such as 08:30, not {raw_handover!r}")
        handover_time = dt.time(8, 30)
    raw_retention = text("RETENTION_TIME", "02:30")
    try:
        retention_time = dt.time.fromisoformat(raw_retention)
    except ValueError:
        problems.append(f"RETENTION_TIME must be a local time such as 02:30, not {raw_retention!r}")
        retention_time = dt.time(2, 30)
    raw_sar_staff_names = text("SAR_STAFF_NAMES", "off").lower()
    if raw_sar_staff_names not in _YES | _NO:
        problems.append(f"SAR_STAFF_NAMES must be on or off, not {raw_sar_staff_names!r}")
    sar_staff_names = raw_sar_staff_names in _YES
    smtp_url = text("SMTP_URL")
    if smtp_url:
        scheme, _, rest = smtp_url.partition("://")
        host = rest.rpartition("@")[2].split("/")[0]
        if scheme not in ("smtp", "smtps") or not host:
            # Only the scheme is named: the URL may carry a password.
            problems.append(
                "SMTP_URL must be smtp://user:password@host:587 (STARTTLS) or "
                f"smtps://user:password@host:465, not a URL starting {scheme!r}"
            )
            smtp_url = ""
        else:
            try:
                parse_smtp_url(smtp_url)
            except ValueError as error:
                problems.append(str(error))  # names the part that is wrong, never the URL
                smtp_url = ""
    email_from = text("EMAIL_FROM", "crisis-line@localhost")
    if "@" not in email_from or any(c.isspace() for c in email_from.strip()):
        problems.append(f"EMAIL_FROM must be an email address, not {email_from!r}")
    raw_timeout = text("TWILIO_REQUEST_TIMEOUT", "4")
    try:
        twilio_request_timeout = float(raw_timeout)
    except ValueError:
        twilio_request_timeout = -1.0
    if not 0.5 <= twilio_request_timeout <= 30:
        # Below half a second Twilio's own latency fails sends; above 30 s one hung request
        # holds a dispatch worker for longer than a crisis text should ever wait.
        problems.append(
            "TWILIO_REQUEST_TIMEOUT must be a number of seconds from 0.5 to 30, "
            f"not {raw_timeout!r}"
        )
        twilio_request_timeout = 4.0

    api_rate_limit = text("API_RATE_LIMIT", "300 per minute")
    try:
        limits.parse_many(api_rate_limit)
    except ValueError:
        problems.append(
            f"API_RATE_LIMIT must be limits such as '300 per minute' or '20/second;300/minute', "
            f"not {api_rate_limit!r}"
        )
    api_rate_limit_storage_url = text("API_RATE_LIMIT_STORAGE_URL", "memory://")
    if api_rate_limit_storage_url.partition("://")[0] not in RATE_LIMIT_STORAGE_SCHEMES:
        problems.append(
            "API_RATE_LIMIT_STORAGE_URL must be a storage URL such as memory:// or "
            f"redis://host:6379, not {api_rate_limit_storage_url!r}"
        )

    if production and public_base_url.startswith("http://"):
        host = public_base_url[len("http://") :].split("/")[0].rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            # Twilio signs the https URL it is given: checking against http:// refuses every
            # webhook, and the callback URLs the service writes would carry data unencrypted.
            problems.append("PUBLIC_BASE_URL must be https:// for a live line (TELEPHONY=twilio)")

    crisis_line_number = phone("CRISIS_LINE_NUMBER", DEFAULT_CRISIS_LINE_NUMBER)
    fallback_number = phone("FALLBACK_NUMBER", None)
    if fallback_number is not None and fallback_number == crisis_line_number:
        # Failing safe would put the caller back through to the line that is failing.
        problems.append("FALLBACK_NUMBER must be a different number from CRISIS_LINE_NUMBER")

    if problems:
        raise SettingsError("Cannot start the crisis line: " + "; ".join(problems))

    secret_key = text("SECRET_KEY") or _local_secret(instance, "secret_key")
    auth_token = text("TWILIO_AUTH_TOKEN") or _local_secret(instance, "dev_twilio_auth_token")
    return Settings(
        database_url=_database_url(text("DATABASE_URL"), instance),
        secret_key=secret_key,
        telephony=telephony,
        twilio_account_sid=text("TWILIO_ACCOUNT_SID", "AC" + "0" * 32),
        twilio_auth_token=auth_token,
        twilio_api_base_url=text("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/"),
        crisis_line_number=crisis_line_number or DEFAULT_CRISIS_LINE_NUMBER,
        public_base_url=public_base_url,
        timezone=timezone,
        default_region=region,
        fallback_number=fallback_number,
        instance_path=str(instance),
        shift_reminder_minutes=shift_reminder_minutes,
        voicemail_link_hours=voicemail_link_hours,
        session_max_hours=session_max_hours,
        session_idle_minutes=session_idle_minutes,
        api_rate_limit=api_rate_limit,
        api_rate_limit_storage_url=api_rate_limit_storage_url,
        flood_window_minutes=flood_window_minutes,
        flood_unknown_texts=flood_unknown_texts,
        flood_unknown_calls=flood_unknown_calls,
        auto_reply_countries=countries,
        auto_replies_per_number_per_hour=auto_replies_per_number_per_hour,
        auto_replies_per_hour=auto_replies_per_hour,
        spool_dir=text("SPOOL_DIR"),
        database_retry_seconds=database_retry_seconds,
        dispatch_workers=dispatch_workers,
        twilio_request_timeout=twilio_request_timeout,
        crisis_retry_hours=crisis_retry_hours,
        note_reminder_minutes=note_reminder_minutes,
        note_link_hours=note_link_hours,
        handover_time=handover_time,
        retention_time=retention_time,
        wakeups=wakeups,
        sar_staff_names=sar_staff_names,
        smtp_url=smtp_url,
        email_from=email_from,
        **targets,
    )


def _database_url(raw: str, instance: Path) -> str:
    if not raw:
        instance.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance / 'crisisline.db'}"
    # Platforms hand out postgres:// URLs; SQLAlchemy needs the driver named to use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def _local_secret(instance: Path, name: str) -> str:
    """A random secret kept in instance/ so local runs need no set-up and survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value
