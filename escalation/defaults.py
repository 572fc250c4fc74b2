"""The shipped escalation policies in config/escalation_policies.toml, loaded and validated."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from escalation.policy import EscalationPolicy, PolicyValidationError, parse_policy

DEFAULT_POLICIES_PATH: Final = (
    Path(__file__).resolve().parent.parent / "config" / ("escalation_policies.toml")
)
# The flows that open escalations look these names up; a deployment without one of them
# would fail only when a participant needs it, so loading refuses a file that lacks any.
SHIPPED_POLICY_NAMES: Final = ("crisis-call", "crisis-sms", "missed-call", "risk-alert")


def parse_policies(data: Mapping[str, object]) -> dict[str, EscalationPolicy]:
    """Policies from the parsed TOML document, with errors naming `policies.<name>.<path>`."""
    unknown = [key for key in data if key != "policies"]
    if unknown:
        raise PolicyValidationError(unknown[0], "is not a known section (expected [policies.*])")
    section = data.get("policies")
    if not isinstance(section, Mapping) or not section:
        raise PolicyValidationError("policies", "must hold at least one [policies.<name>] table")
    policies: dict[str, EscalationPolicy] = {}
    for name, body in section.items():
        try:
            policies[name] = parse_policy(name, body)
        except PolicyValidationError as error:
            raise PolicyValidationError(f"policies.{name}.{error.field}", error.message) from None
    return policies


def load_policies(
    path: Path | str = DEFAULT_POLICIES_PATH,
    *,
    required: tuple[str, ...] = SHIPPED_POLICY_NAMES,
) -> dict[str, EscalationPolicy]:
    """Read and validate policies from a TOML file, requiring each of `required`."""
    try:
        with Path(path).open("rb") as file:
            document = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise PolicyValidationError("policies", f"{path} is not valid TOML: {error}") from None
    policies = parse_policies(document)
    for name in required:
        if name not in policies:
            raise PolicyValidationError(f"policies.{name}", f"is required but missing from {path}")
    return policies


def load_default_policies() -> dict[str, EscalationPolicy]:
    """The shipped defaults: crisis-call, crisis-sms, missed-call and risk-alert."""
    return load_policies(DEFAULT_POLICIES_PATH)
