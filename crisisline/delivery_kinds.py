"""What each kind of delivery is worth: how soon it goes, and how long it is worth retrying.

The one place a delivery's purpose is turned into its priority and its retry policy. The
dispatcher claims priority 0 before 1 before 2. A crisis delivery keeps being retried through a
provider outage while what it is about is still open (crisisline.outbox); everything else keeps
the ordinary retry window and then fails.

Purposes are plain strings owned by the modules that write them; they are listed here, not
imported, so that the outbox depends on no service module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PARTICIPANT: Final = 0
"""A participant's text relayed to staff, and what the line sends the participant."""
STAFF_ALERT: Final = 1
"""Escalation notifications and calls, bundles, incidents, risk alerts and missed calls
(these go through escalations), duty-manager texts."""
ROUTINE: Final = 2
"""Everything else: rota notices and reminders, test messages, account codes, handover."""

PROVIDER_RECOVERED: Final = "provider_recovered"


@dataclass(frozen=True)
class DeliveryKind:
    """How one purpose is dispatched: its priority, and whether it is a crisis delivery."""

    priority: int
    crisis: bool


_KINDS: Final[dict[str, DeliveryKind]] = {
    # A participant in crisis: the words they sent to staff, and the answers they are sent.
    "sms_relay": DeliveryKind(PARTICIPANT, crisis=True),
    "sms_acknowledgement": DeliveryKind(PARTICIPANT, crisis=True),
    "sms_fallback": DeliveryKind(PARTICIPANT, crisis=True),
    "sms_staff_reply": DeliveryKind(PARTICIPANT, crisis=True),
    # Staff chased for an escalation (texts and calls; risk alerts and missed calls are
    # escalations too), held bundles of them, and the duty managers told nobody took one.
    "escalation": DeliveryKind(STAFF_ALERT, crisis=True),
    "escalation_bundle": DeliveryKind(STAFF_ALERT, crisis=True),
    "escalation_incident": DeliveryKind(STAFF_ALERT, crisis=True),
    "escalation_overdue": DeliveryKind(STAFF_ALERT, crisis=True),
    PROVIDER_RECOVERED: DeliveryKind(STAFF_ALERT, crisis=True),
    # Answers to staff's own texts (NOT SENT, handed over ...), and the duty managers told a
    # flood of unknown numbers has started or ended: soon, with ordinary retries (the flood's
    # own escalation is what chases staff through an outage).
    "sms_staff_notice": DeliveryKind(STAFF_ALERT, crisis=False),
    "flood_notice": DeliveryKind(STAFF_ALERT, crisis=False),
    # The link to the crisis plan of the man whose call or text a worker has just taken: wanted
    # while they talk to him, so soon; worth nothing once the link has expired, so ordinary
    # retries only.
    "crisis_plan_link": DeliveryKind(STAFF_ALERT, crisis=False),
}
_ROUTINE: Final = DeliveryKind(ROUTINE, crisis=False)


def kind_of(purpose: str) -> DeliveryKind:
    """The priority and retry policy of a delivery written for `purpose`."""
    return _KINDS.get(purpose, _ROUTINE)
