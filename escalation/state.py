"""The escalation state machine: pure functions from a state, a policy and an instant to a decision.

Decide, then act: nothing here sends, stores or reads the clock. Each function returns an
`Advance` listing what to send and the new state; the database layer writes that state with a
conditional update on `version` and the deliveries in the same transaction, so a decision is
acted on once or not at all.

States: `open` (a step has fired and its wait runs until `next_due_at`), `acknowledged`
(someone took it), `closed` and `exhausted` (every step of every loop fired and nobody took
it: a safety incident). Only `open` ever fires again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, TypeAlias

from escalation.codes import allocate_code
from escalation.policy import Channel, EscalationPolicy, Target, target_to_json

Status = Literal["open", "acknowledged", "closed", "exhausted"]
STATUSES: Final[tuple[Status, ...]] = ("open", "acknowledged", "closed", "exhausted")

NoOpReason = Literal[
    # advance: the wake-up is for an older version of the state (a late or duplicate timer)
    "stale",
    # advance or escalate_now: the escalation was acknowledged, closed or exhausted
    "not_open",
    # advance: the current step's wait has not run out yet
    "not_due",
    # acknowledge: someone already took it
    "already_acknowledged",
    # acknowledge or close: it is closed already
    "already_closed",
    # a reply whose code was sent to another phone: a forwarded code takes nothing
    "wrong_phone",
    # a reply whose code this escalation never sent
    "unknown_code",
]
TakenAction = Literal["acknowledged", "closed"]


@dataclass(frozen=True)
class Recipient:
    """A member of staff reached on one phone (E.164)."""

    staff_id: int
    phone: str


Resolver: TypeAlias = Callable[[Target], Sequence[Recipient]]
"""Who a target means at the instant of the call: the on-call staff of a rota, or one person.

Supplied by the database layer for the instant being decided; an empty answer means nobody
(a gap in the rota, or an inactive member of staff without a phone).
"""

CodesInUse: TypeAlias = Callable[[str], Set[int]]
"""The reply codes a phone already holds for other escalations that are not closed."""


@dataclass(frozen=True)
class CodeAssignment:
    """The reply code this escalation gave one recipient's phone."""

    recipient: Recipient
    code: int


@dataclass(frozen=True)
class ByPhone:
    """A reply or keypress from `phone` quoting `code` (a voice call passes its phone's code)."""

    phone: str
    code: int


@dataclass(frozen=True)
class ByOperator:
    """An authenticated person acting through the API or dashboard."""

    actor: str


Responder: TypeAlias = ByPhone | ByOperator


@dataclass(frozen=True)
class EscalationState:
    """Where an escalation is: the step last fired, its loop, when it is next due, and who took it.

    `version` goes up by one with every change; a wake-up carries the version it was scheduled
    for, and the database layer updates the row only where the version is still the one read.
    """

    step_index: int
    loop: int
    next_due_at: datetime | None
    status: Status
    version: int
    codes: tuple[CodeAssignment, ...] = ()
    acknowledged_by: Responder | None = None
    acknowledged_at: datetime | None = None
    closed_by: Responder | None = None
    closed_at: datetime | None = None
    exhausted_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError("version must be a positive whole number")
        if self.step_index < 0 or self.loop < 0:
            raise ValueError("step_index and loop must not be negative")
        # An open escalation without a due time would never be swept: refuse to build one.
        if (self.status == "open") != (self.next_due_at is not None):
            raise ValueError("an open escalation needs next_due_at, and only an open one has it")
        if self.next_due_at is not None:
            object.__setattr__(self, "next_due_at", _instant(self.next_due_at, "next_due_at"))
        phones = [assignment.recipient.phone for assignment in self.codes]
        if len(set(phones)) != len(phones):
            raise ValueError("each phone holds one reply code per escalation")

    def code_for(self, phone: str) -> int | None:
        """The reply code sent to `phone`, or None if this escalation never reached it."""
        for assignment in self.codes:
            if assignment.recipient.phone == phone:
                return assignment.code
        return None

    @property
    def notified(self) -> tuple[Recipient, ...]:
        """Everyone notified so far, in the order first reached."""
        return tuple(assignment.recipient for assignment in self.codes)


@dataclass(frozen=True)
class Notification:
    """Send step `step` of loop `loop` to `recipient` on `channel`, quoting `code`."""

    recipient: Recipient
    channel: Channel
    step: int
    loop: int
    code: int


@dataclass(frozen=True)
class SkippedStep:
    """A step passed over at once because its targets resolved to nobody."""

    step: int
    loop: int
    at: datetime
    reason: str


@dataclass(frozen=True)
class GapWarning:
    """A target that resolved to nobody when its step fired: a gap someone must fill."""

    step: int
    loop: int
    target: Target
    at: datetime


@dataclass(frozen=True)
class TakenNotice:
    """Tell `recipient`, notified earlier, that `by` has acknowledged or closed it."""

    recipient: Recipient
    code: int
    action: TakenAction
    by: Responder


@dataclass(frozen=True)
class UnansweredIncident:
    """Every step of every loop fired and nobody took it: raise a safety incident now."""

    at: datetime
    loops: int
    notified: tuple[Recipient, ...]


@dataclass(frozen=True)
class Advance:
    """A decision: the new state and everything the database layer must record and send."""

    state: EscalationState
    notifications: tuple[Notification, ...] = ()
    skipped: tuple[SkippedStep, ...] = ()
    gap_warnings: tuple[GapWarning, ...] = ()
    taken_notices: tuple[TakenNotice, ...] = ()
    incident: UnansweredIncident | None = None
    noop_reason: NoOpReason | None = None
    late_acknowledgement: bool = False

    @property
    def is_noop(self) -> bool:
        """True if nothing changed: write nothing, send nothing."""
        return self.noop_reason is not None


def _instant(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _noop(state: EscalationState, reason: NoOpReason) -> Advance:
    return Advance(state=state, noop_reason=reason)


def _next_position(policy: EscalationPolicy, step: int, loop: int) -> tuple[int, int] | None:
    if step + 1 < len(policy.steps):
        return step + 1, loop
    if loop + 1 < policy.loops:
        return 0, loop + 1
    return None


def _describe(target: Target) -> str:
    ((field, value),) = target_to_json(target).items()
    return f"{field} {value}"


def _fire(
    policy: EscalationPolicy,
    state: EscalationState,
    position: tuple[int, int] | None,
    now: datetime,
    resolve: Resolver,
    codes_in_use: CodesInUse,
    new_version: int,
) -> Advance:
    """Fire the first step from `position` that reaches someone, skipping empty ones at once."""
    codes = list(state.codes)
    notifications: list[Notification] = []
    skipped: list[SkippedStep] = []
    gaps: list[GapWarning] = []
    last = (state.step_index, state.loop)
    empty_in_a_row = 0
    while position is not None:
        step_index, loop = position
        last = position
        step = policy.steps[step_index]
        reached: list[Recipient] = []
        for target in step.targets:
            found = tuple(resolve(target))
            if not found:
                gaps.append(GapWarning(step=step_index, loop=loop, target=target, at=now))
            for recipient in found:
                # One phone gets one message per step, however many targets lead to it.
                if all(recipient.phone != other.phone for other in reached):
                    reached.append(recipient)
        if reached:
            for recipient in reached:
                code = _code_for(codes, recipient, codes_in_use)
                notifications.extend(
                    Notification(recipient, channel, step_index, loop, code)
                    for channel in step.channels
                )
            new_state = replace(
                state,
                step_index=step_index,
                loop=loop,
                next_due_at=now + timedelta(seconds=step.wait_seconds),
                status="open",
                version=new_version,
                codes=tuple(codes),
            )
            return Advance(
                state=new_state,
                notifications=tuple(notifications),
                skipped=tuple(skipped),
                gap_warnings=tuple(gaps),
            )
        # Waiting out a step that reaches nobody only delays the next person (goalert#4548).
        names = ", ".join(_describe(target) for target in step.targets)
        skipped.append(SkippedStep(step_index, loop, now, reason=f"nobody to notify for {names}"))
        empty_in_a_row += 1
        if empty_in_a_row >= len(policy.steps):
            # A whole chain reached nobody at this instant; the next loops would resolve the
            # same way, so going round again only delays the safety incident.
            break
        position = _next_position(policy, step_index, loop)
    exhausted = replace(
        state,
        step_index=last[0],
        loop=last[1],
        next_due_at=None,
        status="exhausted",
        version=new_version,
        codes=tuple(codes),
        exhausted_at=now,
    )
    return Advance(
        state=exhausted,
        skipped=tuple(skipped),
        gap_warnings=tuple(gaps),
        incident=UnansweredIncident(at=now, loops=policy.loops, notified=exhausted.notified),
    )


def _code_for(codes: list[CodeAssignment], recipient: Recipient, codes_in_use: CodesInUse) -> int:
    for assignment in codes:
        if assignment.recipient.phone == recipient.phone:
            return assignment.code
    code = allocate_code(set(codes_in_use(recipient.phone)))
    codes.append(CodeAssignment(recipient, code))
    return code


def _check_responder(state: EscalationState, by: Responder) -> NoOpReason | None:
    if isinstance(by, ByOperator):
        return None
    holder = next((a for a in state.codes if a.code == by.code), None)
    owner = state.code_for(by.phone)
    if owner == by.code:
        return None
    if holder is not None:
        return "wrong_phone"
    return "unknown_code"


def _notices(state: EscalationState, by: Responder, action: TakenAction) -> tuple[TakenNotice, ...]:
    phone = by.phone if isinstance(by, ByPhone) else None
    return tuple(
        TakenNotice(assignment.recipient, assignment.code, action, by)
        for assignment in state.codes
        if assignment.recipient.phone != phone
    )


def start(
    policy: EscalationPolicy, now: datetime, resolve: Resolver, *, codes_in_use: CodesInUse
) -> Advance:
    """Open an escalation at `now`: fire the first step that reaches anyone."""
    now = _instant(now, "now")
    # A placeholder: `_fire` sets position, due time, status and version from it.
    before = EscalationState(step_index=0, loop=0, next_due_at=now, status="open", version=1)
    return _fire(policy, before, (0, 0), now, resolve, codes_in_use, new_version=1)


def advance(
    policy: EscalationPolicy,
    state: EscalationState,
    now: datetime,
    resolve: Resolver,
    *,
    codes_in_use: CodesInUse,
    expected_version: int | None = None,
) -> Advance:
    """Fire the next step if the current one's wait has run out; otherwise a no-op.

    `expected_version` is the version a wake-up was scheduled for: a timer that outlived a
    change (an acknowledgement, an escalate-now, another process's sweep) does nothing.
    """
    now = _instant(now, "now")
    if expected_version is not None and expected_version != state.version:
        return _noop(state, "stale")
    if state.status != "open" or state.next_due_at is None:
        return _noop(state, "not_open")
    if now < state.next_due_at:
        return _noop(state, "not_due")
    position = _next_position(policy, state.step_index, state.loop)
    return _fire(policy, state, position, now, resolve, codes_in_use, state.version + 1)


def escalate_now(
    policy: EscalationPolicy,
    state: EscalationState,
    by: Responder,
    now: datetime,
    resolve: Resolver,
    *,
    codes_in_use: CodesInUse,
) -> Advance:
    """Fire the next step at once (voice key 5: "not me, try the next person")."""
    now = _instant(now, "now")
    refused = _check_responder(state, by)
    if refused is not None:
        return _noop(state, refused)
    if state.status != "open":
        return _noop(state, "not_open")
    position = _next_position(policy, state.step_index, state.loop)
    return _fire(policy, state, position, now, resolve, codes_in_use, state.version + 1)


def acknowledge(state: EscalationState, by: Responder, now: datetime) -> Advance:
    """Someone takes it: stop escalating everywhere and tell the others who took it.

    Accepted after exhaustion too (and marked late): a person taking it late is still the
    best news, and the safety incident already raised records the lateness.
    """
    now = _instant(now, "now")
    refused = _check_responder(state, by)
    if refused is not None:
        return _noop(state, refused)
    if state.status == "acknowledged":
        return _noop(state, "already_acknowledged")
    if state.status == "closed":
        return _noop(state, "already_closed")
    new_state = replace(
        state,
        status="acknowledged",
        next_due_at=None,
        version=state.version + 1,
        acknowledged_by=by,
        acknowledged_at=now,
    )
    return Advance(
        state=new_state,
        taken_notices=_notices(state, by, "acknowledged"),
        late_acknowledgement=state.status == "exhausted",
    )


def close(state: EscalationState, by: Responder, now: datetime) -> Advance:
    """End it: nothing fires again. Others are told only if nobody had taken it yet."""
    now = _instant(now, "now")
    refused = _check_responder(state, by)
    if refused is not None:
        return _noop(state, refused)
    if state.status == "closed":
        return _noop(state, "already_closed")
    # After an acknowledgement the others already know who took it; a second text is noise.
    notices = () if state.status == "acknowledged" else _notices(state, by, "closed")
    new_state = replace(
        state,
        status="closed",
        next_due_at=None,
        version=state.version + 1,
        closed_by=by,
        closed_at=now,
    )
    return Advance(state=new_state, taken_notices=notices)
