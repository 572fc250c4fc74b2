"""`crisisline rota who` and `crisisline rota show`: who is on call, in local time."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask.testing import FlaskCliRunner

from crisisline import rota_service, staffing
from crisisline import staff as staff_service
from crisisline.clock import FakeClock
from crisisline.models import StaffRole
from tests.support.app import services_of

UTC = dt.UTC


def _seed(app: Flask) -> dict[str, int]:
    services = services_of(app)
    now = services.clock.now()
    ids: dict[str, int] = {}
    with services.db.transaction() as session:
        for key, name, phone in (
            ("a", "Rhiannon Vale", "+447700900451"),
            ("b", "Kasimir Dobbs", "+447700900452"),
            ("m", "Agnieszka Fenwick", "+447700900453"),
        ):
            ids[key] = staff_service.create(
                session,
                staff_service.NewStaff(name, phone, None, [StaffRole.ON_CALL]),
                actor="tests",
                now=now,
            ).id
        ids["primary"] = rota_service.create(
            session,
            rota_service.NewRota(
                name="primary",
                timezone="Europe/London",
                members=[ids["a"], ids["b"]],
                shift_length="PT12H",
                first_handoff=dt.datetime(2026, 1, 5, 8, 0),
            ),
            actor="tests",
            now=now,
        ).id
        ids["managers"] = rota_service.create(
            session,
            rota_service.NewRota(
                name="duty manager",
                timezone="Europe/London",
                members=[ids["m"]],
                shift_length="P7D",
                first_handoff=dt.datetime(2026, 1, 5, 9, 0),
            ),
            actor="tests",
            now=now,
        ).id
    return ids


def test_rota_who_with_no_rotas_says_how_to_make_one(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["rota", "who"])
    assert result.exit_code == 0, result.output
    assert "No rotas yet" in result.output


def test_rota_who_lists_every_rota_now_in_local_time(app: Flask, runner: FlaskCliRunner) -> None:
    _seed(app)
    result = runner.invoke(args=["rota", "who"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "On call at Thu 26 Nov 2026 12:00 GMT:"
    manager = next(line for line in lines if line.startswith("duty manager"))
    assert "Agnieszka Fenwick +447700900453" in manager
    assert "Mon 23 Nov 2026 09:00 GMT to Mon 30 Nov 2026 09:00 GMT" in manager
    primary = next(line for line in lines if line.startswith("primary"))
    assert "Rhiannon Vale +447700900451" in primary
    assert "Thu 26 Nov 2026 08:00 GMT to Thu 26 Nov 2026 20:00 GMT" in primary
    assert primary.rstrip().endswith("rotation")


def test_rota_who_at_a_local_summer_time_reads_it_as_bst(
    app: Flask, runner: FlaskCliRunner
) -> None:
    _seed(app)
    result = runner.invoke(args=["rota", "who", "--at", "2026-07-01T21:00"])
    assert result.exit_code == 0, result.output
    assert "On call at Wed 01 Jul 2026 21:00 BST:" in result.output
    primary = next(line for line in result.output.splitlines() if line.startswith("primary"))
    assert "Wed 01 Jul 2026 20:00 BST to Thu 02 Jul 2026 08:00 BST" in primary


def test_rota_who_marks_a_gap_and_an_inactive_person(app: Flask, runner: FlaskCliRunner) -> None:
    ids = _seed(app)
    services = services_of(app)
    now = services.clock.now()
    with services.db.transaction() as session:
        staffing.add_override(
            session,
            ids["primary"],
            rota_service.NewOverride(None, now, now + dt.timedelta(hours=1), "replace", "sick"),
            actor="tests",
            now=now,
        )
        staffing.deactivate_staff(session, ids["m"], actor="tests", now=now)
    output = runner.invoke(args=["rota", "who"]).output
    assert "NOBODY (gap)" in next(
        line for line in output.splitlines() if line.startswith("primary")
    )
    assert "(INACTIVE)" in next(line for line in output.splitlines() if line.startswith("duty"))


def test_rota_show_prints_the_next_shifts_across_the_spring_change(
    app: Flask, runner: FlaskCliRunner, clock: FakeClock
) -> None:
    _seed(app)
    clock.set(dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    result = runner.invoke(args=["rota", "show", "primary", "--days", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Rota primary: PT12H shifts, Europe/London, next 2 day(s)"
    assert lines[1].split() == ["From", "To", "On", "call", "Source"]
    rows = [line.split("  ") for line in lines[3:]]
    starts = [row[0] for row in rows]
    assert starts == [
        "Sat 28 Mar 2026 12:00 GMT",  # the window starts now, part-way through a shift
        "Sat 28 Mar 2026 20:00 GMT",
        "Sun 29 Mar 2026 08:00 BST",  # an 11-hour night: the clocks went forward
        "Sun 29 Mar 2026 20:00 BST",
        "Mon 30 Mar 2026 08:00 BST",
    ]
    assert "Kasimir Dobbs" in lines[4]


def test_rota_show_of_an_unknown_rota_fails_and_says_so(app: Flask, runner: FlaskCliRunner) -> None:
    _seed(app)
    result = runner.invoke(args=["rota", "show", "tertiary"])
    assert result.exit_code == 1
    assert "no rota called 'tertiary'" in result.output
    assert runner.invoke(args=["rota", "show", "PRIMARY"]).exit_code == 0
    bad = runner.invoke(args=["rota", "who", "--at", "teatime"])
    assert bad.exit_code == 2
    assert "--at" in bad.output


def test_rota_who_refuses_a_local_time_the_clocks_skip_or_repeat_as_the_api_does(
    app: Flask, runner: FlaskCliRunner
) -> None:
    _seed(app)
    skipped = runner.invoke(args=["rota", "who", "--at", "2026-03-29T01:30"])
    assert skipped.exit_code == 2
    assert "2026-03-29T01:30:00 never happens in Europe/London" in skipped.output
    repeated = runner.invoke(args=["rota", "who", "--at", "2026-10-25T01:30"])
    assert repeated.exit_code == 2
    assert "2026-10-25T01:30:00+01:00 or 2026-10-25T01:30:00+00:00" in repeated.output
    with_offset = runner.invoke(args=["rota", "who", "--at", "2026-10-25T01:30+00:00"])
    assert with_offset.exit_code == 0, with_offset.output
    assert "On call at Sun 25 Oct 2026 01:30 GMT:" in with_offset.output
