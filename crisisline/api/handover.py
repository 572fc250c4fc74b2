"""/api/v1/handover: everything that happened in a period, as the morning handover gives it."""

from __future__ import annotations

from crisisline.api.common import protected_blueprint

blueprint = protected_blueprint(
    "handover",
    __name__,
    "/api/v1",
    "The handover: every contact of a period with its note, alerts, follow-ups and failures.",
)
