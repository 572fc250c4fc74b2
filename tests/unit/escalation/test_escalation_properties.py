"""Property tests: whatever the policy, the rota and the wake-ups, nobody is notified twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from escalation import (
    Advance,
    ByPhone,
    Channel,
    EscalationPolicy,
    EscalationState,
    Recipient,
    Resolver,
    RotaTarget,
    StaffTarget,
    Step,
    Target,
    acknowledge,
    advance,
    escalate_now,
    start,
)

T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
TARGETS: list[Target] = [RotaTarget(1), RotaTarget(2), RotaTarget(3), StaffTarget(9)]
PEOPLE = [Recipient(staff_id=n, phone=f"+4477009000{n:02d}") for n in range(1, 6)]
EPOCH = timedelta(minutes=7)  # how often the invented rota hands over


@st.composite
def steps(draw: st.DrawFn) -> Step:
    targets = draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True))
    channels: tuple[Channel, ...] = draw(
        st.sampled_from([("sms",), ("voice",), ("voice", "sms"), ("sms", "voice")])
    )
    wait = draw(st.sampled_from([30, 60, 120, 300, 600]))
    return Step(tuple(targets), channels, wait)


policies = st.builds(
    EscalationPolicy,
    name=st.just("crisis-call"),
    steps=st.lists(steps(), min_size=1, max_size=4).map(tuple),
    repeat=st.integers(min_value=0, max_value=3),
)

# For each rota epoch, who each target means: often someone, sometimes a gap.
rota_epochs = st.lists(
    st.fixed_dictionaries(
        {target: st.lists(st.sampled_from(PEOPLE), max_size=2, unique=True) for target in TARGETS}
    ),
    min_size=1,
    max_size=5,
)


@dataclass(frozen=True)
class WakeUp:
    """One thing that happens to the escalation after `after_seconds`."""

    after_seconds: int
    kind: str
    snapshot_age: int  # for "stale": how many versions old the waking process's copy is
    pick: int  # for "escalate"/"ack": which notified phone presses the key


wake_ups = st.lists(
    st.builds(
        WakeUp,
        after_seconds=st.integers(min_value=0, max_value=900),
        kind=st.sampled_from(["sweep", "sweep", "sweep", "timer", "stale", "escalate", "ack"]),
        snapshot_age=st.integers(min_value=0, max_value=3),
        pick=st.integers(min_value=0, max_value=10),
    ),
    max_size=40,
)


def resolver_at(epochs: list[dict[Target, list[Recipient]]], now: datetime) -> Resolver:
    table = epochs[((now - T0) // EPOCH) % len(epochs)]

    def resolve(target: Target) -> Sequence[Recipient]:
        return table[target]

    return resolve


def no_codes(phone: str) -> set[int]:
    return set()


@settings(max_examples=300, deadline=None)
@given(policy=policies, epochs=rota_epochs, events=wake_ups, ack_allowed=st.booleans())
def test_each_recipient_is_notified_at_most_once_per_step_loop_and_channel(
    policy: EscalationPolicy,
    epochs: list[dict[Target, list[Recipient]]],
    events: list[WakeUp],
    ack_allowed: bool,
) -> None:
    now = T0
    first = start(policy, now, resolver_at(epochs, now), codes_in_use=no_codes)
    history: list[EscalationState] = [first.state]
    decisions: list[Advance] = [first]

    def commit(based_on: EscalationState, decision: Advance) -> None:
        # The database layer's conditional update: a decision made from an out-of-date copy
        # of the row updates nothing, so its deliveries are never written.
        if decision.is_noop or based_on.version != history[-1].version:
            return
        assert decision.state.version == based_on.version + 1
        history.append(decision.state)
        decisions.append(decision)

    for event in events:
        now += timedelta(seconds=event.after_seconds)
        resolve = resolver_at(epochs, now)
        current = history[-1]
        if event.kind == "sweep":
            commit(current, advance(policy, current, now, resolve, codes_in_use=no_codes))
        elif event.kind in ("timer", "stale"):
            age = 0 if event.kind == "timer" else event.snapshot_age
            snapshot = history[max(len(history) - 1 - age, 0)]
            decision = advance(
                policy,
                snapshot,
                now,
                resolve,
                codes_in_use=no_codes,
                expected_version=snapshot.version,
            )
            commit(snapshot, decision)
        elif current.codes:
            holder = current.codes[event.pick % len(current.codes)]
            by = ByPhone(holder.recipient.phone, holder.code)
            if event.kind == "escalate":
                decision = escalate_now(policy, current, by, now, resolve, codes_in_use=no_codes)
                commit(current, decision)
            elif ack_allowed:
                commit(current, acknowledge(current, by, now))

    # Then let the scheduler run it out, as it would after the last event.
    for _ in range(len(policy.steps) * policy.loops + 1):
        current = history[-1]
        if current.next_due_at is None:
            break
        now = max(now, current.next_due_at)
        resolve = resolver_at(epochs, now)
        commit(current, advance(policy, current, now, resolve, codes_in_use=no_codes))

    sent = [
        (n.recipient.phone, n.channel, n.step, n.loop)
        for decision in decisions
        for n in decision.notifications
    ]
    assert len(sent) == len(set(sent))
    final = history[-1]
    assert final.status in ("acknowledged", "exhausted")
    assert final.next_due_at is None
    # Every phone that was sent something holds exactly one code, and codes are distinct.
    assert {phone for phone, *_ in sent} == {a.recipient.phone for a in final.codes}
    # Nothing is sent after someone took it, and every exhaustion raised one incident.
    taken = [i for i, d in enumerate(decisions) if d.state.status == "acknowledged"]
    if taken:
        assert all(d.notifications == () for d in decisions[taken[0] :])
    incidents = [d.incident for d in decisions if d.incident is not None]
    assert len(incidents) == (1 if any(s.status == "exhausted" for s in history) else 0)


@settings(max_examples=200, deadline=None)
@given(policy=policies, epochs=rota_epochs)
def test_an_open_escalation_is_always_due_in_the_future_of_its_last_step(
    policy: EscalationPolicy, epochs: list[dict[Target, list[Recipient]]]
) -> None:
    now = T0
    decision = start(policy, now, resolver_at(epochs, now), codes_in_use=no_codes)
    steps_fired = 0
    while decision.state.status == "open":
        due = decision.state.next_due_at
        assert due is not None and due > now
        assert decision.notifications  # an open state always means someone was just notified
        steps_fired += 1
        assert steps_fired <= len(policy.steps) * policy.loops
        now = due
        decision = advance(
            policy, decision.state, now, resolver_at(epochs, now), codes_in_use=no_codes
        )
    assert decision.state.status == "exhausted"
    assert decision.incident is not None
