"""The console's subject access pages, for the administrator: the open requests with their
deadlines in words, logging one (422 beside the field for bad input), the request's page with
export (a zip streamed from memory, logged), extend, complete and withdraw; and every other role
refused every action (403)."""

from __future__ import annotations

import datetime as dt
import html as html_text
import io
import json
import re
import zipfile

import pytest
from flask import Flask
from sqlalchemy import func, select

from crisisline.clock import FakeClock
from crisisline.data_protection_models import SubjectAccessRequest, SubjectAccessStatus
from crisisline.models import AuditEntry, RecordAccess, StaffRole
from crisisline.telephony import FakeTelephony
from tests.support.app import services_of
from tests.support.console import Browser, Person, enrolled
from tests.support.subject_access import LOST_RECORDING, Record, seed

PATHS_GET = ("/subject-access", "/subject-access/new", "/subject-access/{id}")
PATHS_POST = (
    "/subject-access/new",
    "/subject-access/{id}/export",
    "/subject-access/{id}/extend",
    "/subject-access/{id}/complete",
    "/subject-access/{id}/withdraw",
)


@pytest.fixture
def record(app: Flask, telephony: FakeTelephony) -> Record:
    return seed(app, telephony)


@pytest.fixture
def admin(app: Flask, clock: FakeClock, record: Record) -> Browser:
    who = enrolled(app, "Delphine Okoro", "+447700900420", [StaffRole.ADMIN], now=clock.now())
    browser = Browser(app)
    browser.sign_in(who, clock)
    return browser


def _text(page: object) -> str:
    body = page.get_data(as_text=True)  # type: ignore[attr-defined]
    return " ".join(html_text.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _log(admin: Browser, reference: str = "R3001", received: str = "2026-11-20") -> int:
    admin.get("/subject-access/new")
    page = admin.post(
        "/subject-access/new",
        {"participant": reference, "received": received, "detail": "A letter to the office"},
    )
    assert page.status_code == 303, page.get_data(as_text=True)
    return int(page.headers["Location"].rsplit("/", 1)[1])


def test_the_administrator_logs_a_request_and_sees_its_deadline_in_words(
    app: Flask, clock: FakeClock, admin: Browser
) -> None:
    # Today is Thursday 26 November 2026: received 20 November, due 20 December.
    request_id = _log(admin)
    listed = admin.get("/subject-access")
    assert listed.status_code == 200
    assert "Request 1: R3001" in _text(listed)
    assert "due in 24 days" in _text(listed)
    page = admin.get(f"/subject-access/{request_id}")
    assert "due in 24 days (Sunday 20 December 2026)" in _text(page)
    assert "A letter to the office" in _text(page)
    with services_of(app).db.transaction() as session:
        request = session.get(SubjectAccessRequest, request_id)
        assert request is not None and request.due_on == dt.date(2026, 12, 20)
        assert request.logged_by.startswith("staff:")
        logged = session.scalars(select(AuditEntry).where(AuditEntry.action == "sar.logged")).all()
        assert [e.record_id for e in logged] == [request_id]
        # Opening the request's page is reading his record: logged.
        reads = session.scalars(
            select(RecordAccess).where(RecordAccess.record_type == "subject_access_request")
        ).all()
        assert [(e.action, e.record_id) for e in reads] == [("read", request_id)]


@pytest.mark.hazard("H282")
def test_overdue_and_soon_due_requests_are_flagged(
    app: Flask, clock: FakeClock, admin: Browser
) -> None:
    _log(admin, "R3001", "2026-10-24")  # due 24 November: two days overdue
    _log(admin, "R3002", "2026-10-31")  # due 30 November: in 4 days
    text = _text(admin.get("/subject-access"))
    assert "OVERDUE by 2 days" in text
    assert "due in 4 days" in text
    assert text.index("OVERDUE by 2 days") < text.index("due in 4 days")  # soonest first
    body = admin.get("/subject-access").get_data(as_text=True)
    assert "sar-overdue" in body and "sar-soon" in body


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"participant": "R9999", "received": "2026-11-20"}, "participant", "No participant has"),
        ({"participant": "", "received": "2026-11-20"}, "participant", "Give the participant"),
        ({"participant": "R3001", "received": "20/11/2026"}, "received", "such as 2026-11-26"),
        ({"participant": "R3001", "received": "2026-11-27"}, "received", "cannot be in the future"),
        (
            {"participant": "R3001", "received": "2026-11-20", "detail": "x" * 2001},
            "detail",
            "At most 2000 characters",
        ),
    ],
)
def test_bad_input_is_refused_beside_its_field(
    app: Flask, admin: Browser, form: dict[str, str], field: str, message: str
) -> None:
    admin.get("/subject-access/new")
    page = admin.post("/subject-access/new", form)
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert f'id="{field}-error"' in body
    assert message in html_text.unescape(body)
    with services_of(app).db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(SubjectAccessRequest)) == 0


@pytest.mark.hazard("H283")
def test_export_streams_the_zip_logs_it_and_warns_of_a_missing_recording(
    app: Flask, admin: Browser, record: Record, telephony: FakeTelephony
) -> None:
    request_id = _log(admin)
    admin.get(f"/subject-access/{request_id}")
    download = admin.client.post(
        f"/subject-access/{request_id}/export",
        data={"csrf_token": admin.token},
        base_url="https://crisis.example.org",
        headers={"Referer": f"https://crisis.example.org/subject-access/{request_id}"},
    )
    assert download.status_code == 200
    assert download.mimetype == "application/zip"
    assert download.headers["Content-Disposition"].startswith(
        'attachment; filename="subject-access-R3001-'
    )
    assert download.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(download.data)) as bundle:
        data = json.loads(bundle.read("data.json"))
        assert f"audio/{record.voicemail}.mp3" in bundle.namelist()
    assert data["participant"]["reference"] == "R3001"
    assert data["voicemails_missing"] == [record.lost_voicemail]
    page = _text(admin.get(f"/subject-access/{request_id}"))
    assert "exported WITHOUT 1 voicemail recording(s)" in page  # the flashed notice
    assert "The last export is missing 1 voicemail recording" in page
    with services_of(app).db.transaction() as session:
        logged = session.scalars(select(RecordAccess).where(RecordAccess.action == "export")).all()
        assert [(e.actor.startswith("staff:"), e.reason) for e in logged] == [
            (True, f"subject access request {request_id}")
        ]
    # With the recording to hand again, the next export is complete and the warning goes.
    telephony.recordings[LOST_RECORDING] = b"ID3again"
    admin.client.post(
        f"/subject-access/{request_id}/export",
        data={"csrf_token": admin.token},
        base_url="https://crisis.example.org",
        headers={"Referer": f"https://crisis.example.org/subject-access/{request_id}"},
    )
    assert "The last export is missing" not in _text(admin.get(f"/subject-access/{request_id}"))


def test_extend_complete_and_withdraw(app: Flask, admin: Browser) -> None:
    first = _log(admin, "R3001", "2026-11-20")
    admin.get(f"/subject-access/{first}")
    no_reason = admin.post(f"/subject-access/{first}/extend", {"months": "2", "reason": ""})
    assert no_reason.status_code == 422
    assert 'id="reason-error"' in no_reason.get_data(as_text=True)
    bad_months = admin.post(f"/subject-access/{first}/extend", {"months": "3", "reason": "Many"})
    assert bad_months.status_code == 422
    assert 'id="months-error"' in bad_months.get_data(as_text=True)
    extended = admin.post(
        f"/subject-access/{first}/extend", {"months": "2", "reason": "Years of texts to review"}
    )
    assert extended.status_code == 303
    assert "due in 86 days" in _text(admin.get(f"/subject-access/{first}"))  # 20 February

    early = admin.post(f"/subject-access/{first}/complete")
    assert early.status_code == 422
    assert "Export the bundle before marking the request complete" in _text(early)
    admin.client.post(
        f"/subject-access/{first}/export",
        data={"csrf_token": admin.token},
        base_url="https://crisis.example.org",
        headers={"Referer": "https://crisis.example.org/subject-access"},
    )
    admin.get(f"/subject-access/{first}")
    assert admin.post(f"/subject-access/{first}/complete").status_code == 303
    again = admin.post(f"/subject-access/{first}/complete")
    assert again.status_code == 409

    second = _log(admin, "R3002", "2026-11-25")
    admin.get(f"/subject-access/{second}")
    refused = admin.post(f"/subject-access/{second}/withdraw", {"reason": ""})
    assert refused.status_code == 422
    assert 'id="withdraw-reason-error"' in refused.get_data(as_text=True)
    assert (
        admin.post(
            f"/subject-access/{second}/withdraw",
            {"reason": "He phoned to say he no longer wants it"},
        ).status_code
        == 303
    )
    assert admin.get("/subject-access/999").status_code == 404
    with services_of(app).db.transaction() as session:
        rows = {r.id: r for r in session.scalars(select(SubjectAccessRequest))}
        assert rows[first].status == SubjectAccessStatus.COMPLETED
        assert rows[first].extended_to == dt.date(2027, 2, 20)
        assert rows[second].status == SubjectAccessStatus.WITHDRAWN
        actions = [
            e.action
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.record_type == "subject_access_request"
        ]
    assert actions == [
        "sar.logged",
        "sar.extended",
        "sar.exported",
        "sar.completed",
        "sar.logged",
        "sar.withdrawn",
    ]


@pytest.mark.parametrize(
    "role",
    [
        StaffRole.ON_CALL,
        StaffRole.DUTY_MANAGER,
        StaffRole.RESPONSIBLE_OFFICER,
        StaffRole.CLINICAL_LEAD,
    ],
)
@pytest.mark.hazard("H284")
def test_every_other_role_is_refused_every_action(
    app: Flask, clock: FakeClock, record: Record, admin: Browser, role: StaffRole
) -> None:
    request_id = _log(admin)
    other: Person = enrolled(app, "Fenella Brightwater", "+447700900421", [role], now=clock.now())
    browser = Browser(app)
    browser.sign_in(other, clock)
    home = browser.get("/")
    assert "/subject-access" not in home.get_data(as_text=True)
    for path in PATHS_GET:
        assert browser.get(path.format(id=request_id)).status_code == 403, path
    for path in PATHS_POST:
        page = browser.post(
            path.format(id=request_id),
            {"participant": "R3001", "received": "2026-11-20", "months": "1", "reason": "Because"},
        )
        assert page.status_code == 403, path
    with services_of(app).db.transaction() as session:
        request = session.get(SubjectAccessRequest, request_id)
        assert request is not None
        assert (request.status, request.exports, request.extended_to) == (
            SubjectAccessStatus.OPEN,
            0,
            None,
        )
        assert session.scalar(select(func.count()).select_from(SubjectAccessRequest)) == 1
        assert (
            session.scalar(
                select(func.count())
                .select_from(RecordAccess)
                .where(RecordAccess.action == "export")
            )
            == 0
        )
    # The administrator sees the menu link.
    assert 'href="/subject-access"' in admin.get("/").get_data(as_text=True)
