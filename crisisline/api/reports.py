"""/api/v1/reports: the service's measures over a period, and the contacts behind a figure."""

from __future__ import annotations

from crisisline.api.common import protected_blueprint

blueprint = protected_blueprint(
    "reports",
    __name__,
    "/api/v1",
    "Reports: how well the line answers, each figure with the contacts behind it.",
)
