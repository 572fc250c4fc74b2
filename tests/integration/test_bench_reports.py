"""bench/reports.py runs end to end on tiny sizes and reports every case.

Nothing here is timed against a bar (the benchmark measures speed, see docs/performance.md):
the test checks that the seeding (the same year in both databases, more history in the large
one), the timed builds, the API requests and the reads, and the results block still work as
the reports change, on each configured engine.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.support.app import ENGINES, TEST_DATABASE_URL

# bench/ is a folder of scripts, not an installed package: load the script by its path.
_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "reports.py"
_SPEC = importlib.util.spec_from_file_location("bench_reports", _SCRIPT)
assert _SPEC is not None and _SPEC.loader is not None
reports_bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = reports_bench  # its dataclasses look their module up
_SPEC.loader.exec_module(reports_bench)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_benchmark_reports_every_case_on_both_sizes(engine: str) -> None:
    url = None if engine == "sqlite" else TEST_DATABASE_URL
    result = reports_bench.run(url, small=600, large=1_500, year=400, repeat=3, participants=60)

    assert (result.small, result.large) == (600, 1_500)
    # The measured year holds the same contacts in both: the history differs, not the year.
    assert result.year == 400
    keys = {case.key for case in result.cases}
    assert keys == {case.key for case in (*reports_bench.CASES, *reports_bench.READS)}
    for case in result.cases:
        for size in ("small", "large"):
            assert len(result.samples[case.key][size]) == 3
            assert result.median_ms(case.key, size) > 0
    for key in ("api-month", "api-year", "calls-year", "alerts-year", "escalations-year"):
        assert min(result.counts[key]) > 0  # each ran its statements
    block = reports_bench.markdown([result], repeat=3)
    for case in result.cases:
        assert f"| {case.label} |" in block
    assert "a year's report (400 contacts in the year) through the API over 1,500" in block
