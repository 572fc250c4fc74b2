"""The record pages of the console: staff (administrators), participants (duty managers,
clinical leads, administrators), CSV imports with a preview, and the escalation policies in
words. Each form refuses what the API refuses, with the message beside the field (422) and the
form kept filled; a preview writes nothing and the confirm step writes exactly what it showed."""

from __future__ import annotations

import datetime as dt
import html as html_text
import io
import re

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from crisisline import escalation_policies, participants, rota_service, staff
from crisisline.clock import FakeClock
from crisisline.console.record_admin_pages import MAX_IMPORT_BYTES
from crisisline.models import (
    AuditEntry,
    Participant,
    ParticipantStatus,
    RecordAccess,
    RiskLevel,
    Staff,
    StaffRole,
)
from crisisline.rota_models import RotaMember
from tests.support.app import services_of
from tests.support.console import HTML, ORIGIN, Browser, Person, enrolled
from tests.support.team import BACKUP, add_team

ADMIN_PHONE = "+447700900120"
MANAGER_PHONE = "+447700900121"
WORKER_PHONE = "+447700900122"
OFFICER_PHONE = "+447700900123"
LEAD_PHONE = "+447700900124"


@pytest.fixture
def joan(app: Flask, clock: FakeClock) -> Person:
    """The administrator."""
    return enrolled(app, "Joan Reyes", ADMIN_PHONE, [StaffRole.ADMIN], now=clock.now())


@pytest.fixture
def dana(app: Flask, clock: FakeClock) -> Person:
    """A duty manager."""
    return enrolled(app, "Dana Whitfield", MANAGER_PHONE, [StaffRole.DUTY_MANAGER], now=clock.now())


@pytest.fixture
def owen(app: Flask, clock: FakeClock) -> Person:
    """A responsible officer."""
    return enrolled(
        app,
        "Owen Marsh",
        OFFICER_PHONE,
        [StaffRole.RESPONSIBLE_OFFICER],
        email="owen@example.org",
        now=clock.now(),
    )


def _browser(app: Flask, clock: FakeClock, who: Person) -> Browser:
    browser = Browser(app)
    browser.sign_in(who, clock)
    return browser


def _html(page: TestResponse) -> str:
    """The page's text, its character references read (&#39; as ')."""
    return html_text.unescape(page.get_data(as_text=True))


def _error_beside(html: str, field: str) -> str:
    """The message shown beside `field` (its error paragraph), or '' if none."""
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    return html_text.unescape(found.group(1)) if found else ""


def _count(app: Flask, model: type) -> int:
    with services_of(app).db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _upload(
    browser: Browser, path: str, content: bytes, filename: str = "people.csv"
) -> TestResponse:
    browser.get(path)
    # Encoded here, in memory: the test client would spool a large body to a file it leaves
    # open when the app refuses to read it.
    boundary, body = encode_multipart(
        {
            "csrf_token": browser.token,
            "step": "preview",
            "file": FileStorage(io.BytesIO(content), filename),
        }
    )
    page = browser.client.post(
        path,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        base_url=ORIGIN,
        headers={"Accept": HTML, "Referer": ORIGIN + path},
    )
    return browser._read(page)


def _carried(html: str) -> str:
    found = re.search(r'name="carried" value="([^"]+)"', html)
    assert found, "the preview offers no confirm step"
    return found.group(1)


# ---------------------------------------------------------------------------------------------
# Who may open what


def test_each_role_reaches_only_its_own_record_pages(
    app: Flask, clock: FakeClock, joan: Person, dana: Person, owen: Person
) -> None:
    worker = enrolled(app, "Wes Carter", WORKER_PHONE, [StaffRole.ON_CALL], now=clock.now())
    lead = enrolled(app, "Lena Ford", LEAD_PHONE, [StaffRole.CLINICAL_LEAD], now=clock.now())
    pages = {
        "/staff": {"joan": 200, "dana": 200, "lead": 200, "owen": 403, "worker": 403},
        "/staff/new": {"joan": 200, "dana": 403, "lead": 403, "owen": 403, "worker": 403},
        f"/staff/{worker.staff_id}/edit": {
            "joan": 200,
            "dana": 403,
            "lead": 403,
            "owen": 403,
            "worker": 403,
        },
        "/staff/import": {"joan": 200, "dana": 403, "lead": 403, "owen": 403, "worker": 403},
        "/participants/new": {"joan": 200, "dana": 200, "lead": 200, "owen": 403, "worker": 403},
        "/participants/import": {
            "joan": 200,
            "dana": 200,
            "lead": 200,
            "owen": 403,
            "worker": 403,
        },
        "/policies": {"joan": 403, "dana": 200, "lead": 200, "owen": 403, "worker": 403},
        "/policies/crisis-call": {
            "joan": 403,
            "dana": 200,
            "lead": 200,
            "owen": 403,
            "worker": 403,
        },
    }
    people = {"joan": joan, "dana": dana, "lead": lead, "owen": owen, "worker": worker}
    for name, who in people.items():
        browser = _browser(app, clock, who)
        for path, expected in pages.items():
            assert browser.get(path).status_code == expected[name], (name, path)


def test_a_duty_manager_is_refused_every_staff_write(
    app: Flask, clock: FakeClock, joan: Person, dana: Person
) -> None:
    browser = _browser(app, clock, dana)
    browser.get("/staff")
    assert browser.post("/staff/new", {"name": "X Y", "phone": "07700900130"}).status_code == 403
    edit = browser.post(f"/staff/{joan.staff_id}/edit", {"name": "Changed", "phone": ADMIN_PHONE})
    assert edit.status_code == 403
    gone = browser.post(f"/staff/{joan.staff_id}/deactivate", {"confirm": "yes"})
    assert gone.status_code == 403
    assert _upload(browser, "/staff/import", b"name,phone,email,roles,active\n").status_code == 403
    with services_of(app).db.transaction() as session:
        assert staff.get(session, joan.staff_id).name == "Joan Reyes"
        assert staff.get(session, joan.staff_id).active


def test_the_staff_list_shows_roles_phones_and_status_and_edit_links_to_writers_only(
    app: Flask, clock: FakeClock, joan: Person, dana: Person
) -> None:
    admin_html = _html(_browser(app, clock, joan).get("/staff"))
    assert "Dana Whitfield" in admin_html and "Duty manager" in admin_html
    assert f'<a href="tel:{MANAGER_PHONE}">{MANAGER_PHONE}</a>' in admin_html
    assert f'href="/staff/{dana.staff_id}/edit"' in admin_html
    assert 'href="/staff/new"' in admin_html and 'href="/staff/import"' in admin_html
    assert '<a href="/staff" aria-current="page">Staff</a>' in admin_html  # the menu

    manager_html = _html(_browser(app, clock, dana).get("/staff"))
    assert "Joan Reyes" in manager_html and "Administrator" in manager_html
    # A duty manager rings staff to fill a gap: staff:read shows phones, as the API does.
    assert ADMIN_PHONE in manager_html
    assert "/edit" not in manager_html and 'href="/staff/new"' not in manager_html


# ---------------------------------------------------------------------------------------------
# Staff: add, edit, deactivate


def test_an_administrator_adds_a_member_of_staff_with_the_phone_in_any_form(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = _browser(app, clock, joan)
    browser.get("/staff/new")
    added = browser.post(
        "/staff/new",
        {
            "name": "Priti Shah",
            "phone": "07700 900131",
            "email": "priti@example.org",
            "roles": "on_call",
        },
    )
    assert added.status_code == 303
    assert added.headers["Location"] == "/staff"
    with services_of(app).db.transaction() as session:
        found = staff.active_by_phone(session, "+447700900131")
        assert found is not None
        assert (found.name, found.email, found.roles) == (
            "Priti Shah",
            "priti@example.org",
            [StaffRole.ON_CALL],
        )
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.record_type == "staff", AuditEntry.record_id == found.id
            )
        ).one()
        assert (entry.actor, entry.action) == (f"staff:{joan.staff_id}", "create")
    assert "Priti Shah is added." in _html(browser.get("/staff"))


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"name": "Priti Shah", "phone": "12345"},
            "phone",
            "'12345' has too few digits; include the area or mobile code",
        ),
        ({"name": "", "phone": "07700 900131"}, "name", "Missing data for required field."),
        (
            {"name": "Priti Shah", "phone": MANAGER_PHONE},
            "phone",
            f"{MANAGER_PHONE} is already the phone of staff member",
        ),
        (
            {"name": "Priti Shah", "phone": "07700 900000"},
            "phone",
            "this is the crisis line's own number",
        ),
        (
            {"name": "Priti Shah", "phone": "07700 900131", "email": "not-an-email"},
            "email",
            "Not a valid email address.",
        ),
    ],
)
def test_a_bad_staff_form_is_shown_again_with_the_message_beside_the_field(
    app: Flask,
    clock: FakeClock,
    joan: Person,
    dana: Person,
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    browser = _browser(app, clock, joan)
    browser.get("/staff/new")
    before = _count(app, Staff)
    page = browser.post("/staff/new", {"email": "", **form, "roles": "on_call"})
    assert page.status_code == 422
    html = _html(page)
    assert message in _error_beside(html, field)
    # The form is kept filled, the role still ticked, and an error summary links to the field.
    for value in form.values():
        if value:
            assert f'value="{value}"' in html
    assert 'value="on_call" checked' in html
    assert f'<a href="#{field}">' in html
    assert _count(app, Staff) == before


def test_editing_staff_saves_through_staffing_and_refuses_a_phone_already_held(
    app: Flask, clock: FakeClock, joan: Person, dana: Person
) -> None:
    with services_of(app).db.transaction() as session:
        team = add_team(session, now=clock.now())
    browser = _browser(app, clock, joan)
    page = browser.get(f"/staff/{team[BACKUP]}/edit")
    assert page.status_code == 200
    assert 'value="Tom Hughes"' in _html(page)
    taken = browser.post(
        f"/staff/{team[BACKUP]}/edit",
        {"name": "Tom Hughes", "phone": MANAGER_PHONE, "email": "", "roles": "on_call"},
    )
    assert taken.status_code == 422
    assert "is already the phone of staff member" in _error_beside(_html(taken), "phone")
    blank = browser.post(
        f"/staff/{team[BACKUP]}/edit",
        {"name": "", "phone": "", "email": "", "roles": "on_call"},
    )
    assert blank.status_code == 422
    assert _error_beside(_html(blank), "name") == "Missing data for required field."
    assert _error_beside(_html(blank), "phone") == "Missing data for required field."
    saved = browser.post(
        f"/staff/{team[BACKUP]}/edit",
        {
            "name": "Tom Hughes-Ford",
            "phone": "+44 7700 900132",
            "email": "tom@example.org",
            "roles": "duty_manager",
        },
    )
    assert saved.status_code == 303
    with services_of(app).db.transaction() as session:
        tom = staff.get(session, team[BACKUP])
        assert (tom.name, tom.phone, tom.email) == (
            "Tom Hughes-Ford",
            "+447700900132",
            "tom@example.org",
        )
        assert tom.roles == [StaffRole.DUTY_MANAGER]
    assert browser.get("/staff/99999/edit").status_code == 404


def test_deactivating_staff_shows_the_consequences_first_then_does_it_once_confirmed(
    app: Flask, clock: FakeClock, joan: Person, dana: Person
) -> None:
    with services_of(app).db.transaction() as session:
        team = add_team(session, now=clock.now())
    browser = _browser(app, clock, joan)
    browser.get(f"/staff/{team[BACKUP]}/edit")
    asked = browser.post(f"/staff/{team[BACKUP]}/deactivate")
    assert asked.status_code == 200
    html = _html(asked)
    assert "Deactivate Tom Hughes?" in html
    assert "They leave the rotation of rota" in html and "<strong>backup</strong>" in html
    assert "signed out of the console everywhere" in html
    with services_of(app).db.transaction() as session:
        assert staff.get(session, team[BACKUP]).active  # asking changed nothing

    done = browser.post(f"/staff/{team[BACKUP]}/deactivate", {"confirm": "yes"})
    assert done.status_code == 303
    with services_of(app).db.transaction() as session:
        assert not staff.get(session, team[BACKUP]).active
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.record_type == "staff",
                AuditEntry.record_id == team[BACKUP],
                AuditEntry.action == "deactivate",
            )
        ).one()
        assert entry.actor == f"staff:{joan.staff_id}"
        # Still a member of the rota's list; the rotation skips him (rota_service's rule).
        assert session.scalar(
            select(func.count()).select_from(RotaMember).where(RotaMember.staff_id == team[BACKUP])
        )
    assert "Tom Hughes is no longer active" in _html(browser.get("/staff"))


def test_the_consequences_name_overrides_to_come_and_policies_naming_the_person(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    with services_of(app).db.transaction() as session:
        team = add_team(session, now=clock.now())
        primary = rota_service.find_by_name(session, "primary")
        rota_service.add_override(
            session,
            primary.id,
            rota_service.NewOverride(
                team[BACKUP],
                clock.now() + dt.timedelta(days=1),
                clock.now() + dt.timedelta(days=2),
                "replace",
                "cover",
            ),
            actor="test",
            now=clock.now(),
        )
        escalation_policies.put_policy(
            session,
            "night-chain",
            {
                "steps": [
                    {
                        "targets": [{"staff_id": team[BACKUP]}],
                        "channels": ["sms"],
                        "wait_seconds": 60,
                    }
                ]
            },
            actor="test",
            now=clock.now(),
        )
    browser = _browser(app, clock, joan)
    browser.get(f"/staff/{team[BACKUP]}/edit")
    html = " ".join(_html(browser.post(f"/staff/{team[BACKUP]}/deactivate")).split())
    assert "1 override still to come names them and will reach nobody" in html
    assert "<li>primary: " in html
    assert "<strong>night-chain</strong> names them" in html


def test_an_administrator_cannot_deactivate_themselves(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = _browser(app, clock, joan)
    browser.get("/staff")
    refused = browser.post(f"/staff/{joan.staff_id}/deactivate", {"confirm": "yes"})
    assert refused.status_code == 422
    assert "You cannot deactivate yourself" in _html(refused)
    with services_of(app).db.transaction() as session:
        assert staff.get(session, joan.staff_id).active


# ---------------------------------------------------------------------------------------------
# Participants: add, edit, close


def _participant_form(**changes: str) -> dict[str, str]:
    form = {
        "reference": "R2001",
        "name": "Carl Benton",
        "phones": "07700 900501\n+44 7700 900502",
        "responsible_officer_id": "",
        "risk_level": "high",
        "status": "active",
        # An edit says why (the add form has no such field and ignores it).
        "reason": "Details checked at his appointment",
    }
    form.update(changes)
    return form


def test_a_duty_manager_adds_a_participant_with_phones_in_any_form_and_the_access_log_says_so(
    app: Flask, clock: FakeClock, dana: Person, owen: Person
) -> None:
    browser = _browser(app, clock, dana)
    page = browser.get("/participants/new")
    assert f'<option value="{owen.staff_id}">Owen Marsh</option>' in _html(page)
    added = browser.post(
        "/participants/new", _participant_form(responsible_officer_id=str(owen.staff_id))
    )
    assert added.status_code == 303
    with services_of(app).db.transaction() as session:
        found = participants.find_by_phone(session, "+447700900502")
        assert found is not None
        assert added.headers["Location"] == f"/participants/{found.id}"
        assert found.phones == ["+447700900501", "+447700900502"]
        assert (found.reference, found.risk_level, found.responsible_officer_id) == (
            "R2001",
            RiskLevel.HIGH,
            owen.staff_id,
        )
        logged = session.scalars(
            select(RecordAccess).where(RecordAccess.participant_id == found.id)
        ).all()
        assert [(e.action, e.actor, e.record_type) for e in logged] == [
            ("change", f"staff:{dana.staff_id}", "participant")
        ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"phones": "0770"}, "phones", "'0770'"),
        ({"phones": OFFICER_PHONE}, "phones", f"{OFFICER_PHONE} is the phone of staff member"),
        ({"reference": "R1000"}, "reference", "R1000"),
        ({"responsible_officer_id": "99999"}, "responsible_officer_id", "There is no member"),
        ({"name": ""}, "name", "Missing data for required field."),
        ({"reference": "no spaces please"}, "reference", "use letters, digits, / _ -"),
        ({"risk_level": ""}, "risk_level", "Missing data for required field."),
    ],
)
def test_a_bad_participant_form_is_shown_again_with_the_message_beside_the_field(
    app: Flask,
    clock: FakeClock,
    dana: Person,
    owen: Person,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    with services_of(app).db.transaction() as session:
        participants.create(
            session,
            participants.NewParticipant(
                "R1000", "Ian Holt", ["+447700900600"], None, RiskLevel.LOW
            ),
            actor="test",
            now=clock.now(),
        )
    browser = _browser(app, clock, dana)
    browser.get("/participants/new")
    page = browser.post("/participants/new", _participant_form(**changes))
    assert page.status_code == 422
    html = _html(page)
    assert message in _error_beside(html, field), html
    assert 'value="Carl Benton"' in html or changes.get("name") == ""
    assert _count(app, Participant) == 1


def test_editing_a_participant_logs_the_read_and_the_change_and_refuses_a_taken_reference(
    app: Flask, clock: FakeClock, dana: Person
) -> None:
    with services_of(app).db.transaction() as session:
        first = participants.create(
            session,
            participants.NewParticipant(
                "R1000", "Ian Holt", ["+447700900600"], None, RiskLevel.LOW
            ),
            actor="test",
            now=clock.now(),
        ).id
        second = participants.create(
            session,
            participants.NewParticipant(
                "R1001", "Ken Adair", ["+447700900601"], None, RiskLevel.MEDIUM
            ),
            actor="test",
            now=clock.now(),
        ).id
    browser = _browser(app, clock, dana)
    _give_reason(browser, second)
    page = browser.get(f"/participants/{second}/edit")
    assert page.status_code == 200
    assert "+447700900601</textarea>" in _html(page)
    taken = browser.post(f"/participants/{second}/edit", _participant_form(reference="R1000"))
    assert taken.status_code == 422
    assert "R1000" in _error_beside(_html(taken), "reference")
    saved = browser.post(
        f"/participants/{second}/edit",
        _participant_form(reference="R1001", name="Ken Adair", phones="07700900603; 07700900604"),
    )
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"/participants/{second}"
    with services_of(app).db.transaction() as session:
        ken = participants.get(session, second)
        assert ken.phones == ["+447700900603", "+447700900604"]
        assert ken.risk_level is RiskLevel.HIGH
        assert participants.get(session, first).reference == "R1000"
        logged = session.execute(
            select(RecordAccess.action, RecordAccess.reason)
            .where(RecordAccess.participant_id == second)
            .order_by(RecordAccess.id)
        ).all()
    # Reads (the reason given, the edit page, the refused edit shown again), then the one
    # change that was saved, each with the duty manager's break-glass reason.
    assert [action for action, _ in logged] == ["read", "read", "read", "change"]
    assert {reason for _, reason in logged} == {REASON}


REASON = "Duty manager review of a contact or alert"


def _give_reason(browser: Browser, participant_id: int) -> None:
    """Outside the duty manager's own participants the page asks for a reason first."""
    asked = browser.get(f"/participants/{participant_id}/edit")
    assert asked.status_code == 403
    assert "give the reason you need his record" in _html(asked)
    given = browser.post(
        "/reason",
        {
            "participant_id": str(participant_id),
            "reason_choice": REASON,
            "next": f"/participants/{participant_id}/edit",
        },
    )
    assert given.status_code == 303


def test_closing_a_participant_asks_first_and_keeps_the_record(
    app: Flask, clock: FakeClock, dana: Person
) -> None:
    with services_of(app).db.transaction() as session:
        pid = participants.create(
            session,
            participants.NewParticipant(
                "R1000", "Ian Holt", ["+447700900600"], None, RiskLevel.LOW
            ),
            actor="test",
            now=clock.now(),
        ).id
    browser = _browser(app, clock, dana)
    _give_reason(browser, pid)
    browser.get(f"/participants/{pid}/edit")
    asked = browser.post(f"/participants/{pid}/deactivate")
    assert asked.status_code == 200
    assert "Close participant R1000?" in _html(asked)
    with services_of(app).db.transaction() as session:
        assert participants.get(session, pid).status is ParticipantStatus.ACTIVE
    done = browser.post(f"/participants/{pid}/deactivate", {"confirm": "yes"})
    assert done.status_code == 303
    with services_of(app).db.transaction() as session:
        assert participants.get(session, pid).status is ParticipantStatus.CLOSED
        assert participants.find_by_phone(session, "+447700900600") is not None
        assert (
            session.scalars(
                select(RecordAccess.action)
                .where(RecordAccess.participant_id == pid)
                .order_by(RecordAccess.id.desc())
            ).first()
            == "change"
        )


def test_participant_pages_are_refused_to_an_officer_and_a_worker(
    app: Flask, clock: FakeClock, owen: Person
) -> None:
    with services_of(app).db.transaction() as session:
        pid = participants.create(
            session,
            participants.NewParticipant(
                "R1000", "Ian Holt", ["+447700900600"], owen.staff_id, RiskLevel.LOW
            ),
            actor="test",
            now=clock.now(),
        ).id
    worker = enrolled(app, "Wes Carter", WORKER_PHONE, [StaffRole.ON_CALL], now=clock.now())
    for who in (owen, worker):
        browser = _browser(app, clock, who)
        browser.get("/")
        assert browser.get(f"/participants/{pid}/edit").status_code == 403
        assert browser.post(f"/participants/{pid}/edit", _participant_form()).status_code == 403
        closing = browser.post(f"/participants/{pid}/deactivate", {"confirm": "yes"})
        assert closing.status_code == 403
        assert browser.post("/participants/new", _participant_form()).status_code == 403
    with services_of(app).db.transaction() as session:
        assert participants.get(session, pid).status is ParticipantStatus.ACTIVE
    assert _count(app, Participant) == 1


# ---------------------------------------------------------------------------------------------
# CSV imports


STAFF_CSV = (
    "name,phone,email,roles,active\n"
    "Ann Example,07700 900140,ann@example.org,on_call;duty_manager,yes\n"
    "Bob Sample,+447700900141,,on_call,\n"
)


def test_a_staff_import_preview_lists_the_rows_and_writes_nothing_then_confirm_imports_them(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = _browser(app, clock, joan)
    before = _count(app, Staff)
    preview = _upload(browser, "/staff/import", STAFF_CSV.encode())
    assert preview.status_code == 200
    html = _html(preview)
    assert "2 staff will be created" in html
    assert '<td data-label="Name">Ann Example</td>' in html
    assert '<td data-label="Phone">+447700900140</td>' in html
    assert '<td data-label="Roles">duty_manager; on_call</td>' in html
    assert _count(app, Staff) == before  # nothing written

    carried = _carried(html)
    done = browser.post("/staff/import", {"step": "confirm", "carried": carried})
    assert done.status_code == 303
    with services_of(app).db.transaction() as session:
        ann = staff.active_by_phone(session, "+447700900140")
        bob = staff.active_by_phone(session, "+447700900141")
        assert ann is not None and bob is not None
        assert sorted(ann.roles) == [StaffRole.DUTY_MANAGER, StaffRole.ON_CALL]
    assert _count(app, Staff) == before + 2
    assert "Imported 2 staff." in _html(browser.get("/staff"))


def test_a_staff_import_with_bad_lines_lists_each_by_line_and_offers_no_import(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = _browser(app, clock, joan)
    before = _count(app, Staff)
    content = (
        "name,phone,email,roles,active\n"
        "Ann Example,07700 900140,,on_call,\n"
        ",07700 900142,,on_call,\n"
        f"Cal Dunn,{ADMIN_PHONE},,on_call,\n"
        "Dee Fox,0770,,on_call,\n"
        "Eve Gale,07700 900140,,on_call,\n"
    )
    preview = _upload(browser, "/staff/import", content.encode())
    assert preview.status_code == 422
    html = _html(preview)
    assert "4 lines have problems: nothing will be imported" in html
    lines = dict(re.findall(r'<tr><th scope="row">(\d+)</th><td>([^<]*)</td></tr>', html))
    assert lines["3"].startswith("name:")
    assert "is already the phone of staff member" in lines["4"]
    assert lines["5"].startswith("phone:")
    assert "is already the phone of staff member" in lines["6"]  # line 2's, in the same file
    assert "1 line is fine" in html and '<td data-label="Name">Ann Example</td>' in html
    assert 'name="carried"' not in html
    assert _count(app, Staff) == before


def test_a_participant_import_preview_and_confirm_create_exactly_the_previewed_rows(
    app: Flask, clock: FakeClock, dana: Person, owen: Person
) -> None:
    content = (
        "reference,name,phones,responsible_officer_email,risk_level,status\n"
        "R3001,Lee Grant,07700 900701;07700 900702,owen@example.org,medium,\n"
        "R3002,Mo Hart,+447700900703,,low,active\n"
    )
    browser = _browser(app, clock, dana)
    preview = _upload(browser, "/participants/import", content.encode())
    assert preview.status_code == 200
    html = _html(preview)
    assert "2 participants will be created" in html
    assert '<td data-label="Phones">+447700900701; +447700900702</td>' in html
    assert _count(app, Participant) == 0
    assert _count(app, RecordAccess) == 0

    done = browser.post("/participants/import", {"step": "confirm", "carried": _carried(html)})
    assert done.status_code == 303
    with services_of(app).db.transaction() as session:
        rows = session.scalars(select(Participant).order_by(Participant.reference)).all()
        assert [(p.reference, p.phones, p.responsible_officer_id) for p in rows] == [
            ("R3001", ["+447700900701", "+447700900702"], owen.staff_id),
            ("R3002", ["+447700900703"], None),
        ]
        logged = session.scalars(select(RecordAccess).order_by(RecordAccess.id)).all()
        assert [(e.action, e.participant_id) for e in logged] == [
            ("change", rows[0].id),
            ("change", rows[1].id),
        ]


def test_a_participant_import_names_an_unknown_officer_and_a_duplicate_reference_by_line(
    app: Flask, clock: FakeClock, dana: Person
) -> None:
    content = (
        "reference,name,phones,responsible_officer_email,risk_level,status\n"
        "R3001,Lee Grant,07700 900701,nobody@example.org,medium,\n"
        "R3002,Mo Hart,07700 900703,,low,\n"
        "R3002,Ned Ives,07700 900704,,low,\n"
    )
    browser = _browser(app, clock, dana)
    html = _html(_upload(browser, "/participants/import", content.encode()))
    lines = dict(re.findall(r'<tr><th scope="row">(\d+)</th><td>([^<]*)</td></tr>', html))
    assert lines["2"] == (
        "responsible_officer_email: no member of staff has the email nobody@example.org"
    )
    assert "R3002" in lines["4"] and lines["4"].startswith("reference:")
    assert _count(app, Participant) == 0


def test_confirming_imports_nothing_if_the_file_no_longer_passes(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    """Between the preview and the confirm step someone else took a number in the file: the
    confirm step checks again, imports nothing and says why."""
    browser = _browser(app, clock, joan)
    html = _html(_upload(browser, "/staff/import", STAFF_CSV.encode()))
    with services_of(app).db.transaction() as session:
        staff.create(
            session,
            staff.NewStaff("Zed Quinn", "+447700900141", None, [StaffRole.ON_CALL]),
            actor="test",
            now=clock.now(),
        )
    before = _count(app, Staff)
    done = browser.post("/staff/import", {"step": "confirm", "carried": _carried(html)})
    assert done.status_code == 422
    assert "Something changed since the preview, so nothing was imported" in _html(done)
    assert _count(app, Staff) == before


def test_a_tampered_or_another_persons_preview_is_refused(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    other_admin = enrolled(app, "Kim Lowe", "+447700900125", [StaffRole.ADMIN], now=clock.now())
    browser = _browser(app, clock, joan)
    carried = _carried(_html(_upload(browser, "/staff/import", STAFF_CSV.encode())))
    before = _count(app, Staff)
    forged = browser.post("/staff/import", {"step": "confirm", "carried": carried[:-3] + "abc"})
    assert forged.status_code == 422
    assert "could not be read back" in _html(forged)
    wrong_kind = browser.post("/participants/import", {"step": "confirm", "carried": carried})
    assert "another kind of import" in _html(wrong_kind)
    someone_else = _browser(app, clock, other_admin)
    someone_else.get("/staff/import")
    theirs = someone_else.post("/staff/import", {"step": "confirm", "carried": carried})
    assert theirs.status_code == 422
    assert "someone else's" in _html(theirs)
    clock.advance(dt.timedelta(minutes=31))
    browser = _browser(app, clock, joan)
    browser.get("/staff/import")
    late = browser.post("/staff/import", {"step": "confirm", "carried": carried})
    assert "more than 30 minutes old" in _html(late)
    assert _count(app, Staff) == before


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"name,phone\n\xff\xfe\x00bad", "people.csv", "not UTF-8 text"),
        (b"\x89PNG\r\n", "photo.png", "photo.png is not a CSV file"),
        (b"name,phone,email,roles,active\nA,\x00\n", "people.csv", "binary data"),
        (b"", "people.csv", "The file is empty."),
        (b"a" * (MAX_IMPORT_BYTES + 1), "big.csv", "larger than 1 MB"),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_message(
    app: Flask, clock: FakeClock, joan: Person, content: bytes, filename: str, message: str
) -> None:
    browser = _browser(app, clock, joan)
    page = _upload(browser, "/staff/import", content, filename)
    assert page.status_code == 422
    assert message in _html(page)
    assert 'name="carried"' not in _html(page)


def test_a_file_without_the_columns_names_the_missing_ones(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = _browser(app, clock, joan)
    page = _upload(browser, "/staff/import", b"full name;mobile\nAnn;07700900140\n")
    assert page.status_code == 422
    assert "missing column(s): name, phone, email, roles, active" in _html(page)


def test_an_upload_far_past_the_limit_is_refused_before_it_is_read(
    app: Flask, clock: FakeClock, joan: Person
) -> None:
    browser = _browser(app, clock, joan)
    page = _upload(browser, "/staff/import", b"a" * 4_000_000)
    assert page.status_code == 413
    assert page.mimetype == "text/html"


# ---------------------------------------------------------------------------------------------
# Escalation policies


def test_a_duty_manager_reads_every_policy_in_words(
    app: Flask, clock: FakeClock, dana: Person
) -> None:
    browser = _browser(app, clock, dana)
    listing = _html(browser.get("/policies"))
    for name in ("crisis-call", "crisis-sms", "missed-call", "risk-alert"):
        assert f'href="/policies/{name}"' in listing
    assert '<a href="/policies" aria-current="page">Policies</a>' in listing
    page = browser.get("/policies/crisis-call")
    assert page.status_code == 200
    html = _html(page)
    assert "<li>First, ring and text the primary rota.</li>" in html
    assert "<li>If nobody takes it within 2 minutes, ring and text the backup rota.</li>" in html
    assert (
        "<li>If nobody takes it within 2 minutes, ring and text the duty-manager rota and the "
        "primary rota.</li>"
    ) in html
    assert "start again from the first step, twice more." in html
    assert "Editing stays in the API" in html
    assert browser.get("/policies/no-such-policy").status_code == 404
