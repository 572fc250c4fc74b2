"""bench/console_pages.py runs end to end on a small seed and reports every page.

Nothing here is timed against a bar (speed is measured by the benchmark itself, see
docs/performance.md): the test checks that the seeding, the signed-in requests and the report
still work as the console changes, on each configured engine.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from werkzeug.exceptions import NotFound

from crisisline.app import create_app
from tests.support.app import ENGINES, TEST_DATABASE_URL, make_settings

# bench/ is a folder of scripts, not an installed package: load the script by its path.
_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "console_pages.py"
_SPEC = importlib.util.spec_from_file_location("bench_console_pages", _SCRIPT)
assert _SPEC is not None and _SPEC.loader is not None
console_pages = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = console_pages  # its dataclasses look their module up
_SPEC.loader.exec_module(console_pages)


class _Line:
    """Ids for a page's path (only whether a route serves it matters here)."""

    light = heavy = 1


@pytest.mark.parametrize("engine", ENGINES)
def test_the_benchmark_reports_every_page_and_query(engine: str, tmp_path: Path) -> None:
    url = None if engine == "sqlite" else TEST_DATABASE_URL
    result = console_pages.run(url, total=1_500, repeat=5, queries=True, participants=1_000)

    # Every page is measured once it exists: only a path no route serves is left out.
    routes = create_app(settings=make_settings(tmp_path, "sqlite://")).url_map.bind("localhost")
    for case in result.skipped:
        with pytest.raises(NotFound):
            routes.match(case.path(_Line()), method="GET")
    measured = {case.key for case in result.cases}
    assert {"now", "board", "alerts"} <= measured
    assert measured == {case.key for case in (*console_pages.PAGES, *console_pages.QUERIES)} - {
        case.key for case in result.skipped
    }
    assert (result.small, result.large) == (1_000, 1_500)
    for case in result.cases:
        for size in ("small", "large"):
            assert len(result.samples[case.key][size]) == 5
            assert result.median_ms(case.key, size) > 0
        assert min(result.counts[case.key]) > 0  # each request ran its statements
    report = console_pages.markdown([result], repeat=5)
    for case in result.cases:
        assert f"| {case.label} |" in report
    for case in result.skipped:
        assert case.label in report.split("Not built yet: ", 1)[1]
