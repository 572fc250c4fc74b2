"""docs/staff-texts.md's table of every text staff can receive, as tests read it, and the
summaries its examples are built from (tests/unit/test_staff_texts.py checks the table against
the code; the engine's tests check a real bundle against it)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "staff-texts.md"
# A line break inside a text, as the table shows it (a table cell holds one line).
LINE_BREAK = " / "

MISSED = "Missed call from R1001 D. Price at 03:12"
TEXT_SUMMARY = "Text from R1002 J. Okoro unanswered"


def table() -> dict[str, str]:
    """The docs table: each row's name (first column) and its example (the backticked cell)."""
    rows: dict[str, str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("**"):
            continue
        name = cells[0].strip("*")
        example = re.fullmatch(r"`([^`]*)`", cells[3])
        assert example is not None, f"row {name!r}: the example must be one backticked text"
        assert name not in rows, f"row {name!r} is in the table twice"
        rows[name] = example.group(1)
    return rows


def documented_example(name: str) -> str:
    """The example the docs table gives for row `name`, with its line breaks restored."""
    return table()[name].replace(LINE_BREAK, "\n")
