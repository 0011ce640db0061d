"""The history section: each case's median TTFT and tokens/s over the saved runs.

The runs are the last N saved ones (``--ollama-html-history``), oldest first, this run last.
The baseline run (the one this run was compared with) is marked on every chart, and a run
whose value is worse than the baseline's by more than this run's ``--ollama-compare-fail``
rules allow (the rule of that metric, any statistic) gets a red mark: the same rules and
directions as the session's regression gate (:func:`..regression.find_regressions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..metrics import Metric
from ..metrics import metric
from ..models import CaseRecord
from ..models import Report
from ..regression import find_regressions
from .charts import BASELINE_COLOR
from .charts import REGRESSION_COLOR
from .charts import Series
from .charts import axis_title
from .charts import chart_title
from .markup import anchor
from .markup import esc
from .markup import fmt

if TYPE_CHECKING:
    from .page import Page

__all__ = ["HISTORY_METRICS", "HistoryRun", "history_runs", "history_section"]

#: The metrics the history charts show.
HISTORY_METRICS: tuple[str, ...] = ("ttft_ms", "tokens_per_s")
THIS_RUN = "this run"


@dataclass(frozen=True)
class HistoryRun:
    """One run of the history: its label (the run number), record and role."""

    label: str
    report: Report
    current: bool = False
    baseline: bool = False


def _same(a: Report, b: Report) -> bool:
    return a.created_at == b.created_at and a.host == b.host


def history_runs(
    report: Report, saved: Sequence[tuple[str, Report]], baseline: Report | None
) -> list[HistoryRun]:
    """The runs to draw, oldest first: ``saved``, then ``report`` if it is not among them;
    ``baseline`` first when it is not among them either."""
    runs = [
        HistoryRun(
            label,
            run,
            current=_same(run, report),
            baseline=baseline is not None and _same(run, baseline),
        )
        for label, run in saved
    ]
    if not any(r.current for r in runs):
        runs.append(HistoryRun(THIS_RUN, report, current=True))
    if baseline is not None and not any(r.baseline for r in runs):
        runs.insert(0, HistoryRun("baseline", baseline, baseline=True))
    return runs


def _median(run: Report, key: tuple[str, str], name: str) -> float | None:
    for case in run.cases:
        if (case.nodeid, case.model) == key and name in case.stats:
            return case.stats[name].median
    return None


def _regressed(page: Page) -> set[tuple[int, str, str, str]]:
    """(run index, node id, model, metric) of every value past a rule against the baseline."""
    rules = page.report.settings.compare_fail
    if page.baseline is None or not rules:
        return set()
    marks = set()
    for i, run in enumerate(page.history):
        if run.baseline:
            continue
        for r in find_regressions(run.report, page.baseline, rules):
            marks.add((i, r.nodeid, r.model, r.rule.metric))
    return marks


def _chart(page: Page, case: CaseRecord, m: Metric, marks: set[tuple[int, str, str, str]]) -> str:
    key = (case.nodeid, case.model)
    labels = [r.label for r in page.history]
    values = [_median(r.report, key, m.name) for r in page.history]
    if sum(v is not None for v in values) < 2:
        return ""
    tips = [
        f"run {label}: median {fmt(v, m)} {m.unit}" if v is not None else ""
        for label, v in zip(labels, values, strict=True)
    ]
    series = [Series(case.model, page.colors[case.model], tuple(values), tuple(tips))]
    base = [v if r.baseline else None for r, v in zip(page.history, values, strict=True)]
    if any(v is not None for v in base):
        tip = tuple(f"baseline: {t}" for t in tips)
        series.append(Series("baseline run", BASELINE_COLOR, tuple(base), tip, 7.0, line=False))
    bad = [
        v if (i, case.nodeid, case.model, m.name) in marks else None for i, v in enumerate(values)
    ]
    if any(v is not None for v in bad):
        tip = tuple(f"regression: {t}" for t in tips)
        series.append(Series("regression", REGRESSION_COLOR, tuple(bad), tip, 6.0, line=False))
    svg = page.charts.lines(chart_title(m, "median per run"), axis_title(m), labels, series)
    return (
        f'<figure class="chart" data-metric="{m.name}" data-kind="history" '
        f'data-case="{esc(case.nodeid)}" data-model="{esc(case.model)}">{svg}</figure>'
    )


def history_section(page: Page) -> str:
    """A pair of charts per case measured in this run, when two runs or more have it."""
    marks = _regressed(page)
    shown = [metric(name) for name in HISTORY_METRICS]
    cards = []
    for case in page.report.cases:
        if case.outcome == "skipped" or not case.stats:
            continue
        charts = "".join(_chart(page, case, m, marks) for m in shown)
        if charts:
            model = "" if case.nodeid.endswith(f"[{case.model}]") else f" ({case.model})"
            cards.append(
                f'<div class="card"><h3 id="{anchor("h", case.nodeid + case.model)}">'
                f"{esc(case.nodeid + model)}</h3>"
                f'<div class="charts">{charts}</div></div>'
            )
    runs = page.history
    intro = f"{len(runs)} run{'s' * (len(runs) != 1)}, oldest first"
    base = next((r for r in runs if r.baseline), None)
    if base is not None:
        intro += f"; the baseline is run {esc(base.label)}, marked with a black dot"
        rules = page.report.settings.compare_fail
        if rules:
            intro += "; a red dot marks a run worse than the baseline by more than " + esc(
                ", ".join(str(rule) for rule in rules)
            )
    if not cards:
        intro = (
            "No case of this run was measured in an earlier saved run yet: the history shows "
            "from the second run on"
        )
    return (
        f'<section id="history"><h2>History</h2><p class="note">{intro}.</p>'
        f"{''.join(cards)}</section>"
    )
