"""bench/retention.py runs end to end on a tiny seed, on each configured engine: the run changes
what the dry run planned, and the next night's run finds nothing. Nothing here is timed against
a bar."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.support.app import ENGINES, TEST_DATABASE_URL

# bench/ is a folder of scripts, not an installed package: load the script by its path.
_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "retention.py"
_SPEC = importlib.util.spec_from_file_location("bench_retention", _SCRIPT)
assert _SPEC is not None and _SPEC.loader is not None
bench_retention = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench_retention  # its dataclasses look their module up
_SPEC.loader.exec_module(bench_retention)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_benchmark_runs_and_reports(engine: str) -> None:
    url = None if engine == "sqlite" else TEST_DATABASE_URL
    result = bench_retention.run(url, contacts=400, participants=20)
    # Texts' words and every number older than two years, voicemails older than 90 days, the
    # relays' bodies older than a year, and the details of the two who left 21 years ago.
    assert result.changed > 400
    assert result.contacts == 400
    table = bench_retention.markdown([result])
    assert f"| {result.engine} | 400 | {result.changed:,} |" in table
