"""The leaderboard: one row per model across every test of a run.

Pure: no pytest import. Models rank by their mean TTFT rank across tests (ties share the mean
of their positions), then by TTFT, then by name.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from .columns import COLUMNS
from .columns import FALLBACK_MARK
from .fit import TableColumn
from .fit import fit_table
from .fit import name_width
from .fit import shorten
from .fit import widest
from .models import Report
from .table import Style
from .table import case_label
from .table import group_by_test
from .table import ranked_cells

__all__ = ["render_leaderboard"]


@dataclass
class _Standing:
    model: str
    cases: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    gates_missed: int = 0
    ttft: float | None = None
    tps: float | None = None
    tps_client: bool = False  # some of its rates are client-side (the server sent none)
    rank: float | None = None


def _average_ranks(values: Mapping[str, float]) -> dict[str, float]:
    """Rank 1 = lowest value; ties share the mean of their positions."""
    ordered = sorted(values.items(), key=lambda kv: kv[1])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][1] == ordered[i][1]:
            j += 1
        for k in range(i, j + 1):
            ranks[ordered[k][0]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _median_of(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _standings(report: Report) -> list[_Standing]:
    """Per model, best first: mean TTFT rank across tests, then TTFT, then name."""
    board: dict[str, _Standing] = {}
    ttfts: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {}
    ranks: dict[str, list[float]] = {}
    ttft_col = COLUMNS["ttft"]
    tps_col = COLUMNS["tps"]
    for case in report.cases:
        name = case_label(case)
        row = board.setdefault(name, _Standing(name))
        row.cases += 1
        if case.outcome == "passed":
            row.passed += 1
        elif case.outcome == "skipped":
            row.skipped += 1
        else:
            row.failed += 1
        row.gates_missed += sum(1 for g in case.gates if not g.passed)
        if case.outcome != "skipped":
            if (v := ttft_col.value(case)) is not None:
                ttfts.setdefault(name, []).append(v)
            rate, client_side = tps_col.lookup(case)
            if rate is not None:
                rates.setdefault(name, []).append(rate)
                row.tps_client = row.tps_client or client_side
    for cases in group_by_test(report.cases).values():
        per_model: dict[str, float] = {}
        for case in cases:
            value = ttft_col.value(case)
            name = case_label(case)
            if case.outcome != "skipped" and value is not None and name not in per_model:
                per_model[name] = value
        for model, rank in _average_ranks(per_model).items():
            ranks.setdefault(model, []).append(rank)
    for model, row in board.items():
        row.ttft = _median_of(ttfts.get(model, []))
        row.tps = _median_of(rates.get(model, []))
        model_ranks = ranks.get(model)
        row.rank = statistics.fmean(model_ranks) if model_ranks else None

    def key(row: _Standing) -> tuple[bool, float, bool, float, str]:
        return (
            row.rank is None,
            row.rank or 0.0,
            row.ttft is None,
            row.ttft or 0.0,
            row.model,
        )

    return sorted(board.values(), key=key)


def render_leaderboard(
    report: Report, *, compact: bool, style: Style, width: int | None = None
) -> list[str]:
    """The leaderboard's title and table.

    ``compact``: model, passed/run (skips said apart), ttft, tok/s and mean rank only (``-q``). A
    full table wider than ``width`` becomes the compact one; long model names are shortened,
    then the mean rank and tok/s columns left out while it is still too wide.
    """
    rows = _standings(report)
    tests = len(group_by_test(report.cases))
    title = (
        f"llm_bench leaderboard: {len(rows)} model{'s' if len(rows) != 1 else ''}, "
        f"{tests} test{'s' if tests != 1 else ''}"
    )
    ttft_col = COLUMNS["ttft"]
    tps_col = COLUMNS["tps"]
    ttft_cells = ranked_cells(
        [r.ttft for r in rows],
        ["-" if r.ttft is None else ttft_col.format_number(r.ttft) for r in rows],
        "lower",
        style,
    )
    tps_cells = ranked_cells(
        [r.tps for r in rows],
        [
            "-" if r.tps is None else tps_col.format_number(r.tps) + FALLBACK_MARK * r.tps_client
            for r in rows
        ],
        "higher",
        style,
    )
    rank_cells = ["-" if r.rank is None else f"{r.rank:.2f}" for r in rows]
    names = TableColumn(
        "model", [r.model for r in rows], "left", cut="middle", min_width=name_width(width)
    )
    ttft = TableColumn("ttft (ms)", ttft_cells)
    tps = TableColumn("tok/s", tps_cells, priority=1)
    rank = TableColumn("mean rank", rank_cells, priority=2)
    lines = (
        ["### Leaderboard", ""] if style == "markdown" else [shorten(title, width or len(title))]
    )
    if not compact:
        full = [
            names,
            TableColumn("cases", [str(r.cases) for r in rows]),
            TableColumn("passed", [str(r.passed) for r in rows]),
            TableColumn("failed", [str(r.failed) for r in rows]),
            TableColumn("skipped", [str(r.skipped) for r in rows]),
            TableColumn("gates missed", [str(r.gates_missed) for r in rows]),
            ttft,
            tps,
            rank,
        ]
        fitted = fit_table(full, width, style=style)
        if not fitted.dropped and (width is None or widest(fitted.lines) <= width):
            return lines + fitted.lines
    passed = TableColumn("passed", [_passed_cell(r) for r in rows])
    table = [names, passed, ttft, tps, rank]
    return lines + fit_table(table, width, style=style, tablefmt="plain").lines


def _passed_cell(row: _Standing) -> str:
    """``3/4``: passed of the cases that ran; skipped cases said apart (``3/3, 1 skipped``,
    ``2 skipped``), never counted as not passed."""
    ran = row.cases - row.skipped
    if not ran:
        return f"{row.skipped} skipped"
    return f"{row.passed}/{ran}" + (f", {row.skipped} skipped" if row.skipped else "")
