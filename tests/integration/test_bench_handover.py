"""bench/handover.py runs end to end on a tiny seed and reports every figure.

Nothing here is timed against a bar (speed is measured by the benchmark itself, see
docs/performance.md): the test checks that the seeding, the signed-in page, the build on its
own and the report still work as the handover changes, on each configured engine, and that the
two databases really hold the same period.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from tests.support.app import ENGINES, TEST_DATABASE_URL

# bench/ is a folder of scripts, not an installed package: load the script by its path.
_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "handover.py"
_SPEC = importlib.util.spec_from_file_location("bench_handover", _SCRIPT)
assert _SPEC is not None and _SPEC.loader is not None
bench_handover = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench_handover  # its dataclasses look their module up
_SPEC.loader.exec_module(bench_handover)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_benchmark_reports_every_figure(engine: str, tmp_path: Path) -> None:
    url = None if engine == "sqlite" else TEST_DATABASE_URL
    result = bench_handover.run(url, older=1_500, small_older=300, repeat=5, participants=500)

    # The same period in both, differing only in the history before it.
    assert result.small.period == result.large.period > 100
    assert result.shown[0] == result.shown[1] > 0
    assert (result.small.older, result.large.older) == (300 + 6, 1_500 + 6)
    assert result.large.rows > result.small.rows > 0
    for case in bench_handover.CASES:
        for size in ("small", "large"):
            assert len(result.samples[case.key][size]) == 5
            assert result.median_ms(case.key, size) > 0
        assert result.ratio(case.key) > 0
        small_n, large_n = result.counts[case.key]
        assert small_n == large_n > 0  # the same statements whatever the history

    report = bench_handover.markdown([result], repeat=5)
    for case in bench_handover.CASES:
        row = next(line for line in report.splitlines() if line.startswith(f"| {case.label} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        # median (p95) for each size, the ratio, the statement counts
        assert re.fullmatch(r"[\d.]+ ms \([\d.]+ ms\)", cells[1])
        assert re.fullmatch(r"[\d.]+ ms \([\d.]+ ms\)", cells[2])
        assert re.fullmatch(r"(\*\*)?[\d.]+(\*\* \(over 1.5\))?", cells[3])
        assert cells[4] == " / ".join(map(str, result.counts[case.key]))
    assert "1,506 older contacts" in report

    # --write puts the block between its marks, replacing an earlier one.
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n")
    bench_handover.write_block(doc, bench_handover.START_MARK, bench_handover.END_MARK, report)
    bench_handover.write_block(doc, bench_handover.START_MARK, bench_handover.END_MARK, report)
    written = doc.read_text()
    assert written.count(bench_handover.START_MARK) == 1
    assert report.strip() in written
