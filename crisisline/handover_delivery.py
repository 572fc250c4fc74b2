"""The morning handover sent every day: by email (plain text and HTML) through the email
outbox, or as one text with the console link where there is no email.

At or after HANDOVER_TIME local each day, the first scheduler pass to get there writes the
day's `HandoverSend` row (its primary key is the local date: a second scheduler, or a second
pass, clashes on it and sends nothing) and, in the same transaction, one email or one text
to every active duty manager and clinical lead, for the period since the previous day's
handover time. A scheduler that was down at 08:30 sends it when it starts, the same day; the
day after, only that day's goes: a missed day is never sent late, and no day is sent twice.

What goes out names participants by reference and initials only, and holds no message body,
no note's text, no follow-up's wording and no phone number (`crisisline.handover.outline`);
the link opens the console page, behind sign-in, for the detail.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crisisline import email_outbox, handover, outbox
from crisisline.db import Database
from crisisline.email_models import HandoverSend
from crisisline.models import Staff, StaffRole, StaffRoleAssignment
from crisisline.settings import Settings

log = logging.getLogger(__name__)

PURPOSE: Final = "handover"
# What the access log names the daily send as: it reads every participant the handover names.
ACTOR: Final = "scheduler:handover"
RECIPIENT_ROLES: Final = (StaffRole.DUTY_MANAGER, StaffRole.CLINICAL_LEAD)


@dataclass(frozen=True)
class Sent:
    """One day's handover, queued: for which local date, and how many emails and texts."""

    local_date: dt.date
    emails: int
    texts: int


def link(settings: Settings, period: handover.Period) -> str:
    """The console page of the period, for the detail (behind sign-in)."""
    query = urlencode({"from": _iso(period.start), "to": _iso(period.end)})
    return f"{settings.public_base_url}/handover?{query}"


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def recipients(session: Session) -> list[Staff]:
    """Every active duty manager and clinical lead, by id."""
    return list(
        session.scalars(
            select(Staff)
            .where(
                Staff.active.is_(True),
                Staff.role_rows.any(StaffRoleAssignment.role.in_(RECIPIENT_ROLES)),
            )
            .order_by(Staff.id)
        )
    )


def due(now: dt.datetime, settings: Settings) -> handover.Period | None:
    """Today's period if today's handover time has come (local wall clock), else None."""
    zone = settings.zone
    today = now.astimezone(zone).date()
    end = handover.handover_at(today, settings.handover_time, zone)
    if now < end:
        return None
    return handover.period_ending(end, settings.handover_time, zone)


def send_due(db: Database, now: dt.datetime, settings: Settings) -> Sent | None:
    """Queue today's handover if it is due and not yet queued; what was queued, or None."""
    period = due(now, settings)
    if period is None:
        return None
    local_date = period.end.astimezone(settings.zone).date()
    try:
        with db.transaction() as session:
            if session.get(HandoverSend, local_date) is not None:
                return None
            # The claim first: another scheduler inserting the same day waits here, then
            # clashes, and its whole transaction (nothing sent) is rolled back.
            row = HandoverSend(
                local_date=local_date,
                period_start=period.start,
                period_end=period.end,
                queued_at=now,
                emails=0,
                texts=0,
            )
            session.add(row)
            session.flush()
            sent = _queue(session, row, period, now, settings)
    except IntegrityError:
        log.info("handover for %s: already queued by another scheduler", local_date)
        return None
    log.info("handover for %s queued: %s emails, %s texts", local_date, sent.emails, sent.texts)
    return sent


def _queue(
    session: Session,
    row: HandoverSend,
    period: handover.Period,
    now: dt.datetime,
    settings: Settings,
) -> Sent:
    zone = settings.zone
    shown = handover.build(session, period.start, period.end, now=now, zone=zone)
    handover.log_read_by(session, ACTOR, shown, now)
    detail = link(settings, period)
    subject = handover.outline(shown).title
    text = handover.plain_text(shown, link=detail)
    page = html_body(shown, link=detail)
    summary = handover.text_summary(shown, detail)
    reference = f"handover:{row.local_date.isoformat()}"
    emails = texts = 0
    for person in recipients(session):
        if settings.smtp_url and person.email:
            email_outbox.enqueue(
                session,
                to=person.email,
                subject=subject,
                text=text,
                html=page,
                purpose=PURPOSE,
                now=now,
                sender=settings.email_from,
                reference=reference,
            )
            emails += 1
        else:
            outbox.enqueue_sms(
                session,
                to=person.phone,
                from_=settings.crisis_line_number,
                body=summary,
                purpose=PURPOSE,
                now=now,
            )
            texts += 1
    row.emails, row.texts = emails, texts
    return Sent(row.local_date, emails, texts)


def html_body(shown: handover.Handover, *, link: str) -> str:
    """The handover as the email's HTML part: the same words as its text part."""
    words = handover.outline(shown)
    e = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(words.title)}</title></head><body>",
        f"<h1>{e(words.title)}</h1>",
        f"<p>{e(words.period)}</p>",
        f"<p><strong>{e(words.figures)}</strong></p>",
        f'<p><a href="{e(link)}">Open the handover in the console</a> for the detail.</p>',
    ]
    for section in words.sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        for label, lines in section.groups:
            out.append(f"<h3>{e(label)}</h3>")
            out.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>")
        if section.lines:
            out.append("<ul>" + "".join(f"<li>{e(line)}</li>" for line in section.lines) + "</ul>")
        if not section.lines and not section.groups:
            out.append(f"<p>{e(section.empty)}</p>")
    out.append("</body></html>")
    return "\n".join(out)
