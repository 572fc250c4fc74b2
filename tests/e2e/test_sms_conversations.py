"""Crisis texts end to end through the simulator: acknowledged, relayed with a code, answered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crisisline import participants as participant_service
from crisisline import rota_service, staffing
from crisisline.clock import FakeClock
from crisisline.escalation_models import EscalationRecord
from crisisline.models import Direction
from tests.support.sms_line import (
    ACK,
    BACKUP,
    CRISIS,
    DANIEL,
    DANIEL_NEW,
    MANAGER,
    MARCUS,
    NEW_PHONE,
    PRIMARY,
    STEP_WAIT,
    UNKNOWN,
    SmsLine,
    bodies_of,
    daniel_reaches_primary,
    escalation_status,
    plan_links,
    start_line,
)


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    yield from start_line(tmp_path, database_url, clock)


def test_a_text_is_acknowledged_reaches_on_call_with_a_code_and_the_reply_reaches_the_participant(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "it's a bad night, they're after me")
    line.dispatch()

    line.phone(DANIEL).expect_sms(ACK, from_=CRISIS)
    relay = line.phone(PRIMARY).expect_sms(
        "R1001 D. Price (1): it's a bad night, they're after me", from_=CRISIS
    )
    line.phone(PRIMARY).expect_sms("Reply 1 and your message", from_=CRISIS)

    relay.reply("1 I'm here Daniel. Are you somewhere safe?")
    line.dispatch()
    reply = line.phone(DANIEL).expect_sms("I'm here Daniel. Are you somewhere safe?")
    # Masked: the participant sees the crisis number, never the worker's own.
    assert reply.from_ == CRISIS
    assert reply.body == "I'm here Daniel. Are you somewhere safe?"
    taken = line.phone(PRIMARY).expect_sms("You have taken 1", from_=CRISIS)
    # Only she had been alerted: nothing about "the others".
    assert taken.body == (
        "Resettle crisis line: sent to R1001 D. Price. You have taken 1. Reply 1c to close it."
    )

    # The participant answers; it goes to the worker who took it, nobody else.
    line.text(DANIEL, "at my mum's")
    line.dispatch()
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): at my mum's")

    # Taken: the escalation no longer climbs.
    line.wait(STEP_WAIT * 3)
    (conversation,) = line.conversations()
    assert conversation.handled_by_staff_id == line.ids[PRIMARY]
    # Every text in and out is on the participant's record with who sent it.
    timeline = [
        (c.direction, c.body, c.handled_by_staff_id)
        for c in line.contacts()
        if c.participant_id == line.ids[DANIEL]
    ]
    assert timeline == [
        (Direction.INBOUND, "it's a bad night, they're after me", None),
        (
            Direction.OUTBOUND,
            ACK + ". A worker will reply soon. If you are in danger now, call 999.",
            None,
        ),
        (Direction.OUTBOUND, "I'm here Daniel. Are you somewhere safe?", line.ids[PRIMARY]),
        (Direction.INBOUND, "at my mum's", None),
    ]
    assert plan_links(line) == {PRIMARY: 1}


def test_no_reply_escalates_to_the_backup_whose_reply_takes_it_and_tells_the_primary(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "help")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): help")
    line.phone(PRIMARY).expect_sms("Reply 1")

    line.wait(STEP_WAIT)
    # Step two of crisis-sms: primary again and the backup, by text and by call.
    line.phone(BACKUP).expect_sms("R1001 D. Price (1): help")
    line.phone(BACKUP).expect_sms("Reply 1")
    line.phone(BACKUP).expect_call()
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): help")
    line.phone(PRIMARY).expect_sms("Reply 1")
    line.phone(PRIMARY).expect_call()

    line.phone(BACKUP).reply("1 This is Tom from Resettle, I'm here")
    line.dispatch()
    line.phone(DANIEL).expect_sms("This is Tom from Resettle, I'm here", from_=CRISIS)
    taken = line.phone(BACKUP).expect_sms("You have taken 1")
    assert taken.body == (
        "Resettle crisis line: sent to R1001 D. Price. You have taken 1. "
        "The other person alerted has been told. Reply 1c to close it."
    )
    line.phone(PRIMARY).expect_sms("was taken by Tom Hughes")

    line.wait(STEP_WAIT * 3)
    line.phone(MANAGER).expect_no_sms()
    assert plan_links(line) == {BACKUP: 1}


def test_two_participants_at_once_are_kept_apart_by_their_codes(line: SmsLine) -> None:
    line.text(DANIEL, "Daniel here, bad night")
    line.text(MARCUS, "Marcus, can someone ring me")
    line.dispatch()
    for number in (DANIEL, MARCUS):
        line.phone(number).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): Daniel here")
    line.phone(PRIMARY).expect_sms("Reply 1")
    line.phone(PRIMARY).expect_sms("R1002 M. Reid (2): Marcus")
    line.phone(PRIMARY).expect_sms("Reply 2")

    # Without a code, with two open, nothing goes to anyone: the worker is asked to choose.
    line.phone(PRIMARY).reply("On my way")
    line.dispatch()
    help_ = line.phone(PRIMARY).expect_sms("NOT SENT")
    assert "1 R1001 D. Price" in help_.body and "2 R1002 M. Reid" in help_.body

    line.phone(PRIMARY).reply("2 Marcus, I'll ring you in 5 minutes")
    line.phone(PRIMARY).reply("1: Daniel, what's happened?")
    line.dispatch()
    line.phone(MARCUS).expect_sms("Marcus, I'll ring you in 5 minutes")
    line.phone(DANIEL).expect_sms("Daniel, what's happened?")
    line.phone(PRIMARY).expect_sms("You have taken 2")
    line.phone(PRIMARY).expect_sms("You have taken 1")
    line.phone(MARCUS).expect_no_sms()
    line.phone(DANIEL).expect_no_sms()
    assert plan_links(line) == {PRIMARY: 2}


def test_an_unregistered_number_texting_a_staff_command_is_a_crisis_text_not_a_command(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "hello?")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("(1): hello?")
    line.phone(PRIMARY).expect_sms("Reply 1")

    line.text(UNKNOWN, "1 you have been hacked")
    line.text(UNKNOWN, "1c")
    line.text(UNKNOWN, "WHO")
    line.dispatch()
    # Daniel's conversation is untouched: nothing reached him, it is still open and untaken.
    line.phone(DANIEL).expect_no_sms()
    conversations = line.conversations()
    assert [c.status for c in conversations] == ["open", "open"]
    assert conversations[0].handled_by_staff_id is None
    # The unknown sender is served as a person in crisis: acknowledged once, relayed.
    line.phone(UNKNOWN).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms(f"{UNKNOWN} (2): 1 you have been hacked")
    line.phone(PRIMARY).expect_sms("Reply 2")
    line.phone(PRIMARY).expect_sms(f"{UNKNOWN} (2): 1c")
    line.phone(PRIMARY).expect_sms(f"{UNKNOWN} (2): WHO")
    line.phone(UNKNOWN).expect_no_sms()


def test_emoji_and_1600_character_texts_reach_staff_whole_and_staff_emoji_reach_the_participant(
    line: SmsLine,
) -> None:
    line.text(DANIEL, "I'm scared 😞 please")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("R1001 D. Price (1): I'm scared 😞 please")
    line.phone(PRIMARY).expect_sms("Reply 1")

    words = " ".join(f"word{i}" for i in range(400))[:1600]
    assert len(words) == 1600
    line.text(DANIEL, words)
    line.dispatch()
    parts = []
    while True:
        try:
            parts.append(line.phone(PRIMARY).expect_sms(matches=r"^\(\d+/\d+\) ").body)
        except AssertionError:
            break
    assert len(parts) > 1
    total = len(parts)
    assert all(p.startswith(f"({n}/{total}) ") for n, p in enumerate(parts, 1))
    joined = " ".join(p.split(" ", 1)[1] for p in parts)
    assert joined == f"R1001 D. Price (1): {words}"

    line.phone(PRIMARY).reply("1 You're not alone 💙 I'm calling you now")
    line.dispatch()
    line.phone(DANIEL).expect_sms("You're not alone 💙 I'm calling you now")
    line.phone(PRIMARY).expect_sms("You have taken 1")
    assert plan_links(line) == {PRIMARY: 1}


def test_a_repeated_message_sid_changes_nothing_and_gets_the_same_answer(line: SmsLine) -> None:
    line.text(DANIEL, "are you there")
    first = line.sim.requests[-1]
    again = line.sim.post_webhook("sms", first.url, first.params)
    assert (again.status_code, again.body) == (first.status_code, first.body)
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).expect_sms("(1): are you there")
    line.phone(PRIMARY).expect_sms("Reply 1")
    assert len(line.conversations()) == 1
    assert len([c for c in line.contacts() if c.direction is Direction.INBOUND]) == 1
    # A retried staff reply is relayed once too.
    line.phone(PRIMARY).reply("1 yes, I'm here")
    request = line.sim.requests[-1]
    line.sim.post_webhook("sms", request.url, request.params)
    line.dispatch()
    line.phone(DANIEL).expect_sms("yes, I'm here")
    line.phone(DANIEL).expect_no_sms()
    line.phone(PRIMARY).expect_sms("You have taken 1")
    assert plan_links(line) == {PRIMARY: 1}


def test_the_acknowledgement_goes_once_per_conversation(line: SmsLine) -> None:
    for body in ("hello", "anyone?", "please"):
        line.text(DANIEL, body)
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(DANIEL).expect_no_sms()
    line.phone(PRIMARY).ignore_unexpected()


def test_with_nobody_on_call_the_texter_gets_the_crisis_numbers_at_once(line: SmsLine) -> None:
    with line.svc.db.transaction() as session:
        for number in (PRIMARY, BACKUP, MANAGER):
            staffing.deactivate_staff(session, line.ids[number], actor="t", now=line.clock.now())
    line.text(UNKNOWN, "is anyone there")
    line.dispatch()
    reply = line.phone(UNKNOWN).expect_sms("If your life is at risk call 999")
    assert ACK not in reply.body


# ---- people who change while a conversation is open (safety reviews) --------------------------


@pytest.mark.hazard("H52")
def test_a_deactivated_worker_no_longer_receives_the_participants_texts(
    lenient_line: SmsLine,
) -> None:
    """Deactivating staff (a leaver, a lost or stolen phone) leaves their codes live.

    _staff_to_tell relays to every active *code*, whatever the staff member's state, and
    _handed_over asks is_on_call, which does not check `active`: so the participant's words
    keep going to the deactivated phone and nobody active is told. The deactivated worker
    cannot even reply (their texts are now treated as a stranger's crisis texts).
    """
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(PRIMARY).reply("1 I'm here Daniel")
    line.dispatch()
    with line.svc.db.transaction() as session:
        staffing.deactivate_staff(session, line.ids[PRIMARY], actor="t", now=line.clock.now())
    line.clock.advance(dt.timedelta(minutes=40))
    before = len(line.phone(PRIMARY).inbox)

    line.text(DANIEL, "I've taken all my tablets")
    line.dispatch()

    leaked = [m.body for m in line.phone(PRIMARY).inbox[before:]]
    assert not any("tablets" in body for body in leaked), (
        f"a deactivated worker's phone received the participant's words: {leaked}"
    )
    reached = [
        m.body for n in (BACKUP, MANAGER) for m in line.phone(n).inbox if "tablets" in m.body
    ]
    assert reached, "no active member of staff was given the participant's text"


@pytest.mark.hazard("H69")
def test_a_workers_changed_phone_number_stops_the_participants_words_going_to_the_old_phone(
    lenient_line: SmsLine,
) -> None:
    """A worker's phone is lost and the manager puts their new number on their record.

    `staff.update` changes `Staff.phone` but leaves the worker's live `EscalationCode` rows on
    the old number, and `_staff_to_tell` relays to `code.phone`: Daniel's next texts still go
    to the lost phone (whoever holds it now reads a participant's crisis), and the worker's new
    phone holds no code, so their "1 ..." replies are NOT SENT.
    """
    line = lenient_line
    daniel_reaches_primary(line)
    line.phone(PRIMARY).reply("1 I'm here Daniel")
    line.dispatch()
    with line.svc.db.transaction() as session:
        staffing.update_staff(
            session, line.ids[PRIMARY], {"phone": NEW_PHONE}, actor="manager", now=line.clock.now()
        )
    line.clock.advance(dt.timedelta(minutes=2))
    before_old = len(bodies_of(line, PRIMARY))

    line.text(DANIEL, "my flat mate has gone out, I am on my own now")
    line.dispatch()

    leaked = [b for b in bodies_of(line, PRIMARY)[before_old:] if "on my own" in b]
    assert leaked == [], "the participant's words went to the worker's old (lost) phone"
    assert any("on my own" in b for b in bodies_of(line, NEW_PHONE))


@pytest.mark.hazard("H85")
def test_a_workers_reply_does_not_go_to_a_number_taken_off_the_participants_record(
    lenient_line: SmsLine,
) -> None:
    """Daniel texts, the worker takes it; then Daniel's phone is stolen and his record is
    changed to his new number. The open conversation is keyed on the old number and still
    labelled "R1001 D. Price", so the worker's next reply (written to Daniel, perhaps naming
    his hostel or his officer) goes to the stolen phone, and the worker is not told.
    """
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(PRIMARY).reply("1 I'm here Daniel, talk to me")
    line.dispatch()
    before = len(line.phone(DANIEL).inbox)
    with line.svc.db.transaction() as session:
        participant_service.update(
            session,
            line.ids[DANIEL],
            {"phones": [DANIEL_NEW]},
            actor="manager",
            now=line.clock.now(),
            zone=ZoneInfo("Europe/London"),
        )
    line.clock.advance(dt.timedelta(minutes=1))
    line.phone(PRIMARY).reply("1 Daniel, is your officer still Sarah at the Leeds office?")
    line.dispatch()

    leaked = [m.body for m in line.phone(DANIEL).inbox[before:] if "Leeds" in m.body]
    assert leaked == [], "a worker's words to Daniel went to a number no longer his"


# ---- chases that run out or go quiet (safety reviews) -----------------------------------------


@pytest.mark.hazard("H53")
def test_a_new_text_after_the_chain_ran_out_is_chased_again(lenient_line: SmsLine) -> None:
    """After crisis-sms is exhausted, later texts in the same conversation are only relayed.

    _participant_text hands over only an *acknowledged* conversation; an exhausted one just
    relays to the people who already ignored nine notifications. No escalation, no call, no
    incident and no acknowledgement to the participant: the conversation stays open (it is
    never idle while he keeps texting), so he can text for days and nobody is chased.
    """
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    for _ in range(9):  # three steps, three rounds
        line.wait(STEP_WAIT)
    assert escalation_status(line, DANIEL) == "exhausted"

    line.clock.advance(dt.timedelta(hours=2))
    line.text(DANIEL, "is anyone there? I'm on the bridge")
    line.dispatch()

    with line.svc.db.transaction() as session:
        open_ = session.scalars(
            select(EscalationRecord).where(
                EscalationRecord.subject_type == "sms_conversation",
                EscalationRecord.status == "open",
            )
        ).all()
    assert open_, "a participant's new text after exhaustion is not chased by anyone"


@pytest.mark.hazard("H70")
def test_the_chase_after_an_exhausted_chain_does_not_tell_staff_no_action_is_needed(
    lenient_line: SmsLine,
) -> None:
    """H53's re-escalation closes the exhausted escalation with the handover operator.

    Closing an escalation nobody took sends every person notified "... was closed by crisis line
    (handed over). No action needed." - in the same breath as Daniel's new plea, to the very
    people who must now act on it.
    """
    line = lenient_line
    daniel_reaches_primary(line)
    for _ in range(12):  # the whole chain runs out: nobody takes it
        line.wait(STEP_WAIT)
    with line.svc.db.transaction() as session:
        (record,) = session.scalars(
            select(EscalationRecord).where(EscalationRecord.subject_type == "sms_conversation")
        ).all()
        assert record.status == "exhausted"
    counts = {n: len(bodies_of(line, n)) for n in (PRIMARY, BACKUP, MANAGER)}

    line.text(DANIEL, "nobody is answering me")
    line.dispatch()

    told = [b for n in (PRIMARY, BACKUP, MANAGER) for b in bodies_of(line, n)[counts[n] :]]
    assert any("nobody is answering me" in b for b in told)
    assert not [b for b in told if "No action needed" in b], told


@pytest.mark.hazard("H68")
def test_a_text_to_a_worker_who_took_the_conversation_hours_ago_and_went_quiet_is_chased(
    lenient_line: SmsLine,
) -> None:
    """3 a.m.: the worker took Daniel's conversation at 11 p.m., then fell asleep (on call).

    Once a conversation is taken, each later text is relayed only to the taker; the escalation
    stays `acknowledged`, the handover only happens when the taker is off every rota, and the
    conversation is not closed for 24 hours. A new plea hours later reaches one sleeping phone
    and nobody else, ever: no step, no backup, no duty manager.
    """
    line = lenient_line
    daniel_reaches_primary(line)
    line.phone(PRIMARY).reply("1 I'm here, talk to me")
    line.dispatch()

    line.clock.advance(dt.timedelta(hours=4))
    line.text(DANIEL, "are you there? please answer")
    line.dispatch()
    for _ in range(6):  # half an hour with no answer from the taker
        line.wait(dt.timedelta(minutes=5))

    chased = [b for number in (BACKUP, MANAGER) for b in bodies_of(line, number)]
    assert [b for b in chased if "please answer" in b or "Crisis text" in b], chased


# ---- nobody on call (safety review) -----------------------------------------------------------


@pytest.mark.hazard("H56")
def test_with_nobody_on_call_the_crisis_numbers_go_even_soon_after_an_earlier_acknowledgement(
    lenient_line: SmsLine,
) -> None:
    """_auto_reply rate-limits the acknowledgement and the fallback together (10 minutes per
    number). A conversation closed a few minutes ago used up the allowance, so when the next
    one reaches nobody (a gap in every rota) the participant is not sent the crisis numbers:
    silence, where H20 promises the crisis numbers at once."""
    line = lenient_line
    line.text(DANIEL, "I need to talk")
    line.dispatch()
    line.phone(DANIEL).expect_sms(ACK)
    line.phone(PRIMARY).reply("1 Hi Daniel, call you tomorrow")
    line.phone(PRIMARY).reply("1c")
    line.dispatch()
    now = line.clock.now()
    with line.svc.db.transaction() as session:
        for name in ("primary", "backup", "duty-manager"):
            staffing.add_override(
                session,
                line.ids[name],
                rota_service.NewOverride(
                    staff_id=None,
                    start=now,
                    end=now + dt.timedelta(hours=12),
                    mode="replace",
                    reason="gap",
                ),
                actor="t",
                now=now,
            )
    line.clock.advance(dt.timedelta(minutes=3))
    line.text(DANIEL, "actually it's got worse")
    line.dispatch()
    second = [c for c in line.conversations() if c.status == "open"]
    assert len(second) == 1
    with line.svc.db.transaction() as session:
        reached = session.get_one(EscalationRecord, second[0].escalation_id)
        assert reached.status == "exhausted"  # nobody on call: the chain reached nobody
    bodies = [m.body for m in line.phone(DANIEL).inbox]
    assert any("116 123" in body for body in bodies), (
        f"nobody is on call and the participant got no crisis numbers: {bodies}"
    )
