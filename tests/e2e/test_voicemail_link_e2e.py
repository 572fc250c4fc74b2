"""The missed-call text's voicemail link, end to end through the simulator: the caller leaves a
message, the on-call worker's text carries a link, and the link plays that message, fetched
from (simulated) Twilio with the account's credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from crisisline.clock import FakeClock
from crisisline.models import AuditEntry
from tests.support.call_line import (
    BACKUP,
    BASE,
    DANIEL,
    LINE,
    MANAGER,
    PRIMARY,
    Line,
    reply_code,
    start_call_line,
)

LINK = re.compile(re.escape(BASE) + r"/voicemail/[A-Za-z0-9._-]+")


@pytest.fixture
def line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[Line]:
    yield from start_call_line(tmp_path, database_url, clock)


def test_the_missed_call_text_links_to_the_message_and_the_link_plays_it(
    line: Line,
) -> None:
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).will_not_answer()
    line.sim.phone(DANIEL).call(LINE, message="Ring me at my sister's, my phone is cut off")
    line.sim.run_pending()
    line.deliver()

    text = line.sim.phone(PRIMARY).expect_sms("Missed call from R1001 D. Price at 12:00")
    assert reply_code(text.body)
    found = LINK.search(text.body)
    assert found is not None, text.body
    answer = line.app.test_client().get(found.group(0).removeprefix(BASE))

    assert answer.status_code == 200
    assert answer.mimetype == "audio/mpeg"
    assert answer.data.endswith(b"Ring me at my sister's, my phone is cut off")
    with line.svc.db.transaction() as session:
        played = session.scalars(
            select(AuditEntry.record_id).where(AuditEntry.action == "voicemail.played")
        ).all()
    assert played == [line.contact().id]
    for phone in (PRIMARY, BACKUP, MANAGER):
        line.sim.phone(phone).ignore_unexpected()  # the risk alerts' own texts
