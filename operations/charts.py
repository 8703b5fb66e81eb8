"""Bar charts as server-rendered SVG: the geometry is computed here, the template draws it.

No chart library and no script: the page stays usable under a strict Content-Security-Policy,
and each chart carries its figures as a table for screen readers and for copying.
"""

import datetime
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 260
LEFT = 64  # room for the value axis labels
RIGHT = 12
TOP = 16
BOTTOM = 36  # room for the day labels
TICKS = 4
# Day labels every this many days (30 days → 6 labels that never overlap).
LABEL_EVERY = 5


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str  # the tooltip: day, series and value


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class TableRow:
    day: datetime.date
    values: list[str]


@dataclass(frozen=True)
class BarChart:
    slug: str  # the figure's id on the page
    title: str
    series: list[Series]
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[DayLabel]
    rows: list[TableRow]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = HEIGHT - BOTTOM

    @property
    def total(self) -> int:
        return sum(sum(series.values) for series in self.series)


def nice_ceiling(value: int) -> int:
    """The axis top: TICKS steps of a round size (1, 2, 2.5 or 5 × 10^k, whole numbers) that
    reach `value`, so every tick reads as a round number."""
    raw = max(value / TICKS, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= raw and step == int(step):
            return int(step) * TICKS
    raise AssertionError("10 × magnitude always reaches raw")  # pragma: no cover


def bar_chart(
    *,
    slug: str,
    title: str,
    days: Sequence[datetime.date],
    series: Sequence[Series],
    format_value: Callable[[int], str] = str,
) -> BarChart:
    """Grouped bars, one group per day and one bar per series, on a shared value axis from 0."""
    if any(len(item.values) != len(days) for item in series):
        raise ValueError("every series needs one value per day")
    if any(value < 0 for item in series for value in item.values):
        raise ValueError("bar charts here start at 0: negative values are not drawn")
    top_value = nice_ceiling(max((max(item.values, default=0) for item in series), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = HEIGHT - BOTTOM
    group = plot_width / max(len(days), 1)
    bar_width = group * 0.8 / max(len(series), 1)
    bars = []
    for index, day in enumerate(days):
        for number, item in enumerate(series):
            value = item.values[index]
            height = plot_height * value / top_value
            bars.append(
                Bar(
                    x=round(LEFT + index * group + group * 0.1 + number * bar_width, 2),
                    y=round(baseline - height, 2),
                    width=round(bar_width, 2),
                    height=round(height, 2),
                    series=number,
                    title=f"{day:%m-%d} {item.name}: {format_value(value)}",
                )
            )
    ticks = [
        Tick(
            y=round(baseline - plot_height * step / TICKS, 2),
            label=format_value(top_value * step // TICKS),
        )
        for step in range(TICKS + 1)
    ]
    last = len(days) - 1
    day_labels = [
        DayLabel(x=round(LEFT + index * group + group / 2, 2), label=f"{day:%m-%d}")
        for index, day in enumerate(days)
        if (last - index) % LABEL_EVERY == 0
    ]
    rows = [
        TableRow(day=day, values=[format_value(item.values[index]) for item in series])
        for index, day in enumerate(days)
    ]
    return BarChart(
        slug=slug,
        title=title,
        series=list(series),
        bars=bars,
        ticks=ticks,
        day_labels=day_labels,
        rows=rows,
    )
