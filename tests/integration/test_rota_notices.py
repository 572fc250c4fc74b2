"""Notices about the rota: reminders before a shift, changed shifts, gap warnings; each once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from crisisline import rota_service, staff, staffing
from crisisline.clock import FakeClock
from crisisline.jobs import Jobs
from crisisline.models import Delivery, StaffRole
from crisisline.services import Services
from crisisline.settings import SettingsError, load_settings
from tests.support.app import services_of

AMIRA, TOM, OWEN, PRIYA = "+447700900141", "+447700900142", "+447700900143", "+447700900144"
# 2026-11-27 is a Friday; London is on GMT, so local and UTC agree.
HANDOFF = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


@dataclass
class Team:
    svc: Services
    clock: FakeClock
    ids: dict[str, int]
    rota_id: int

    def texts(self) -> list[tuple[str, str]]:
        with self.svc.db.transaction() as session:
            rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
            return [(d.to_number, d.body) for d in rows]

    def override(self, staff_id: int | None, start: dt.datetime, hours: int) -> int:
        with self.svc.db.transaction() as session:
            row = staffing.add_override(
                session,
                self.rota_id,
                rota_service.NewOverride(
                    staff_id=staff_id,
                    start=start,
                    end=start + dt.timedelta(hours=hours),
                    mode="replace",
                    reason="cover",
                ),
                actor="token:rota-admin",
                now=self.clock.now(),
            )
            return row.id


@pytest.fixture
def team(app: Flask, clock: FakeClock) -> Team:
    """Amira and Tom take daily turns from 09:00 (Tom from 27 November); Priya manages."""
    svc = services_of(app)
    now = clock.now()
    ids: dict[str, int] = {}
    with svc.db.transaction() as session:
        for name, phone, role in (
            ("Amira Okafor", AMIRA, StaffRole.ON_CALL),
            ("Tom Hughes", TOM, StaffRole.ON_CALL),
            ("Owen Marsh", OWEN, StaffRole.ON_CALL),
            ("Priya Natarajan", PRIYA, StaffRole.DUTY_MANAGER),
        ):
            ids[phone] = staff.create(
                session, staff.NewStaff(name, phone, None, [role]), actor="t", now=now
            ).id
        rota = rota_service.create(
            session,
            rota_service.NewRota(
                name="primary",
                timezone="Europe/London",
                members=[ids[AMIRA], ids[TOM]],
                shift_length="P1D",
                first_handoff=dt.datetime(2026, 11, 26, 9, 0),
            ),
            actor="t",
            now=now,
        )
    return Team(svc, clock, ids, rota.id)


def test_a_reminder_goes_an_hour_before_the_shift_starts_and_only_once(team: Team) -> None:
    team.clock.set(HANDOFF - dt.timedelta(minutes=61))
    assert Jobs(team.svc).send_rota_notices() == 0
    team.clock.set(HANDOFF - dt.timedelta(minutes=59))
    assert Jobs(team.svc).send_rota_notices() == 1
    assert team.texts() == [
        (TOM, "Resettle crisis line: reminder, you are on call for primary from 09:00 Fri 27 Nov.")
    ]
    team.clock.set(HANDOFF - dt.timedelta(minutes=30))
    assert Jobs(team.svc).send_rota_notices() == 0
    assert len(team.texts()) == 1


def test_the_reminder_lead_time_is_a_setting(app: Flask, team: Team) -> None:
    assert team.svc.settings.shift_reminder_minutes == 60
    svc = services_of(app)
    svc.settings = dataclasses.replace(svc.settings, shift_reminder_minutes=180)
    team.clock.set(HANDOFF - dt.timedelta(hours=2, minutes=59))
    assert Jobs(svc).send_rota_notices() == 1


def test_an_override_tells_whoever_it_moves_in_the_future(team: Team) -> None:
    tomorrow_evening = HANDOFF + dt.timedelta(hours=9)  # Fri 18:00, Tom's turn
    override_id = team.override(team.ids[OWEN], tomorrow_evening, 6)
    assert team.texts() == []  # recorded in the change's transaction, sent by the scheduler
    assert Jobs(team.svc).send_pending_notices() == 2
    assert sorted(team.texts()) == [
        (
            TOM,
            "Resettle crisis line: rota primary changed: you are no longer on call "
            "18:00 Fri 27 Nov to 00:00 Sat 28 Nov.",
        ),
        (
            OWEN,
            "Resettle crisis line: rota primary changed: you are now on call "
            "18:00 Fri 27 Nov to 00:00 Sat 28 Nov.",
        ),
    ]
    assert Jobs(team.svc).send_pending_notices() == 0

    with team.svc.db.transaction() as session:
        staffing.delete_override(
            session, team.rota_id, override_id, actor="t", now=team.clock.now()
        )
    assert Jobs(team.svc).send_pending_notices() == 2
    assert "you are now on call 18:00 Fri 27 Nov" in dict(team.texts()[-2:])[TOM]
    assert "no longer on call" in dict(team.texts()[-2:])[OWEN]


def test_an_override_wholly_in_the_past_tells_nobody(team: Team) -> None:
    team.override(team.ids[OWEN], team.clock.now() - dt.timedelta(hours=10), 6)
    assert Jobs(team.svc).send_pending_notices() == 0


def test_a_change_that_opens_a_gap_within_48_hours_warns_the_duty_manager_at_once(
    team: Team,
) -> None:
    team.override(None, HANDOFF, 12)
    Jobs(team.svc).send_pending_notices()
    urgent = [body for to, body in team.texts() if to == PRIYA]
    assert urgent == [
        "URGENT Resettle crisis line: nobody is on call for primary 09:00 Fri 27 Nov to "
        "21:00 Fri 27 Nov after a change by token:rota-admin. Please fill the gap."
    ]


def test_a_gap_beyond_48_hours_waits_for_the_daily_warning(team: Team) -> None:
    team.override(None, HANDOFF + dt.timedelta(days=5), 12)
    Jobs(team.svc).send_pending_notices()
    assert [body for to, body in team.texts() if to == PRIYA] == []

    team.clock.set(dt.datetime(2026, 11, 27, 7, 59, tzinfo=dt.UTC))
    Jobs(team.svc).send_rota_notices()
    assert [body for to, body in team.texts() if to == PRIYA] == []  # not before 08:00
    team.clock.set(dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC))
    Jobs(team.svc).send_rota_notices()
    daily = [body for to, body in team.texts() if to == PRIYA]
    assert daily == [
        "Resettle crisis line: 1 gap in the on-call rota in the next 14 days. First: primary "
        "09:00 Wed 2 Dec to 21:00 Wed 2 Dec. Please fill it."  # one gap: "it", not "them"
    ]
    team.clock.set(dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC))
    Jobs(team.svc).send_rota_notices()
    assert len([body for to, body in team.texts() if to == PRIYA]) == 1  # once a day


def test_no_gaps_means_no_daily_message(team: Team) -> None:
    team.clock.set(dt.datetime(2026, 11, 27, 8, 30, tzinfo=dt.UTC))
    Jobs(team.svc).send_rota_notices()
    assert [body for to, body in team.texts() if to == PRIYA] == []


def test_the_scheduler_runs_the_notice_jobs(team: Team) -> None:
    names = {job.name for job in Jobs(team.svc).scheduler_jobs("test")}
    assert {"rota-notices", "pending-notices", "sweep-escalations", "leadership"} <= names


def test_a_reminder_lead_time_that_is_not_whole_minutes_stops_start_up(tmp_path: Path) -> None:
    instance = str(tmp_path / "instance")
    with pytest.raises(SettingsError, match="SHIFT_REMINDER_MINUTES"):
        load_settings({"SHIFT_REMINDER_MINUTES": "an hour"}, instance_path=instance)
    settings = load_settings({"SHIFT_REMINDER_MINUTES": "90"}, instance_path=instance)
    assert settings.shift_reminder_minutes == 90


def test_deactivating_someone_on_a_rota_warns_the_duty_manager_of_the_gap_at_once(
    team: Team,
) -> None:
    with team.svc.db.transaction() as session:
        staffing.deactivate_staff(session, team.ids[TOM], actor="token:hr", now=team.clock.now())
    Jobs(team.svc).send_pending_notices()
    urgent = [body for to, body in team.texts() if to == PRIYA]
    # Tom's daily turn from 09:00 on 27 November is now nobody's.
    assert urgent == [
        "URGENT Resettle crisis line: nobody is on call for primary 09:00 Fri 27 Nov to "
        "09:00 Sat 28 Nov after Tom Hughes was deactivated. Please fill the gap."
    ]


def test_deactivating_someone_on_no_rota_warns_nobody(team: Team) -> None:
    with team.svc.db.transaction() as session:
        staffing.deactivate_staff(session, team.ids[OWEN], actor="token:hr", now=team.clock.now())
    Jobs(team.svc).send_pending_notices()
    assert [body for to, body in team.texts() if to == PRIYA] == []


def test_editing_a_rotas_members_tells_whoever_it_moves(team: Team) -> None:
    with team.svc.db.transaction() as session:
        staffing.update_rota(
            session,
            team.rota_id,
            {"members": [team.ids[AMIRA]]},
            actor="token:rota-admin",
            now=team.clock.now(),
        )
    Jobs(team.svc).send_pending_notices()
    to_tom = [body for to, body in team.texts() if to == TOM]
    to_amira = [body for to, body in team.texts() if to == AMIRA]
    assert len(to_tom) == 1 and "you are no longer on call 09:00 Fri 27 Nov" in to_tom[0]
    assert len(to_amira) == 1 and "you are now on call 09:00 Fri 27 Nov" in to_amira[0]


def test_a_rota_the_policies_name_cannot_be_renamed(team: Team) -> None:
    from crisisline.errors import Conflict

    with team.svc.db.transaction() as session, pytest.raises(Conflict, match="escalation policy"):
        staffing.update_rota(
            session, team.rota_id, {"name": "first-line"}, actor="t", now=team.clock.now()
        )


def test_times_in_the_repeated_hour_of_the_october_change_say_bst_or_gmt() -> None:
    from zoneinfo import ZoneInfo

    from crisisline.rota_notices import when_text

    london = ZoneInfo("Europe/London")
    first = dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)  # 01:30 BST
    second = dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC)  # 01:30 GMT, an hour later
    assert when_text(first, london) == "01:30 BST Sun 25 Oct"
    assert when_text(second, london) == "01:30 GMT Sun 25 Oct"
    assert when_text(dt.datetime(2026, 10, 25, 9, 0, tzinfo=dt.UTC), london) == "09:00 Sun 25 Oct"


@pytest.mark.hazard("H62")
def test_patching_active_false_warns_of_the_gap_like_deactivate_does(
    team: Team, client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.patch(f"/api/v1/staff/{team.ids[TOM]}", json={"active": False}, headers=auth)
    assert response.status_code == 200 and response.get_json()["active"] is False
    Jobs(team.svc).send_pending_notices()
    urgent = [body for to, body in team.texts() if to == PRIYA and body.startswith("URGENT")]
    # POST /deactivate warns at once (H37, H52); the same change made by PATCH must too.
    assert urgent, "PATCH active=false bypassed deactivate(): no gap warning, codes left live"
