"""On-call rotas: who is on call at an instant, the shifts over a period, and the gaps.

Everything here is a pure function of a rota, its overrides and the instants asked
about: nothing reads the clock, and every instant in or out is timezone-aware UTC.
See docs/rotas.md for the model and the rule for clock changes.
"""

from __future__ import annotations

from rotas.model import (
    CoverageWindow,
    Override,
    OverrideMode,
    Rota,
    RotaRevision,
    RotaValidationError,
    ShiftLength,
)
from rotas.schedule import (
    Gap,
    GapReason,
    OnCallShift,
    RotationShift,
    Source,
    continued_from,
    gaps_between,
    handoffs_between,
    on_call_at,
    rotation_shift_at,
    shifts_between,
)
from rotas.wallclock import (
    RepeatedLocalTime,
    SkippedLocalTime,
    local_to_utc,
    typed_local_to_utc,
    utc_to_local,
)

__all__ = [
    "CoverageWindow",
    "Gap",
    "GapReason",
    "OnCallShift",
    "Override",
    "OverrideMode",
    "RepeatedLocalTime",
    "Rota",
    "RotaRevision",
    "RotaValidationError",
    "RotationShift",
    "ShiftLength",
    "SkippedLocalTime",
    "Source",
    "continued_from",
    "gaps_between",
    "handoffs_between",
    "local_to_utc",
    "on_call_at",
    "rotation_shift_at",
    "shifts_between",
    "typed_local_to_utc",
    "utc_to_local",
]
