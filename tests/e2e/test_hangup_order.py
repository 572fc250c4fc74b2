"""A caller who hangs up while the last step rings, and Twilio's two requests in either order.

When the caller hangs up during a <Dial>, Twilio requests the Dial action (its TwiML ignored) and
sends the final status callback, in no promised order. While the last step of the crisis-call
chain rings, an action taken at face value would run out the chain ("missed", the fallback);
the call must be recorded as abandoned after the caller's wait, and chased once (hazard H110).
A voicemail left as he hangs up must be in the missed-call text whichever comes first (H102).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline.clock import FakeClock
from crisisline.simulator import HangUpOrder
from tests.support.call_line import (
    BACKUP,
    DANIEL,
    LINE,
    MANAGER,
    PRIMARY,
    Line,
    reply_code,
    start_call_line,
)


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    yield from start_call_line(tmp_path, database_url, clock)


@pytest.mark.parametrize("order", ["action-first", "status-first"])
def test_the_caller_hangs_up_while_the_last_step_rings_is_abandoned_whatever_the_order(
    line: Line,
    order: HangUpOrder,
) -> None:
    line.sim.hang_up_order = order
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    # 7.6 s of greeting, the primary's and the backup's 20 s: he gives up 10.4 s into the
    # duty manager's ring.
    caller = line.sim.phone(DANIEL).call(LINE, hang_up_after=58)

    assert line.sim.phone(MANAGER).expect_call(answered=False).status == "canceled"
    for phone in (PRIMARY, BACKUP):
        line.sim.phone(phone).expect_call(answered=False)
    (final,) = line.sim.webhooks("call-status", caller.sid)
    assert final.params["CallDuration"] == "58"
    contact = line.contact()
    assert contact.outcome == "abandoned"
    assert contact.wait_seconds == 58
    missed = [e for e in line.escalations() if e.subject_type == "missed_call"]
    assert len(missed) == 1
    line.deliver()
    sms = line.sim.phone(PRIMARY).expect_sms(
        "Missed call from R1001 D. Price at 12:00, hung up after 58s"
    )
    assert reply_code(sms.body)
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # any risk alert's own texts


@pytest.mark.parametrize("order", ["action-first", "status-first"])
def test_a_voicemail_left_as_the_caller_hangs_up_is_in_the_missed_call_text_whatever_the_order(
    line: Line,
    order: HangUpOrder,
) -> None:
    line.sim.hang_up_order = order
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    caller = line.sim.phone(DANIEL).call(
        LINE, message="Please call me back, it is bad tonight", hang_up_after=114
    )

    (record,) = line.sim.webhooks("record", caller.sid)
    assert record.params["Digits"] == "hangup"
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).expect_call(answered=False)
    contact = line.contact()
    assert contact.outcome == "voicemail"
    assert contact.recording_url == line.sim.recordings[0].url
    line.deliver()
    line.sim.phone(PRIMARY).expect_sms("Missed call from R1001 D. Price at 12:00, voicemail left")
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alert's own texts
