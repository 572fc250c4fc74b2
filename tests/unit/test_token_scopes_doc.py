"""docs/api-tokens.md lists exactly the scopes an integration token may be issued with."""

from __future__ import annotations

import re
from pathlib import Path

from crisisline.tokens import scope_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "api-tokens.md"


def test_the_scope_table_names_every_scope_and_no_other() -> None:
    rows = re.findall(r"^\| `([a-z-]+:[a-z]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(rows) == scope_names()
