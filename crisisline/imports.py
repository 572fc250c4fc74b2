"""CSV imports of staff and participants: every row is checked; one bad row imports nothing.

Each row is checked as the API checks a body (crisisline.record_schemas) and created through
the records, so a file is refused for what the API would refuse. `preview` runs an import and
rolls it back: it lists what would be created, or every line that stops it, and writes nothing.
The CLI (`crisisline import`) and the console's import pages both use this module.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from marshmallow import Schema, ValidationError
from sqlalchemy.orm import Session

from crisisline import participants, staff
from crisisline.errors import DomainError
from crisisline.phones import refuse_the_line
from crisisline.record_schemas import ParticipantSchema, StaffSchema, flatten_messages

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


@dataclass(frozen=True)
class ImportedRow:
    """A row that was (or, in a preview, would be) created: its line and its values as stored."""

    line: int
    record_id: int
    values: Mapping[str, str]


@dataclass
class ImportReport:
    """What an import did, or every line that stopped it."""

    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    rows: list[ImportedRow] = field(default_factory=list)


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
        region: str = "GB",
    ) -> ImportReport: ...


class ImportRejected(Exception):
    """The file had bad rows; nothing was imported. `errors` lists (line number, reason);
    `rows`, the rows that were good."""

    def __init__(
        self, errors: list[tuple[int, str]], rows: list[ImportedRow] | None = None
    ) -> None:
        super().__init__(f"{len(errors)} bad row(s); nothing imported")
        self.errors = errors
        self.rows = rows or []


def preview(
    importer: Importer,
    session: Session,
    stream: TextIO,
    *,
    actor: str,
    now: dt.datetime,
    line_number: str | None = None,
    region: str = "GB",
) -> ImportReport:
    """What `importer` would do with `stream`: the rows it would create and the errors by
    line. Nothing is written: the whole import runs in a savepoint that is rolled back."""
    savepoint = session.begin_nested()
    try:
        return importer(
            session, stream, actor=actor, now=now, line_number=line_number, region=region
        )
    except ImportRejected as rejected:
        return ImportReport(imported=0, errors=rejected.errors, rows=rejected.rows)
    finally:
        savepoint.rollback()


def import_staff(
    session: Session,
    stream: TextIO,
    *,
    actor: str,
    now: dt.datetime,
    line_number: str | None = None,
    region: str = "GB",
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

    def create(data: dict[str, Any], row: dict[str, str]) -> tuple[int, dict[str, str]]:
        refuse_the_line([data["phone"]], line_number, "phone")
        created = staff.create(session, staff.NewStaff(**data), actor=actor, now=now)
        return created.id, {
            "name": created.name,
            "phone": created.phone,
            "email": created.email or "",
            "roles": "; ".join(sorted(role.value for role in created.roles)),
            "active": "yes" if created.active else "no",
        }

    schema = StaffSchema(region=region)
    return _import(session, stream, STAFF_COLUMNS, schema, to_input, create)


def import_participants(
    session: Session,
    stream: TextIO,
    *,
    actor: str,
    now: dt.datetime,
    line_number: str | None = None,
    region: str = "GB",
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

    def create(data: dict[str, Any], row: dict[str, str]) -> tuple[int, dict[str, str]]:
        refuse_the_line(data["phones"], line_number, "phones")
        email = (row.get("responsible_officer_email") or "").strip()
        if email:
            officer = staff.find_by_email(session, email)
            if officer is None:
                raise DomainError(
                    f"no member of staff has the email {email}", "responsible_officer_email"
                )
            data["responsible_officer_id"] = officer.id
        created = participants.create(
            session, participants.NewParticipant(**data), actor=actor, now=now
        )
        return created.id, {
            "reference": created.reference,
            "name": created.name,
            "phones": "; ".join(data["phones"]),
            "responsible_officer_email": email,
            "risk_level": created.risk_level.value,
            "status": created.status.value,
        }

    schema = ParticipantSchema(region=region)
    return _import(session, stream, PARTICIPANT_COLUMNS, schema, to_input, create)


def _import(
    session: Session,
    stream: TextIO,
    columns: Iterable[str],
    schema: Schema,
    to_input: Callable[[dict[str, str]], dict[str, Any]],
    create: Callable[[dict[str, Any], dict[str, str]], tuple[int, Mapping[str, str]]],
) -> ImportReport:
    reader = csv.DictReader(stream)
    try:
        return _import_rows(session, reader, columns, schema, to_input, create)
    except csv.Error as exc:
        # A NUL byte, a field past the csv module's size limit: not a CSV file we can read.
        raise ImportRejected([(reader.line_num or 1, f"not readable as CSV: {exc}")]) from None


def _import_rows(
    session: Session,
    reader: csv.DictReader[str],
    columns: Iterable[str],
    schema: Schema,
    to_input: Callable[[dict[str, str]], dict[str, Any]],
    create: Callable[[dict[str, Any], dict[str, str]], tuple[int, Mapping[str, str]]],
) -> ImportReport:
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
            record_id, values = create(data, cleaned)
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            report.errors.append(
                (line, f"{exc.field}: {exc.message}" if exc.field else exc.message)
            )
            continue
        report.imported += 1
        report.rows.append(ImportedRow(line, record_id, values))
    if report.imported == 0 and not report.errors:
        report.errors.append((1, "the file has no rows to import"))
    if report.errors:
        raise ImportRejected(report.errors, report.rows)
    return report


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
