"""Bar charts as plain geometry for server-rendered SVG (no chart library, no script).

Each chart is drawn next to a table holding the same figures, so the table is what a
screen reader reads; the SVG is marked as one image with a text summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Bar", "Chart", "stacked_bars"]

WIDTH = 720
HEIGHT = 260
LEFT = 48
BOTTOM = 40
TOP = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    x_labels: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    baseline: float
    left: int
    legend: list[tuple[str, str]] = field(default_factory=list)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if value <= step * 4:
            return float(step * 4)
    return float(value)


def stacked_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    maximum: float | None = None,
    unit: str = "",
) -> Chart:
    """One bar per label, stacked from the series (name, css class, values per label)."""
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    top = maximum if maximum is not None else _nice_max(max(totals, default=0.0))
    plot_height = HEIGHT - BOTTOM - TOP
    baseline = float(HEIGHT - BOTTOM)
    slot = (WIDTH - LEFT) / max(len(labels), 1)
    bar_width = max(min(slot * 0.7, 48.0), 2.0)
    bars: list[Bar] = []
    for index, label in enumerate(labels):
        x = LEFT + index * slot + (slot - bar_width) / 2
        y = baseline
        for name, css_class, values in series:
            value = values[index]
            if value <= 0:
                continue
            height = plot_height * min(value, top) / top
            y -= height
            bars.append(
                Bar(
                    round(x, 1),
                    round(y, 1),
                    round(bar_width, 1),
                    round(height, 1),
                    css_class,
                    f"{label}: {name} {value:g}{unit}",
                )
            )
    # Label at most about twelve days along the axis so that the text never overlaps.
    every = max(1, round(len(labels) / 12))
    x_labels = [
        (round(LEFT + i * slot + slot / 2, 1), label)
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    y_ticks = [
        (round(baseline - plot_height * step / 4, 1), f"{top * step / 4:g}{unit}")
        for step in range(5)
    ]
    legend = [(name, css_class) for name, css_class, _ in series]
    return Chart(WIDTH, HEIGHT, bars, x_labels, y_ticks, baseline, LEFT, legend)
