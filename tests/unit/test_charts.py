"""Charts drawn by pygal: an SVG document of its own, with no script linked, and a count axis
marked in whole numbers."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

import pygal  # type: ignore[import-untyped]  # pygal ships no type information

from crisisline import charts

SVG = "{http://www.w3.org/2000/svg}"


def _chart(day: list[int], night: list[int]) -> bytes:
    return charts.stacked_bars(
        title="Calls and texts from him, by week",
        labels=[f"week {n}" for n in range(len(day))],
        series=[("Day", day), ("Night", night)],
        y_title="Calls and texts",
    )


def test_a_stacked_bar_chart_is_an_svg_document_with_its_bars_labels_and_legend() -> None:
    svg = _chart([1, 0, 4], [2, 3, 0])
    root = ET.fromstring(svg)  # noqa: S314  # drawn here, not untrusted
    assert root.tag == f"{SVG}svg"
    words = "".join(root.itertext())
    assert "Calls and texts from him, by week" in words
    assert "week 0" in words and "week 2" in words
    assert "Day" in words and "Night" in words
    # One bar per label and series.
    bars = [node for node in root.iter(f"{SVG}rect") if "rect reactive" in node.get("class", "")]
    assert len(bars) == 6


def test_no_script_is_linked_and_styles_are_its_own() -> None:
    svg = _chart([1], [1]).decode()
    assert "<style" in svg
    assert not re.search(r"<script[^>]*\bsrc=", svg)
    assert "kozea.github.io" not in svg and "http://" not in svg.split("-->", 3)[-1]


def test_the_count_axis_is_marked_in_whole_numbers_up_to_the_tallest_bar() -> None:
    svg = _chart([3, 9], [4, 2]).decode()
    # The tallest bar stacks 3 + 4 = 7 or 9 + 2 = 11: marks every 3, up to 12.
    assert _marks(svg) == [0, 3, 6, 9, 12]
    assert _marks(_chart([0, 0], [0, 0]).decode()) == [0, 1]


def _marks(svg: str) -> list[int]:
    """The numbers along the count axis, bottom first."""
    return [
        int(mark) for mark in re.findall(r'<text x="-5" y="[^"]+" class="[a-z]*">(\d+)</text>', svg)
    ]


def test_pygal_leaves_no_finder_of_its_own_on_the_import_path() -> None:
    assert not any(isinstance(finder, pygal.PluginImportFixer) for finder in sys.meta_path)
