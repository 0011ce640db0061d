"""Render a session :class:`~pytest_ollama_bench.models.Report` as text tables and Markdown.

Pure: no pytest import, no printing. Every function returns lines (or one string) for the
caller to write: one table per test function with a row per model (columns from the metric
registry, the best value of each ranked column marked and every value followed by its ratio
to that best), then the leaderboard and a legend.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

from .columns import COLUMNS
from .columns import DEFAULT_COLUMNS
from .columns import DEFAULT_SORT
from .columns import FALLBACK_MARK
from .columns import VERBOSE_COLUMNS
from .columns import Column
from .columns import parse_columns
from .columns import parse_sort
from .columns import width_priority
from .fit import TableColumn
from .fit import fit_table
from .fit import name_width
from .fit import shorten
from .fit import wrap
from .leaderboard import render_leaderboard
from .loadtable import SATURATION_MARK
from .loadtable import render_load_tables
from .models import CaseRecord
from .models import Report
from .table import BEST_MARK
from .table import Style
from .table import first_line
from .table import format_change
from .table import group_by_test
from .table import md_escape
from .table import ranked_cells
from .table import run_line

__all__ = ["BASELINE_COLUMNS", "MARKDOWN_LIMIT", "render_markdown", "render_summary"]

#: GitHub rejects a job-step summary above 1 MiB.
MARKDOWN_LIMIT = 1024 * 1024
#: Columns that get the baseline value and change when a baseline is given.
BASELINE_COLUMNS: tuple[str, ...] = ("ttft", "total", "tps")


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


def _model_column(cases: Sequence[CaseRecord], width: int | None) -> TableColumn:
    return TableColumn(
        "model",
        [c.model for c in cases],
        align="left",
        cut="middle",
        min_width=name_width(width),
        suffixes=["" if c.outcome == "passed" else f" [{c.outcome}]" for c in cases],
    )


def _title(test: str, count: str, width: int | None) -> str:
    prefix, suffix = "llm_bench: ", f" ({count})"
    if width is None:
        return f"{prefix}{test}{suffix}"
    return prefix + shorten(test, width - len(prefix) - len(suffix), "left") + suffix


def _test_table(
    test: str,
    cases: Sequence[CaseRecord],
    *,
    columns: Sequence[Column],
    sort: str,
    baseline: Mapping[tuple[str, str], CaseRecord] | None,
    style: Style,
    width: int | None = None,
    explicit: bool = False,
    gated: frozenset[str] = frozenset(),
) -> tuple[list[str], list[str]]:
    """Title, table and the notes (failures, skips) of one test function, and the names of
    the columns left out to fit ``width``: never the sort column, nor the columns (and their
    baselines) of ``gated``, the metrics the regression rules compare."""
    shown = _sort_rows([c for c in cases if c.outcome != "skipped"], sort)
    if not explicit:
        columns = _with_answer_ttft(columns, shown)
    skipped = [c for c in cases if c.outcome == "skipped"]
    count = f"{len(cases)} model{'s' if len(cases) != 1 else ''}"
    if skipped:
        count += f", {len(skipped)} skipped"
    lines = [f"### `{test}` ({count})" if style == "markdown" else _title(test, count, width)]
    dropped: list[str] = []
    if shown:
        if style == "markdown":
            lines.append("")
        table = [_model_column(shown, width)]
        for column in columns:
            texts = [column.text(c) for c in shown]
            values = [column.value(c) for c in shown]
            compared = column.metric is not None and column.metric.name in gated
            kept = column.name == sort or compared
            priority = -1.0 if kept else float(width_priority(column.name))
            align = {"gate": "center", "outcome": "left"}.get(column.kind, "right")
            cells = ranked_cells(values, texts, column.direction, style)
            table.append(TableColumn(column.header, cells, align, priority, column.name))
            if baseline is not None and (column.name in BASELINE_COLUMNS or compared):
                short, _, unit = column.header.partition(" (")
                base_cells = [
                    _baseline_cell(case, baseline.get(_case_key(case)), column) for case in shown
                ]
                header = f"{short} base" + (f" ({unit}" if unit else "")
                # a compared metric's baseline outlasts every column but the kept ones
                base_priority = -0.9 if compared else priority + 0.5
                table.append(
                    TableColumn(header, base_cells, "right", base_priority, f"{column.name} base")
                )
        fitted = fit_table(table, width, style=style)
        lines.extend(fitted.lines)
        dropped = [c.name for c in fitted.dropped]
    notes: list[str] = []
    for case in shown:
        if case.outcome in ("failed", "error"):
            message = first_line(case.error) or "(no message)"
            if style == "markdown":
                notes.append(f"- **{case.outcome}** `{case.model}`: {md_escape(message)}")
            else:
                notes.extend(wrap(f"  {case.outcome}: {case.model}: {message}", width))
    for case in skipped:
        reason = first_line(case.error)
        if style == "markdown":
            suffix = f" ({md_escape(reason)})" if reason else ""
            notes.append(f"- skipped: `{case.model}`{suffix}")
        else:
            text = f"  skipped: {case.model}" + (f" ({reason})" if reason else "")
            notes.extend(wrap(text, width))
    if notes and style == "markdown":
        lines.append("")
    lines.extend(notes)
    return lines, dropped


def _dropped_note(dropped: Sequence[str], width: int, columns_flag: str) -> str:
    """Which columns were left out to fit, and how to see them."""
    names = list(dict.fromkeys(dropped))
    selectable = [n for n in names if not n.endswith(" base")]
    text = f"left out to fit {width} characters: {', '.join(names)}"
    if selectable:
        more = ",..." if len(selectable) > 3 else ""
        text += (
            f"; show them with {columns_flag}={','.join(selectable[:3])}{more}, in a wider "
            "terminal, or with -vv"
        )
    return text


def _with_answer_ttft(columns: Sequence[Column], cases: Sequence[CaseRecord]) -> list[Column]:
    """The default columns plus ``ttft content`` after ``ttft`` when a model in the table
    thinks: its ``ttft`` is its first thinking token, the others' their first answer token."""
    chosen = list(columns)
    thinks = any("ttft_thinking_ms" in c.stats for c in cases)
    names = [c.name for c in chosen]
    if thinks and "ttft" in names and "ttft_content" not in names:
        chosen.insert(names.index("ttft") + 1, COLUMNS["ttft_content"])
    return chosen


def _legend(style: Style) -> str:
    best = "**bold**" if style == "markdown" else BEST_MARK
    # ttft is the first output of any kind: a thinking model's first thinking token (its
    # first answer token is the ttft content column); a rate marked c is the client's
    return (
        f"legend: {best} best, (x.xx) value / best; medians over measured rounds unless noted; "
        "ttft = first output token, thinking or answer; tok/s = server decode rate "
        f"(12.3{FALLBACK_MARK}: client-side); leaderboard: median of the case medians, mean "
        "rank by ttft"
    )


#: How to read a load table.
_LOAD_LEGEND = (
    "load: one row per run (a sweep's levels); req/s and out tok/s over the run's wall time; "
    "ttft and tpot over its completed requests; goodput = requests/s that met every SLO and "
    f"passed check=; {SATURATION_MARK} = saturation"
)


def _baseline_line(baseline: Report) -> str:
    created = baseline.created_at.isoformat(timespec="seconds")
    count = len(baseline.cases)
    return f"baseline: run of {created} on {baseline.host} ({count} case{'s' * (count != 1)})"


def _body(
    report: Report,
    *,
    columns: Sequence[str] | None,
    sort: str | None,
    verbosity: int,
    baseline: Report | None,
    style: Style,
    width: int | None = None,
    columns_flag: str = "--ollama-columns",
) -> list[list[str]]:
    """The summary as blocks of lines (the caller joins them with blank lines)."""
    if verbosity < 0:  # the leaderboard has no place for load runs: their tables stay
        load = render_load_tables(report.cases, style=style, width=width)
        return [*load.blocks, render_leaderboard(report, compact=True, style=style, width=width)]
    chosen = _resolve_columns(columns, verbosity)
    sort_key = parse_sort(sort) if sort is not None else DEFAULT_SORT
    base_index = None if baseline is None else {_case_key(c): c for c in baseline.cases}
    gated = frozenset(rule.metric for rule in report.settings.compare_fail)
    blocks: list[list[str]] = []
    dropped: list[str] = []
    load_dropped: list[str] = []
    by_host: dict[str | None, list[CaseRecord]] = {}
    for case in report.cases:  # one server's tables after the other's
        by_host.setdefault(case.host, []).append(case)
    for cases_of_host in by_host.values():
        # a case of load runs only has its own table (a row per run), not a row here
        tabled = [c for c in cases_of_host if c.calls or not c.load]
        for test, cases in group_by_test(tabled).items():
            lines, left_out = _test_table(
                test,
                cases,
                columns=chosen,
                sort=sort_key,
                baseline=base_index,
                style=style,
                width=width,
                explicit=columns is not None,
                gated=gated,
            )
            blocks.append(lines)
            dropped.extend(left_out)
        load = render_load_tables(cases_of_host, style=style, width=width)
        blocks.extend(load.blocks)
        load_dropped.extend(load.dropped)
    blocks.append(render_leaderboard(report, compact=False, style=style, width=width))
    tail = [_legend(style)]
    if any(c.load for c in report.cases):
        tail.append(_LOAD_LEGEND)
    if baseline is not None:
        tail.insert(0, _baseline_line(baseline))
    if dropped and width is not None:
        tail.append(_dropped_note(dropped, width, columns_flag))
    if load_dropped and width is not None:
        names = ", ".join(dict.fromkeys(load_dropped))
        tail.append(
            f"left out of the load tables to fit {width} characters: {names}; show them in a "
            "wider terminal or with -vv"
        )
    if style == "markdown":  # one paragraph each
        blocks.extend([line] for line in tail)
    else:
        blocks.append([part for line in tail for part in wrap(line, width)])
    return blocks


def render_summary(
    report: Report,
    *,
    columns: Sequence[str] | None = None,
    sort: str | None = None,
    verbosity: int = 0,
    baseline: Report | None = None,
    width: int | None = None,
    columns_flag: str = "--ollama-columns",
) -> list[str]:
    """The terminal summary of ``report`` as lines (no trailing newlines).

    One table per test function (first-seen order) with a row per model sorted by ``sort``
    (default ``ttft``, best first), failures and skips listed under it, and one per load test
    and model with a row per run (:mod:`.loadtable`); with several servers, one server's
    tables after the other's. Then a leaderboard per model across tests and a legend line.

    :param columns: column names (see :data:`COLUMNS`); default :data:`DEFAULT_COLUMNS`, or
        :data:`VERBOSE_COLUMNS` at ``verbosity >= 1``. An explicit selection is used as given.
    :param sort: one of :data:`SORT_KEYS`.
    :param verbosity: ``< 0`` prints only a compact leaderboard.
    :param baseline: an earlier run; rows get its ttft/total/tok/s value and the change in %,
        matched by (node id, model).
    :param width: the most characters a line may have (``None``: no limit). Wider tables
        shorten long model names, then leave out columns, lowest
        :data:`~.metrics.COLUMN_PRIORITY` first (the sort column stays), and a last line names
        what was left out and how to show it (``columns_flag``); titles are shortened and
        notes and the legend wrapped.
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
        width=width,
        columns_flag=columns_flag,
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
        md_escape(run_line(report)),
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
