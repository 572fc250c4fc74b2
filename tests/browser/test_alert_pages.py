"""Risk alerts in a real browser, at a phone's width and a laptop's: a participant of the demo
data texts words about a relapse and a risk alert is raised for his responsible officer; the
officer signs in, opens the alert from the alerts list, reads its evidence, resolves it with a
note and sees it resolved (and its escalation closed); an officer of another caseload who opens
the same alert's address is told there is nothing there.

Every page visited is saved as a screenshot (screenshots/alerts-*-WIDTHpx.png) and checked with
axe-core (no serious or critical violation), and none is wider than the window.
"""

from __future__ import annotations

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy import select

from crisisline import alerts, contacts
from crisisline.alert_models import AlertStatus, RiskAlert
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Channel, Direction, Participant, Staff
from tests.support.app import services_of
from tests.support.browser import LiveServer, looked_at
from tests.support.console import PASSWORD, enrol

# The demo data: Gareth Lloyd is R1001's officer; Helen Marsh's caseload is R1003 only.
OFFICER_EMAIL = "gareth.lloyd@example.org"
OTHER_OFFICER_EMAIL = "helen.marsh@example.org"
REFERENCE = "R1001"
HIS_PHONE = "+447700900201"
LINE = "+447700900000"
NOTE = "Rang him at 09:10: he is at his sister's and sees his worker tomorrow."


def test_an_officer_resolves_his_caseloads_alert_and_another_officer_is_refused(
    page: Page, live_server: LiveServer, open_page: object
) -> None:
    """Gareth opens R1001's alert from the list, sees its evidence and resolves it with a note;
    Helen, whose caseload is another, gets "nothing at this address" for the same alert."""
    alert_id = _relapse_alert(live_server)

    _sign_in(page, live_server, OFFICER_EMAIL)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(page.locator("h1")).to_have_text("Risk alerts")
    row = page.locator("tbody tr").filter(has_text=REFERENCE)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("warning")
    expect(row).to_contain_text("open")
    looked_at(page, "alerts-list")

    row.locator(f'a[href="/alerts/{alert_id}"]').click()
    expect(page.locator("h1")).to_have_text(f"Risk alert {alert_id}: {REFERENCE}")
    expect(page.locator("main")).to_contain_text("words about drink or drug use (relapse)")
    expect(page.get_by_role("table")).to_contain_text("I relapsed last night, sorry")
    expect(page.get_by_role("link", name=f"{REFERENCE} Daniel Price")).to_have_attribute(
        "href", f"/participants/{_participant_id(live_server)}"
    )
    looked_at(page, "alerts-alert-open")

    page.get_by_label("What was done (required to resolve)").fill(NOTE)
    page.get_by_role("button", name="Resolve with this note").click()
    expect(page.get_by_role("status").first).to_contain_text("Resolved with your note.")
    expect(page.locator(".alert-headline")).to_contain_text("resolved")
    expect(page.locator(".alert-facts")).to_contain_text("by Gareth Lloyd")
    expect(page.locator(".alert-facts")).to_contain_text(NOTE)
    expect(page.get_by_role("button", name="Resolve with this note")).to_have_count(0)
    looked_at(page, "alerts-alert-resolved")
    with services_of(live_server.app).db.transaction() as session:
        alert = session.get_one(RiskAlert, alert_id)
        assert alert.status == AlertStatus.RESOLVED and alert.resolution_note == NOTE
        assert alert.escalation_id is not None
        assert session.get_one(EscalationRecord, alert.escalation_id).status == "closed"

    # Its escalation, from the alert's page.
    page.get_by_role("link", name=f"Escalation {alert.escalation_id}").click()
    expect(page.locator("h1")).to_have_text(f"Escalation {alert.escalation_id}")
    expect(page.locator("main")).to_contain_text("Texted Gareth Lloyd (step 1)")
    expect(page.locator("main")).to_contain_text("Closed by Gareth Lloyd")
    looked_at(page, "alerts-escalation")

    # His list of escalations shows it closed.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Escalations").click()
    expect(page.locator("h1")).to_have_text("Escalations")
    expect(page.locator("tbody tr").filter(has_text=REFERENCE)).to_contain_text("closed")
    looked_at(page, "alerts-escalation-list")

    # An officer of another caseload, in a browser of her own: not found, as if it did not exist.
    width = page.viewport_size["width"] if page.viewport_size else 1280
    other = open_page(width)  # type: ignore[operator]
    _sign_in(other, live_server, OTHER_OFFICER_EMAIL)
    answer = other.goto(f"/alerts/{alert_id}")
    assert answer is not None and answer.status == 404
    expect(other.locator("main")).to_contain_text("There is nothing at this address.")
    expect(other.locator("main")).not_to_contain_text(REFERENCE)
    looked_at(other, "alerts-other-officer-refused")
    other.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts").click()
    expect(other.locator("main")).to_contain_text("0 alerts.")
    looked_at(other, "alerts-other-officer-list")


def _relapse_alert(live_server: LiveServer) -> int:
    """R1001 texts words about a relapse: the risk rules raise an alert for his officer."""
    svc = services_of(live_server.app)
    now = live_server.clock.now()
    with svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            from_number=HIS_PHONE,
            to_number=LINE,
            twilio_sid=None,
            started_at=now,
            participant_id=_participant_id(live_server),
            body="I relapsed last night, sorry",
        )
        raised = alerts.evaluate_contact(
            session, contact.id, now, svc.reach, rules=svc.risk_rules, zone=svc.settings.zone
        )
        (alert,) = raised
        return alert.id


def _participant_id(live_server: LiveServer) -> int:
    with services_of(live_server.app).db.transaction() as session:
        found = session.scalar(select(Participant.id).where(Participant.reference == REFERENCE))
    assert found is not None
    return found


def _sign_in(page: Page, live_server: LiveServer, email: str) -> None:
    """Give the demo officer a console account and sign in through both steps."""
    db = services_of(live_server.app).db
    with db.transaction() as session:
        staff_id = session.scalar(select(Staff.id).where(Staff.email == email))
    assert staff_id is not None
    secret, _ = enrol(db, staff_id, live_server.clock.now())
    page.goto("/login")
    page.get_by_label("Phone number or email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Six-digit code").fill(pyotp.TOTP(secret).at(live_server.clock.now()))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
