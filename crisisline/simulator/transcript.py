"""Readable transcripts of what simulated phones heard and received, for consoles and failures."""

from __future__ import annotations

from collections.abc import Iterable

from crisisline.simulator.phone import CallRecord, Phone, TranscriptEntry


def format_transcript(phones: Iterable[Phone]) -> str:
    """Everything each phone heard, pressed, sent and received, phone by phone, in order."""
    blocks = []
    for phone in phones:
        lines = [f"=== {phone.name} ==="]
        lines += [_line(entry) for entry in phone.transcript]
        if len(lines) == 1:
            lines.append("(nothing)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else "(no phones took part)\n"


def format_call(phone: Phone, record: CallRecord) -> str:
    """One call as `phone` lived it, with a heading line."""
    if record.direction == "received":
        heading = f"{phone.name}: call from {record.from_}"
    else:
        heading = f"{phone.name}: call to {record.to}"
    return "\n".join([heading, *(_line(entry) for entry in record.entries)])


def _line(entry: TranscriptEntry) -> str:
    if entry.at_seconds is None:
        return entry.text
    minutes, seconds = divmod(int(entry.at_seconds), 60)
    return f"  {minutes:02d}:{seconds:02d}  {entry.text}"
