"""The escalation state machine on explicit instants: nobody sleeps, nothing reads a clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from escalation import (
    Advance,
    ByOperator,
    ByPhone,
    EscalationPolicy,
    EscalationState,
    Recipient,
    RotaTarget,
    StaffTarget,
    Step,
    Target,
    acknowledge,
    advance,
    close,
    escalate_now,
    start,
)

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
PRIMARY, BACKUP, MANAGER = RotaTarget(1), RotaTarget(2), RotaTarget(3)
ALI = Recipient(staff_id=11, phone="+447700900011")
BEA = Recipient(staff_id=12, phone="+447700900012")
CAL = Recipient(staff_id=13, phone="+447700900013")
DEE = Recipient(staff_id=14, phone="+447700900014")


class OnCall:
    """Who each target means; tests change it between instants as a rota would."""

    def __init__(self, table: dict[Target, tuple[Recipient, ...]]) -> None:
        self.table = dict(table)
        self.asked: list[Target] = []

    def __call__(self, target: Target) -> Sequence[Recipient]:
        self.asked.append(target)
        return self.table.get(target, ())


def no_codes(phone: str) -> set[int]:
    return set()


def seconds(n: int) -> timedelta:
    return timedelta(seconds=n)


def three_step_policy(repeat: int = 0) -> EscalationPolicy:
    return EscalationPolicy(
        name="crisis-call",
        steps=(
            Step((PRIMARY,), ("voice", "sms"), 120),
            Step((BACKUP,), ("sms",), 300),
            Step((MANAGER,), ("voice",), 600),
        ),
        repeat=repeat,
    )


def everyone() -> OnCall:
    return OnCall({PRIMARY: (ALI,), BACKUP: (BEA,), MANAGER: (CAL,)})


def sent(decision: Advance) -> list[tuple[str, str, int, int, int]]:
    return [(n.recipient.phone, n.channel, n.step, n.loop, n.code) for n in decision.notifications]


def test_start_notifies_the_first_step_on_each_channel_and_waits_its_wait() -> None:
    decision = start(three_step_policy(), T0, everyone(), codes_in_use=no_codes)

    assert sent(decision) == [(ALI.phone, "voice", 0, 0, 1), (ALI.phone, "sms", 0, 0, 1)]
    assert decision.state.status == "open"
    assert (decision.state.step_index, decision.state.loop) == (0, 0)
    assert decision.state.next_due_at == T0 + seconds(120)
    assert decision.state.version == 1
    assert decision.state.code_for(ALI.phone) == 1
    assert not decision.is_noop
    assert decision.skipped == () and decision.gap_warnings == () and decision.incident is None


def test_each_step_fires_only_when_the_previous_wait_has_run_out() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    early = advance(policy, state, T0 + seconds(119), on_call, codes_in_use=no_codes)
    assert early.is_noop and early.noop_reason == "not_due" and early.state == state

    second = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes)
    assert sent(second) == [(BEA.phone, "sms", 1, 0, 1)]
    assert second.state.next_due_at == T0 + seconds(120 + 300)
    assert second.state.version == 2

    third = advance(policy, second.state, T0 + seconds(420), on_call, codes_in_use=no_codes)
    assert sent(third) == [(CAL.phone, "voice", 2, 0, 1)]
    assert third.state.next_due_at == T0 + seconds(1020)


def test_a_late_sweep_counts_the_next_wait_from_when_the_step_actually_fired() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    late = advance(policy, state, T0 + seconds(200), on_call, codes_in_use=no_codes)

    assert late.state.next_due_at == T0 + seconds(200 + 300)


def test_the_chain_repeats_then_is_exhausted_with_a_safety_incident() -> None:
    policy, on_call = three_step_policy(repeat=1), everyone()
    decision = start(policy, T0, on_call, codes_in_use=no_codes)
    fired = sent(decision)
    now = T0
    while decision.state.status == "open":
        assert decision.state.next_due_at is not None
        now = decision.state.next_due_at
        decision = advance(policy, decision.state, now, on_call, codes_in_use=no_codes)
        fired += sent(decision)

    assert [(phone, step, loop) for phone, _, step, loop, _ in fired] == [
        (ALI.phone, 0, 0),
        (ALI.phone, 0, 0),
        (BEA.phone, 1, 0),
        (CAL.phone, 2, 0),
        (ALI.phone, 0, 1),
        (ALI.phone, 0, 1),
        (BEA.phone, 1, 1),
        (CAL.phone, 2, 1),
    ]
    # The whole chain twice, each step waiting its own wait, then the last step's wait.
    assert now == T0 + seconds(2 * (120 + 300 + 600))
    assert decision.state.status == "exhausted"
    assert decision.state.next_due_at is None
    assert decision.state.exhausted_at == now
    assert decision.incident is not None
    assert decision.incident.at == now
    assert decision.incident.loops == 2
    assert set(decision.incident.notified) == {ALI, BEA, CAL}
    assert decision.notifications == ()


def test_a_recipient_keeps_one_code_across_steps_and_loops() -> None:
    policy = EscalationPolicy(
        "crisis-call", (Step((PRIMARY,), ("sms",), 60), Step((PRIMARY,), ("sms",), 60)), repeat=1
    )
    on_call = OnCall({PRIMARY: (ALI,)})
    decision = start(policy, T0, on_call, codes_in_use=lambda phone: {1, 2, 4})
    codes = [n.code for n in decision.notifications]
    for minute in (1, 2, 3):
        decision = advance(
            policy, decision.state, T0 + timedelta(minutes=minute), on_call, codes_in_use=no_codes
        )
        codes += [n.code for n in decision.notifications]

    assert codes == [3, 3, 3, 3]
    assert len(decision.state.codes) == 1


def test_codes_are_allocated_per_phone_from_the_lowest_free() -> None:
    in_use = {ALI.phone: {1, 2}, BEA.phone: set[int]()}
    policy = EscalationPolicy("crisis-sms", (Step((PRIMARY, BACKUP), ("sms",), 60),), repeat=0)

    decision = start(policy, T0, everyone(), codes_in_use=lambda phone: in_use[phone])

    assert sent(decision) == [(ALI.phone, "sms", 0, 0, 3), (BEA.phone, "sms", 0, 0, 1)]


def test_a_person_reached_through_two_targets_in_one_step_is_notified_once() -> None:
    policy = EscalationPolicy(
        "crisis-call", (Step((PRIMARY, StaffTarget(11)), ("sms",), 60),), repeat=0
    )
    on_call = OnCall({PRIMARY: (ALI,), StaffTarget(11): (ALI,)})

    decision = start(policy, T0, on_call, codes_in_use=no_codes)

    assert sent(decision) == [(ALI.phone, "sms", 0, 0, 1)]


def test_a_rota_target_is_resolved_when_its_step_fires_not_when_the_escalation_opens() -> None:
    policy, on_call = three_step_policy(repeat=1), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(420), on_call, codes_in_use=no_codes).state
    on_call.table[PRIMARY] = (DEE,)  # the shift changed hands

    decision = advance(policy, state, T0 + seconds(1020), on_call, codes_in_use=no_codes)

    assert sent(decision) == [(DEE.phone, "voice", 0, 1, 1), (DEE.phone, "sms", 0, 1, 1)]


# Skipping steps that reach nobody


def test_an_empty_step_is_skipped_at_once_with_a_reason_and_a_gap_warning() -> None:
    policy = three_step_policy()
    on_call = OnCall({PRIMARY: (ALI,), MANAGER: (CAL,)})  # nobody on the backup rota
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    decision = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes)

    # Straight on to the duty manager at the same instant: the backup's wait is not waited out.
    assert sent(decision) == [(CAL.phone, "voice", 2, 0, 1)]
    assert [(s.step, s.loop, s.at) for s in decision.skipped] == [(1, 0, T0 + seconds(120))]
    assert "rota_id 2" in decision.skipped[0].reason
    assert [(g.step, g.loop, g.target) for g in decision.gap_warnings] == [(1, 0, BACKUP)]
    assert decision.state.step_index == 2
    assert decision.state.next_due_at == T0 + seconds(120 + 600)


def test_an_empty_first_step_is_skipped_when_the_escalation_opens() -> None:
    policy = three_step_policy()
    on_call = OnCall({BACKUP: (BEA,)})

    decision = start(policy, T0, on_call, codes_in_use=no_codes)

    assert sent(decision) == [(BEA.phone, "sms", 1, 0, 1)]
    assert [s.step for s in decision.skipped] == [0]
    assert decision.state.next_due_at == T0 + seconds(300)


def test_a_step_that_reaches_some_targets_fires_and_warns_about_the_empty_ones() -> None:
    policy = EscalationPolicy("crisis-sms", (Step((PRIMARY, BACKUP), ("sms",), 60),), repeat=0)
    on_call = OnCall({BACKUP: (BEA,)})

    decision = start(policy, T0, on_call, codes_in_use=no_codes)

    assert sent(decision) == [(BEA.phone, "sms", 0, 0, 1)]
    assert decision.skipped == ()
    assert [(g.step, g.target) for g in decision.gap_warnings] == [(0, PRIMARY)]


def test_an_empty_last_step_loops_back_at_once() -> None:
    policy = three_step_policy(repeat=1)
    on_call = OnCall({PRIMARY: (ALI,), BACKUP: (BEA,)})
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state

    decision = advance(policy, state, T0 + seconds(420), on_call, codes_in_use=no_codes)

    assert [(s.step, s.loop) for s in decision.skipped] == [(2, 0)]
    assert sent(decision) == [(ALI.phone, "voice", 0, 1, 1), (ALI.phone, "sms", 0, 1, 1)]


def test_an_empty_last_step_of_the_last_loop_exhausts_at_once() -> None:
    policy = three_step_policy(repeat=0)
    on_call = OnCall({PRIMARY: (ALI,), BACKUP: (BEA,)})
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state

    decision = advance(policy, state, T0 + seconds(420), on_call, codes_in_use=no_codes)

    assert decision.state.status == "exhausted"
    assert decision.incident is not None and decision.incident.at == T0 + seconds(420)
    assert [(s.step, s.loop) for s in decision.skipped] == [(2, 0)]


def test_nobody_anywhere_exhausts_at_once_without_going_round_every_loop() -> None:
    policy = three_step_policy(repeat=3)

    decision = start(policy, T0, OnCall({}), codes_in_use=no_codes)

    assert decision.state.status == "exhausted"
    assert decision.state.exhausted_at == T0
    assert decision.incident is not None
    assert decision.incident.notified == ()
    assert [(s.step, s.loop) for s in decision.skipped] == [(0, 0), (1, 0), (2, 0)]
    assert len(decision.gap_warnings) == 3
    assert decision.notifications == ()


def test_a_full_chain_of_empty_steps_later_on_exhausts_at_once() -> None:
    policy = three_step_policy(repeat=3)
    on_call = everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    on_call.table.clear()  # the rota empties: a gap

    decision = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes)

    assert decision.state.status == "exhausted"
    assert [(s.step, s.loop) for s in decision.skipped] == [(1, 0), (2, 0), (0, 1)]
    assert decision.incident is not None and decision.incident.notified == (ALI,)


# Acknowledging


def test_acknowledging_during_a_step_stops_the_escalation_and_tells_the_others() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state

    decision = acknowledge(state, ByPhone(BEA.phone, 1), T0 + seconds(150))

    assert decision.state.status == "acknowledged"
    assert decision.state.next_due_at is None
    assert decision.state.acknowledged_by == ByPhone(BEA.phone, 1)
    assert decision.state.acknowledged_at == T0 + seconds(150)
    assert decision.state.version == state.version + 1
    assert [(n.recipient, n.action) for n in decision.taken_notices] == [(ALI, "acknowledged")]
    assert decision.notifications == ()
    assert not decision.late_acknowledgement
    # The step's timer, still due at T0+420, finds nothing to do.
    later = advance(policy, decision.state, T0 + seconds(420), on_call, codes_in_use=no_codes)
    assert later.is_noop and later.noop_reason == "not_open"


def test_an_acknowledged_escalation_never_fires_again_however_often_it_is_woken() -> None:
    policy, on_call = three_step_policy(repeat=5), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = acknowledge(state, ByPhone(ALI.phone, 1), T0 + seconds(10)).state

    for hours in range(48):
        woken = advance(policy, state, T0 + timedelta(hours=hours), on_call, codes_in_use=no_codes)
        assert woken.is_noop and woken.notifications == ()


def test_acknowledging_through_the_api_tells_everyone_notified() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state

    decision = acknowledge(state, ByOperator("duty manager dashboard"), T0 + seconds(130))

    assert decision.state.status == "acknowledged"
    assert {n.recipient for n in decision.taken_notices} == {ALI, BEA}


def test_a_code_from_the_wrong_phone_takes_nothing() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    # Bea was never sent anything; Ali's code 1 forwarded to her phone counts for nothing.
    decision = acknowledge(state, ByPhone(BEA.phone, 1), T0 + seconds(30))

    assert decision.is_noop and decision.noop_reason == "wrong_phone"
    assert decision.state == state
    assert decision.taken_notices == ()


def test_a_code_this_escalation_never_sent_takes_nothing() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    decision = acknowledge(state, ByPhone(ALI.phone, 7), T0 + seconds(30))

    assert decision.noop_reason == "unknown_code"
    assert decision.state == state


def test_a_second_acknowledgement_is_a_noop_that_says_why() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state
    state = acknowledge(state, ByPhone(ALI.phone, 1), T0 + seconds(130)).state

    again = acknowledge(state, ByPhone(BEA.phone, 1), T0 + seconds(140))

    assert again.noop_reason == "already_acknowledged"
    assert again.state.acknowledged_by == ByPhone(ALI.phone, 1)


def test_a_late_acknowledgement_after_exhaustion_is_accepted_and_marked_late() -> None:
    policy, on_call = three_step_policy(), everyone()
    decision = start(policy, T0, on_call, codes_in_use=no_codes)
    while decision.state.next_due_at is not None:
        decision = advance(
            policy, decision.state, decision.state.next_due_at, on_call, codes_in_use=no_codes
        )
    exhausted = decision.state
    assert exhausted.status == "exhausted"

    assert exhausted.exhausted_at is not None
    late = acknowledge(exhausted, ByPhone(BEA.phone, 1), exhausted.exhausted_at + seconds(60))

    assert not late.is_noop
    assert late.late_acknowledgement
    assert late.state.status == "acknowledged"
    assert late.state.acknowledged_at is not None and late.state.exhausted_at is not None
    assert late.state.acknowledged_at >= late.state.exhausted_at
    assert late.state.exhausted_at == exhausted.exhausted_at
    assert {n.recipient for n in late.taken_notices} == {ALI, CAL}
    assert late.incident is None  # the incident was raised at exhaustion, not again now


# Closing


def test_closing_an_open_escalation_stops_it_and_tells_the_others() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state

    decision = close(state, ByPhone(ALI.phone, 1), T0 + seconds(200))

    assert decision.state.status == "closed"
    assert decision.state.next_due_at is None
    assert decision.state.closed_by == ByPhone(ALI.phone, 1)
    assert [(n.recipient, n.action) for n in decision.taken_notices] == [(BEA, "closed")]
    woken = advance(policy, decision.state, T0 + seconds(420), on_call, codes_in_use=no_codes)
    assert woken.noop_reason == "not_open"


def test_closing_after_an_acknowledgement_sends_no_second_notice() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = advance(policy, state, T0 + seconds(120), on_call, codes_in_use=no_codes).state
    state = acknowledge(state, ByPhone(ALI.phone, 1), T0 + seconds(130)).state

    decision = close(state, ByPhone(ALI.phone, 1), T0 + seconds(900))

    assert decision.state.status == "closed"
    assert decision.state.acknowledged_by == ByPhone(ALI.phone, 1)
    assert decision.taken_notices == ()


def test_closed_is_final() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    state = close(state, ByOperator("api"), T0 + seconds(5)).state

    assert close(state, ByOperator("api"), T0 + seconds(6)).noop_reason == "already_closed"
    assert acknowledge(state, ByPhone(ALI.phone, 1), T0 + seconds(7)).noop_reason == (
        "already_closed"
    )
    assert (
        escalate_now(policy, state, ByPhone(ALI.phone, 1), T0, on_call, codes_in_use=no_codes)
    ).noop_reason == "not_open"


def test_a_close_from_the_wrong_phone_is_refused() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    decision = close(state, ByPhone(CAL.phone, 1), T0 + seconds(5))

    assert decision.noop_reason == "wrong_phone"
    assert decision.state.status == "open"


# Wake-ups that come late, twice or for an old version


def test_a_duplicate_wake_up_fires_nothing_the_second_time() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    due = T0 + seconds(120)

    first = advance(
        policy, state, due, on_call, codes_in_use=no_codes, expected_version=state.version
    )
    # The same timer fires again (or a second scheduler process holds the old version).
    duplicate = advance(
        policy, first.state, due, on_call, codes_in_use=no_codes, expected_version=state.version
    )
    # A sweep that re-reads the row sees the new version but it is not yet due.
    sweep = advance(policy, first.state, due + seconds(1), on_call, codes_in_use=no_codes)

    assert len(first.notifications) == 1
    assert duplicate.noop_reason == "stale" and duplicate.state == first.state
    assert sweep.noop_reason == "not_due"


def test_a_timer_set_before_an_acknowledgement_is_stale() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state
    scheduled_for = state.version
    acked = acknowledge(state, ByPhone(ALI.phone, 1), T0 + seconds(60)).state

    woken = advance(
        policy,
        acked,
        T0 + seconds(120),
        on_call,
        codes_in_use=no_codes,
        expected_version=scheduled_for,
    )

    assert woken.noop_reason == "stale"
    assert woken.notifications == ()


def test_an_exhausted_escalation_never_fires_again() -> None:
    policy = three_step_policy()
    state = start(policy, T0, OnCall({}), codes_in_use=no_codes).state

    woken = advance(policy, state, T0 + timedelta(days=1), everyone(), codes_in_use=no_codes)

    assert woken.noop_reason == "not_open"


# Escalate now (voice key 5)


def test_escalate_now_fires_the_next_step_before_the_wait_runs_out() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    decision = escalate_now(
        policy, state, ByPhone(ALI.phone, 1), T0 + seconds(20), on_call, codes_in_use=no_codes
    )

    assert sent(decision) == [(BEA.phone, "sms", 1, 0, 1)]
    assert decision.state.next_due_at == T0 + seconds(20 + 300)
    # The timer for the step Ali passed on now finds a newer state and does nothing.
    old_timer = advance(
        policy,
        decision.state,
        T0 + seconds(120),
        on_call,
        codes_in_use=no_codes,
        expected_version=state.version,
    )
    assert old_timer.noop_reason == "stale"


def test_escalate_now_on_the_last_step_exhausts_the_chain() -> None:
    policy = EscalationPolicy("crisis-call", (Step((PRIMARY,), ("voice",), 120),), repeat=0)
    on_call = everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    decision = escalate_now(
        policy, state, ByPhone(ALI.phone, 1), T0 + seconds(30), on_call, codes_in_use=no_codes
    )

    assert decision.state.status == "exhausted"
    assert decision.incident is not None


def test_escalate_now_from_a_phone_that_was_not_notified_is_refused() -> None:
    policy, on_call = three_step_policy(), everyone()
    state = start(policy, T0, on_call, codes_in_use=no_codes).state

    decision = escalate_now(
        policy, state, ByPhone(CAL.phone, 1), T0 + seconds(20), on_call, codes_in_use=no_codes
    )

    assert decision.noop_reason == "wrong_phone"
    assert decision.notifications == ()


# Inputs


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        start(three_step_policy(), datetime(2026, 1, 1, 3, 0), everyone(), codes_in_use=no_codes)


def test_instants_in_other_zones_are_stored_in_utc() -> None:
    from zoneinfo import ZoneInfo

    local = T0.astimezone(ZoneInfo("Europe/London"))
    state = start(three_step_policy(), local, everyone(), codes_in_use=no_codes).state

    assert state.next_due_at == T0 + seconds(120)
    assert state.next_due_at is not None and state.next_due_at.tzinfo == UTC


def test_an_open_state_must_have_a_due_time() -> None:
    with pytest.raises(ValueError, match="next_due_at"):
        EscalationState(step_index=0, loop=0, next_due_at=None, status="open", version=1)
    with pytest.raises(ValueError, match="next_due_at"):
        EscalationState(step_index=0, loop=0, next_due_at=T0, status="closed", version=1)


def test_a_policy_that_shrank_under_a_running_escalation_exhausts_rather_than_fails() -> None:
    on_call = everyone()
    state = start(three_step_policy(), T0, on_call, codes_in_use=no_codes).state
    state = advance(
        three_step_policy(), state, T0 + seconds(120), on_call, codes_in_use=no_codes
    ).state
    state = advance(
        three_step_policy(), state, T0 + seconds(420), on_call, codes_in_use=no_codes
    ).state
    shorter = EscalationPolicy("crisis-call", (Step((PRIMARY,), ("sms",), 60),), repeat=0)

    decision = advance(shorter, state, T0 + seconds(1020), on_call, codes_in_use=no_codes)

    assert decision.state.status == "exhausted"
    assert decision.incident is not None
