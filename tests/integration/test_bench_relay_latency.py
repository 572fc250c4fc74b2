"""bench/relay_latency.py measures what it says, on a tiny run, on each configured engine.

Nothing here is timed against a bar (the benchmark measures speed, see docs/performance.md):
the test runs the Procfile's web and scheduler against the simulator as the benchmark does,
sends a few signed texts and one missed call, and checks that every text's relay and every
acknowledgement is found and matched to the text that caused it, that the missed call's
escalation text is found after the ring chain ended, that the idle CPU reading comes from the
scheduler process, that the report has every row, and that no process outlives the run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

from tests.support.app import ENGINES, TEST_DATABASE_URL

# bench/ is a folder of scripts, not an installed package: load the script by its path.
_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "relay_latency.py"
_SPEC = importlib.util.spec_from_file_location("bench_relay_latency", _SCRIPT)
assert _SPEC is not None and _SPEC.loader is not None
bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench  # its dataclasses look their module up
_SPEC.loader.exec_module(bench)

ON_CALL = "+447700900102"  # the demo rota's on-call worker now (bench.webhook_harness.seed)


def _gone(pid: int) -> bool:
    """No process is left in the process group `pid` led (gunicorn's workers included)."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("engine", ENGINES)
def test_the_benchmark_matches_each_text_and_call_to_what_reached_the_phones(engine: str) -> None:
    url = None if engine == "sqlite" else TEST_DATABASE_URL
    twilio = bench._Twilio()
    try:
        with bench.service(url, twilio, "on") as svc:
            mark = len(twilio.sim.messages)
            started = time.time()
            run = bench.measure_texts(twilio, svc, 6, 10.0, "t", senders=3)
            calls = bench.measure_missed_calls(twilio, 1)
            idle = bench.measure_idle_cpu(svc, 1.0, settle=0.0)
            sent = twilio.outbound(mark)
        assert _gone(svc.web_pid) and _gone(svc.scheduler_pid)
    finally:
        twilio.close()

    # Three participants text twice each: three first texts, three later ones, three acks.
    assert len(run.opening.seconds) == len(run.joining.seconds) == 3
    assert len(run.acknowledged.seconds) == 3
    assert run.opening.lost == run.joining.lost == run.acknowledged.lost == 0
    # Each latency ends when the simulator received the text, after the webhook was sent.
    elapsed = time.time() - started
    for seconds in (*run.opening.seconds, *run.joining.seconds, *run.acknowledged.seconds):
        assert 0 < seconds < elapsed
    # Every text reached the on-call worker carrying its own tag; each participant got one ack.
    relayed = [m.body for m in sent if m.to == ON_CALL and m.body.endswith(")")]
    tags = sorted(body.rsplit("(", 1)[1].rstrip(")") for body in relayed)
    assert tags == [f"t{n}" for n in range(6)]
    for number in bench.PARTICIPANTS[:3]:
        assert len([m for m in sent if m.to == number and "reached" in m.body]) == 1

    # The missed call: its escalation text names the caller and came after the chain ended.
    assert calls.lost == 0 and len(calls.seconds) == 1 and calls.seconds[0] > 0
    assert any("B0000" in m.body and "nobody answered" in m.body for m in sent)
    assert 0 <= idle < 1.0  # the scheduler's own CPU time over one second of wall time

    result = bench.SettingResult("on", {"2 a second": run}, calls, idle, 1.0)
    block = bench.report({"on": result, "off": result}, bench.Plan.quick(), "15", 0.0)
    for row in ("first text → on-call worker told", "later text → relayed to on-call"):
        assert f"| 2 a second: {row} | 3 / 3 |" in block
    assert "| missed call (chain ends) → first escalation text | 1 / 1 |" in block
    assert "| user + system |" in block
