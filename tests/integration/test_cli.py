"""The crisisline CLI: migrations, demo data and all-or-nothing CSV imports (tokens and accounts:
test_credentials_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, inspect, select

from crisisline.db import Base
from crisisline.models import Participant, Staff
from tests.support.app import services_of


def _count(app: Flask, model: type[Base]) -> int:
    with services_of(app).db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_db_upgrade_creates_every_table_on_an_empty_database(tmp_path: Path) -> None:
    from crisisline.app import create_app
    from crisisline.clock import FakeClock
    from tests.support.app import START, make_settings

    app = create_app(
        settings=make_settings(tmp_path, f"sqlite:///{tmp_path}/fresh.db"), clock=FakeClock(START)
    )
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    tables = set(inspect(services_of(app).db.engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    services_of(app).db.dispose()


def test_demo_seeds_once_says_so_and_uses_only_drama_numbers(
    app: Flask, runner: FlaskCliRunner
) -> None:
    first = runner.invoke(args=["demo"])
    assert "Seeded demo data: 7 staff, 3 participants and 3 rotas" in first.output
    second = runner.invoke(args=["demo"])
    assert "already present" in second.output
    assert _count(app, Staff) == 7
    assert _count(app, Participant) == 3
    from crisisline.phones import is_drama_number

    with services_of(app).db.transaction() as session:
        numbers = [s.phone for s in session.scalars(select(Staff))]
        numbers += [n for p in session.scalars(select(Participant)) for n in p.phones]
        officers = [p.responsible_officer_id for p in session.scalars(select(Participant))]
    assert numbers
    assert all(is_drama_number(n) for n in numbers)
    assert all(officer is not None for officer in officers)


def test_import_staff_from_a_good_file(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "name,phone,email,roles,active\n"
        "Amira Okafor,07700 900101,amira@example.org,on_call,true\n"
        "Priya Natarajan,+447700900103,,on_call;duty_manager,\n"
    )
    result = runner.invoke(args=["import", "staff", str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 staff" in result.output
    with services_of(app).db.transaction() as session:
        priya = session.scalars(select(Staff).where(Staff.name == "Priya Natarajan")).one()
        assert priya.phone == "+447700900103"
        assert [r.value for r in priya.roles] == ["duty_manager", "on_call"]


def test_a_bad_staff_file_reports_every_bad_line_and_imports_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "name,phone,email,roles,active\n"
        "Amira Okafor,07700 900101,amira@example.org,on_call,true\n"  # line 2: fine
        "Tom Hughes,07700 12,,on_call,\n"  # line 3: short number
        ",07700 900105,,on_call,\n"  # line 4: no name
        "Priya Natarajan,07700 900103,,night_owl,\n"  # line 5: unknown role
        "Amira Again,07700900101,,on_call,\n"  # line 6: phone taken by line 2
    )
    result = runner.invoke(args=["import", "staff", str(path)])
    assert result.exit_code == 1
    errors = result.stderr
    assert "line 3: phone: '07700 12' has too few digits" in errors
    assert "line 4: name:" in errors
    assert "line 5: roles" in errors
    assert "line 6: phone:" in errors
    assert "line 2" not in errors
    assert "Nothing imported: 4 bad row(s)." in errors
    assert _count(app, Staff) == 0


def test_import_participants_links_the_officer_by_email(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    staff_csv = tmp_path / "staff.csv"
    staff_csv.write_text(
        "name,phone,email,roles,active\nGareth Lloyd,07700900104,gareth@example.org,"
        "responsible_officer,\n"
    )
    assert runner.invoke(args=["import", "staff", str(staff_csv)]).exit_code == 0
    people = tmp_path / "participants.csv"
    people.write_text(
        "reference,name,phones,responsible_officer_email,risk_level,status\n"
        "R3001,Daniel Price,07700 900201;07700 900202,gareth@example.org,high,\n"
        "R3002,Lee Carter,07700 900203,,medium,active\n"
    )
    result = runner.invoke(args=["import", "participants", str(people)])
    assert result.exit_code == 0, result.output
    with services_of(app).db.transaction() as session:
        daniel = session.scalars(select(Participant).where(Participant.reference == "R3001")).one()
        assert daniel.phones == ["+447700900201", "+447700900202"]
        assert daniel.responsible_officer is not None
        assert daniel.responsible_officer.email == "gareth@example.org"


def test_a_bad_participants_file_reports_every_bad_line_and_imports_nothing(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    people = tmp_path / "participants.csv"
    people.write_text(
        "reference,name,phones,responsible_officer_email,risk_level,status\n"
        "R3001,Daniel Price,07700 900201,,high,\n"
        "R3002,Lee Carter,07700 900201,,medium,\n"  # number already Daniel's
        "R3001,Marcus Bell,07700 900204,,low,\n"  # reference already used
        "R3004,Sam Neil,07700 900205,nobody@example.org,low,\n"  # unknown officer
        "R3005,Joe Bloggs,,,extreme,\n"  # no phones, bad risk level
    )
    result = runner.invoke(args=["import", "participants", str(people)])
    assert result.exit_code == 1
    errors = result.stderr
    assert "line 3: phones:" in errors and "R3001" in errors
    assert "line 4: reference:" in errors
    assert "line 5: responsible_officer_email:" in errors
    assert "line 6:" in errors and "risk_level" in errors and "phones" in errors
    assert _count(app, Participant) == 0


def test_a_file_missing_columns_is_refused_before_any_row(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "staff.csv"
    path.write_text("name,telephone\nAmira Okafor,07700 900101\n")
    result = runner.invoke(args=["import", "staff", str(path)])
    assert result.exit_code == 1
    assert "line 1: missing column(s): phone, email, roles, active" in result.stderr
    assert _count(app, Staff) == 0


def test_demo_rotas_put_two_different_people_on_primary_and_backup_at_all_hours(
    app: Flask, runner: FlaskCliRunner
) -> None:
    import datetime as dt

    from crisisline import rota_service

    runner.invoke(args=["demo"])
    with services_of(app).db.transaction() as session:
        ids = {
            name: rota_service.find_by_name(session, name).id
            for name in ("primary", "backup", "duty-manager")
        }
        start = services_of(app).clock.now()
        for hour in range(0, 48, 5):
            at = start + dt.timedelta(hours=hour)
            primary = rota_service.on_call(session, ids["primary"], at).staff
            backup = rota_service.on_call(session, ids["backup"], at).staff
            manager = rota_service.on_call(session, ids["duty-manager"], at).staff
            assert len(primary) == len(backup) == len(manager) == 1
            assert primary[0].id != backup[0].id


def test_run_reads_port_and_stops_with_an_instruction_when_the_port_is_taken(app: Flask) -> None:
    import socket

    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from crisisline.cli import run_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            run_command,
            ["--no-scheduler"],
            env={"PORT": str(port)},
            obj=ScriptInfo(create_app=lambda: app),
        )
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert f"PORT={port + 50} make run" in result.output


# ---- the crisis line's own number in an import (safety review) --------------------------------


@pytest.mark.hazard("H94")
def test_a_staff_import_row_with_the_crisis_line_number_is_refused(
    app: Flask, tmp_path: Path
) -> None:
    """The API refused the line's own number as a staff phone, but `crisisline import staff`
    took it: every notification to that worker would be the line texting itself."""
    path = tmp_path / "staff.csv"
    path.write_text(
        "name,phone,email,roles,active\n"
        "Amira Okafor,07700 900101,,on_call,\n"
        "Tom Hughes,07700 900000,,on_call,\n"  # line 3: the crisis line itself
    )
    result = app.test_cli_runner().invoke(args=["import", "staff", str(path)])
    assert result.exit_code == 1
    assert "line 3: phone: this is the crisis line's own number" in result.stderr
    with services_of(app).db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Staff)) == 0


@pytest.mark.hazard("H94")
def test_a_participant_import_row_with_the_crisis_line_number_is_refused(
    app: Flask, tmp_path: Path
) -> None:
    path = tmp_path / "participants.csv"
    path.write_text(
        "reference,name,phones,responsible_officer_email,risk_level,status\n"
        "R3001,Daniel Price,07700 900201;+447700900000,,high,\n"
    )
    result = app.test_cli_runner().invoke(args=["import", "participants", str(path)])
    assert result.exit_code == 1
    assert "line 2: phones: this is the crisis line's own number" in result.stderr
