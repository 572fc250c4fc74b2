"""The pure domain loads nothing of the web, the database, telephony or the scheduler.

`make lint` checks the imports the code writes (import-linter, pyproject.toml); this checks what
Python really loads, which also counts a package's `__init__` run on the way to a module
(`crisisline.telephony.x` loads the Twilio adapter): a pure module must stay importable, and
testable, without any of them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE = ["rotas", "escalation", "wording", "wording.callers", "wording.sms", "crisisline.risk_rules"]
FORBIDDEN = ["flask", "sqlalchemy", "twilio", "requests", "apscheduler", "crisisline.db"]


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_loads_no_framework_database_telephony_or_scheduler(module: str) -> None:
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_the_probe_sees_a_forbidden_module_when_one_is_loaded() -> None:
    # The check above would pass vacuously if the probe could not see loaded modules.
    probe = (
        "import json, sys\nimport crisisline.telephony\n"
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert "twilio" in json.loads(done.stdout)
