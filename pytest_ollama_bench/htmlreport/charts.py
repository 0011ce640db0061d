"""The report's charts, drawn by pygal as inline SVG (no script needed to show them).

pygal is imported when the first chart is drawn. Each chart gets a stable id (``chart-N`` in
the order drawn) in place of pygal's random one, and pygal's comments (with the date) are
dropped, so the same report renders to the same bytes. Each plotted value carries a label
(``desc.label``) that the page's script turns into a native hover tooltip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from ..metrics import Metric
from . import import_pygal

__all__ = [
    "BASELINE_COLOR",
    "PALETTE",
    "REGRESSION_COLOR",
    "WARMUP_COLOR",
    "Bar",
    "Charts",
    "Series",
    "Strip",
    "axis_title",
    "chart_title",
]

#: Okabe-Ito colours, distinguishable with colour-blindness; one per model, in report order.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
WARMUP_COLOR = "#b0b0b0"
BASELINE_COLOR = "#222222"
REGRESSION_COLOR = "#d62728"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def axis_title(m: Metric) -> str:
    """``ttft (ms)``, ``tok/s``, ``tokens``: the metric's label with its unit, once."""
    if not m.unit or m.unit in m.label:
        return m.label
    return f"{m.label} ({m.unit})"


def chart_title(m: Metric, what: str) -> str:
    """``ttft (ms): median, p5-p95 · lower is better`` (the direction from the registry)."""
    better = {"lower": " · lower is better", "higher": " · higher is better", "none": ""}
    return f"{axis_title(m)}: {what}{better[m.direction]}"


@dataclass(frozen=True)
class Bar:
    """One model's bar: its median with a whisker from ``low`` to ``high`` (p5-p95)."""

    name: str
    color: str
    value: float
    low: float
    high: float
    label: str


@dataclass(frozen=True)
class Strip:
    """One model's rounds in the order run; warmup rounds are drawn apart (grey)."""

    name: str
    color: str
    values: tuple[float, ...]
    warmup: tuple[bool, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Series:
    """A line or a set of points; ``None`` leaves a gap. ``dash``: a dashed line, no dots."""

    name: str
    color: str
    values: tuple[float | None, ...]
    labels: tuple[str, ...] = ()
    dot_size: float = 3.0
    line: bool = True
    dash: bool = False


def _style(colors: Sequence[str]) -> Any:
    return import_pygal().style.Style(
        background="transparent",
        plot_background="#ffffff",
        foreground="#333333",
        foreground_strong="#111111",
        foreground_subtle="#777777",
        font_family=FONT,
        title_font_size=13,
        label_font_size=11,
        major_label_font_size=11,
        value_font_size=11,
        value_label_font_size=11,
        legend_font_size=11,
        tooltip_font_size=12,
        guide_stroke_color="#dddddd",
        major_guide_stroke_color="#bbbbbb",
        opacity=".85",
        opacity_hover="1",
        colors=tuple(colors) or (PALETTE[0],),
        value_colors=("#ffffff",),
    )


def _axis(value: float) -> str:
    """An axis label: ``400``, ``2.5``, ``0.05``, ``1.2e+06`` (no trailing ``.0``)."""
    return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.3g}"


def _fmt(value: float) -> str:
    """A printed value: one decimal, as the tables print it."""
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def _point(value: float | None, label: str) -> dict[str, Any] | None:
    return None if value is None else {"value": value, "label": label}


@dataclass
class Charts:
    """Draws the charts of one page, numbering them in the order drawn."""

    width: int = 380
    height: int = 250
    count: int = field(default=0, init=False)

    def _config(self, colors: Sequence[str], title: str, **extra: Any) -> dict[str, Any]:
        return {
            "style": _style(colors),
            "title": title,
            "js": [],
            "disable_xml_declaration": True,
            "width": self.width,
            "height": self.height,
            "legend_at_bottom": True,
            "truncate_legend": 40,
            "truncate_label": 40,
            "margin": 6,
            "spacing": 8,
            "show_x_guides": False,
            "value_formatter": _axis,
            **extra,
        }

    def _render(self, chart: Any) -> str:
        self.count += 1
        chart.uuid = str(self.count)  # the svg id becomes chart-N
        svg = str(chart.render(is_unicode=True))
        return _COMMENT.sub("", svg)

    def bars(self, title: str, y_title: str, bars: Sequence[Bar]) -> str:
        """Models side by side: one bar per model at its median, whiskers low-high."""
        pygal = import_pygal()

        top = max((b.high for b in bars), default=1.0) or 1.0
        chart = pygal.Bar(
            **self._config(
                [b.color for b in bars],
                title,
                y_title=y_title,
                show_x_labels=False,
                print_values=True,
                print_values_position="center",
                range=(0, top * 1.08),
            )
        )
        for bar in bars:
            ci = {"low": bar.low, "high": bar.high}
            point = {"value": bar.value, "ci": ci, "label": bar.label}
            chart.add(bar.name, [point], formatter=_fmt)
        return self._render(chart)

    def strips(self, title: str, y_title: str, strips: Sequence[Strip]) -> str:
        """Every round as a dot, one column per model, left to right in the order run."""
        pygal = import_pygal()

        names = [s.name for s in strips]
        has_warmup = any(any(s.warmup) for s in strips)
        colors = [s.color for s in strips] + ([WARMUP_COLOR] if has_warmup else [])
        top = max((v for s in strips for v in s.values), default=1.0) or 1.0
        chart = pygal.XY(
            **self._config(
                colors,
                title,
                y_title=y_title,
                stroke=False,
                dots_size=4,
                xrange=(0.5, len(strips) + 0.5),
                range=(0, top * 1.08),
                x_labels=list(range(1, len(strips) + 1)),
                x_value_formatter=lambda x: (
                    names[round(x) - 1] if 1 <= round(x) <= len(names) else ""
                ),
            )
        )
        warm: list[dict[str, Any]] = []
        for column, strip in enumerate(strips, start=1):
            points: list[dict[str, Any]] = []
            n = len(strip.values)
            for i, (value, is_warmup, label) in enumerate(
                zip(strip.values, strip.warmup, strip.labels, strict=True)
            ):
                x = column + (0.0 if n == 1 else (i / (n - 1) - 0.5) * 0.4)
                (warm if is_warmup else points).append({"value": (x, value), "label": label})
            chart.add(strip.name, points)
        if has_warmup:
            chart.add("warmup rounds", warm)
        return self._render(chart)

    def lines(
        self, title: str, y_title: str, x_labels: Sequence[str], series: Sequence[Series]
    ) -> str:
        """Values over categories (runs): a line per series, gaps where a value is None."""
        pygal = import_pygal()

        chart = pygal.Line(
            **self._config(
                [s.color for s in series],
                title,
                y_title=y_title,
                x_labels=list(x_labels),
                x_label_rotation=30 if len(x_labels) > 6 else 0,
                allow_interruptions=True,
                include_x_axis=True,
            )
        )
        for s in series:
            labels = s.labels or tuple("" for _ in s.values)
            values = [_point(v, lab) for v, lab in zip(s.values, labels, strict=True)]
            chart.add(s.name, values, **_series_look(s))
        return self._render(chart)

    def xy(
        self,
        title: str,
        x_title: str,
        y_title: str,
        xs: Sequence[float],
        series: Sequence[Series],
    ) -> str:
        """Values against a numeric x (concurrency, request rate), one line per series."""
        pygal = import_pygal()

        chart = pygal.XY(
            **self._config(
                [s.color for s in series],
                title,
                x_title=x_title,
                y_title=y_title,
                include_x_axis=True,
                # ticks at the levels run only (concurrency 1, 2, 4; not 1.2, 1.4, ...)
                x_labels=sorted({float(x) for x in xs}),
                x_value_formatter=lambda x: f"{x:g}",
                max_scale=6,
            )
        )
        for s in series:
            labels = s.labels or tuple("" for _ in s.values)
            points = [
                None if v is None else {"value": (x, v), "label": lab}
                for x, v, lab in zip(xs, s.values, labels, strict=True)
            ]
            chart.add(s.name, points, **_series_look(s))
        return self._render(chart)


def _series_look(s: Series) -> dict[str, Any]:
    look: dict[str, Any] = {"dots_size": s.dot_size, "stroke": s.line}
    if s.dash:
        look.update(show_dots=False, stroke_style={"width": 2, "dasharray": "6, 4"})
    return look
