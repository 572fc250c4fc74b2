"""Tables of the on-call rotas: rotas, their members, coverage windows, overrides, feed tokens.

A rota's first handoff is a *local wall-clock* value (no zone, no offset), so it is stored as
ISO 8601 text (`2026-01-05T08:00:00`): a `timestamp` column would invite a driver or session
time zone to convert it, and the UTC column type every other table uses refuses naive values
on purpose. Text keeps the exact reading a person typed, identically on SQLite and PostgreSQL.
Instants (override edges, audit times) are UTC like everywhere else.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisisline.db import Base, text_enum
from rotas import CoverageWindow


class RotaOverrideMode(enum.StrEnum):
    """How an override changes who is on call (see rotas.Override)."""

    REPLACE = "replace"
    ADD = "add"


class CalendarFeedKind(enum.StrEnum):
    """Whose shifts a calendar feed lists."""

    STAFF = "staff"
    ROTA = "rota"


class RotaRecord(Base):
    """An on-call rota as stored; crisisline.rota_service turns it into a rotas.Rota."""

    __tablename__ = "rotas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    shift_length: Mapped[str] = mapped_column(String(40))
    # Local wall-clock date and time, ISO 8601 without an offset (see the module docstring).
    first_handoff: Mapped[str] = mapped_column(String(32))
    # The longest override ever entered on this rota, in whole seconds (rounded up). An
    # override overlapping [a, b) must start in [a - longest, b), which bounds the range scan
    # on (rota_id, starts_at) however many overrides the rota has. Never lowered: a stale
    # larger bound costs a little scanning, a smaller one would miss an override.
    longest_override_seconds: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    member_rows: Mapped[list[RotaMember]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="RotaMember.position",
        passive_deletes=True,
    )
    coverage_rows: Mapped[list[RotaCoverageWindow]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="RotaCoverageWindow.position",
        passive_deletes=True,
    )
    # Earlier definitions, each with the instant it stopped applying (oldest first): the
    # columns above are the definition in force after the last of them.
    revision_rows: Mapped[list[RotaRevisionRecord]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="RotaRevisionRecord.ends_at",
        passive_deletes=True,
    )

    @property
    def members(self) -> list[int]:
        """Staff ids in turn order."""
        return [row.staff_id for row in self.member_rows]

    @property
    def first_handoff_local(self) -> dt.datetime:
        """The first handoff as a naive local wall-clock datetime."""
        return dt.datetime.fromisoformat(self.first_handoff)

    @property
    def coverage(self) -> list[CoverageWindow] | None:
        """The weekly windows covered, or None when the rota always covers."""
        if not self.coverage_rows:
            return None
        return [row.window for row in self.coverage_rows]


class RotaMember(Base):
    """One member of a rota at one place in the turn order."""

    __tablename__ = "rota_members"
    __table_args__ = (
        UniqueConstraint("rota_id", "staff_id", name="uq_rota_members_rota_id_staff_id"),
    )

    rota_id: Mapped[int] = mapped_column(
        ForeignKey("rotas.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)


class RotaCoverageWindow(Base):
    """A weekly local wall-clock window the rota covers; a rota without any covers always."""

    __tablename__ = "rota_coverage_windows"

    rota_id: Mapped[int] = mapped_column(
        ForeignKey("rotas.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    start_day: Mapped[int]  # 0 = Monday .. 6 = Sunday
    start_time: Mapped[dt.time] = mapped_column(Time())
    end_day: Mapped[int]
    end_time: Mapped[dt.time] = mapped_column(Time())

    @property
    def window(self) -> CoverageWindow:
        """This row as the rota logic's CoverageWindow."""
        return CoverageWindow(self.start_day, self.start_time, self.end_day, self.end_time)


class RotaRevisionRecord(Base):
    """A definition a rota had until `ends_at`, kept so a change made from a chosen handoff
    leaves every shift before it exactly as it was (rotas.RotaRevision)."""

    __tablename__ = "rota_revisions"
    __table_args__ = (Index("ix_rota_revisions_rota_ends", "rota_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rota_id: Mapped[int] = mapped_column(ForeignKey("rotas.id", ondelete="CASCADE"))
    # The handoff from which the next definition applies (UTC).
    ends_at: Mapped[dt.datetime]
    timezone: Mapped[str] = mapped_column(String(64))
    shift_length: Mapped[str] = mapped_column(String(40))
    # Local wall-clock ISO 8601 without an offset, like rotas.first_handoff.
    first_handoff: Mapped[str] = mapped_column(String(32))
    # Staff ids in turn order.
    members: Mapped[list[int]] = mapped_column(JSON)
    # [[start_day, "HH:MM:SS", end_day, "HH:MM:SS"], ...], or None when always covered.
    coverage: Mapped[list[list[Any]] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime]

    @property
    def windows(self) -> list[CoverageWindow] | None:
        """The stored coverage as the rota logic's windows."""
        if self.coverage is None:
            return None
        return [
            CoverageWindow(
                int(start_day),
                dt.time.fromisoformat(start),
                int(end_day),
                dt.time.fromisoformat(end),
            )
            for start_day, start, end_day, end in self.coverage
        ]


class RotaOverride(Base):
    """Someone (or nobody) on call instead of, or beside, the rotation for [start, end)."""

    __tablename__ = "rota_overrides"
    __table_args__ = (
        # "Overrides of rota R overlapping [a, b)" is an index range scan on the first:
        # rota_id = R AND starts_at in [a - longest, b) AND ends_at > a. The second serves
        # "overrides still to come" without reading a rota's whole history.
        Index("ix_rota_overrides_rota_starts", "rota_id", "starts_at"),
        Index("ix_rota_overrides_rota_ends", "rota_id", "ends_at"),
    )

    # The id is the creation sequence: a later override wins where two overlap.
    id: Mapped[int] = mapped_column(primary_key=True)
    rota_id: Mapped[int] = mapped_column(ForeignKey("rotas.id", ondelete="CASCADE"))
    # None: nobody is on call (a replace override only).
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    mode: Mapped[RotaOverrideMode] = mapped_column(text_enum(RotaOverrideMode, "override_mode"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime]


class CalendarFeedToken(Base):
    """The secret in a calendar subscription URL; only its SHA-256 hash is stored."""

    __tablename__ = "calendar_feed_tokens"
    __table_args__ = (Index("ix_calendar_feed_tokens_target", "kind", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[CalendarFeedKind] = mapped_column(
        text_enum(CalendarFeedKind, "calendar_feed_kind")
    )
    # A staff id or a rota id, depending on kind (so no foreign key).
    target_id: Mapped[int]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]


__all__ = [
    "CalendarFeedKind",
    "CalendarFeedToken",
    "RotaCoverageWindow",
    "RotaMember",
    "RotaOverride",
    "RotaOverrideMode",
    "RotaRecord",
    "RotaRevisionRecord",
]
