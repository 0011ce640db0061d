"""Render a session :class:`~pytest_ollama_bench.models.Report` as text tables and Markdown.

Pure: no pytest import, no printing. Every function returns lines (or one string) for the
caller to write, built with :mod:`tabulate` in the manner of pytest-benchmark's table: one
table per test function with a row per model, the best value of each column marked and every
value followed by its ratio to that best, ``912.3 (1.42)``.

Times (``*_ms``) are better when lower, rates (``*_per_s``) when higher; counts have no
direction and are never ranked.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from tabulate import tabulate

from .measure import ROUND_METRICS
from .models import CaseRecord
from .models import Report

__all__ = [
    "BASELINE_COLUMNS",
    "BEST_MARK",
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "DEFAULT_SORT",
    "DIRECTED_METRICS",
    "MARKDOWN_LIMIT",
    "SORT_KEYS",
    "VERBOSE_COLUMNS",
    "Column",
    "Direction",
    "format_change",
    "metric_direction",
    "parse_columns",
    "parse_sort",
    "percent_change",
    "render_comparison",
    "render_markdown",
    "render_summary",
    "stat_direction",
]

Direction = Literal["lower", "higher", "none"]
Kind = Literal["metric", "gate", "outcome"]
_Style = Literal["text", "markdown"]

#: Appended to the best value of a ranked column in text tables (Markdown uses bold instead).
BEST_MARK = "*"
#: GitHub rejects a job-step summary above 1 MiB.
MARKDOWN_LIMIT = 1024 * 1024
_ERROR_WIDTH = 200


def metric_direction(metric: str) -> Direction:
    """``lower`` for times (``*_ms``), ``higher`` for rates (``*_per_s``), else ``none``."""
    if metric.endswith("_ms"):
        return "lower"
    if metric.endswith("_per_s"):
        return "higher"
    return "none"


def stat_direction(metric: str, stat: str) -> Direction:
    """Direction of one statistic of ``metric``: a smaller spread (stddev) is always better."""
    direction = metric_direction(metric)
    if direction != "none" and stat == "stddev":
        return "lower"
    return direction


#: Recorded metrics that are better when lower or higher (gateable, comparable).
DIRECTED_METRICS: tuple[str, ...] = tuple(
    m for m in (*ROUND_METRICS, "itl_ms") if metric_direction(m) != "none"
)


@dataclass(frozen=True)
class Column:
    """One selectable table column (``--ollama-columns`` name ``name``).

    A ``metric`` column shows ``stat`` of ``CaseRecord.stats[metric]``; ``gate`` and
    ``outcome`` columns show the case's gate verdict and pytest outcome.
    """

    name: str
    header: str
    metric: str | None = None
    stat: str = "median"
    unit: str = ""
    direction: Direction = "none"
    kind: Kind = "metric"
    decimals: int = 1
    description: str = ""

    def value(self, case: CaseRecord) -> float | None:
        """The number this column shows for ``case`` (``None``: not measured or not numeric)."""
        if self.kind != "metric" or self.metric is None:
            return None
        stats = case.stats.get(self.metric)
        if stats is None:
            return None
        return float(getattr(stats, self.stat))

    def format_number(self, value: float) -> str:
        """``value`` with this column's precision; whole counts print without decimals."""
        if self.direction == "none" and float(value).is_integer():
            return str(int(value))
        return f"{value:.{self.decimals}f}"

    def text(self, case: CaseRecord) -> str:
        """The plain cell text for ``case`` (no ranking), ``-`` when there is nothing to show."""
        if self.kind == "gate":
            if not case.gates:
                return "-"
            return "✔" if all(g.passed for g in case.gates) else "✘"
        if self.kind == "outcome":
            return case.outcome
        value = self.value(case)
        return "-" if value is None else self.format_number(value)


def _metric(
    name: str,
    header: str,
    metric: str,
    stat: str = "median",
    description: str = "",
) -> Column:
    direction = stat_direction(metric, stat) if stat != "n" else "none"
    unit = "ms" if metric.endswith("_ms") else ("tok/s" if metric.endswith("_per_s") else "")
    return Column(
        name=name,
        header=header,
        metric=metric,
        stat=stat,
        unit=unit,
        direction=direction,
        description=description or f"{metric} {stat}",
    )


_ALL_COLUMNS: tuple[Column, ...] = (
    _metric("ttft", "ttft (ms)", "ttft_ms", description="time to first token, median"),
    _metric("ttft_mean", "ttft mean (ms)", "ttft_ms", "mean"),
    _metric("ttft_stddev", "ttft sd (ms)", "ttft_ms", "stddev"),
    _metric("ttft_min", "ttft min (ms)", "ttft_ms", "min"),
    _metric("ttft_max", "ttft max (ms)", "ttft_ms", "max"),
    _metric("ttft_p95", "ttft p95 (ms)", "ttft_ms", "p95"),
    _metric("total", "total (ms)", "total_ms", description="request to done, median"),
    _metric("total_p95", "total p95 (ms)", "total_ms", "p95"),
    _metric("tpot", "tpot (ms)", "tpot_ms", description="time per output token, median"),
    _metric("itl_p50", "itl p50 (ms)", "itl_ms", "median"),
    _metric("itl_p99", "itl p99 (ms)", "itl_ms", "p99"),
    _metric("itl_max", "itl max (ms)", "itl_ms", "max"),
    _metric("tps", "tok/s", "tokens_per_s", description="server eval rate, median"),
    _metric("prompt_tps", "prompt tok/s", "prompt_tokens_per_s"),
    _metric("load", "load (ms)", "load_ms", description="model load, median"),
    _metric("tokens", "tokens", "eval_count", description="generated tokens, median"),
    _metric("prompt_tokens", "prompt tokens", "prompt_eval_count"),
    _metric("chunks", "chunks", "chunks", description="stream records, median"),
    _metric("rounds", "rounds", "total_ms", "n", description="measured rounds"),
    Column("gate", "gate", kind="gate", description="✔ all gates held, ✘ one missed"),
    Column("outcome", "outcome", kind="outcome", description="pytest outcome"),
)

#: Every selectable column by name.
COLUMNS: Mapping[str, Column] = MappingProxyType({c.name: c for c in _ALL_COLUMNS})

#: Columns shown when none are selected.
DEFAULT_COLUMNS: tuple[str, ...] = (
    "ttft",
    "ttft_p95",
    "total",
    "tps",
    "prompt_tps",
    "load",
    "tokens",
    "rounds",
    "gate",
)

#: Columns shown at verbosity >= 1 when none are selected.
VERBOSE_COLUMNS: tuple[str, ...] = (
    "ttft",
    "ttft_p95",
    "ttft_stddev",
    "total",
    "tpot",
    "itl_p50",
    "itl_p99",
    "tps",
    "prompt_tps",
    "load",
    "tokens",
    "chunks",
    "rounds",
    "gate",
)

#: Columns that get the baseline value and change when a baseline is given.
BASELINE_COLUMNS: tuple[str, ...] = ("ttft", "total", "tps")

#: Row orders: a ranked column (best first), ``model`` (by name) or ``name`` (by node id).
SORT_KEYS: tuple[str, ...] = (
    *(c.name for c in _ALL_COLUMNS if c.direction != "none"),
    "model",
    "name",
)
DEFAULT_SORT = "ttft"


def parse_columns(text: str) -> tuple[str, ...]:
    """Parse a comma-separated ``--ollama-columns`` value into known column names.

    ``model`` is always the first column and may be listed or not; duplicates are dropped.

    :raises ValueError: an unknown name (the message lists the valid ones) or an empty list.
    """
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if name and name != "model" and name not in names:
            names.append(name)
    unknown = [n for n in names if n not in COLUMNS]
    valid = ", ".join(COLUMNS)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(f"unknown column{plural} {', '.join(unknown)}; valid columns: {valid}")
    if not names:
        raise ValueError(f"no columns given in {text!r}; valid columns: {valid}")
    return tuple(names)


def parse_sort(text: str) -> str:
    """Validate a ``--ollama-sort`` value.

    :raises ValueError: not one of :data:`SORT_KEYS` (the message lists them).
    """
    key = text.strip().lower()
    if key not in SORT_KEYS:
        raise ValueError(f"cannot sort by {text!r}; valid sort keys: {', '.join(SORT_KEYS)}")
    return key


# --------------------------------------------------------------------------- cell formatting


def _ratio_text(value: float, best: float) -> str:
    if value == best:
        return "(1.00)"
    if best == 0:
        return "(inf)"
    return f"({value / best:.2f})"


def _ranked_cells(
    values: Sequence[float | None],
    texts: Sequence[str],
    direction: Direction,
    style: _Style,
) -> list[str]:
    """Cells with the best value marked and each value's ratio to the best (``value / best``).

    Fewer than two values, or a column without direction, are shown as they are. Text cells
    are padded inside so values and ratios line up in a right-aligned column.
    """
    present = [v for v in values if v is not None]
    if direction == "none" or len(present) < 2:
        return list(texts)
    best = min(present) if direction == "lower" else max(present)
    ratios = [None if v is None else _ratio_text(v, best) for v in values]
    value_width = max(len(t) for t, v in zip(texts, values, strict=True) if v is not None)
    ratio_width = max(len(r) for r in ratios if r is not None)
    cells: list[str] = []
    for value, text, ratio in zip(values, texts, ratios, strict=True):
        if value is None or ratio is None:
            cells.append(text)
        elif style == "markdown":
            cells.append(f"**{text}** {ratio}" if value == best else f"{text} {ratio}")
        else:
            mark = BEST_MARK if value == best else " "
            cells.append(f"{text:>{value_width}}{mark} {ratio:>{ratio_width}}")
    return cells


def percent_change(current: float, base: float) -> float | None:
    """``current`` relative to ``base`` in percent (``None`` when ``base`` is 0)."""
    if base == 0:
        return None if current == 0 else math.copysign(math.inf, current)
    return (current - base) / abs(base) * 100.0


def format_change(current: float, base: float, direction: Direction) -> str:
    """``+12.3% worse`` / ``-4.0% better`` (by ``direction``), or the bare change without one."""
    pct = percent_change(current, base)
    if pct is None:
        return "+0.0%"
    text = f"{pct:+.1f}%"
    if direction == "none" or pct == 0:
        return text
    worse = pct > 0 if direction == "lower" else pct < 0
    return f"{text} {'worse' if worse else 'better'}"


def _first_line(text: str | None, width: int = _ERROR_WIDTH) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= width else line[: width - 1] + "…"
    return ""


def _md_escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in "\\`*_[]<>|#":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    colalign: Sequence[str],
    style: _Style,
    tablefmt: str = "simple",
) -> list[str]:
    if style == "markdown":
        rows = [[c.replace("|", "\\|") for c in row] for row in rows]
        tablefmt = "github"
    text = tabulate(
        [list(r) for r in rows],
        headers=list(headers),
        tablefmt=tablefmt,
        disable_numparse=True,
        colalign=list(colalign),
    )
    return text.splitlines()


# --------------------------------------------------------------------------- grouping, sorting


def _groups(cases: Iterable[CaseRecord]) -> dict[str, list[CaseRecord]]:
    groups: dict[str, list[CaseRecord]] = {}
    for case in cases:
        groups.setdefault(case.test, []).append(case)
    return groups


def _sort_rows(cases: Sequence[CaseRecord], sort: str) -> list[CaseRecord]:
    if sort == "model":
        return sorted(cases, key=lambda c: c.model)
    if sort == "name":
        return sorted(cases, key=lambda c: c.nodeid)
    column = COLUMNS[sort]
    sign = 1.0 if column.direction == "lower" else -1.0

    def key(case: CaseRecord) -> tuple[bool, float]:
        value = column.value(case)
        return (value is None, 0.0 if value is None else sign * value)

    return sorted(cases, key=key)


def _resolve_columns(columns: Sequence[str] | None, verbosity: int) -> tuple[Column, ...]:
    if columns is None:
        names: Sequence[str] = VERBOSE_COLUMNS if verbosity >= 1 else DEFAULT_COLUMNS
    else:
        names = parse_columns(",".join(columns))
    return tuple(COLUMNS[n] for n in names)


def _case_key(case: CaseRecord) -> tuple[str, str]:
    return (case.nodeid, case.model)


# --------------------------------------------------------------------------- per-test tables


def _model_cell(case: CaseRecord) -> str:
    return case.model if case.outcome == "passed" else f"{case.model} [{case.outcome}]"


def _baseline_cell(case: CaseRecord, base: CaseRecord | None, column: Column) -> str:
    if base is None:
        return "new"
    old = column.value(base)
    if old is None:
        return "-"
    new = column.value(case)
    old_text = column.format_number(old)
    if new is None:
        return old_text
    return f"{old_text} ({format_change(new, old, column.direction)})"


def _test_table(
    test: str,
    cases: Sequence[CaseRecord],
    *,
    columns: Sequence[Column],
    sort: str,
    baseline: Mapping[tuple[str, str], CaseRecord] | None,
    style: _Style,
) -> list[str]:
    """Title, table and the notes (failures, skips) of one test function."""
    shown = _sort_rows([c for c in cases if c.outcome != "skipped"], sort)
    skipped = [c for c in cases if c.outcome == "skipped"]
    count = f"{len(cases)} model{'s' if len(cases) != 1 else ''}"
    if skipped:
        count += f", {len(skipped)} skipped"
    title = f"llm_bench: {test} ({count})"
    lines = [f"### `{test}` ({count})" if style == "markdown" else title]
    if shown:
        if style == "markdown":
            lines.append("")
        headers = ["model"]
        body: list[list[str]] = [[_model_cell(c)] for c in shown]
        align = ["left"]
        for column in columns:
            texts = [column.text(c) for c in shown]
            values = [column.value(c) for c in shown]
            cells = _ranked_cells(values, texts, column.direction, style)
            headers.append(column.header)
            align.append("center" if column.kind == "gate" else "right")
            if column.kind == "outcome":
                align[-1] = "left"
            for row, cell in zip(body, cells, strict=True):
                row.append(cell)
            if baseline is not None and column.name in BASELINE_COLUMNS:
                short, _, unit = column.header.partition(" (")
                headers.append(f"{short} base" + (f" ({unit}" if unit else ""))
                align.append("right")
                for row, case in zip(body, shown, strict=True):
                    base = baseline.get(_case_key(case))
                    row.append(_baseline_cell(case, base, column))
        lines.extend(_table(headers, body, align, style))
    notes: list[str] = []
    for case in shown:
        if case.outcome in ("failed", "error"):
            message = _first_line(case.error) or "(no message)"
            if style == "markdown":
                notes.append(f"- **{case.outcome}** `{case.model}`: {_md_escape(message)}")
            else:
                notes.append(f"  {case.outcome}: {case.model}: {message}")
    for case in skipped:
        reason = _first_line(case.error)
        if style == "markdown":
            suffix = f" ({_md_escape(reason)})" if reason else ""
            notes.append(f"- skipped: `{case.model}`{suffix}")
        else:
            notes.append(f"  skipped: {case.model}" + (f" ({reason})" if reason else ""))
    if notes and style == "markdown":
        lines.append("")
    lines.extend(notes)
    return lines


# --------------------------------------------------------------------------- leaderboard


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
        row = board.setdefault(case.model, _Standing(case.model))
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
                ttfts.setdefault(case.model, []).append(v)
            if (v := tps_col.value(case)) is not None:
                rates.setdefault(case.model, []).append(v)
    for cases in _groups(report.cases).values():
        per_model: dict[str, float] = {}
        for case in cases:
            value = ttft_col.value(case)
            if case.outcome != "skipped" and value is not None and case.model not in per_model:
                per_model[case.model] = value
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


def _leaderboard(report: Report, *, compact: bool, style: _Style) -> list[str]:
    rows = _standings(report)
    tests = len(_groups(report.cases))
    title = (
        f"llm_bench leaderboard: {len(rows)} model{'s' if len(rows) != 1 else ''}, "
        f"{tests} test{'s' if tests != 1 else ''}"
    )
    ttft_col = COLUMNS["ttft"]
    tps_col = COLUMNS["tps"]
    ttft_cells = _ranked_cells(
        [r.ttft for r in rows],
        ["-" if r.ttft is None else ttft_col.format_number(r.ttft) for r in rows],
        "lower",
        style,
    )
    tps_cells = _ranked_cells(
        [r.tps for r in rows],
        ["-" if r.tps is None else tps_col.format_number(r.tps) for r in rows],
        "higher",
        style,
    )
    rank_cells = ["-" if r.rank is None else f"{r.rank:.2f}" for r in rows]
    if compact:
        headers = ["model", "passed", "ttft (ms)", "tok/s", "mean rank"]
        body = [
            [r.model, f"{r.passed}/{r.cases}", t, s, k]
            for r, t, s, k in zip(rows, ttft_cells, tps_cells, rank_cells, strict=True)
        ]
        align = ["left", "right", "right", "right", "right"]
        tablefmt = "plain"
    else:
        headers = [
            "model",
            "cases",
            "passed",
            "failed",
            "skipped",
            "gates missed",
            "ttft (ms)",
            "tok/s",
            "mean rank",
        ]
        body = [
            [
                r.model,
                str(r.cases),
                str(r.passed),
                str(r.failed),
                str(r.skipped),
                str(r.gates_missed),
                t,
                s,
                k,
            ]
            for r, t, s, k in zip(rows, ttft_cells, tps_cells, rank_cells, strict=True)
        ]
        align = ["left", *(["right"] * 8)]
        tablefmt = "simple"
    lines = ["### Leaderboard", ""] if style == "markdown" else [title]
    lines.extend(_table(headers, body, align, style, tablefmt))
    return lines


def _legend(style: _Style) -> str:
    best = "**bold**" if style == "markdown" else BEST_MARK
    return (
        f"legend: {best} best, (x.xx) value / best; medians over measured rounds unless noted; "
        "ttft = time to first token, tok/s = server decode rate; leaderboard: median of the "
        "case medians, mean rank by ttft"
    )


def _baseline_line(baseline: Report) -> str:
    created = baseline.created_at.isoformat(timespec="seconds")
    return f"baseline: run of {created} on {baseline.host} ({len(baseline.cases)} cases)"


def _body(
    report: Report,
    *,
    columns: Sequence[str] | None,
    sort: str | None,
    verbosity: int,
    baseline: Report | None,
    style: _Style,
) -> list[list[str]]:
    """The summary as blocks of lines (the caller joins them with blank lines)."""
    if verbosity < 0:
        return [_leaderboard(report, compact=True, style=style)]
    chosen = _resolve_columns(columns, verbosity)
    sort_key = parse_sort(sort) if sort is not None else DEFAULT_SORT
    base_index = None if baseline is None else {_case_key(c): c for c in baseline.cases}
    blocks = [
        _test_table(
            test,
            cases,
            columns=chosen,
            sort=sort_key,
            baseline=base_index,
            style=style,
        )
        for test, cases in _groups(report.cases).items()
    ]
    blocks.append(_leaderboard(report, compact=False, style=style))
    tail = [_legend(style)]
    if baseline is not None:
        tail.insert(0, _baseline_line(baseline))
    if style == "markdown":  # one paragraph each
        blocks.extend([line] for line in tail)
    else:
        blocks.append(tail)
    return blocks


def render_summary(
    report: Report,
    *,
    columns: Sequence[str] | None = None,
    sort: str | None = None,
    verbosity: int = 0,
    baseline: Report | None = None,
) -> list[str]:
    """The terminal summary of ``report`` as lines (no trailing newlines).

    One table per test function (first-seen order) with a row per model sorted by ``sort``
    (default ``ttft``, best first), failures and skips listed under it, then a leaderboard per
    model across tests and a legend line.

    :param columns: column names (see :data:`COLUMNS`); default :data:`DEFAULT_COLUMNS`, or
        :data:`VERBOSE_COLUMNS` at ``verbosity >= 1``. An explicit selection is used as given.
    :param sort: one of :data:`SORT_KEYS`.
    :param verbosity: ``< 0`` prints only a compact leaderboard.
    :param baseline: an earlier run; rows get its ttft/total/tok/s value and the change in %,
        matched by (node id, model).
    :raises ValueError: an unknown column or sort key.
    :return: ``[]`` when the report has no cases.
    """
    if not report.cases:
        return []
    blocks = _body(
        report,
        columns=columns,
        sort=sort,
        verbosity=verbosity,
        baseline=baseline,
        style="text",
    )
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append("")
        lines.extend(block)
    return lines


def _truncate_markdown(text: str, limit: int) -> str:
    size = len(text.encode("utf-8"))
    if size <= limit:
        return text
    note = (
        f"\n\n> **Truncated:** this summary is {size} bytes, over the {limit}-byte limit of a "
        "GitHub job summary; the JSON report has every case.\n"
    )
    budget = limit - len(note.encode("utf-8"))
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        cost = len(line.encode("utf-8"))
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    return "".join(kept).rstrip("\n") + note


def render_markdown(
    report: Report,
    *,
    baseline: Report | None = None,
    limit: int = MARKDOWN_LIMIT,
) -> str:
    """GitHub-flavoured Markdown of the summary, for ``$GITHUB_STEP_SUMMARY``.

    The same tables as :func:`render_summary` (best values in bold) under a run header. Output
    longer than ``limit`` bytes (UTF-8) is cut at a line boundary and ends with a note saying so.
    Returns ``""`` when the report has no cases.
    """
    if not report.cases:
        return ""
    header = [
        "## llm_bench",
        "",
        _md_escape(_run_line(report)),
    ]
    blocks = [
        header,
        *_body(
            report,
            columns=None,
            sort=None,
            verbosity=0,
            baseline=baseline,
            style="markdown",
        ),
    ]
    text = "\n\n".join("\n".join(block) for block in blocks) + "\n"
    return _truncate_markdown(text, limit)


def _run_line(report: Report) -> str:
    parts = [
        f"run of {report.created_at.isoformat(timespec='seconds')}",
        f"host {report.host}",
    ]
    if report.ollama_version:
        parts.append(f"ollama {report.ollama_version}")
    parts.append(f"plugin {report.plugin_version}")
    parts.append(f"{len(report.cases)} case{'s' if len(report.cases) != 1 else ''}")
    if report.interrupted:
        parts.append("interrupted")
    return ", ".join(parts)


# --------------------------------------------------------------------------- A/B comparison

_COMPARED: tuple[str, ...] = ("ttft", "total", "tps")


def _change_cell(a: float | None, b: float | None, direction: Direction) -> str:
    if a is None or b is None:
        return "-"
    return format_change(b, a, direction)


def render_comparison(
    a: Report,
    b: Report,
    *,
    labels: tuple[str, str] = ("A", "B"),
) -> list[str]:
    """Compare two runs: a row per (test, model) present in either.

    For ttft median, total median and tok/s median the row shows A, B and the change of B
    relative to A in percent, marked ``worse``/``better`` by the metric's direction.
    """
    la, lb = labels
    index_a = {(c.test, c.model): c for c in a.cases}
    index_b = {(c.test, c.model): c for c in b.cases}
    keys = list(index_a) + [k for k in index_b if k not in index_a]
    lines = [f"{la}: {_run_line(a)}", f"{lb}: {_run_line(b)}"]
    if not keys:
        lines.append("no cases in either run")
        return lines
    columns = [COLUMNS[n] for n in _COMPARED]
    headers = ["test", "model"]
    align = ["left", "left"]
    for column in columns:
        short, _, unit = column.header.partition(" (")
        unit = f" ({unit}" if unit else ""
        headers += [f"{short} {la}{unit}", f"{short} {lb}{unit}", f"{short} Δ"]
        align += ["right", "right", "right"]
    one_sided = any((k in index_a) != (k in index_b) for k in keys)
    if one_sided:
        headers.append("note")
        align.append("left")
    body: list[list[str]] = []
    for key in keys:
        ca = index_a.get(key)
        cb = index_b.get(key)
        row = [key[0], key[1]]
        for column in columns:
            va = None if ca is None else column.value(ca)
            vb = None if cb is None else column.value(cb)
            row.append("-" if va is None else column.format_number(va))
            row.append("-" if vb is None else column.format_number(vb))
            row.append(_change_cell(va, vb, column.direction))
        if one_sided:
            row.append(f"only in {la}" if cb is None else (f"only in {lb}" if ca is None else ""))
        body.append(row)
    lines.append("")
    lines.extend(_table(headers, body, align, "text"))
    return lines
