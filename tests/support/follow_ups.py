"""A small team for follow-up tests: two officers, an on-call worker, a duty manager, a clinical
lead, participants on each officer's caseload (and one with none), and handled calls whose notes
ask the officer to follow up (written through `contact_notes.add_version`, as the note form does).
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from flask import Flask

from crisisline import contact_notes, contacts, participants, staff
from crisisline.clock import FakeClock
from crisisline.contact_notes import NoteInput
from crisisline.models import Channel, ContactOutcome, Direction, RiskLevel, StaffRole
from crisisline.note_models import RiskNow
from crisisline.permissions import Actor
from tests.support.app import services_of
from tests.support.console import Browser, enrol
from tests.support.console import Person as ConsolePerson

_numbers = itertools.count(1)


@dataclass(frozen=True)
class Member:
    """A member of staff and the actor a request of theirs acts as."""

    staff_id: int
    name: str
    phone: str
    roles: tuple[StaffRole, ...]

    @property
    def actor(self) -> Actor:
        """The actor the gate would find for this person."""
        return Actor(
            kind="person", name=self.name, staff_id=self.staff_id, roles=frozenset(self.roles)
        )


@dataclass(frozen=True)
class Team:
    """Who is who in a follow-up test."""

    officer: Member  # Olive Marsh: R2001 and R2003 are hers
    other_officer: Member  # Owen Pike: R2002 is his
    worker: Member  # Will Avery, on call: took the calls
    manager: Member  # Dana Fenn, duty manager
    lead: Member  # Clara Holt, clinical lead
    mine: int  # participant R2001 (Olive's)
    mine_too: int  # participant R2003 (Olive's)
    his: int  # participant R2002 (Owen's)
    nobodys: int  # participant R2004, no officer


def add_member(app: Flask, name: str, phone: str, *roles: StaffRole) -> Member:
    """Add a member of staff with `roles`."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        member = staff.create(
            session,
            staff.NewStaff(name, phone, None, list(roles)),
            actor="tests",
            now=svc.clock.now(),
        )
        return Member(member.id, name, phone, tuple(roles))


def add_participant(app: Flask, reference: str, name: str, phone: str, officer: int | None) -> int:
    """Add a participant on `officer`'s caseload; his id."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        return participants.create(
            session,
            participants.NewParticipant(reference, name, [phone], officer, RiskLevel.HIGH),
            actor="tests",
            now=svc.clock.now(),
        ).id


def make_team(app: Flask) -> Team:
    """The team and four participants."""
    officer = add_member(app, "Olive Marsh", "+447700900301", StaffRole.RESPONSIBLE_OFFICER)
    other = add_member(app, "Owen Pike", "+447700900302", StaffRole.RESPONSIBLE_OFFICER)
    worker = add_member(app, "Will Avery", "+447700900303", StaffRole.ON_CALL)
    manager = add_member(app, "Dana Fenn", "+447700900304", StaffRole.DUTY_MANAGER)
    lead = add_member(app, "Clara Holt", "+447700900305", StaffRole.CLINICAL_LEAD)
    return Team(
        officer=officer,
        other_officer=other,
        worker=worker,
        manager=manager,
        lead=lead,
        mine=add_participant(app, "R2001", "Adam Reed", "+447700900401", officer.staff_id),
        his=add_participant(app, "R2002", "Ben Shaw", "+447700900402", other.staff_id),
        mine_too=add_participant(app, "R2003", "Carl Dunn", "+447700900403", officer.staff_id),
        nobodys=add_participant(app, "R2004", "Dean Fry", "+447700900404", None),
    )


def handled_call(app: Flask, participant_id: int | None, worker: Member, at: dt.datetime) -> int:
    """A call from the participant that the worker accepted and that has ended; its id."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        contact, _ = contacts.record(
            session,
            channel=Channel.VOICE,
            direction=Direction.INBOUND,
            from_number=f"+447700900{500 + next(_numbers) % 100}",
            to_number="+447700900000",
            twilio_sid=None,
            started_at=at,
            participant_id=participant_id,
            outcome=ContactOutcome.ANSWERED,
            handled_by_staff_id=worker.staff_id,
        )
        contact.ended_at = at + dt.timedelta(minutes=12)
        return contact.id


def write_note(
    app: Flask,
    contact_id: int,
    author: Member,
    at: dt.datetime,
    *,
    follow_up: str | None,
    reason: str | None = None,
) -> int:
    """Write the next version of the contact's note (asking for `follow_up` if given)."""
    svc = services_of(app)
    with svc.db.transaction() as session:
        handled = contact_notes.handled_contact(session, contact_id)
        assert handled is not None
        note = contact_notes.add_version(
            session,
            handled,
            NoteInput(
                what_happened="He was low after a row at the hostel; we talked it through.",
                risk_now=RiskNow.MEDIUM,
                follow_up_wanted=follow_up is not None,
                follow_up_what=follow_up,
                correction_reason=reason,
            ),
            author=f"staff:{author.staff_id}",
            author_staff_id=author.staff_id,
            now=at,
        )
        return note.id


def ask(
    app: Flask, team: Team, participant_id: int | None, at: dt.datetime, what: str = "Ring him"
) -> int:
    """A call the worker took at `at` and a note asking the officer to follow up; the contact."""
    contact_id = handled_call(app, participant_id, team.worker, at)
    write_note(app, contact_id, team.worker, at + dt.timedelta(minutes=20), follow_up=what)
    return contact_id


def signed_in(app: Flask, clock: FakeClock, member: Member) -> Browser:
    """A browser signed in to the console as `member` (enrolled as an invitation leaves them)."""
    secret, codes = enrol(services_of(app).db, member.staff_id, clock.now())
    browser = Browser(app)
    answer = browser.sign_in(
        ConsolePerson(member.staff_id, member.name, member.phone, None, secret, codes), clock
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return browser
