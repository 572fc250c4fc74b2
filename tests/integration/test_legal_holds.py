"""Legal holds on a participant: placed and lifted with a reason by the clinical lead or the
administrator (console, API, CLI), refused to everyone else, audited and logged as a change of
his record; everyone who may read him sees whether one is in place and since when."""

from __future__ import annotations

import datetime as dt
import html as html_text
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from crisisline import legal_holds, participants
from crisisline.clock import FakeClock
from crisisline.data_protection_models import LegalHold
from crisisline.errors import Conflict, InvalidInput, NotFound
from crisisline.models import AuditEntry, RecordAccess, RiskLevel, StaffRole
from tests.support.app import json_of, services_of
from tests.support.console import Browser, Person, enrolled
from tests.support.tokens import bearer, issue_token

REASON = "Records requested by the coroner for an inquest"
ACCESS_REASON = "Clinical review of his record"
ROLES = {
    "clinical_lead": ([StaffRole.CLINICAL_LEAD], "+447700900131"),
    "admin": ([StaffRole.ADMIN], "+447700900132"),
    "duty_manager": ([StaffRole.DUTY_MANAGER], "+447700900133"),
    "on_call": ([StaffRole.ON_CALL], "+447700900134"),
    "responsible_officer": ([StaffRole.RESPONSIBLE_OFFICER], "+447700900135"),
}
MAY_HOLD = ("clinical_lead", "admin")
MAY_NOT_HOLD = ("duty_manager", "on_call", "responsible_officer")


def _add(app: Flask, clock: FakeClock, reference: str = "R3001", officer: int | None = None) -> int:
    with services_of(app).db.transaction() as session:
        return participants.create(
            session,
            participants.NewParticipant(
                reference, "Lewis Harker", ["+447700900611"], officer, RiskLevel.HIGH
            ),
            actor="test",
            now=clock.now(),
        ).id


def _person(app: Flask, clock: FakeClock, role: str) -> Person:
    roles, phone = ROLES[role]
    return enrolled(app, f"Staff {role}", phone, roles, now=clock.now())


def _holds(app: Flask, pid: int) -> list[LegalHold]:
    with services_of(app).db.transaction() as session:
        return legal_holds.history(session, pid)


def _text(page: object) -> str:
    return html_text.unescape(page.get_data(as_text=True))  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# The records


@pytest.mark.hazard("H291")
def test_a_hold_is_placed_once_lifted_with_a_reason_and_kept_with_both(
    app: Flask, clock: FakeClock
) -> None:
    pid = _add(app, clock)
    svc = services_of(app)
    with svc.db.transaction() as session:
        placed = legal_holds.place(session, pid, f"  {REASON} ", actor="staff:7", now=clock.now())
        assert placed.reason == REASON
    with svc.db.transaction() as session, pytest.raises(Conflict) as second:
        legal_holds.place(session, pid, "Another one", actor="staff:7", now=clock.now())
    assert second.value.field == "legal_hold"
    clock.advance(dt.timedelta(days=30))
    with svc.db.transaction() as session:
        current = legal_holds.current(session, pid)
        assert current is not None and current.set_at == dt.datetime(
            2026, 11, 26, 12, tzinfo=dt.UTC
        )
        legal_holds.lift(session, pid, "Inquest concluded", actor="staff:8", now=clock.now())
        assert legal_holds.current(session, pid) is None
    with svc.db.transaction() as session, pytest.raises(Conflict):
        legal_holds.lift(session, pid, "Nothing to lift", actor="staff:8", now=clock.now())
    (kept,) = _holds(app, pid)
    assert (kept.set_by, kept.reason, kept.lifted_by, kept.lift_reason) == (
        "staff:7",
        REASON,
        "staff:8",
        "Inquest concluded",
    )
    with svc.db.transaction() as session:
        audited = session.execute(
            select(AuditEntry.action, AuditEntry.actor)
            .where(AuditEntry.action.like("legal_hold%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(row) for row in audited] == [
        ("legal_hold_set", "staff:7"),
        ("legal_hold_lifted", "staff:8"),
    ]


@pytest.mark.hazard("H291")
@pytest.mark.parametrize("reason", ["", "  ", "ab", "x" * 501, "bad\x07bell"])
def test_a_hold_without_a_proper_reason_is_refused_naming_the_reason(
    app: Flask, clock: FakeClock, reason: str
) -> None:
    pid = _add(app, clock)
    with services_of(app).db.transaction() as session, pytest.raises(InvalidInput) as refused:
        legal_holds.place(session, pid, reason, actor="staff:7", now=clock.now())
    assert refused.value.field == "reason"
    assert _holds(app, pid) == []


def test_a_hold_on_nobody_is_not_found(app: Flask, clock: FakeClock) -> None:
    with services_of(app).db.transaction() as session, pytest.raises(NotFound):
        legal_holds.place(session, 99999, REASON, actor="staff:7", now=clock.now())


# ---------------------------------------------------------------------------------------------
# The API


def _token(app: Flask, clock: FakeClock, role: str) -> dict[str, str]:
    person = _person(app, clock, role)
    return {
        **bearer(issue_token(app, f"{role} token", staff_id=person.staff_id)),
        "X-Access-Reason": ACCESS_REASON,
    }


@pytest.mark.hazard("H290")
@pytest.mark.hazard("H291")
@pytest.mark.parametrize("role", MAY_HOLD)
def test_the_api_places_and_lifts_a_hold_and_the_participant_shows_it(
    app: Flask, client: FlaskClient, clock: FakeClock, role: str
) -> None:
    pid = _add(app, clock)
    headers = _token(app, clock, role)
    assert json_of(client.get(f"/api/v1/participants/{pid}", headers=headers))["legal_hold"] is None
    placed = client.post(
        f"/api/v1/participants/{pid}/legal-hold", json={"reason": REASON}, headers=headers
    )
    assert placed.status_code == 201, placed.json
    body = json_of(placed)
    assert (body["reason"], body["participant_id"], body["lifted_at"]) == (REASON, pid, None)
    shown = json_of(client.get(f"/api/v1/participants/{pid}", headers=headers))
    assert shown["legal_hold"]["reason"] == REASON
    assert shown["legal_hold"]["set_at"].startswith("2026-11-26T12:00:00")
    assert shown["legal_hold"]["set_by"].startswith("staff:")
    listed = client.get("/api/v1/participants?reference=R3001", headers=headers).json
    assert listed is not None and listed[0]["legal_hold"]["reason"] == REASON
    again = client.post(
        f"/api/v1/participants/{pid}/legal-hold", json={"reason": REASON}, headers=headers
    )
    assert again.status_code == 409
    assert "already" in json_of(again)["message"] or "in place" in json_of(again)["message"]
    lifted = client.post(
        f"/api/v1/participants/{pid}/legal-hold/lift",
        json={"reason": "Inquest concluded"},
        headers=headers,
    )
    assert lifted.status_code == 200
    assert json_of(lifted)["lift_reason"] == "Inquest concluded"
    assert json_of(client.get(f"/api/v1/participants/{pid}", headers=headers))["legal_hold"] is None
    nothing = client.post(
        f"/api/v1/participants/{pid}/legal-hold/lift", json={"reason": "Again"}, headers=headers
    )
    assert nothing.status_code == 409
    with services_of(app).db.transaction() as session:
        changes = session.scalars(
            select(RecordAccess.reason).where(
                RecordAccess.participant_id == pid, RecordAccess.action == "change"
            )
        ).all()
    assert changes == [ACCESS_REASON, ACCESS_REASON]  # placed and lifted, each logged


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "reason"), ({"reason": "ab"}, "reason"), ({"reason": "x" * 501}, "reason")],
)
def test_the_api_refuses_a_hold_without_a_proper_reason_naming_the_field(
    app: Flask, client: FlaskClient, clock: FakeClock, body: dict[str, str], field: str
) -> None:
    pid = _add(app, clock)
    headers = _token(app, clock, "clinical_lead")
    refused = client.post(f"/api/v1/participants/{pid}/legal-hold", json=body, headers=headers)
    assert refused.status_code == 422
    assert field in json_of(refused)["errors"]["json"]
    assert _holds(app, pid) == []


@pytest.mark.hazard("H292")
@pytest.mark.parametrize("role", MAY_NOT_HOLD)
def test_the_api_refuses_holds_to_every_other_role(
    app: Flask, client: FlaskClient, clock: FakeClock, role: str
) -> None:
    pid = _add(app, clock)
    with services_of(app).db.transaction() as session:
        legal_holds.place(session, pid, REASON, actor="staff:1", now=clock.now())
    headers = _token(app, clock, role)
    for path in (
        f"/api/v1/participants/{pid}/legal-hold",
        f"/api/v1/participants/{pid}/legal-hold/lift",
    ):
        answer = client.post(path, json={"reason": "Trying it"}, headers=headers)
        assert answer.status_code == 403, (path, answer.json)
    (hold,) = _holds(app, pid)
    assert hold.lifted_at is None


@pytest.mark.hazard("H292")
def test_an_integration_without_the_scope_is_refused_and_with_it_acts_as_itself(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    pid = _add(app, clock)
    reader = bearer(issue_token(app, "reader", scopes=["participants:read"]))
    refused = client.post(
        f"/api/v1/participants/{pid}/legal-hold", json={"reason": REASON}, headers=reader
    )
    assert refused.status_code == 403
    holder = bearer(issue_token(app, "records", scopes=["legal-holds:write"]))
    placed = client.post(
        f"/api/v1/participants/{pid}/legal-hold", json={"reason": REASON}, headers=holder
    )
    assert placed.status_code == 201
    assert json_of(placed)["set_by"] == "integration:records"


# ---------------------------------------------------------------------------------------------
# The console


def _signed_in(app: Flask, clock: FakeClock, who: Person, pid: int) -> Browser:
    browser = Browser(app)
    browser.sign_in(who, clock)
    return _opened(browser, pid)


def _opened(browser: Browser, pid: int) -> Browser:
    asked = browser.get(f"/participants/{pid}")
    if asked.status_code == 403:  # outside his own: the break-glass reason first
        given = browser.post(
            "/reason",
            {
                "participant_id": str(pid),
                "reason_choice": "other",
                "reason": ACCESS_REASON,
                "next": f"/participants/{pid}",
            },
        )
        assert given.status_code == 303, _text(given)
    return browser


def _hold_section(page: str) -> str:
    found = re.search(r'<section aria-labelledby="legal-hold-heading".*?</section>', page, re.S)
    assert found, page
    return found.group(0)


def _words(html: str) -> str:
    """The text of `html` without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" ,", ",")


@pytest.mark.hazard("H290")
@pytest.mark.hazard("H291")
@pytest.mark.parametrize("role", MAY_HOLD)
def test_the_clinical_lead_and_administrator_place_and_lift_a_hold_from_his_page(
    app: Flask, clock: FakeClock, role: str
) -> None:
    pid = _add(app, clock)
    browser = _signed_in(app, clock, _person(app, clock, role), pid)
    section = _hold_section(_text(browser.get(f"/participants/{pid}")))
    assert "No legal hold is in place" in section and "Place a legal hold" in section
    short = browser.post(f"/participants/{pid}/legal-hold", {"reason": "no"})
    assert short.status_code == 422
    assert "at least 3 characters" in _text(short)
    assert _holds(app, pid) == []
    placed = browser.post(f"/participants/{pid}/legal-hold", {"reason": REASON})
    assert placed.status_code == 303
    section = _hold_section(_text(browser.get(f"/participants/{pid}")))
    assert "A legal hold has been in place since Thursday 26 November 2026, 12:00" in _words(
        section
    )
    assert REASON in section and "Lift the legal hold" in section
    twice = browser.post(f"/participants/{pid}/legal-hold", {"reason": REASON})
    assert twice.status_code == 409
    clock.advance(dt.timedelta(minutes=5))
    lifted = browser.post(f"/participants/{pid}/legal-hold/lift", {"reason": "Inquest over"})
    assert lifted.status_code == 303
    section = _hold_section(_text(browser.get(f"/participants/{pid}")))
    assert "No legal hold is in place" in section
    assert "Earlier holds" in section and "Inquest over" in section
    with services_of(app).db.transaction() as session:
        logged = session.scalars(
            select(RecordAccess.action).where(
                RecordAccess.participant_id == pid, RecordAccess.action == "change"
            )
        ).all()
    assert logged == ["change", "change"]


@pytest.mark.hazard("H290")
@pytest.mark.hazard("H292")
@pytest.mark.parametrize("role", MAY_NOT_HOLD)
def test_others_who_read_him_see_only_whether_a_hold_is_in_place_and_cannot_change_it(
    app: Flask, clock: FakeClock, role: str
) -> None:
    who = _person(app, clock, role)
    pid = _add(app, clock, officer=who.staff_id if role == "responsible_officer" else None)
    with services_of(app).db.transaction() as session:
        legal_holds.place(session, pid, REASON, actor="staff:1", now=clock.now())
    browser = Browser(app)
    browser.sign_in(who, clock)
    if role == "on_call":
        # He reads only the men whose contacts he handled: this one is not shown to him at all.
        assert browser.get(f"/participants/{pid}").status_code == 404
    else:
        _opened(browser, pid)
        section = _hold_section(_text(browser.get(f"/participants/{pid}")))
        assert "A legal hold has been in place since Thursday 26 November 2026, 12:00" in _words(
            section
        )
        assert REASON not in section and "<form" not in section
    for path in (f"/participants/{pid}/legal-hold", f"/participants/{pid}/legal-hold/lift"):
        assert browser.post(path, {"reason": "Trying it"}).status_code == 403
    (hold,) = _holds(app, pid)
    assert hold.lifted_at is None


# ---------------------------------------------------------------------------------------------
# The command line


@pytest.mark.hazard("H291")
def test_the_cli_sets_lists_and_lifts_holds_and_logs_each_as_cli(
    app: Flask, runner: FlaskCliRunner, clock: FakeClock
) -> None:
    pid = _add(app, clock)
    assert runner.invoke(args=["legal-hold", "list"]).output == "No legal holds are in place.\n"
    placed = runner.invoke(args=["legal-hold", "set", "R3001", "--reason", REASON])
    assert placed.exit_code == 0, placed.output
    assert "A legal hold is in place on R3001" in placed.output
    twice = runner.invoke(args=["legal-hold", "set", "R3001", "--reason", REASON])
    assert twice.exit_code == 1 and "lift it before placing another" in twice.output
    listed = runner.invoke(args=["legal-hold", "list"])
    assert listed.output.startswith("R3001\tsince 2026-11-26 12:00 UTC\tby cli\t" + REASON)
    lifted = runner.invoke(args=["legal-hold", "lift", "R3001", "--reason", "Inquest over"])
    assert lifted.exit_code == 0 and "is lifted" in lifted.output
    (hold,) = _holds(app, pid)
    assert (hold.set_by, hold.lifted_by, hold.lift_reason) == ("cli", "cli", "Inquest over")
    with services_of(app).db.transaction() as session:
        logged = session.execute(
            select(RecordAccess.actor, RecordAccess.action, RecordAccess.record_type)
            .where(RecordAccess.participant_id == pid)
            .order_by(RecordAccess.id)
        ).all()
    assert [tuple(row) for row in logged] == [
        ("cli", "change", "participant"),
        ("cli", "read", "legal_hold"),
        ("cli", "change", "participant"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "R9999", "--reason", REASON], "There is no participant with reference R9999"),
        (["set", "R3001", "--reason", "no"], "reason: Say why, in at least 3 characters."),
        (["lift", "R3001", "--reason", "Nothing held"], "There is no legal hold in place"),
    ],
)
def test_the_cli_refuses_clearly_and_changes_nothing(
    app: Flask, runner: FlaskCliRunner, clock: FakeClock, args: list[str], message: str
) -> None:
    pid = _add(app, clock)
    answer = runner.invoke(args=["legal-hold", *args])
    assert answer.exit_code == 1
    assert message in answer.output
    assert _holds(app, pid) == []
