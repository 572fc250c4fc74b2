"""CSV imports of staff and participants: every row is checked; one bad row imports nothing."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session

from crisisline import participants, staff
from crisisline.api.common import flatten_messages
from crisisline.api.schemas import ParticipantSchema, StaffSchema
from crisisline.errors import DomainError
from crisisline.phones import refuse_the_line

STAFF_COLUMNS = ("name", "phone", "email", "roles", "active")
PARTICIPANT_COLUMNS = (
    "reference",
    "name",
    "phones",
    "responsible_officer_email",
    "risk_level",
    "status",
)
MAX_ROWS = 10_000


@dataclass
class ImportReport:
    """What an import did, or every line that stopped it."""

    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


class Importer(Protocol):
    """The shape of import_staff and import_participants."""

    def __call__(
        self,
        session: Session,
        stream: TextIO,
        *,
        actor: str,
        now: dt.datetime,
        line_number: str | None = None,
    ) -> ImportReport: ...


class ImportRejected(Exception):
    """The file had bad rows; nothing was imported. `errors` lists (line number, reason)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing imported")
        self.errors = errors


def import_staff(
    session: Session,
    stream: TextIO,
    *,
    actor: str,
    now: dt.datetime,
    line_number: str | None = None,
) -> ImportReport:
    """Import staff rows (name, phone, email, roles separated by ';', active) all or nothing.

    A row whose phone is `line_number` (the crisis line's own number) is refused.
    """

    def to_input(row: dict[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = {"name": row["name"], "phone": row["phone"]}
        data["email"] = row.get("email") or None
        data["roles"] = _split(row.get("roles", ""))
        if (row.get("active") or "").strip():
            data["active"] = row["active"].strip()
        return data

    def create(data: dict[str, Any], row: dict[str, str]) -> None:
        refuse_the_line([data["phone"]], line_number, "phone")
        staff.create(session, staff.NewStaff(**data), actor=actor, now=now)

    return _import(session, stream, STAFF_COLUMNS, StaffSchema(), to_input, create)


def import_participants(
    session: Session,
    stream: TextIO,
    *,
    actor: str,
    now: dt.datetime,
    line_number: str | None = None,
) -> ImportReport:
    """Import participants (phones separated by ';', officer by email) all or nothing.

    A row with `line_number` (the crisis line's own number) among its phones is refused.
    """

    def to_input(row: dict[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reference": row["reference"],
            "name": row["name"],
            "phones": _split(row.get("phones", "")),
            "risk_level": (row.get("risk_level") or "").strip(),
        }
        if (row.get("status") or "").strip():
            data["status"] = row["status"].strip()
        return data

    def create(data: dict[str, Any], row: dict[str, str]) -> None:
        refuse_the_line(data["phones"], line_number, "phones")
        email = (row.get("responsible_officer_email") or "").strip()
        if email:
            officer = staff.find_by_email(session, email)
            if officer is None:
                raise DomainError(
                    f"no member of staff has the email {email}", "responsible_officer_email"
                )
            data["responsible_officer_id"] = officer.id
        participants.create(session, participants.NewParticipant(**data), actor=actor, now=now)

    return _import(session, stream, PARTICIPANT_COLUMNS, ParticipantSchema(), to_input, create)


def _import(
    session: Session,
    stream: TextIO,
    columns: Iterable[str],
    schema: Schema,
    to_input: Callable[[dict[str, str]], dict[str, Any]],
    create: Callable[[dict[str, Any], dict[str, str]], None],
) -> ImportReport:
    reader = csv.DictReader(stream)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in columns if name not in header]
    if missing:
        raise ImportRejected([(1, "missing column(s): " + ", ".join(missing))])
    reader.fieldnames = header
    report = ImportReport()
    for row in reader:
        line = reader.line_num
        if len(report.errors) + report.imported >= MAX_ROWS:
            report.errors.append((line, f"more than {MAX_ROWS} rows; split the file"))
            break
        cleaned = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(cleaned.values()):
            continue
        try:
            data = schema.load(to_input(cleaned))
        except ValidationError as exc:
            reason = "; ".join(f"{k}: {v}" for k, v in flatten_messages(exc.messages))
            report.errors.append((line, reason))
            continue
        # A savepoint per row lets the import go on to report later rows after one fails.
        savepoint = session.begin_nested()
        try:
            create(data, cleaned)
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            report.errors.append(
                (line, f"{exc.field}: {exc.message}" if exc.field else exc.message)
            )
            continue
        report.imported += 1
    if report.imported == 0 and not report.errors:
        report.errors.append((1, "the file has no rows to import"))
    if report.errors:
        raise ImportRejected(report.errors)
    return report


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
