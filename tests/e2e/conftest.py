"""Fixtures the end-to-end test modules share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crisisline.clock import FakeClock
from tests.support.sms_line import (
    BACKUP,
    DANIEL,
    DANIEL_NEW,
    MANAGER,
    MARCUS,
    NEW_PHONE,
    PRIMARY,
    SmsLine,
    start_line,
)


@pytest.fixture
def lenient_line(tmp_path: Path, database_url: str, clock: FakeClock) -> Iterator[SmsLine]:
    """The SMS line (tests/support/sms_line.py) whose phones may hold texts a test does not read.

    For the hazard tests, which assert on what matters to each hazard, not on every text sent;
    the other tests take their module's `line`, whose phones must have read every text.
    """
    for generated in start_line(tmp_path, database_url, clock):
        for number in (PRIMARY, BACKUP, MANAGER, DANIEL, MARCUS, NEW_PHONE, DANIEL_NEW):
            generated.phone(number).ignore_unexpected()
        yield generated
