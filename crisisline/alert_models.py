"""Tables of risk alerts: what was raised, for whom, who saw it, and the contacts behind it."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.db import Base, text_enum


class AlertSeverity(enum.StrEnum):
    """How serious an alert is; `urgent` also goes to the duty manager and escalates."""

    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"


class AlertStatus(enum.StrEnum):
    """Where an alert is: waiting for someone, seen, or dealt with (with a note)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class RiskAlert(Base):
    """A risk rule fired for a participant; repeats within the rule's cooldown add to it."""

    __tablename__ = "risk_alerts"
    __table_args__ = (
        # The cooldown question on every contact: is there an open alert for this rule?
        Index("ix_risk_alerts_participant_rule", "participant_id", "rule", "raised_at"),
        Index("ix_risk_alerts_status_raised", "status", "raised_at"),
        # The alerts raised in a report's period, whatever their status now.
        Index("ix_risk_alerts_raised_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    rule: Mapped[str] = mapped_column(String(60))
    severity: Mapped[AlertSeverity] = mapped_column(
        text_enum(AlertSeverity, "alert_severity", length=20)
    )
    reason: Mapped[str] = mapped_column(String(400))
    status: Mapped[AlertStatus] = mapped_column(
        text_enum(AlertStatus, "alert_status", length=20), default=AlertStatus.OPEN
    )
    raised_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    count: Mapped[int] = mapped_column(default=1)
    # The responsible officer recorded on the participant when the contact happened; None
    # when there was none (or an inactive one) and the alert went to the duty manager.
    recipient_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    routed_to: Mapped[str] = mapped_column(String(20))  # "officer" or "duty_manager"
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    acknowledged_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    acknowledged_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[dt.datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"), index=True)


class AlertEvidence(Base):
    """One contact that made an alert fire (or fire again)."""

    __tablename__ = "risk_alert_evidence"
    __table_args__ = (UniqueConstraint("alert_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("risk_alerts.id", ondelete="CASCADE"), index=True
    )
    # Indexed: "has this contact already fired this rule?" keeps evaluation idempotent.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    added_at: Mapped[dt.datetime]


__all__ = ["AlertEvidence", "AlertSeverity", "AlertStatus", "RiskAlert"]
