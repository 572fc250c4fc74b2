"""/api/v1/follow-ups: what notes ask responsible officers to do, and marking it done."""

from __future__ import annotations

from crisisline.api.common import protected_blueprint

blueprint = protected_blueprint(
    "follow_ups",
    __name__,
    "/api/v1",
    "Follow-ups: what a note asks the participant's responsible officer to do.",
)
