"""The summary's load tables: one per load test and model, one row per run (a sweep's levels).

Pure: no pytest import, no printing. A row is one :class:`~.models.LoadRecord`: its level
(concurrency, or requested rate and the rate achieved), request and output throughput, TTFT
and TPOT p50/p99, errors (by kind), goodput and SLO attainment, and its gate verdict; the
sweep's saturation level is marked ``<``. Tables fit a width as the per-test tables do
(:func:`~.fit.fit_table`): the least important columns are left out first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .fit import TableColumn
from .fit import fit_table
from .fit import shorten
from .fit import wrap
from .models import CaseRecord
from .models import LoadRecord
from .table import Style
from .table import md_escape

__all__ = ["SATURATION_MARK", "LoadTables", "render_load_tables"]

#: Marks the row of a sweep's saturation level.
SATURATION_MARK = "<"


@dataclass(frozen=True)
class LoadTables:
    """The load tables as blocks of lines, and the columns left out to fit the width."""

    blocks: list[list[str]]
    dropped: list[str]


def _number(value: float | None, decimals: int = 1) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _stat(run: LoadRecord, metric: str, stat: str) -> str:
    found = run.stats.get(metric)
    return "-" if found is None else f"{getattr(found, stat):,.1f}"


def _errors(run: LoadRecord) -> str:
    if not run.failed:
        return "0"
    kinds = ", ".join(f"{kind} {count}" if len(run.errors) > 1 else kind
                      for kind, count in run.errors.items())  # fmt: skip
    return f"{run.failed} ({kinds})"


def _gate(case: CaseRecord, number: int) -> str:
    gates = [g for g in case.gates if g.load_run == number]
    if not gates:
        return "-"
    return "✔" if all(g.passed for g in gates) else "✘"


def _level(run: LoadRecord) -> str:
    text = f"{run.level:g}"
    if run.saturation is not None and run.level == run.saturation:
        text += f" {SATURATION_MARK}"
    return text


def _table(
    case: CaseRecord, runs: Sequence[tuple[int, LoadRecord]], style: Style, width: int | None
) -> tuple[list[str], list[str]]:
    rate = any(run.mode == "rate" for _, run in runs)
    closed = any(run.mode == "concurrency" for _, run in runs)
    axis = "concurrency" if closed and not rate else "rate (req/s)" if not closed else "level"
    judged = any(run.goodput is not None for _, run in runs)
    rows = [run for _, run in runs]
    columns = [
        TableColumn(axis, [_level(r) for r in rows], "right"),
        TableColumn("req/s", [_number(r.request_throughput, 2) for r in rows], "right", 0, "req/s"),
    ]
    if rate:
        sent = [_number(r.achieved_rate, 2) for r in rows]
        columns.append(TableColumn("sent/s", sent, "right", 9, "sent/s"))
    columns += [
        TableColumn("out tok/s", [_number(r.output_throughput) for r in rows], "right", 5,
                    "out tok/s"),
        TableColumn("ttft p50 (ms)", [_stat(r, "ttft_ms", "median") for r in rows], "right", 6,
                    "ttft p50"),
        TableColumn("ttft p99 (ms)", [_stat(r, "ttft_ms", "p99") for r in rows], "right", 1,
                    "ttft p99"),
        TableColumn("tpot p50 (ms)", [_stat(r, "tpot_ms", "median") for r in rows], "right", 8,
                    "tpot p50"),
        TableColumn("tpot p99 (ms)", [_stat(r, "tpot_ms", "p99") for r in rows], "right", 7,
                    "tpot p99"),
        TableColumn("errors", [_errors(r) for r in rows], "right", 2, "errors"),
    ]  # fmt: skip
    if judged:
        columns += [
            TableColumn("goodput", [_number(r.goodput, 2) for r in rows], "right", 4, "goodput"),
            TableColumn("slo met", [_number(r.slo_attainment, 2) for r in rows], "right", 10,
                        "slo met"),
        ]  # fmt: skip
    if case.gates:
        columns.append(TableColumn("gate", [_gate(case, n) for n, _ in runs], "center", 3, "gate"))
    fitted = fit_table(columns, width, style=style)
    return fitted.lines, [c.name for c in fitted.dropped]


def _title(case: CaseRecord, runs: Sequence[LoadRecord], style: Style, width: int | None) -> str:
    where = f" on {case.host}" if case.host else ""
    prefix = "llm_bench load: "
    count = len(runs)
    tail = f" [{case.model}]{where} ({count} run{'s' if count != 1 else ''})"
    if style == "markdown":
        return f"### load: `{md_escape(case.test)}` `{md_escape(case.model)}`{md_escape(where)}"
    if width is None:
        return prefix + case.test + tail
    room = width - len(prefix) - len(tail)
    if room < 12:  # a long model name gives way first, in the middle as in the tables
        model = shorten(case.model, max(12, len(case.model) - (12 - room)), "middle")
        tail = tail.replace(f"[{case.model}]", f"[{model}]", 1)
        room = width - len(prefix) - len(tail)
    return prefix + shorten(case.test, max(12, room), "left") + tail


def _saturation_note(runs: Sequence[LoadRecord]) -> str | None:
    """What the sweeps among ``runs`` say about saturation."""
    found = next((r for r in runs if r.saturation is not None), None)
    if found is not None:
        level = f"{found.saturation:g}" + ("/s" if found.mode == "rate" else "")
        return (
            f"  saturation at {found.mode} {level} ({SATURATION_MARK}): the next level added "
            "under 10 % throughput while p99 TTFT grew"
        )
    if any(r.sweep is not None for r in runs):
        return "  no saturation within the levels run"
    return None


def render_load_tables(
    cases: Sequence[CaseRecord], *, style: Style = "text", width: int | None = None
) -> LoadTables:
    """A table per case with load runs (test x model, and host), in case order.

    Failed cases keep their table, with the error under it.
    """
    blocks: list[list[str]] = []
    dropped: list[str] = []
    for case in cases:
        if not case.load:
            continue
        runs = list(enumerate(case.load))
        lines = [_title(case, case.load, style, width)]
        if style == "markdown":
            lines.append("")
        table, left_out = _table(case, runs, style, width)
        lines += table
        dropped += left_out
        stopped = [r.stopped for r in case.load if r.stopped]
        notes = [f"  stopped: {text}" for text in stopped]
        saturation = _saturation_note(case.load)
        if saturation is not None:
            notes.insert(0, saturation)
        if case.outcome in ("failed", "error") and case.error:
            notes.append(f"  {case.outcome}: {case.error.strip().splitlines()[0]}")
        for note in notes:
            if style == "markdown":
                lines += ["", f"- {md_escape(note.strip())}"]
            else:
                lines += wrap(note, width)
        blocks.append(lines)
    return LoadTables(blocks, dropped)
