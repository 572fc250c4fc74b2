"""The reports page in the console: a duty manager (or the clinical lead) chooses a period (a
preset or local days), reads every figure under its group and the headline ones against their
targets in words, breaks them down (by staff member only for those two roles), follows a figure
to exactly the contacts it counts (logged as a read of those participants), downloads both as
CSV that parses back to the same figures, and sees the charts as SVG under the chart's own
content security policy.

The figures come from a measure module of this file (`Trial`), passed in through the app's
`REPORT_MODULES`: it reads the period's contacts from the real database and counts them as
worked out by hand below. The real measure modules (calls, texts, ...) are checked through the
page by `test_after_merge_the_real_call_measures_fill_the_page_and_the_drill_down`, which
passes only once those modules are merged in.
"""

from __future__ import annotations

import csv
import datetime as dt
import html as html_module
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import contacts, participants, report_views, reports, service_report, staff
from crisisline.clock import FakeClock
from crisisline.errors import InvalidInput
from crisisline.models import (
    Channel,
    ContactOutcome,
    Direction,
    RecordAccess,
    RiskLevel,
    StaffRole,
)
from crisisline.permissions import Actor, Permission
from crisisline.reports import Breakdown, Figure
from tests.support.app import services_of
from tests.support.console import Browser, Person, enrol
from tests.support.reports_trial import Trial, trial_measures

LINE = "+447700900000"
BODY = "BODY-do not show this"
# Thursday 26 November 2026, 12:00 UTC (the conftest clock): local time is GMT all month.
PERIOD = "from=2026-11-16&to=2026-11-26"


@pytest.fixture
def trial(app: Flask) -> Iterator[None]:
    """The trial measures defined and the page reading them (and only them)."""
    with trial_measures(app):
        yield


# ---- the people and the contacts ------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """The contacts of the period and around it, and who is who."""

    calls: dict[str, int]
    people: dict[str, int]
    staff: dict[str, int]


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def _data(app: Flask) -> Data:
    now = services_of(app).clock.now()
    with services_of(app).db.transaction() as session:
        people_staff = {
            name: staff.create(
                session, staff.NewStaff(name, phone, None, roles), actor="test", now=now
            ).id
            for name, phone, roles in (
                ("Priya Natarajan", "+447700900101", [StaffRole.DUTY_MANAGER]),
                ("Cara Lewis", "+447700900102", [StaffRole.CLINICAL_LEAD]),
                ("Amira Okafor", "+447700900103", [StaffRole.ON_CALL]),
                ("Tom Hughes", "+447700900104", [StaffRole.ON_CALL]),
                ("Olu Bello", "+447700900105", [StaffRole.RESPONSIBLE_OFFICER]),
                ("Sam Admin", "+447700900106", [StaffRole.ADMIN]),
            )
        }
        people = {
            reference: participants.create(
                session,
                participants.NewParticipant(
                    reference, name, [phone], people_staff["Olu Bello"], RiskLevel.MEDIUM
                ),
                actor="test",
                now=now,
            ).id
            for reference, name, phone in (
                ("R2001", "Daniel Price", "+447700900201"),
                ("R2002", "Marcus Webb", "+447700900202"),
            )
        }
        amira, tom = people_staff["Amira Okafor"], people_staff["Tom Hughes"]
        plan = {
            # Tuesday 17 November, by day: answered by Amira after 20 s.
            "c1": (_at(17, 10), "R2001", ContactOutcome.ANSWERED, amira, 20),
            # The same night, 02:00: missed after 45 s.
            "c2": (_at(17, 2), "R2001", ContactOutcome.MISSED, None, 45),
            # Monday 23 November: answered by Tom after 70 s.
            "c3": (_at(23, 14), "R2002", ContactOutcome.ANSWERED, tom, 70),
            # Wednesday 25 November, 03:30 (the night is 00:00 to 06:00): an unknown caller,
            # missed after 10 s.
            "c4": (_at(25, 3, 30), None, ContactOutcome.MISSED, None, 10),
            # Thursday 26 November, 09:00: answered by Amira after 5 s.
            "c8": (_at(26, 9), "R2001", ContactOutcome.ANSWERED, amira, 5),
            # Before the period (Sunday 15 November, 23:30 and 23:59): never counted, even
            # the call that ends inside it.
            "before": (_at(15, 23, 30), "R2002", ContactOutcome.ANSWERED, tom, 30),
            "ends_inside": (_at(15, 23, 59), "R2002", ContactOutcome.ANSWERED, tom, 30),
        }
        calls: dict[str, int] = {}
        for key, (at, reference, outcome, handler, wait) in plan.items():
            contact, _ = contacts.record(
                session,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                from_number="+447700900999" if reference is None else "+447700900201",
                to_number=LINE,
                twilio_sid=None,
                started_at=at,
                participant_id=people[reference] if reference else None,
                outcome=outcome,
                handled_by_staff_id=handler,
            )
            contact.wait_seconds = wait
            contact.ended_at = at + dt.timedelta(minutes=5)
            calls[key] = contact.id
        text, _ = contacts.record(
            session,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            from_number="+447700900202",
            to_number=LINE,
            twilio_sid=None,
            started_at=_at(24, 9),
            participant_id=people["R2002"],
            body=BODY,
            outcome=ContactOutcome.RELAYED,
        )
        calls["text"] = text.id
    return Data(calls, people, people_staff)


def _signed_in(app: Flask, clock: FakeClock, data: Data, name: str, phone: str) -> Browser:
    staff_id = data.staff[name]
    secret, codes = enrol(services_of(app).db, staff_id, clock.now())
    browser = Browser(app)
    browser.sign_in(Person(staff_id, name, phone, None, secret, codes), clock)
    return browser


def _manager(app: Flask, clock: FakeClock, data: Data) -> Browser:
    return _signed_in(app, clock, data, "Priya Natarajan", "+447700900101")


def _text(page: object) -> str:
    return html_module.unescape(page.get_data(as_text=True))  # type: ignore[attr-defined]


def _csv(page: object) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(page.get_data(as_text=True))))  # type: ignore[attr-defined]


# ---- the page ------------------------------------------------------------------------------


def test_the_page_shows_every_measure_by_group_and_the_headline_against_targets(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)
    page = priya.get(f"/reports?{PERIOD}")
    assert page.status_code == 200
    html = _text(page)
    assert 'href="/reports" aria-current="page">Reports</a>' in html
    assert "From Mon 16 Nov 2026 to Thu 26 Nov 2026, local days in Europe/London." in html
    # Every defined measure is on the page, under its group's heading.
    for measure in reports.MEASURES.values():
        assert measure.label in html, measure.key
    assert ">Trial calls</h2>" in html and ">Trial rota</h2>" in html
    # Worked out by hand: calls c1, c2, c3, c4, c8 (not the two before the period); three
    # answered; every wait recorded (5, 10, 20, 45, 70: median by nearest rank, the 3rd).
    assert "Trial calls: 5, the contacts it counts" in html
    assert "Trial answered: 60.0%, the contacts it counts" in html
    assert "(3 of 5)" in html
    assert "Trial median wait: 20 s, the contacts it counts" in html
    assert "Trial gap hours: 1.5 h" in html and "<li>primary: 1.5 h</li>" in html
    # The headline: the targets and met or not, in words (not by colour alone).
    assert (
        'Target at least 90.0%: <span class="report-verdict report-missed">Not met</span>' in html
    )
    assert 'Target at most 5.0%: <span class="report-verdict report-met">Met</span>' in html
    # Each figure links to its drill-down.
    assert 'href="/reports/contacts?measure=trial.calls&amp;from=2026-11-16&amp;to=2026-11-26"' in (
        page.get_data(as_text=True)
    )
    # The charts, each with its table; the weeks are Monday 16 and Monday 23 November.
    for name in ("answer-rate", "time-to-answer", "time-to-call-back", "contacts-by-hour"):
        assert f'<img src="/reports/charts/{name}.svg?from=2026-11-16&amp;to=2026-11-26"' in (
            page.get_data(as_text=True)
        )
    assert "<caption>Answer rate by week</caption>" in html
    assert '<th scope="row">Mon 16 Nov 2026</th><td>50.0%</td>' in html
    assert '<th scope="row">Mon 23 Nov 2026</th><td>66.7%</td>' in html
    assert "Heat map of 6 contacts" in html  # five calls and one text conversation
    # Tuesday: c1 at 10:00 and c2 at 02:00 (GMT: local is UTC).
    assert "<caption>Contacts by weekday and hour</caption>" in html
    assert BODY not in html and "+447700900201" not in html


def test_the_presets_and_the_default_period(app: Flask, clock: FakeClock, trial: None) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)

    def days(query: str) -> tuple[str, str]:
        html = _text(priya.get(f"/reports{query}"))
        first = html.split('id="report-from" value="')[1].split('"')[0]
        last = html.split('id="report-to" value="')[1].split('"')[0]
        return first, last

    # The last 7 whole days, as the API and the CLI default to: today is not over.
    assert days("") == ("2026-11-19", "2026-11-25")
    assert days("?preset=last_7_days") == ("2026-11-19", "2026-11-25")
    assert days("?preset=yesterday") == ("2026-11-25", "2026-11-25")
    assert days("?preset=this_month") == ("2026-11-01", "2026-11-26")
    assert days("?preset=last_month") == ("2026-10-01", "2026-10-31")
    # Only `from`: until today.
    assert days("?from=2026-11-24") == ("2026-11-24", "2026-11-26")
    html = _text(priya.get("/reports?preset=yesterday"))
    assert "Trial calls: 1, the contacts it counts" in html  # c4 only


def test_a_day_it_cannot_read_or_a_reversed_period_shows_the_form_again_with_the_message(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)
    cases = {
        "/reports?from=2026-11-26&to=2026-11-20": ("to", "Must be on or after the first day."),
        "/reports?from=teatime&to=2026-11-20": (
            "from",
            "'teatime' is not a date: write it as YYYY-MM-DD.",
        ),
        "/reports?from=2026-02-30&to=2026-03-02": (
            "from",
            "'2026-02-30' is not a date: write it as YYYY-MM-DD.",
        ),
        "/reports?from=2024-01-01&to=2026-11-20": ("to", "A report covers at most 366 days."),
        "/reports?from=1999-12-31&to=2000-01-02": ("from", "Give a date from 2000 to 2199."),
        "/reports?to=2026-11-20": ("from", "Give the first day of the period."),
        "/reports?breakdown=everything": ("breakdown", "Choose one of the breakdowns listed."),
    }
    for path, (name, message) in cases.items():
        page = priya.get(path)
        assert page.status_code == 422, path
        html = _text(page)
        assert f'<p class="error" id="report-{name}-error">{message}</p>' in html, path
        assert f'aria-invalid="true" aria-describedby="report-{name}-error"' in html, path
        assert "Against the targets" not in html, path
    page = priya.get("/reports?preset=someday")
    assert page.status_code == 422
    assert 'id="report-preset-error">Choose one of: yesterday' in _text(page)
    # What was typed is kept in the field.
    assert 'value="2026-11-26"' in _text(priya.get("/reports?from=2026-11-26&to=2026-11-20"))
    # The CSV and the charts answer the same messages as plain text.
    refused = priya.get("/reports.csv?from=2026-11-26&to=2026-11-20")
    assert refused.status_code == 422
    assert refused.get_data(as_text=True) == "to: Must be on or after the first day.\n"
    assert priya.get("/reports/charts/answer-rate.svg?from=nope").status_code == 422


# ---- the staff breakdown --------------------------------------------------------------------


def test_the_duty_manager_and_clinical_lead_break_down_by_staff_member(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    for name, phone in (("Priya Natarajan", "+447700900101"), ("Cara Lewis", "+447700900102")):
        browser = _signed_in(app, clock, data, name, phone)
        page = browser.get(f"/reports?{PERIOD}&breakdown=staff")
        assert page.status_code == 200, name
        html = _text(page)
        assert '<option value="staff" selected>Staff member</option>' in html
        assert '<h2 id="h-breakdown">By staff member</h2>' in html
        assert "<summary>Amira Okafor</summary>" in html
        assert "<summary>Tom Hughes</summary>" in html
        assert "<summary>nobody</summary>" in html
    by_night = _text(_manager(app, clock, data).get(f"/reports?{PERIOD}&breakdown=day_night"))
    assert "<summary>day</summary>" in by_night and "<summary>night</summary>" in by_night


def test_the_staff_breakdown_is_refused_to_anyone_but_those_two_roles(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    # Nobody else holds reports:read: the page itself is refused to them.
    for name, phone in (
        ("Amira Okafor", "+447700900103"),
        ("Olu Bello", "+447700900105"),
        ("Sam Admin", "+447700900106"),
    ):
        browser = _signed_in(app, clock, data, name, phone)
        for path in (
            f"/reports?{PERIOD}&breakdown=staff",
            f"/reports.csv?{PERIOD}&breakdown=staff",
            f"/reports/contacts?measure=trial.calls&{PERIOD}&breakdown=staff&group=Tom+Hughes",
            f"/reports/charts/answer-rate.svg?{PERIOD}",
        ):
            page = browser.get(path)
            assert page.status_code == 403, (name, path)
            assert "Tom Hughes" not in page.get_data(as_text=True)
        assert 'href="/reports"' not in browser.get("/").get_data(as_text=True)
    # And the rule itself: a person holding one of the two roles, never an integration token,
    # whatever its scopes; a refusal names the field with a clear message.
    integration = Actor("integration", "commissioner", scopes=frozenset({Permission.REPORTS_READ}))
    admin = Actor("person", "Sam", staff_id=1, roles=frozenset({StaffRole.ADMIN}))
    lead = Actor("person", "Cara", staff_id=2, roles=frozenset({StaffRole.CLINICAL_LEAD}))
    asked = report_views.Asked(dt.date(2026, 11, 16), dt.date(2026, 11, 26), breakdown="staff")
    for actor in (integration, admin):
        assert not report_views.may_break_down_by_staff(actor)
        with pytest.raises(InvalidInput) as refused:
            report_views.check_breakdown(actor, asked)
        assert refused.value.field == "breakdown"
        assert "duty managers and the clinical lead only" in refused.value.message
    assert report_views.may_break_down_by_staff(lead)
    report_views.check_breakdown(lead, asked)


# ---- the drill-down -------------------------------------------------------------------------


def _options(app: Flask) -> report_views.Options:
    svc = services_of(app)
    return report_views.Options(
        zone=svc.settings.zone,
        night=svc.risk_rules.night,
        targets=service_report.targets_from(svc.settings),
        modules=(Trial(),),
    )


def _figure(
    app: Flask, key: str, breakdown: Breakdown | None = None, group: str | None = None
) -> Figure:
    svc = services_of(app)
    with svc.db.transaction() as session:
        found = report_views.report(
            session,
            report_views.Asked(dt.date(2026, 11, 16), dt.date(2026, 11, 26), breakdown=breakdown),
            _options(app),
        )
    figures = found.groups[group] if group else found.figures
    return next(f for f in figures if f.key == key)


def test_the_drill_down_lists_exactly_the_contacts_the_figure_counts(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)
    calls = data.calls
    cases: list[tuple[str, str, Breakdown | None, str | None, set[str]]] = [
        ("trial.calls", "", None, None, {"c1", "c2", "c3", "c4", "c8"}),
        ("trial.answered_share", "", None, None, {"c1", "c3", "c8"}),
        (
            "trial.calls",
            "&breakdown=staff&group=Amira+Okafor",
            "staff",
            "Amira Okafor",
            {"c1", "c8"},
        ),
        ("trial.calls", "&breakdown=day_night&group=night", "day_night", "night", {"c2", "c4"}),
    ]
    for key, extra, breakdown, group, expected in cases:
        wanted = sorted(calls[name] for name in expected)
        assert list(_figure(app, key, breakdown, group).contact_ids) == wanted
        page = priya.get(f"/reports/contacts?measure={key}&{PERIOD}{extra}")
        assert page.status_code == 200, (key, extra)
        html = _text(page)
        count = len(wanted)
        assert f"counting {count} contact{'' if count == 1 else 's'}." in html
        assert html.count('<td data-label="Time">') == count
        listed = _csv(priya.get(f"/reports/contacts.csv?measure={key}&{PERIOD}{extra}"))
        assert sorted(int(row["contact_id"]) for row in listed) == wanted, (key, extra)
    html = _text(priya.get(f"/reports/contacts?measure=trial.calls&{PERIOD}"))
    # Time, channel, what became of it, participant by reference (linked), who handled it.
    assert "Tue 17 Nov, 10:00" in html and "call inbound" in html
    assert "answered, waited 20 s" in html and "missed, waited 45 s" in html
    assert f'<a href="/participants/{data.people["R2001"]}">R2001</a>' in html
    assert "unknown caller" in html and "Amira Okafor" in html and "nobody" in html
    assert "+4477009002" not in html and "+447700900999" not in html and BODY not in html
    # A group nobody is in lists nobody; a group without its breakdown is refused.
    html = _text(
        priya.get(f"/reports/contacts?measure=trial.calls&{PERIOD}&breakdown=hour&group=05")
    )
    assert "Not measured in this period." in html and "No contacts." in html
    page = priya.get(f"/reports/contacts?measure=trial.calls&{PERIOD}&group=night")
    assert page.status_code == 422
    assert "Give the breakdown the group belongs to." in _text(page)


def test_an_unknown_measure_is_not_found(app: Flask, clock: FakeClock, trial: None) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)
    assert priya.get(f"/reports/contacts?measure=calls.imaginary&{PERIOD}").status_code == 404
    assert priya.get(f"/reports/contacts.csv?measure=&{PERIOD}").status_code == 404
    assert priya.get("/reports/charts/pie.svg").status_code == 404


def test_reading_the_contacts_is_logged_once_per_participant_listed(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)

    def logged() -> list[tuple[int | None, str]]:
        with services_of(app).db.transaction() as session:
            rows = session.execute(
                select(RecordAccess.participant_id, RecordAccess.record_type).where(
                    RecordAccess.actor == f"staff:{data.staff['Priya Natarajan']}",
                    RecordAccess.record_type == "report_contacts",
                )
            ).all()
        return sorted((row[0], row[1]) for row in rows)

    # The figures alone name nobody: nothing is logged.
    priya.get(f"/reports?{PERIOD}")
    priya.get(f"/reports.csv?{PERIOD}")
    assert logged() == []
    priya.get(f"/reports/contacts?measure=trial.calls&{PERIOD}")
    both = sorted((data.people[ref], "report_contacts") for ref in ("R2001", "R2002"))
    assert logged() == both  # the unknown caller is nobody's record
    priya.get(
        f"/reports/contacts.csv?measure=trial.calls&{PERIOD}&breakdown=staff&group=Amira+Okafor"
    )
    assert logged() == sorted([*both, (data.people["R2001"], "report_contacts")])


# ---- CSV and charts -------------------------------------------------------------------------


def test_the_csv_parses_back_to_the_figures(app: Flask, clock: FakeClock, trial: None) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)
    for breakdown, filename in (
        ("", "service-report-2026-11-16-to-2026-11-26.csv"),
        ("weekday", "service-report-2026-11-16-to-2026-11-26-by-weekday.csv"),
    ):
        answer = priya.get(f"/reports.csv?{PERIOD}&breakdown={breakdown}")
        assert answer.status_code == 200
        assert answer.mimetype == "text/csv"
        assert answer.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
        rows = _csv(answer)
        svc = services_of(app)
        with svc.db.transaction() as session:
            report = report_views.report(
                session,
                report_views.Asked(
                    dt.date(2026, 11, 16),
                    dt.date(2026, 11, 26),
                    breakdown=cast(Breakdown, breakdown) if breakdown else None,
                ),
                _options(app),
            )
        expected = [("all", f) for f in report.figures] + [
            (label, f) for label, figures in report.groups.items() for f in figures
        ]
        assert len(rows) == len(expected)
        for row, (group, figure) in zip(rows, expected, strict=True):
            assert row["group"] == group and row["measure"] == figure.key
            read = float(row["value"]) if row["value"] else None
            assert read == pytest.approx(figure.value) if figure.value is not None else read is None
            assert row["numerator"] == ("" if figure.numerator is None else str(figure.numerator))
            assert int(row["contacts"]) == len(figure.contact_ids)
        calls = next(r for r in rows if r["group"] == "all" and r["measure"] == "trial.calls")
        assert calls["value"] == "5" and calls["contacts"] == "5"
        if breakdown:
            tuesday = next(r for r in rows if r["group"] == "Tue" and r["measure"] == "trial.calls")
            assert tuesday["value"] == "2"
    contacts_csv = priya.get(f"/reports/contacts.csv?measure=trial.answered_share&{PERIOD}")
    assert contacts_csv.headers["Content-Disposition"] == (
        'attachment; filename="report-contacts-trial-answered-share-2026-11-16-to-2026-11-26.csv"'
    )
    listed = _csv(contacts_csv)
    assert [row["participant"] for row in listed] == ["R2001", "R2002", "R2001"]
    assert BODY not in contacts_csv.get_data(as_text=True)


def test_the_charts_are_svg_with_the_chart_policy(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)
    for name in ("answer-rate", "time-to-answer", "time-to-call-back", "contacts-by-hour"):
        chart = priya.get(f"/reports/charts/{name}.svg?{PERIOD}")
        assert chart.status_code == 200, name
        assert chart.mimetype == "image/svg+xml"
        svg = chart.get_data(as_text=True)
        assert "<svg" in svg and BODY not in svg
        policy = chart.headers["Content-Security-Policy"]
        assert "style-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
        assert "script-src" not in policy
    answer_rate = priya.get(f"/reports/charts/answer-rate.svg?{PERIOD}").get_data(as_text=True)
    assert "16 Nov" in answer_rate and "23 Nov" in answer_rate and "Target" in answer_rate
    heat = priya.get(f"/reports/charts/contacts-by-hour.svg?{PERIOD}").get_data(as_text=True)
    assert "Mon" in heat and "Sun" in heat
    # The page itself keeps the console's policy: no inline style.
    page_policy = priya.get(f"/reports?{PERIOD}").headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page_policy


# ---- the real measure modules ---------------------------------------------------------------


def test_the_real_call_measures_fill_the_page_and_the_drill_down(
    app: Flask, clock: FakeClock
) -> None:
    """The page through the real measure modules: the calls offered, listed oldest first."""
    data = _data(app)
    priya = _manager(app, clock, data)
    html = _text(priya.get(f"/reports?{PERIOD}"))
    assert reports.MEASURES["calls.offered"].label in html
    assert reports.MEASURES["calls.answer_rate"].label in html
    listed = _csv(priya.get(f"/reports/contacts.csv?measure=calls.offered&{PERIOD}"))
    wanted = sorted(data.calls[name] for name in ("c1", "c2", "c3", "c4", "c8"))
    assert sorted(int(row["contact_id"]) for row in listed) == wanted
    started = [row["started_at"] for row in listed]
    assert started == sorted(started)  # the drill-down lists the oldest first
    figures = _csv(priya.get(f"/reports.csv?{PERIOD}"))
    offered = next(r for r in figures if r["measure"] == "calls.offered")
    assert offered["value"] == "5"


def test_a_day_across_the_autumn_clock_change_is_its_25_local_hours(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    priya = _manager(app, clock, data)
    # Sunday 25 October 2026: BST until 01:00 UTC, GMT after; the local day runs from
    # 24 October 23:00 UTC to 26 October 00:00 UTC.
    with services_of(app).db.transaction() as session:
        made = {}
        for key, at in {
            "before": dt.datetime(2026, 10, 24, 22, 59, tzinfo=dt.UTC),  # 23:59 BST on the 24th
            "first": dt.datetime(2026, 10, 24, 23, 0, tzinfo=dt.UTC),  # 00:00 BST
            "repeated": dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC),  # the second 01:30
            "last": dt.datetime(2026, 10, 25, 23, 59, tzinfo=dt.UTC),  # 23:59 GMT
            "after": dt.datetime(2026, 10, 26, 0, 0, tzinfo=dt.UTC),  # Monday 00:00 GMT
        }.items():
            contact, _ = contacts.record(
                session,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                from_number="+447700900201",
                to_number=LINE,
                twilio_sid=None,
                started_at=at,
                participant_id=data.people["R2001"],
                outcome=ContactOutcome.MISSED,
            )
            made[key] = contact.id
    listed = _csv(
        priya.get("/reports/contacts.csv?measure=trial.calls&from=2026-10-25&to=2026-10-25")
    )
    assert sorted(int(row["contact_id"]) for row in listed) == sorted(
        made[key] for key in ("first", "repeated", "last")
    )
    html = _text(priya.get("/reports?from=2026-10-25&to=2026-10-25"))
    # The heat map's table by local hour: Sunday 00, 01 and 23.
    sunday = html.split('<th scope="row">Sun</th>')[1].split("</tr>")[0]
    cells = [cell.split("</td>")[0] for cell in sunday.split("<td>")[1:]]
    assert cells[0] == "1" and cells[1] == "1" and cells[23] == "1"
    assert sum(int(cell) for cell in cells) == 3


def test_a_long_drill_down_lists_the_first_contacts_and_logs_only_those(
    app: Flask, clock: FakeClock, trial: None
) -> None:
    data = _data(app)
    svc = services_of(app)
    asked = report_views.Asked(dt.date(2026, 11, 16), dt.date(2026, 11, 26))
    measure = reports.MEASURES["trial.calls"]
    with svc.db.transaction() as session:
        drill = report_views.drill_down(session, asked, measure, None, _options(app), limit=2)
    # Contacts c1 and c2 (the first recorded; c2 the older), both R2001's; the figure still
    # counts five.
    assert [row.contact_id for row in drill.rows] == [data.calls["c2"], data.calls["c1"]]
    assert drill.total == 5
    assert drill.participant_ids == [data.people["R2001"]]
    page = _text(_manager(app, clock, data).get(f"/reports/contacts?measure=trial.calls&{PERIOD}"))
    assert "counting 5 contacts." in page and "are listed here" not in page
