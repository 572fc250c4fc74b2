"""The Now board (`/`) and its live fragment (`/now/board`) for each role: an on-call worker sees
the escalations asking him (and takes one from the board), a responsible officer his caseload's
alerts and escalations, a duty manager everything with the scheduler's health, an administrator
no contact content. Gaps ahead are flagged, live calls say whom they ring and for how long,
texts waiting are counted (never shown), and the participants shown are logged."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from crisisline import escalation_engine as engine
from crisisline import escalation_policies, participants, rota_service
from crisisline.alert_models import AlertSeverity, RiskAlert
from crisisline.clock import FakeClock
from crisisline.errors import InvalidInput
from crisisline.escalation_models import EscalationRecord
from crisisline.models import RecordAccess, RiskLevel, StaffRole
from tests.support.app import beat_as_leader, signed_post
from tests.support.console import Browser, Person, enrol, enrolled
from tests.support.engine_line import BACKUP, MANAGER, PRIMARY, Line, staffed_line

LINE = "+447700900000"
DYLAN, EVAN, STRANGER = "+447700900501", "+447700900502", "+447700900250"
OLIVIA, KWAME, JOAN = "+447700900110", "+447700900111", "+447700900120"
TEXT = "I cannot sleep and it is getting bad again tonight"


@dataclass
class Board:
    """The team, two officers with a participant each, and the ids of what is open."""

    line: Line
    app: Flask
    people: dict[str, Person]
    participants: dict[str, int]
    browsers: dict[str, Browser] = field(default_factory=dict)

    @property
    def clock(self) -> FakeClock:
        return self.line.clock

    def browser(self, phone: str) -> Browser:
        """The person's browser, signed in once (a second sign-in with the same code would be
        a replay)."""
        if phone not in self.browsers:
            browser = Browser(self.app)
            browser.sign_in(self.people[phone], self.clock)
            self.browsers[phone] = browser
        return self.browsers[phone]

    def escalate(self, summary: str, reference: str | None, policy: str = "test-chain") -> int:
        participant_id = self.participants[reference] if reference is not None else None
        with self.line.svc.db.transaction() as session:
            return engine.open_escalation(
                session,
                policy_name=policy,
                subject_type="missed_call",
                subject_id=None,
                participant_id=participant_id,
                summary=summary,
                now=self.clock.now(),
                reach=self.line.svc.reach,
            ).id

    def alert(self, reference: str, severity: AlertSeverity, hours_ago: int, reason: str) -> int:
        at = self.clock.now() - dt.timedelta(hours=hours_ago)
        with self.line.svc.db.transaction() as session:
            alert = RiskAlert(
                participant_id=self.participants[reference],
                rule="test-rule",
                severity=severity,
                reason=reason,
                raised_at=at,
                last_seen_at=at,
                routed_to="officer",
            )
            session.add(alert)
            session.flush()
            return alert.id

    def access_log(self, phone: str) -> list[tuple[str, str, int | None]]:
        staff_id = self.people[phone].staff_id
        with self.line.svc.db.transaction() as session:
            rows = session.execute(
                select(RecordAccess.action, RecordAccess.record_type, RecordAccess.participant_id)
                .where(RecordAccess.staff_id == staff_id)
                .order_by(RecordAccess.id)
            ).all()
        return [(action, record_type, pid) for action, record_type, pid in rows]


@pytest.fixture
def board(app: Flask, clock: FakeClock) -> Board:
    line = staffed_line(app, clock)
    now = clock.now()
    people = {}
    for phone, name in ((PRIMARY, "Amira Okafor"), (BACKUP, "Tom Hughes")):
        secret, codes = enrol(line.svc.db, line.ids[phone], now)
        people[phone] = Person(line.ids[phone], name, phone, None, secret, codes)
    secret, codes = enrol(line.svc.db, line.ids[MANAGER], now)
    people[MANAGER] = Person(line.ids[MANAGER], "Priya Natarajan", MANAGER, None, secret, codes)
    officer = [StaffRole.RESPONSIBLE_OFFICER]
    people[OLIVIA] = enrolled(app, "Olivia Brandt", OLIVIA, officer, now=now)
    people[KWAME] = enrolled(app, "Kwame Mensah", KWAME, officer, now=now)
    people[JOAN] = enrolled(app, "Joan Reyes", JOAN, [StaffRole.ADMIN], now=now)
    found = {}
    with line.svc.db.transaction() as session:
        for reference, name, phone, officer_phone in (
            ("R1001", "Dylan Price", DYLAN, OLIVIA),
            ("R1002", "Evan Moss", EVAN, KWAME),
        ):
            found[reference] = participants.create(
                session,
                participants.NewParticipant(
                    reference=reference,
                    name=name,
                    phones=[phone],
                    risk_level=RiskLevel.HIGH,
                    responsible_officer_id=people[officer_phone].staff_id,
                ),
                actor="t",
                now=now,
            ).id
        # A chain that asks only the backup rota: Amira is never asked by it.
        escalation_policies.put_policy(
            session,
            "backup-only",
            {
                "steps": [
                    {"targets": [{"rota": "backup"}], "channels": ["sms"], "wait_seconds": 300}
                ],
                "repeat": 0,
            },
            actor="t",
            now=now,
        )
    return Board(line, app, people, found)


def _html(browser: Browser, path: str = "/") -> str:
    page = browser.get(path)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _card(html: str, escalation_id: int) -> str:
    found = re.search(rf'<li id="escalation-{escalation_id}".*?</li>', html, re.S)
    assert found is not None, f"escalation {escalation_id} is not on the board"
    return found.group(0)


def test_an_on_call_worker_sees_only_what_asks_him_and_takes_it_from_the_board(
    board: Board,
) -> None:
    asks_amira = board.escalate("Missed call from R1001 at 03:12", "R1001")
    asks_tom = board.escalate("Missed call from R1002 at 03:20", "R1002", policy="backup-only")
    amira = board.browser(PRIMARY)
    html = _html(amira)
    assert "Escalations asking you" in html
    card = _card(html, asks_amira)
    assert "Missed call from R1001 at 03:12" in card
    assert f'href="/participants/{board.participants["R1001"]}">R1001</a>' in card
    assert "1 of 3" in card and "Amira Okafor" in card  # step, and who was notified
    assert "Next step" in card and "(in 5 min 0 s)" in card
    assert f'action="/escalations/{asks_amira}/take"' in card
    assert f'action="/escalations/{asks_amira}/close"' in card
    assert 'name="next" value="/"' in card
    assert f"escalation-{asks_tom}" not in html and "R1002" not in html
    # No alerts, no scheduler for a worker.
    assert "Open risk alerts" not in html and "The scheduler" not in html

    taken = amira.post(f"/escalations/{asks_amira}/take", {"next": "/"})
    assert taken.status_code == 303 and taken.headers["Location"] == "/"
    html = _html(amira)
    assert "You took it: Missed call from R1001 at 03:12." in html  # the flashed notice
    card = _card(html, asks_amira)
    assert "Taken by Amira Okafor" in card
    assert "/take" not in card and f'action="/escalations/{asks_amira}/close"' in card
    # Tom's board shows his own, never Amira's.
    tom = _html(board.browser(BACKUP))
    assert f"escalation-{asks_tom}" in tom and f"escalation-{asks_amira}" not in tom


def test_a_responsible_officer_sees_his_caseloads_alerts_and_escalations_only(
    board: Board,
) -> None:
    his = board.escalate("Missed call from R1001 at 03:12", "R1001")
    other = board.escalate("Missed call from R1002 at 03:20", "R1002")
    nobody = board.escalate("Missed call from an unknown number", None)
    his_alert = board.alert("R1001", AlertSeverity.URGENT, 2, "Three calls in an hour")
    other_alert = board.alert("R1002", AlertSeverity.WARNING, 1, "Texts at night")
    html = _html(board.browser(OLIVIA))
    assert "Open escalations" in html
    card = _card(html, his)
    assert "R1001" in card
    assert "/take" not in card and "/close" not in card  # he was not asked; no duty manager
    assert f"escalation-{other}" not in html and f"escalation-{nobody}" not in html
    assert f'href="/alerts/{his_alert}">R1001: Three calls in an hour</a>' in html
    assert "raised 2 h 0 min ago" in html
    assert f"/alerts/{other_alert}" not in html and "R1002" not in html
    assert "The scheduler" not in html


def test_a_duty_manager_sees_everything_and_the_schedulers_health(app: Flask, board: Board) -> None:
    ids = [
        board.escalate("Missed call from R1001 at 03:12", "R1001"),
        board.escalate("Missed call from R1002 at 03:20", "R1002"),
        board.escalate("Missed call from an unknown number", None),
    ]
    board.alert("R1001", AlertSeverity.WARNING, 5, "Texts at night")
    board.alert("R1002", AlertSeverity.URGENT, 1, "Three calls in an hour")
    priya = board.browser(MANAGER)
    html = _html(priya)
    assert "Open escalations" in html
    for escalation_id in ids:
        card = _card(html, escalation_id)
        assert f'action="/escalations/{escalation_id}/take"' in card
        assert f'action="/escalations/{escalation_id}/close"' in card
    assert "nobody on record" in _card(html, ids[2])
    # Alerts: counted by severity, the urgent one first although it is younger.
    assert '<span class="badge urgent">1 urgent</span>' in html
    assert '<span class="badge warning">1 warning</span>' in html
    assert html.index("R1002: Three calls in an hour") < html.index("R1001: Texts at night")
    # No scheduler has ever beaten: said plainly.
    assert "No scheduler is running the jobs" in html
    beat_as_leader(app)
    html = _html(priya)
    assert "The scheduler" in html and "Running:" in html
    assert "No scheduler is running the jobs" not in html
    # The page works without JavaScript: it reloads itself and has a plain Refresh link.
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in html
    assert '<a href="/">Refresh</a>' in html
    # With it, a refresh that fails says so (the script is a file: no inline script).
    assert '<script src="/assets/now.js" defer></script>' in html
    assert '<p id="now-stale" class="error now-stale" role="alert" hidden>' in html
    assert "<script>" not in html and "style=" not in html
    # A step a minute overdue means the sweep is not running.
    board.clock.advance(dt.timedelta(minutes=7))
    beat_as_leader(app)
    assert "3 escalation(s) past their next step" in _html(priya)


def test_an_administrator_sees_no_contact_content(board: Board) -> None:
    board.escalate("Missed call from R1001 at 03:12", "R1001")
    board.alert("R1001", AlertSeverity.URGENT, 2, "Three calls in an hour")
    signed_post(board.app.test_client(), "/webhooks/sms", _text(1, DYLAN))
    html = _html(board.browser(JOAN))
    assert "On call now" in html and "The scheduler" in html
    for hidden in ("escalation", "Open risk alerts", "Live calls", "Texts waiting", "R1001"):
        assert hidden not in html
    assert board.access_log(JOAN) == []


def test_gaps_in_the_next_72_hours_are_flagged(board: Board) -> None:
    html = _html(board.browser(PRIMARY))
    assert "None: every rota has someone on call." in html
    start = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)  # tomorrow evening
    with board.line.svc.db.transaction() as session:
        rota_service.add_override(
            session,
            board.line.ids["primary"],
            rota_service.NewOverride(
                staff_id=None,
                start=start,
                end=start + dt.timedelta(hours=2),
                mode="replace",
                reason="Amira is away",
            ),
            actor="t",
            now=board.clock.now(),
        )
        # Beyond 72 hours: not flagged yet.
        later = board.clock.now() + dt.timedelta(days=4)
        rota_service.add_override(
            session,
            board.line.ids["backup"],
            rota_service.NewOverride(
                staff_id=None,
                start=later,
                end=later + dt.timedelta(hours=2),
                mode="replace",
                reason="Tom is away",
            ),
            actor="t",
            now=board.clock.now(),
        )
    html = _html(board.browser(PRIMARY))
    gaps = re.search(r'<ul class="now-list now-gaps">(.*?)</ul>', html, re.S)
    assert gaps is not None
    assert "primary: Fri 27 Nov, 18:00 to Fri 27 Nov, 20:00" in gaps.group(1)
    assert "an override leaves nobody on call" in gaps.group(1)
    assert "backup" not in gaps.group(1)
    # The handoff: who is on now and until when, and who takes over.
    # The next handoff on primary is the gap: she is on until it, then nobody.
    flat = " ".join(html.split())
    assert (
        "<strong>primary</strong>: Amira Okafor, until Fri 27 Nov, 18:00; "
        'then <span class="warning">nobody</span>'
    ) in flat
    assert "<strong>backup</strong>: Tom Hughes, until Mon 30 Nov, 09:00; then Tom Hughes" in flat


def test_a_live_call_shows_whom_it_rings_and_how_long_it_has_waited(board: Board) -> None:
    client = board.app.test_client()
    form = {"CallSid": "CA" + "1" * 32, "To": LINE, "From": DYLAN, "CallStatus": "ringing"}
    assert signed_post(client, "/webhooks/voice", form).status_code == 200
    board.clock.advance(dt.timedelta(seconds=75))
    priya = board.browser(MANAGER)
    html = _html(priya)
    calls = re.search(r'<section aria-labelledby="now-calls".*?</section>', html, re.S)
    assert calls is not None
    text = " ".join(calls.group(0).split())
    assert f'href="/participants/{board.participants["R1001"]}">R1001</a>' in text
    assert "ringing Amira Okafor" in text and "waiting 1 min 15 s" in text
    # Amira has never handled Dylan: his call rings her, but she is not told who he is.
    amira = " ".join(_html(board.browser(PRIMARY)).split())
    assert "A participant</strong>: ringing Amira Okafor" in amira
    assert "R1001" not in amira
    # A stranger's call: an unknown caller. An officer with no call reaches nobody here.
    form = {"CallSid": "CA" + "2" * 32, "To": LINE, "From": STRANGER, "CallStatus": "ringing"}
    assert signed_post(client, "/webhooks/voice", form).status_code == 200
    kwame = " ".join(_html(board.browser(KWAME)).split())
    assert "An unknown caller</strong>" in kwame and "A participant</strong>" in kwame
    # The call ends: off the board; the stranger's still rings.
    ended = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed", "CallDuration": "80"}
    assert signed_post(client, "/webhooks/voice/status", ended).status_code == 204
    calls = re.search(r'<section aria-labelledby="now-calls".*?</section>', _html(priya), re.S)
    assert calls is not None
    assert "R1001" not in calls.group(0) and "An unknown caller" in calls.group(0)


def _text(n: int, sender: str) -> dict[str, str]:
    return {
        "MessageSid": f"SM{n:032x}",
        "AccountSid": "AC" + "1" * 32,
        "From": sender,
        "To": LINE,
        "Body": TEXT,
        "NumMedia": "0",
    }


def test_texts_waiting_to_be_routed_are_counted_never_shown(board: Board) -> None:
    client = board.app.test_client()
    priya = board.browser(MANAGER)
    assert "None: every text has been passed on." in _html(priya)
    assert signed_post(client, "/webhooks/sms", _text(1, DYLAN)).status_code == 200
    board.clock.advance(dt.timedelta(seconds=30))
    assert signed_post(client, "/webhooks/sms", _text(2, STRANGER)).status_code == 200
    board.clock.advance(dt.timedelta(seconds=5))
    html = _html(priya)
    assert "2 waiting, the oldest for 35 s." in html
    assert TEXT not in html and DYLAN not in html
    board.clock.advance(dt.timedelta(seconds=40))
    assert "2 waiting, the oldest for 1 min 15 s: routing is late." in _html(priya)


def test_the_fragment_refreshes_with_new_data_and_needs_a_sign_in(board: Board) -> None:
    priya = board.browser(MANAGER)
    fragment = _html(priya, "/now/board")
    assert fragment.lstrip().startswith('<div id="now-board"')
    assert "<html" not in fragment and "<h1>" not in fragment
    assert 'hx-get="/now/board"' in fragment and 'hx-trigger="every 5s"' in fragment
    assert 'hx-swap="outerHTML"' in fragment
    assert "No open escalation." in fragment
    escalation_id = board.escalate("Missed call from R1002 at 03:20", "R1002")
    fragment = _html(priya, "/now/board")
    assert "Missed call from R1002 at 03:20" in _card(fragment, escalation_id)
    # The page holds the same container, so htmx swaps like for like.
    assert 'id="now-board"' in _html(priya) and 'id="now-board"' in fragment
    # Signed out, the fragment is refused like the page; an officer's shows only his own.
    anonymous = Browser(board.app).get("/now/board")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert f"escalation-{escalation_id}" not in _html(board.browser(OLIVIA), "/now/board")
    assert f"escalation-{escalation_id}" in _html(board.browser(KWAME), "/now/board")


def test_the_participants_shown_are_logged_once_in_a_while_not_at_each_refresh(
    board: Board,
) -> None:
    board.escalate("Missed call from R1001 at 03:12", "R1001")
    board.escalate("Missed call from R1002 at 03:20", "R1002")
    board.alert("R1001", AlertSeverity.URGENT, 2, "Three calls in an hour")
    dylan, evan = board.participants["R1001"], board.participants["R1002"]
    priya = board.browser(MANAGER)
    _html(priya)
    logged = board.access_log(MANAGER)
    assert sorted(logged, key=str) == sorted(
        [
            ("read", "escalation", dylan),
            ("read", "escalation", evan),
            ("read", "risk_alert", dylan),
        ],
        key=str,
    )
    # Refreshed every few seconds: not logged again for a while...
    for _ in range(3):
        board.clock.advance(dt.timedelta(seconds=5))
        _html(priya, "/now/board")
    assert len(board.access_log(MANAGER)) == 3
    # ...then again.
    board.clock.advance(dt.timedelta(minutes=15))
    _html(priya, "/now/board")
    assert len(board.access_log(MANAGER)) == 6
    # The officer's board logs only his own participant (shown also as having no crisis plan).
    _html(board.browser(OLIVIA))
    assert sorted(board.access_log(OLIVIA)) == [
        ("read", "crisis_plan", dylan),
        ("read", "escalation", dylan),
        ("read", "risk_alert", dylan),
    ]


def test_an_escalation_about_nobody_is_shown_only_to_those_who_reach_everyone(
    board: Board,
) -> None:
    nobody = board.escalate("Missed call from an unknown number", None)
    assert f"escalation-{nobody}" in _html(board.browser(MANAGER))
    assert f"escalation-{nobody}" not in _html(board.browser(KWAME))
    # Amira was asked by it (the test chain texts her first): she sees it, to take it.
    assert f"escalation-{nobody}" in _html(board.browser(PRIMARY))
    with board.line.svc.db.transaction() as session:
        assert session.get_one(EscalationRecord, nobody).participant_id is None


def test_a_rota_that_cannot_be_worked_out_is_said_and_the_rest_of_the_board_still_shows(
    board: Board, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The board is what people watch at 3 a.m.: one broken rota must not blank it, and gaps
    that cannot be worked out are never shown as "no gaps"."""
    escalation_id = board.escalate("Missed call from R1001 at 03:12", "R1001")
    broken = board.line.ids["backup"]
    on_call = rota_service.on_call

    def on_call_or_fail(session: Session, rota_id: int, at: dt.datetime) -> rota_service.OnCall:
        if rota_id == broken:
            raise InvalidInput("the rota's members are missing", "members")
        return on_call(session, rota_id, at)

    def gaps_fail(session: Session, start: dt.datetime, end: dt.datetime) -> list[object]:
        raise InvalidInput("the rota's members are missing", "members")

    monkeypatch.setattr(rota_service, "on_call", on_call_or_fail)
    monkeypatch.setattr(rota_service, "gaps", gaps_fail)
    html = " ".join(_html(board.browser(PRIMARY)).split())
    assert (
        '<strong>backup</strong>: <span class="warning">cannot be worked out: '
        "the rota&#39;s members are missing</span>"
    ) in html
    assert "<strong>primary</strong>: Amira Okafor, until Mon 30 Nov, 09:00" in html
    assert "The gaps could not be worked out: check the rotas." in html
    assert "None: every rota has someone on call." not in html
    assert f'id="escalation-{escalation_id}"' in html
