"""docs/permissions.md and ROLE_GRANTS are one table: the page's grid of roles and permissions
is read back and must equal the code's, cell by cell, so neither can change alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from crisisline.models import StaffRole
from crisisline.permissions import ROLE_GRANTS, SCOPES, Extent, Permission

PAGE = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
NOT_HELD = "—"
GRID = ("permission", "on_call")
COVERAGE = ("permission", "what it allows")

Grants = Mapping[StaffRole, Mapping[Permission, Extent]]


def markdown_table(text: str, header_starts: tuple[str, ...]) -> list[list[str]]:
    """The rows (header first, the |---| line left out) of the first table whose header begins
    with the cells `header_starts`, each row as its stripped cells."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not rows:
            if line.startswith("|") and tuple(cells[: len(header_starts)]) == header_starts:
                rows.append(cells)
            continue
        if not line.startswith("|"):
            break
        if not all(set(cell) <= {"-", ":"} for cell in cells):
            rows.append(cells)
    assert rows, f"docs/permissions.md has no table starting with {header_starts}"
    return rows


def documented_grants(text: str) -> dict[StaffRole, dict[Permission, Extent]]:
    """The page's grid of roles and permissions, as ROLE_GRANTS spells it."""
    header, *body = markdown_table(text, GRID)
    roles = [StaffRole(name) for name in header[1:]]
    table: dict[StaffRole, dict[Permission, Extent]] = {role: {} for role in roles}
    for row in body:
        permission = Permission(row[0].strip("`"))
        assert len(row) == len(header), f"the row of {permission} has {len(row)} cells"
        for role, cell in zip(roles, row[1:], strict=True):
            if cell != NOT_HELD:
                table[role][permission] = Extent(cell)
    return table


def differences(documented: Grants, coded: Grants) -> list[str]:
    """Each cell where the page and the code disagree, in words."""
    return [
        f"{role} {permission}: page {documented.get(role, {}).get(permission, NOT_HELD)}, "
        f"code {coded.get(role, {}).get(permission, NOT_HELD)}"
        for role in StaffRole
        for permission in sorted(SCOPES)
        if documented.get(role, {}).get(permission) != coded.get(role, {}).get(permission)
    ]


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def test_the_grid_has_a_column_for_every_role_and_a_row_for_every_grantable_permission() -> None:
    header, *body = markdown_table(page(), GRID)
    assert sorted(header[1:]) == sorted(role.value for role in StaffRole)
    rows = [row[0].strip("`") for row in body]
    assert len(rows) == len(set(rows)), "a permission has two rows"
    assert set(rows) == {permission.value for permission in SCOPES}


def test_every_cell_of_the_grid_is_the_grant_in_role_grants() -> None:
    documented = documented_grants(page())
    assert differences(documented, ROLE_GRANTS) == []
    assert documented == {role: dict(granted) for role, granted in ROLE_GRANTS.items()}


def test_a_cell_changed_on_the_page_alone_is_a_difference() -> None:
    row = "| `staff:write` | — | — | — | — | all |"
    assert row in page(), "the staff:write row is not as this test expects"
    changed = page().replace(row, "| `staff:write` | — | — | all | — | all |")
    assert differences(documented_grants(changed), ROLE_GRANTS) == [
        "duty_manager staff:write: page all, code —"
    ]


def test_every_grantable_permission_says_what_it_allows_and_which_operations() -> None:
    header, *body = markdown_table(page(), COVERAGE)
    assert header == ["permission", "what it allows", "operations and pages"]
    rows = [row[0].strip("`") for row in body]
    assert sorted(rows) == sorted(permission.value for permission in SCOPES)
    assert all(row[1] and row[2] for row in body), "a permission's row has an empty cell"
