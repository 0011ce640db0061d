"""The per-load-test section: throughput and p99 TTFT against concurrency or request rate.

The section draws :class:`LoadSeries`, the page's own view of one load test (one point per
concurrency level or request rate), with the SLO on TTFT as a dashed line and the saturation
point marked. :func:`load_series` is where a run record's load runs become that view; the
page shows the section whenever it returns any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Literal

from ..loadtable import run_groups
from ..metrics import metric
from ..models import Report
from .charts import REGRESSION_COLOR
from .charts import Series
from .charts import axis_title
from .markup import anchor
from .markup import esc
from .markup import table

if TYPE_CHECKING:
    from .page import Page

__all__ = ["LoadLevel", "LoadSeries", "load_section", "load_series"]

_AXIS = {"concurrency": "concurrency (requests in flight)", "rate": "request rate (req/s)"}


@dataclass(frozen=True)
class LoadLevel:
    """One level of a load test.

    :ivar level: the concurrency, or the request rate in requests/s.
    :ivar request_throughput: completed requests/s over the level's wall time.
    :ivar output_throughput: generated tokens/s over the level's wall time.
    :ivar ttft_p99_ms: the 99th percentile of the requests' TTFT, ms.
    :ivar errors: failed requests.
    """

    level: float
    request_throughput: float | None = None
    output_throughput: float | None = None
    ttft_p99_ms: float | None = None
    errors: int = 0


@dataclass(frozen=True)
class LoadSeries:
    """One load test (or sweep) of one model, levels in increasing order.

    :ivar axis: what the levels are: ``concurrency`` (closed loop) or ``rate`` (open loop).
    :ivar slo_ttft_ms: the TTFT objective, drawn as a line; None when the test set none.
    :ivar saturation: the level after which throughput stopped growing; None if not reached.
    :ivar label: which of the test's runs these are, when it ran several kinds (``sweep 1,
        closed loop``, ``load(), open loop``: :attr:`~.loadtable.RunGroup.label`); else ``""``.
    :ivar sweep: whether the levels are a sweep's (saturation is read only across those).
    """

    test: str
    model: str
    axis: Literal["concurrency", "rate"]
    levels: tuple[LoadLevel, ...]
    slo_ttft_ms: float | None = None
    saturation: float | None = None
    label: str = ""
    sweep: bool = True


def load_series(report: Report) -> list[LoadSeries]:
    """The load runs of ``report`` as :class:`LoadSeries`, in record order.

    One series per group of a case's runs, as the summary's load tables group them
    (:func:`~.loadtable.run_groups`): each sweep, and the runs outside any sweep one series
    per kind (closed loop; open loop, per concurrency cap), their levels in increasing order.
    """
    out: list[LoadSeries] = []
    for case in report.cases:
        test = f"{case.test} on {case.host}" if case.host else case.test
        groups = run_groups(case.load)
        for group in groups:
            runs = sorted(group.records, key=lambda r: r.level)
            ttft_slo = next((r.slo["ttft_ms"] for r in runs if "ttft_ms" in r.slo), None)
            levels = tuple(
                LoadLevel(
                    level=r.level,
                    request_throughput=r.request_throughput,
                    output_throughput=r.output_throughput,
                    ttft_p99_ms=r.stats["ttft_ms"].p99 if "ttft_ms" in r.stats else None,
                    errors=r.failed,
                )
                for r in runs
            )
            out.append(
                LoadSeries(
                    test=test,
                    model=case.model,
                    axis="rate" if group.mode == "rate" else "concurrency",
                    levels=levels,
                    slo_ttft_ms=ttft_slo,
                    saturation=next((r.saturation for r in runs if r.saturation is not None), None),
                    label=group.label if len(groups) > 1 else "",
                    sweep=group.sweep is not None,
                )
            )
    return out


def _card(page: Page, series: LoadSeries) -> str:
    """The card of one series; its label (set when a test ran several groups of runs) keeps
    its id unique."""
    xs = [lv.level for lv in series.levels]
    color = page.colors.get(series.model, "#0072B2")
    axis = _AXIS[series.axis]
    sat = [lv.level == series.saturation for lv in series.levels]
    ttft = metric("ttft_ms")

    def marked(values: list[float | None]) -> Series:
        points = tuple(v if s else None for v, s in zip(values, sat, strict=True))
        return Series("saturation", REGRESSION_COLOR, points, (), 7.0, line=False)

    rps: list[float | None] = [lv.request_throughput for lv in series.levels]
    p99: list[float | None] = [lv.ttft_p99_ms for lv in series.levels]
    tps = [f"{v:.2f} req/s" if v is not None else "" for v in rps]
    tts = [f"p99 {v:.1f} ms" if v is not None else "" for v in p99]
    left = [Series("throughput", color, tuple(rps), tuple(tps))]
    right = [Series(f"{axis_title(ttft)} p99", color, tuple(p99), tuple(tts))]
    if series.saturation is not None:
        left.append(marked(rps))
        right.append(marked(p99))
    if series.slo_ttft_ms is not None:
        slo = tuple(series.slo_ttft_ms for _ in xs)
        right.append(Series(f"SLO {series.slo_ttft_ms:g} ms", REGRESSION_COLOR, slo, dash=True))
    charts = [
        page.charts.xy("throughput · higher is better", axis, "requests/s", xs, left),
        page.charts.xy(f"{axis_title(ttft)} p99 · lower is better", axis, "ms", xs, right),
    ]
    figures = "".join(f'<figure class="chart" data-kind="load">{svg}</figure>' for svg in charts)
    rows = [
        [
            f'<td class="num">{lv.level:g}</td>',
            f'<td class="num">{"-" if v is None else f"{v:.2f}"}</td>',
            f'<td class="num">{"-" if o is None else f"{o:.1f}"}</td>',
            f'<td class="num">{"-" if t is None else f"{t:.1f}"}</td>',
            f'<td class="num">{lv.errors}</td>',
        ]
        for lv, v, o, t in zip(
            series.levels, rps, (lv.output_throughput for lv in series.levels), p99, strict=True
        )
    ]
    attrs = ['class="miss"' if s else "" for s in sat]
    headers = [series.axis, "req/s", "output tok/s", "ttft p99 (ms)", "errors"]
    if not series.sweep:
        note = "single load() runs, not a sweep: no saturation is read across them"
    elif series.saturation is not None:
        note = f"saturation at {series.axis} {series.saturation:g}"
    else:
        note = "no saturation within the levels run"
    label = f" · {esc(series.label)}" if series.label else ""
    return (
        f'<article class="card load" id="{anchor("l", series.test + series.model + series.label)}">'
        f"<h3>{esc(series.test)} <code>{esc(series.model)}</code>{label}</h3>"
        f'<p class="note">{esc(note)}</p><div class="charts">{figures}</div>'
        f"{table(headers, rows, 'load', attrs)}</article>"
    )


def load_section(page: Page) -> str:
    """One card per load test; nothing when the run has none."""
    if not page.load:
        return ""
    cards_html = "".join(_card(page, s) for s in page.load)
    return f'<section id="load"><h2>Load tests</h2>{cards_html}</section>'
