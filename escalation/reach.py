"""How the engine reaches people, and what it sends them: plain values handed to the flows by
the composition root (no Flask, no database, no Twilio)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reach:
    """How the engine reaches people: the crisis number it sends from and its public URL."""

    from_number: str
    base_url: str
    # The link that plays a contact's voicemail, valid for a while from the given time
    # (crisisline.voicemail_links.url); None where links cannot be made (some tests).
    voicemail_url: Callable[[int, dt.datetime], str] | None = field(
        default=None, compare=False, repr=False
    )
    # The link to a participant's crisis plan for (contact, staff) sent at the given time, and
    # when it expires (crisisline.crisis_plan_links.link_for); None where links cannot be made.
    plan_link: Callable[[int, int, dt.datetime], tuple[str, dt.datetime]] | None = field(
        default=None, compare=False, repr=False
    )

    def call_url(self, escalation_id: int) -> str:
        """The TwiML an escalation call fetches when the staff member answers."""
        return f"{self.base_url}/webhooks/escalations/{escalation_id}/call"


@dataclass(frozen=True)
class OutgoingText:
    """One SMS to send; `verbatim` keeps a participant's own words exactly as they wrote them."""

    body: str
    verbatim: bool = False
