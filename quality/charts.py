"""Horizontal bar charts as server-rendered SVG: the geometry is computed here, the template
(quality/_bar_chart.html) draws it. No script and no chart library, so the page works under a
strict Content-Security-Policy; each chart carries its figures as a table as well."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 720
LABEL_WIDTH = 200  # room for the row labels on the left
VALUE_ROOM = 64  # room for the value printed after the longest bar
TOP = 24  # room for the axis labels
ROW_HEIGHT = 26
BAR_GAP = 4
TICKS = 4
MAX_ROWS = 15
# Round axis steps: 1, 2, 2.5 or 5 times a power of ten.
STEP_FACTORS = (1.0, 2.0, 2.5, 5.0)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str  # the tooltip
    value_label: str
    value_x: float
    value_y: float


@dataclass(frozen=True)
class Row:
    label: str
    label_y: float
    bars: list[Bar]
    cells: list[str]  # the values as the table shows them


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class BarChart:
    slug: str
    title: str
    series: list[str]
    rows: list[Row]
    ticks: list[Tick]
    width: int
    height: int
    plot_left: int
    plot_right: int
    top: int
    bottom: float

    @property
    def empty(self) -> bool:
        return not self.rows


def nice_ceiling(value: float, ticks: int = TICKS) -> float:
    """The smallest axis top of `ticks` equal round steps that reaches `value`."""
    if value <= 0:
        return float(ticks)
    raw_step = value / ticks
    power = 10 ** math.floor(math.log10(raw_step))
    for factor in (*STEP_FACTORS, 10.0):
        if factor * power >= raw_step:
            return factor * power * ticks
    return 10 * power * ticks  # not reached: 10 × power always covers raw_step


def _tick_label(value: float) -> str:
    return f"{value:g}"


def bar_chart(
    *,
    slug: str,
    title: str,
    series: Sequence[str],
    rows: Sequence[tuple[str, Sequence[float | None]]],
    formatter: Callable[[float], str],
    axis_max: float | None = None,
) -> BarChart:
    """Rows of (label, one value per series); None draws no bar. At most MAX_ROWS rows (the
    caller orders them). `axis_max` fixes the axis (scores: 5), else a round ceiling."""
    shown = list(rows)[:MAX_ROWS]
    largest = max((v for _, values in shown for v in values if v is not None), default=0.0)
    top_value = axis_max if axis_max is not None else nice_ceiling(largest)
    plot_left, plot_right = LABEL_WIDTH, WIDTH - VALUE_ROOM
    span = plot_right - plot_left
    bar_height = (ROW_HEIGHT - BAR_GAP) / max(len(series), 1)
    chart_rows: list[Row] = []
    for index, (label, values) in enumerate(shown):
        row_top = TOP + index * ROW_HEIGHT
        bars = []
        for position, value in enumerate(values):
            if value is None:
                continue
            width = span * min(value, top_value) / top_value if top_value else 0.0
            y = row_top + position * bar_height
            text = formatter(value)
            bars.append(
                Bar(
                    x=plot_left,
                    y=round(y, 2),
                    width=round(width, 2),
                    height=round(bar_height - 1, 2),
                    series=position,
                    title=f"{label} · {series[position]}: {text}",
                    value_label=text,
                    value_x=round(plot_left + width + 4, 2),
                    value_y=round(y + bar_height - 4, 2),
                )
            )
        chart_rows.append(
            Row(
                label=label,
                label_y=round(row_top + ROW_HEIGHT / 2 + 4, 2),
                bars=bars,
                cells=[formatter(v) if v is not None else "—" for v in values],
            )
        )
    ticks = [
        Tick(
            x=round(plot_left + span * step / TICKS, 2), label=_tick_label(top_value * step / TICKS)
        )
        for step in range(TICKS + 1)
    ]
    bottom = TOP + len(chart_rows) * ROW_HEIGHT
    return BarChart(
        slug=slug,
        title=title,
        series=list(series),
        rows=chart_rows,
        ticks=ticks,
        width=WIDTH,
        height=int(bottom + 8),
        plot_left=plot_left,
        plot_right=plot_right,
        top=TOP,
        bottom=bottom,
    )
