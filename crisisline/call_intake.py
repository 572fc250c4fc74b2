"""A new crisis call on PostgreSQL: recorded, and its first ring chosen, in one statement.

Every call to the line starts with `POST /webhooks/voice`, and the caller hears nothing until
it is answered. The general path (`crisisline.calls.receive_call`) is a transaction of four
statements with a connection check, BEGIN and COMMIT around them: seven round trips to the
database. This module does the common case, a new CallSid from a number that is not a staff
phone while someone is on call, in one round trip: one statement that commits on its own.

It may do so only because of three rules, each tested:

1. **The plan is exact.** Who rings first is worked out from the routing cache alone, under the
   routing version this process last read (`routing_cache.last_seen`), and the statement writes
   nothing unless `routing_state` still holds that version when it runs. So the ring is the
   one the general path would choose. If an answer it needs is not cached under that version
   (a fresh process, a routing change since), it writes nothing.
2. **All or nothing.** The contact and the live call are written by the same statement (the
   live call from the contact INSERT's RETURNING), committed together or not at all.
3. **Once per CallSid.** The contact INSERT is `ON CONFLICT (twilio_sid) DO NOTHING`, so a
   repeated webhook writes nothing here.

4. **Only when no call is live.** Whether a staff phone is already ringing or on a call is
   read from the live calls (`calls.busy_staff`); the statement writes nothing while any
   call holds a staff phone (ringing, taken, or a staff member's own call), so that a second
   call at the same time takes the general path, which leaves busy phones out of its ring.

Whenever it writes nothing, or the caller is staff, or nobody is on call, `receive_new_call`
returns None and the webhook takes the general path, which then finds the database exactly as
if this module had not run: it reads the version afresh, answers a repeated CallSid as the
call stands, rings, or falls back and raises the unanswered-call alert. On SQLite (no data-
modifying WITH) this module always returns None.

Calls that reach this process while its previous statement is still running are written
together by the next one (`crisisline.group_commit`: the rows go in as one JSON array, and each
call gets back the live call written for its CallSid), so a burst shares its commits. Each
row keeps the three rules: its own routing version, its own contact and live call (joined on
the CallSid), once per CallSid. If a statement writing several calls fails for any reason but
the database being unreachable, nothing was written and each takes the general path alone.

The statement runs through `crisisline.one_statement` (autocommit, on the driver's connection):
a connection the server had dropped is tried again on fresh connections until the webhook's
deadline (safe: a statement that did commit before its connection died is a repeated CallSid
the second time, which writes nothing and sends the webhook down the general path). Any other
database error is raised, so the webhook's fail-safe answers the caller (and keeps the call in
the spool, crisisline.spool), as it would for the general path.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Select, String, Table, exists, insert, select
from sqlalchemy.dialects import postgresql

from crisisline import escalation_policies, group_commit, one_statement, participants, routing_cache
from crisisline import staff as staff_service
from crisisline.call_models import LiveCall
from crisisline.calls import (
    CRISIS_POLICY,
    MIN_RING_SECONDS,
    ON_CALL_AT_MOST,
    CallPlan,
    IncomingCall,
    Ring,
    holds_a_phone,
    new_live_call_row,
    next_ring,
    ring_timeout,
    ringing_after,
)
from crisisline.contacts import new_contact_row
from crisisline.db import Database
from crisisline.models import Contact, ContactOutcome
from crisisline.routing_cache import RoutingState
from wording.callers import CrisisMessages


def receive_new_call(
    db: Database, call: IncomingCall, messages: CrisisMessages, deadline: float | None = None
) -> CallPlan | None:
    """Record a new crisis call and ring its first step in one statement, or None: nothing
    was written and `calls.receive_call` must handle the call. A lost connection is tried
    again on a fresh one until `deadline` (time.monotonic; default `db.deadline()`)."""
    if not one_statement.supported(db):
        return None
    version = routing_cache.last_seen(routing_cache.url_of(db.engine))
    if version is None or messages.max_wait_seconds < MIN_RING_SECONDS:
        return None
    caller, now = call.caller, call.now
    try:
        if staff_service.cached_is_staff_phone(caller, version):
            return None  # the call-back menu: the general path
        policy = escalation_policies.cached_policy(CRISIS_POLICY, version)
        found = next_ring(policy, escalation_policies.cached_resolver(version, now), -1, 0)
    except routing_cache.Missing:
        return None
    if found is None:
        return None  # nobody on call anywhere: the general path falls back and raises the alert
    step, loop, reached = found
    contact = new_contact_row(
        **call.contact(),
        participant_id=None,  # found by the statement itself
        outcome=ContactOutcome.RINGING,
    )
    live = new_live_call_row(call.call_sid, None, "crisis", now)
    live.update(step_index=step, loop=loop, ringing=[r.staff_id for r in reached])
    # Columns left NULL are left out of the statement (they have no server defaults, so the
    # row is the same): a shorter statement, and fewer values to send on every call.
    contact = {key: value for key, value in contact.items() if value is not None}
    live = {key: value for key, value in live.items() if value is not None}
    row: dict[str, Any] = {
        "routing_version": version[1],
        "caller": caller,
        "busy_since": now - ON_CALL_AT_MOST,
        "ringing_since": ringing_after(now, messages),
    }
    row.update({f"contact_{key}": value for key, value in contact.items()})
    row.update({f"call_{key}": value for key, value in live.items()})
    statement = _statement(tuple(contact), tuple(live))
    try:
        written = group_commit.group(db, statement).write(
            call.call_sid, group_commit.encode(row), deadline
        )
    except group_commit.Refused:
        return None  # written with other calls, refused: the general path writes it alone
    if written is None:
        return None
    ring = Ring(reached, ring_timeout(now, now, messages), step, loop)
    return CallPlan(int(written[0]), "ring", ring=ring)


@functools.cache
def _statement(contact_keys: tuple[str, ...], call_keys: tuple[str, ...]) -> Select[Any]:
    """WITH incoming AS (the rows), new_contact AS (INSERT INTO contacts ... SELECT ... FROM
    incoming WHERE its routing version is current ON CONFLICT (twilio_sid) DO NOTHING
    RETURNING id, twilio_sid), new_call AS (INSERT INTO calls ... SELECT ... FROM new_contact
    JOIN incoming RETURNING call_sid, id) SELECT call_sid, id FROM new_call. Only the columns
    named are written (the rest are NULL); the participant and the contact are found."""
    contacts = cast(Table, Contact.__table__)
    calls = cast(Table, LiveCall.__table__)
    state = cast(Table, RoutingState.__table__)
    # The participant and the contact are the statement's to find, never the row's.
    contact_columns = [c for c in contacts.c if c.key in contact_keys and c.key != "participant_id"]
    call_columns = [c for c in calls.c if c.key in call_keys and c.key != "contact_id"]
    columns: dict[str, Any] = {
        "routing_version": state.c.version.type,
        "caller": String(),
        "busy_since": calls.c.started_at.type,
        "ringing_since": calls.c.started_at.type,
    }
    columns.update({f"contact_{c.key}": c.type for c in contact_columns})
    columns.update({f"call_{c.key}": c.type for c in call_columns})
    incoming = select(group_commit.recordset(columns)).cte("incoming")
    current = exists().where(state.c.id == 1, state.c.version == incoming.c.routing_version)
    # Any call not yet ended may hold a staff phone: the general path rings around it.
    live_call, live_contact = calls.alias("live_call"), contacts.alias("live_contact")
    none_live = ~exists().where(
        live_contact.c.id == live_call.c.contact_id,
        live_contact.c.ended_at.is_(None),
        live_call.c.started_at > incoming.c.busy_since,
        holds_a_phone(live_call.c, incoming.c.ringing_since),
    )
    new_contact = (
        postgresql.insert(contacts)
        .from_select(
            [*contact_columns, contacts.c.participant_id],
            select(
                *(incoming.c[f"contact_{c.key}"] for c in contact_columns),
                participants.id_by_phone_subquery(incoming.c.caller),
            ).where(current, none_live),
        )
        .on_conflict_do_nothing(index_elements=[contacts.c.twilio_sid])
        .returning(contacts.c.id, contacts.c.twilio_sid)
        .cte("new_contact")
    )
    new_call = (
        insert(calls)
        .from_select(
            [*call_columns, calls.c.contact_id],
            select(
                *(incoming.c[f"call_{c.key}"] for c in call_columns),
                new_contact.c.id,
            ).select_from(
                new_contact.join(
                    incoming, incoming.c.contact_twilio_sid == new_contact.c.twilio_sid
                )
            ),
        )
        .returning(calls.c.call_sid, calls.c.id)
        .cte("new_call")
    )
    return select(new_call.c.call_sid, new_call.c.id)
