"""Tables of the crisis line: staff, participants, contacts, API tokens and the audit log."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, Final

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, column, literal
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisisline.db import Base, text_enum


class StaffRole(enum.StrEnum):
    """What a member of staff may be asked to do."""

    ON_CALL = "on_call"
    DUTY_MANAGER = "duty_manager"
    RESPONSIBLE_OFFICER = "responsible_officer"
    CLINICAL_LEAD = "clinical_lead"
    ADMIN = "admin"


class RiskLevel(enum.StrEnum):
    """A participant's assessed risk level, set by the clinical team."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class ParticipantStatus(enum.StrEnum):
    """Whether a participant is currently with the service."""

    ACTIVE = "active"
    CLOSED = "closed"


class Channel(enum.StrEnum):
    """How a contact reached or left the service."""

    VOICE = "voice"
    SMS = "sms"


class Direction(enum.StrEnum):
    """Inbound (to the crisis line) or outbound (from it)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ContactOutcome(enum.StrEnum):
    """What became of a contact (`contacts.outcome`), as the flow that handled it recorded.

    The column is plain text (String(40)) holding these values, and API clients filter on them
    (`GET /api/v1/contacts?outcome=...`): a value is never renamed, only added.
    """

    # A call to the crisis line (crisisline.call_intake, crisisline.calls).
    RINGING = "ringing"  # taken in: the crisis-call chain is ringing staff
    ANSWERED = "answered"  # a member of staff pressed 1 and was put through
    MISSED = "missed"  # the chain ran out: the caller heard the fallback message
    VOICEMAIL = "voicemail"  # ... and left a message
    ABANDONED = "abandoned"  # the caller hung up while staff were being rung
    STAFF_CALL = "staff_call"  # a member of staff called the line (the call-back menu)
    # A member of staff returning a missed call through the line (outbound).
    CALL_BACK = "call_back"  # the caller is rung from the crisis number
    VOICEMAIL_HEARD = "voicemail_heard"  # a withheld caller's message, heard: nobody to ring
    # A text to the crisis line (crisisline.sms_intake, crisisline.sms_conversations).
    # Recorded by the webhook, waiting for the scheduler to route it.
    UNROUTED = "unrouted"
    # Routing it failed at least once (a bug, the database failing mid-way): its sender has
    # been sent the crisis numbers, and the scheduler goes on trying to route it for a day.
    ROUTING_FAILED = "routing_failed"
    RECEIVED = "received"  # routed; what became of it then replaces this (below)
    RELAYED = "relayed"  # passed on to the staff on its conversation
    # From an unknown number during a flood: gathered into the flood's one escalation
    # (crisisline.floods); on the record, it reached nobody on its own.
    GATHERED = "gathered"
    UNREPLYABLE = "unreplyable_sender"  # a short code or a name: nothing can be sent back
    OPTED_OUT = "opted_out"  # STOP and the like: no more texts to that number
    OPTED_IN = "opted_in"  # START alone: texts again, nothing to relay
    # A text from a member of staff's phone: a command, or words for a participant
    # (crisisline.sms_commands).
    STAFF_COMMAND = "staff_command"
    STAFF_RELAYED = "staff_relayed"  # relayed to the participant
    NOT_SENT = "not_sent"  # not relayed: the staff member was told why
    NOT_SENT_OPTED_OUT = "not_sent_opted_out"  # not relayed: the participant opted out
    NOT_SENT_NUMBER_REMOVED = "not_sent_number_removed"  # not relayed: the number left his record
    # A text the line sent to a texter: a member of staff's words or its own reply (outbound).
    SENT = "sent"


class Staff(Base):
    """A member of staff: on-call worker, duty manager, responsible officer or admin."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    role_rows: Mapped[list[StaffRoleAssignment]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="StaffRoleAssignment.role"
    )

    @property
    def roles(self) -> list[StaffRole]:
        """Roles held, sorted by name."""
        return sorted((row.role for row in self.role_rows), key=lambda role: role.value)

    def has_role(self, role: StaffRole) -> bool:
        """True if this member of staff holds `role`."""
        return any(row.role == role for row in self.role_rows)


class StaffRoleAssignment(Base):
    """One role held by one member of staff."""

    __tablename__ = "staff_roles"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[StaffRole] = mapped_column(text_enum(StaffRole, "staff_role"), primary_key=True)


class Participant(Base):
    """A man on licence who may call or text the crisis line."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    responsible_officer_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    risk_level: Mapped[RiskLevel] = mapped_column(text_enum(RiskLevel, "risk_level"))
    status: Mapped[ParticipantStatus] = mapped_column(
        text_enum(ParticipantStatus, "participant_status"), default=ParticipantStatus.ACTIVE
    )
    # The day he left the service (set when he is made inactive, cleared if he returns): the
    # retention schedule counts "from end of service" from it (config/retention.toml).
    ended_service_on: Mapped[dt.date | None] = mapped_column(Date)
    # When the retention run removed his identifying details (name, numbers); the row and his
    # contacts stay, so that reports still count them.
    anonymised_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    phone_rows: Mapped[list[ParticipantPhone]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ParticipantPhone.position"
    )
    responsible_officer: Mapped[Staff | None] = relationship(lazy="joined")

    @property
    def phones(self) -> list[str]:
        """The participant's numbers in E.164, in the order they were given."""
        return [row.number for row in self.phone_rows]


class ParticipantPhone(Base):
    """A phone number that belongs to exactly one participant."""

    __tablename__ = "participant_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    # Unique across participants: a caller's number must identify one person, never two.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    position: Mapped[int] = mapped_column(default=0)


# Inbound texts the webhook has recorded and the scheduler has not yet routed (or will try
# again): the partial index below and the route-texts job's query share this predicate. Its
# values are bound with literal_execute, so the statement carries them written out, as the
# index does: PostgreSQL uses a partial index only for a query whose own predicate proves the
# index's, and the generic plan of a prepared statement (psycopg prepares a statement it runs
# often) has only placeholders to prove it with.
UNROUTED_PREDICATE: Final = column("outcome").in_(
    [
        literal(outcome, String(40), literal_execute=True)
        for outcome in (ContactOutcome.UNROUTED, ContactOutcome.ROUTING_FAILED)
    ]
)


class Contact(Base):
    """One call or text, in or out, recorded against a participant when the number is known."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_participant_started", "participant_id", "started_at"),
        # Whom an on-call worker handled lately (crisisline.caseloads), asked on every console
        # read of a participant's record: a range scan of his recent contacts, not the table
        # (the participant's id last, so the index alone answers it).
        Index(
            "ix_contacts_handled_by_started", "handled_by_staff_id", "started_at", "participant_id"
        ),
        # Every contact of a period (the handover, reports), and the handled contacts that
        # ended lately (the note prompts): range scans on the start and the end.
        Index("ix_contacts_started_at", "started_at"),
        Index("ix_contacts_ended_at", "ended_at"),
        # The texts waiting to be routed (crisisline.sms_intake): asked every second, so only
        # those rows are indexed. The predicate is written out in the query that uses it.
        Index(
            "ix_contacts_unrouted",
            "id",
            postgresql_where=UNROUTED_PREDICATE,
            sqlite_where=UNROUTED_PREDICATE,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(text_enum(Channel, "contact_channel"))
    direction: Mapped[Direction] = mapped_column(text_enum(Direction, "contact_direction"))
    from_number: Mapped[str | None] = mapped_column(String(20))
    to_number: Mapped[str | None] = mapped_column(String(20))
    # Twilio retries webhooks; the unique SID is what makes a repeated delivery change nothing.
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    started_at: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    # Calls: how long the call lasted, and how long the caller waited before an answer or
    # before giving up (an abandoned call's wait is what a review needs to see).
    duration_seconds: Mapped[int | None]
    wait_seconds: Mapped[int | None]
    # Calls: Twilio's final CallStatus (completed, busy, failed, no-answer, canceled), from the
    # first final status callback; for a staff call-back, the Dial's DialCallStatus.
    call_status: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(40))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    handled_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    body: Mapped[str | None] = mapped_column(Text)
    media_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    recording_url: Mapped[str | None] = mapped_column(String(500))
    # Texts: the SMS conversation this message belongs to, and the outbox delivery that sent it.
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("sms_conversations.id"), index=True
    )
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    created_at: Mapped[dt.datetime]


class DeliveryStatus(enum.StrEnum):
    """Where an outbound SMS or call is on its way to a phone."""

    QUEUED = "queued"  # written, waiting for the dispatcher (or for a retry)
    SENDING = "sending"  # claimed by a dispatcher, request to the provider under way
    SENT = "sent"  # the provider has accepted it
    DELIVERED = "delivered"  # the phone has it (SMS) or the call completed
    FAILED = "failed"  # will not be delivered; error_code says why
    UNDELIVERED = "undelivered"  # the carrier could not deliver it (SMS) or nobody picked up

    @property
    def terminal(self) -> bool:
        """True once nothing can change this delivery's status any more."""
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)


class Delivery(Base):
    """One SMS or call the service sends: written first, then dispatched (the outbox)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # The dispatcher's question: which queued deliveries are due?
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        # ... and which of them first: the most urgent kind, then the longest due.
        Index("ix_deliveries_due_by_priority", "status", "priority", "next_attempt_at"),
        # The deliveries that failed in a period (the handover): one range per failed status.
        Index("ix_deliveries_status_finished", "status", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(40), index=True)
    # Set from the purpose when written (crisisline.delivery_kinds): 0 is sent first.
    priority: Mapped[int] = mapped_column(default=2)
    # What a crisis delivery is about (an escalation, an SMS conversation): it is retried
    # while that is still open, and no longer once it is settled.
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    channel: Mapped[Channel] = mapped_column(text_enum(Channel, "delivery_channel"))
    to_number: Mapped[str] = mapped_column(String(20), index=True)
    from_number: Mapped[str] = mapped_column(String(20))
    # SMS text, or for a call the words it will say (the TwiML is served from twiml_url).
    body: Mapped[str] = mapped_column(Text)
    twiml_url: Mapped[str | None] = mapped_column(String(500))
    segments: Mapped[int] = mapped_column(default=0)
    status: Mapped[DeliveryStatus] = mapped_column(
        text_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED
    )
    provider_status: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    next_attempt_at: Mapped[dt.datetime]
    claim_token: Mapped[str | None] = mapped_column(String(40))
    claimed_until: Mapped[dt.datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    callback_sequence: Mapped[int] = mapped_column(default=-1)
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(String(300))
    # When its first transient failure happened (kept once sent: a provider outage's report
    # counts the deliveries it delayed by it).
    failing_since: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class ProviderOutage(Base):
    """A time the provider refused or did not answer sends, noticed by the dispatcher.

    Opened when a delivery has been failing for a while; closed when nothing is waiting on a
    retry any more, and then the duty managers are told once (`reported_at`).
    """

    __tablename__ = "provider_outages"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime]
    noticed_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    delayed: Mapped[int] = mapped_column(default=0)
    reported_at: Mapped[dt.datetime | None]


class SchedulerHeartbeat(Base):
    """The last sign of life from a scheduler process; /healthz reports its age."""

    __tablename__ = "scheduler_heartbeats"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    beat_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime]
    pid: Mapped[int]
    # "leader" runs the periodic jobs; a "standby" waits to take over (crisisline.leader).
    role: Mapped[str] = mapped_column(String(20), server_default="leader")
    # Its wake-up listener (crisisline.wakeups): None when it has none (SQLite, WAKEUPS=off),
    # else whether it is listening now and how often its connection has dropped.
    wake_listening: Mapped[bool | None]
    wake_reconnects: Mapped[int] = mapped_column(server_default="0", default=0)


class ApiToken(Base):
    """A bearer token for the HTTP API; only its SHA-256 hash is stored.

    A token belongs to a person (`staff_id`: it acts with that person's roles, and stops when
    they are deactivated) or to a named integration (`scopes`: the permissions it holds).
    `legacy` marks a token made before tokens had owners: an integration with every scope,
    flagged in /healthz until an administrator issues a replacement and revokes it.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime | None]
    legacy: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(120))


class AuditEntry(Base):
    """Who did what to which record, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_record", "record_type", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(40))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None]
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RecordAccess(Base):
    """One read or change of a participant's record: who, when, what, from where and why.

    Append-only: the application has no path that updates or deletes a row, and on PostgreSQL
    a trigger refuses both (migration 0018). UK DPA 2018 s.62 asks for this log of consultation
    and disclosure.
    """

    __tablename__ = "record_access_log"
    __table_args__ = (
        Index("ix_record_access_participant_at", "participant_id", "at"),
        Index("ix_record_access_actor_at", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    # staff:12 or integration:NAME (crisisline.permissions.Actor.label)
    actor: Mapped[str] = mapped_column(String(120))
    staff_id: Mapped[int | None]
    token_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(20))  # read, change, play, export
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int | None]
    participant_id: Mapped[int | None]
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    # The break-glass reason, given on first reading a participant outside one's own caseload or
    # contacts in a sign-in session (and kept on that entry).
    reason: Mapped[str | None] = mapped_column(String(500))
    web_session_id: Mapped[str | None] = mapped_column(String(64))


__all__ = [
    "ApiToken",
    "AuditEntry",
    "Channel",
    "Contact",
    "Delivery",
    "DeliveryStatus",
    "Direction",
    "Participant",
    "ParticipantPhone",
    "ParticipantStatus",
    "ProviderOutage",
    "RecordAccess",
    "RiskLevel",
    "SchedulerHeartbeat",
    "Staff",
    "StaffRole",
    "StaffRoleAssignment",
]
from crisisline import account_models as account_models  # noqa: E402  (registers the console account tables)
from crisisline import alert_models as alert_models  # noqa: E402  (registers the risk alert tables)
from crisisline import call_models as call_models  # noqa: E402  (registers the live call table)
from crisisline import conversation_models as conversation_models  # noqa: E402  (registers the SMS conversation tables)
from crisisline import data_protection_models as data_protection_models  # noqa: E402  (registers the legal hold, retention, recording deletion, subject access and correction tables)
from crisisline import email_models as email_models  # noqa: E402  (registers the email outbox and handover tables)
from crisisline import escalation_models as escalation_models  # noqa: E402  (registers the escalation tables)
from crisisline import flood_models as flood_models  # noqa: E402  (registers the flood tables)
from crisisline import note_models as note_models  # noqa: E402  (registers the note, follow-up and note prompt tables)
from crisisline import rota_models as rota_models  # noqa: E402  (registers the rota tables on Base.metadata)
from crisisline import routing_cache as routing_cache  # noqa: E402  (registers routing_state and its version events)
