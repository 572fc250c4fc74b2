"""Which participants a grant reaches, on a real database: an officer's caseload, the men whose
contacts a worker handled in the last 7 days or is handling now, everyone for an ALL grant; and
whether reading one is the person's own, needs a break-glass reason, or is refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from crisisline import caseloads, contacts, participants, staff
from crisisline.caseloads import Access
from crisisline.clock import FakeClock
from crisisline.conversation_models import SmsConversation
from crisisline.models import Channel, Direction, Participant, RiskLevel, StaffRole
from crisisline.permissions import HANDLED_WITHIN_DAYS, Actor, Permission
from tests.support.app import services_of

LINE = "+447700900000"
READ = Permission.PARTICIPANTS_READ


@dataclass(frozen=True)
class Caseloads:
    """Staff (by role) and participants (by how they are reached), by name."""

    staff: dict[str, int]
    men: dict[str, int]

    def person(self, name: str, *roles: StaffRole) -> Actor:
        return Actor(kind="person", name=name, staff_id=self.staff[name], roles=frozenset(roles))


@pytest.fixture
def world(app: Flask, clock: FakeClock) -> Caseloads:
    """Gareth is Aled's officer; Amira took Bryn's call two days ago and Cai's eight days ago,
    and is handling Dafydd's texts now; Sian is Ffion's officer and took Gwyn's call
    yesterday; nobody has anything to do with Emyr."""
    svc = services_of(app)
    now = clock.now()
    people: dict[str, int] = {}
    men: dict[str, int] = {}
    with svc.db.transaction() as session:
        for name, phone, roles in (
            ("Gareth", "+447700900201", [StaffRole.RESPONSIBLE_OFFICER]),
            ("Amira", "+447700900101", [StaffRole.ON_CALL]),
            ("Sian", "+447700900202", [StaffRole.RESPONSIBLE_OFFICER, StaffRole.ON_CALL]),
            ("Priya", "+447700900103", [StaffRole.DUTY_MANAGER]),
        ):
            people[name] = staff.create(
                session, staff.NewStaff(name, phone, None, roles), actor="t", now=now
            ).id
        for number, (name, officer) in enumerate(
            (
                ("Aled", "Gareth"),
                ("Bryn", None),
                ("Cai", None),
                ("Dafydd", None),
                ("Emyr", None),
                ("Ffion", "Sian"),
                ("Gwyn", None),
            ),
            start=1,
        ):
            men[name] = participants.create(
                session,
                participants.NewParticipant(
                    f"R40{number:02d}",
                    name,
                    [f"+4477009005{number:02d}"],
                    people[officer] if officer else None,
                    RiskLevel.MEDIUM,
                ),
                actor="t",
                now=now,
            ).id

        def call(man: str, handler: str, ago: dt.timedelta) -> None:
            contacts.record(
                session,
                channel=Channel.VOICE,
                direction=Direction.INBOUND,
                from_number=None,
                to_number=LINE,
                twilio_sid=None,
                started_at=now - ago,
                participant_id=men[man],
                handled_by_staff_id=people[handler],
            )

        call("Bryn", "Amira", dt.timedelta(days=2))
        call("Cai", "Amira", dt.timedelta(days=8))
        call("Gwyn", "Sian", dt.timedelta(days=1))
        session.add(
            SmsConversation(
                phone="+447700900504",
                participant_id=men["Dafydd"],
                status="open",
                handled_by_staff_id=people["Amira"],
                opened_at=now - dt.timedelta(days=30),
                last_message_at=now - dt.timedelta(days=9),
            )
        )
    return Caseloads(people, men)


def reached(app: Flask, actor: Actor, permission: Permission, now: dt.datetime) -> set[str]:
    """The names of the participants `permission` reaches for `actor`."""
    condition = caseloads.participant_filter(actor, permission, now)
    query = select(Participant.name)
    if condition is not None:
        query = query.where(condition)
    with services_of(app).db.transaction() as session:
        return set(session.scalars(query))


def test_an_officer_reaches_his_caseload(app: Flask, clock: FakeClock, world: Caseloads) -> None:
    gareth = world.person("Gareth", StaffRole.RESPONSIBLE_OFFICER)
    assert reached(app, gareth, READ, clock.now()) == {"Aled"}
    assert reached(app, gareth, Permission.ALERTS_WRITE, clock.now()) == {"Aled"}


def test_a_worker_reaches_the_men_he_handled_in_the_last_7_days_or_is_handling_now(
    app: Flask, clock: FakeClock, world: Caseloads
) -> None:
    amira = world.person("Amira", StaffRole.ON_CALL)
    # Cai's call was eight days ago; Dafydd's open conversation counts however old it is.
    assert reached(app, amira, READ, clock.now()) == {"Bryn", "Dafydd"}
    assert reached(app, amira, Permission.CONTACTS_READ, clock.now()) == {"Bryn", "Dafydd"}


def test_the_7_days_end_exactly_7_days_after_the_contact(
    app: Flask, clock: FakeClock, world: Caseloads
) -> None:
    amira = world.person("Amira", StaffRole.ON_CALL)
    bryns_call = clock.now() - dt.timedelta(days=2)
    last = bryns_call + dt.timedelta(days=HANDLED_WITHIN_DAYS)
    assert "Bryn" in reached(app, amira, READ, last)
    assert "Bryn" not in reached(app, amira, READ, last + dt.timedelta(seconds=1))


def test_an_officer_who_is_also_on_call_reaches_his_caseload_and_the_men_he_handled(
    app: Flask, clock: FakeClock, world: Caseloads
) -> None:
    """The grant of the wider-ranked role was the only one used: Sian, an officer and on-call
    worker, reached Ffion (her caseload) but was refused Gwyn, whose call she took yesterday."""
    sian = world.person("Sian", StaffRole.RESPONSIBLE_OFFICER, StaffRole.ON_CALL)
    assert reached(app, sian, READ, clock.now()) == {"Ffion", "Gwyn"}
    # Alerts are the officer's grant alone: his caseload, not the men he took calls from.
    assert reached(app, sian, Permission.ALERTS_READ, clock.now()) == {"Ffion"}


def test_an_all_grant_reaches_everyone_and_no_grant_reaches_no_one(
    app: Flask, clock: FakeClock, world: Caseloads
) -> None:
    priya = world.person("Priya", StaffRole.DUTY_MANAGER)
    assert caseloads.participant_filter(priya, READ, clock.now()) is None
    assert len(reached(app, priya, READ, clock.now())) == 7
    amira = world.person("Amira", StaffRole.ON_CALL)
    assert reached(app, amira, Permission.ALERTS_READ, clock.now()) == set()
    assert reached(app, amira, Permission.ROTAS_READ, clock.now()) == set()  # her shifts only
    reader = Actor(kind="integration", name="case-system", scopes=frozenset({READ}))
    assert caseloads.participant_filter(reader, READ, clock.now()) is None
    assert reached(app, reader, Permission.CONTACTS_READ, clock.now()) == set()


def test_reading_one_participant_is_own_needs_a_reason_or_is_refused(
    app: Flask, clock: FakeClock, world: Caseloads
) -> None:
    now, men = clock.now(), world.men
    gareth = world.person("Gareth", StaffRole.RESPONSIBLE_OFFICER)
    amira = world.person("Amira", StaffRole.ON_CALL)
    sian = world.person("Sian", StaffRole.RESPONSIBLE_OFFICER, StaffRole.ON_CALL)
    priya = world.person("Priya", StaffRole.DUTY_MANAGER)
    admin = Actor(kind="person", name="Owen", staff_id=None, roles=frozenset({StaffRole.ADMIN}))
    reader = Actor(kind="integration", name="case-system", scopes=frozenset({READ}))
    cases = {
        ("Gareth", "Aled"): (gareth, "Aled"),
        ("Gareth", "Emyr"): (gareth, "Emyr"),
        ("Amira", "Bryn"): (amira, "Bryn"),
        ("Amira", "Cai"): (amira, "Cai"),
        ("Sian", "Gwyn"): (sian, "Gwyn"),
        ("Priya", "Emyr"): (priya, "Emyr"),
        ("Owen", "Aled"): (admin, "Aled"),
        ("case-system", "Emyr"): (reader, "Emyr"),
    }
    with services_of(app).db.transaction() as session:
        answers = {
            key: caseloads.access(session, actor, READ, men[man], now)
            for key, (actor, man) in cases.items()
        }
        own_contacts = caseloads.access(session, gareth, Permission.CONTACTS_READ, men["Aled"], now)
        no_scope = caseloads.access(session, reader, Permission.CONTACTS_READ, men["Emyr"], now)
        assert caseloads.is_own(session, amira, men["Bryn"], now)
        assert not caseloads.is_own(session, priya, men["Emyr"], now)
    assert answers == {
        ("Gareth", "Aled"): Access.OWN,
        ("Gareth", "Emyr"): Access.REFUSED,  # outside his caseload: no reason opens it
        ("Amira", "Bryn"): Access.OWN,
        ("Amira", "Cai"): Access.REFUSED,  # handled eight days ago
        ("Sian", "Gwyn"): Access.OWN,
        ("Priya", "Emyr"): Access.WITH_REASON,  # break-glass
        ("Owen", "Aled"): Access.WITH_REASON,  # an administrator has no caseload of his own
        ("case-system", "Emyr"): Access.OWN,  # an integration gives no reason
    }
    assert own_contacts is Access.OWN
    assert no_scope is Access.REFUSED


def test_a_duty_manager_who_handled_a_call_reads_that_man_without_a_reason(
    app: Flask, clock: FakeClock, world: Caseloads
) -> None:
    svc = services_of(app)
    with svc.db.transaction() as session:
        contacts.record(
            session,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            from_number=None,
            to_number=LINE,
            twilio_sid=None,
            started_at=clock.now(),
            participant_id=world.men["Emyr"],
            handled_by_staff_id=world.staff["Priya"],
        )
    priya = world.person("Priya", StaffRole.DUTY_MANAGER)
    with svc.db.transaction() as session:
        assert caseloads.access(session, priya, READ, world.men["Emyr"], clock.now()) is Access.OWN
        assert (
            caseloads.access(session, priya, READ, world.men["Aled"], clock.now())
            is Access.WITH_REASON
        )
