"""Charts for the console, drawn by pygal as SVG.

A chart is served as an SVG of its own (the console's pages allow no inline style, and pygal's
SVG carries its own <style>), shown with <img> beside a table of the same figures. pygal's
tooltip script is never linked (`js=[]`): the answer's content security policy allows no
script, and an SVG shown through <img> runs none anyway.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any, Final

# pygal ships no type information.
import pygal  # type: ignore[import-untyped]
from pygal.style import Style  # type: ignore[import-untyped]

# pygal puts a finder for its map plugins (unused here) on sys.meta_path, an old-style one with
# no find_spec: from then on every failed import anywhere in the process (an optional
# dependency probed with try/except ImportError) raises an ImportWarning. Take it off again.
sys.meta_path[:] = [
    finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)
]

# The console's colours (console.css): a light and a dark blue that both stand out on white
# and from each other.
_STYLE_OPTIONS: Final[dict[str, object]] = {
    "background": "#ffffff",
    "plot_background": "#ffffff",
    "foreground": "#1b1b1b",
    "foreground_strong": "#1b1b1b",
    "foreground_subtle": "#b1b4b6",
    "opacity": "1",
    "opacity_hover": "0.85",
    "colors": ("#5694ca", "#1d3f6e", "#b10e1e", "#00703c"),
    "font_family": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    "title_font_size": 17,
    "label_font_size": 14,
    "major_label_font_size": 14,
    "legend_font_size": 15,
    "no_data_font_size": 22,
}
_STYLE: Final = Style(**_STYLE_OPTIONS)
_ONE_COLOUR: Final = Style(**{**_STYLE_OPTIONS, "colors": ("#1d3f6e",) * 7})
# Shown across an empty chart (pygal's own is "No data").
NO_DATA: Final = "Nothing to measure"
# Drawn small and scaled up or down by the page: at a phone's width its words stay readable.
WIDTH: Final = 520
HEIGHT: Final = 340


def _render(
    kind: type[pygal.graph.graph.Graph],
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    style: Style = _STYLE,
    no_data_text: str = NO_DATA,
    **options: object,
) -> bytes:
    """One chart of the console's: no script, its size and style, the labels slanted to fit a
    phone, one series per name, rendered as an SVG document."""
    chart = kind(
        js=[],
        style=style,
        no_data_text=no_data_text,
        width=WIDTH,
        height=HEIGHT,
        title=title,
        x_label_rotation=-45,
        **options,
    )
    chart.x_labels = list(labels)
    for name, values in series:
        chart.add(name, list(values))
    svg: bytes = chart.render()
    return svg


def _legend_below(series: Sequence[object]) -> dict[str, Any]:
    return {"legend_at_bottom": True, "legend_at_bottom_columns": len(series) or 1}


def stacked_bars(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    y_title: str,
) -> bytes:
    """A stacked bar chart of whole counts (one bar per label, one layer per series), as an
    SVG document."""
    return _render(
        pygal.StackedBar,
        title=title,
        labels=labels,
        series=series,
        y_title=y_title,
        print_values=False,
        no_data_text="No data",  # pygal's own, as this chart always had
        y_labels=_whole_steps(_tallest(series, len(labels))),
        **_legend_below(series),
    )


def _tallest(series: Sequence[tuple[str, Sequence[int]]], bars: int) -> int:
    stacked = [sum(values[bar] for _, values in series if bar < len(values)) for bar in range(bars)]
    return max(stacked, default=0)


def _whole_steps(top: int) -> list[int]:
    """Axis marks for counts: whole numbers only, about five of them, reaching `top`."""
    step = max(1, math.ceil(top / 5))
    return list(range(0, max(top, 1) + step, step))


def lines(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_title: str,
    percent: bool = False,
) -> bytes:
    """A line chart (one line per series; None leaves a gap: nothing to measure), as an SVG
    document. `percent`: the values are shares from 0 to 1, drawn from 0% to 100%."""
    options: dict[str, Any] = {}
    if percent:
        options = {"range": (0, 100), "y_labels": list(range(0, 101, 20))}
    return _render(
        pygal.Line,
        title=title,
        labels=labels,
        series=[(name, [_scaled(v, percent) for v in values]) for name, values in series],
        y_title=y_title,
        allow_interruptions=True,
        show_minor_x_labels=True,
        **_legend_below(series),
        **options,
    )


def bars(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    y_title: str,
) -> bytes:
    """A bar chart (bars of each series side by side; None draws no bar), as an SVG document."""
    return _render(
        pygal.Bar,
        title=title,
        labels=labels,
        series=series,
        y_title=y_title,
        print_values=False,
        **_legend_below(series),
    )


def punch_card(
    *,
    title: str,
    columns: Sequence[str],
    rows: Sequence[tuple[str, Sequence[int]]],
) -> bytes:
    """A heat map of counts: one row of dots per row label (a weekday), one column per column
    label (an hour), each dot's size its count, as an SVG document."""
    return _render(
        pygal.Dot,
        title=title,
        labels=columns,
        series=rows,
        # One colour for every row: the dot's size is the figure, a colour would mean nothing.
        style=_ONE_COLOUR,
        show_legend=False,
        show_minor_x_labels=False,
        # Every fourth hour labelled: 24 labels do not fit a phone's width.
        x_labels_major=list(columns[::4]),
    )


def _scaled(value: float | None, percent: bool) -> float | None:
    if value is None or not percent:
        return value
    return round(value * 100, 1)
