"""The summary's load tables: per load test and model, a table per group of runs, a row per run.

Pure: no pytest import, no printing. Runs are grouped so that a reader can tell them apart
(:func:`run_groups`): each sweep's levels are one group, and the test's single ``load()`` runs
another per kind (closed loop; open loop, per concurrency cap), so a concurrency and a rate
never share a column. A case with several groups shows each under its label (``sweep 1,
closed loop:``). A row is one :class:`~.models.LoadRecord`: its level (concurrency, or
requested rate and the rate achieved), request and output throughput, TTFT and TPOT p50/p99,
errors (by kind), goodput and SLO attainment, and its gate verdict; a sweep's saturation level
is marked ``<``. Tables fit a width as the per-test tables do (:func:`~.fit.fit_table`): the
least important columns are left out first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .fit import TableColumn
from .fit import fit_table
from .fit import shorten
from .fit import wrap
from .models import CaseRecord
from .models import LoadMode
from .models import LoadRecord
from .table import Style
from .table import md_escape

__all__ = ["SATURATION_MARK", "LoadTables", "RunGroup", "render_load_tables", "run_groups"]

#: Marks the row of a sweep's saturation level.
SATURATION_MARK = "<"


@dataclass(frozen=True)
class RunGroup:
    """Load runs of one test and model that are read together: the levels of one sweep, or
    the single ``load()`` runs of one kind.

    :ivar runs: ``(number, record)``: each run's place among the case's load runs, in order.
    :ivar sweep: the sweep's number in the test; None for single runs.
    :ivar mode: ``concurrency`` (closed loops) or ``rate`` (open loops).
    :ivar cap: an open loop's concurrency cap (at most that many in flight), or None.
    """

    runs: tuple[tuple[int, LoadRecord], ...]
    sweep: int | None
    mode: LoadMode
    cap: int | None = None

    @property
    def records(self) -> list[LoadRecord]:
        """The group's runs, in order."""
        return [run for _, run in self.runs]

    @property
    def axis(self) -> str:
        """What the levels are, as a column header: ``concurrency`` or ``rate (req/s)``."""
        return "concurrency" if self.mode == "concurrency" else "rate (req/s)"

    @property
    def kind(self) -> str:
        """``closed loop``, ``open loop`` or ``open loop at most 4 in flight``."""
        if self.mode == "concurrency":
            return "closed loop"
        return "open loop" if self.cap is None else f"open loop at most {self.cap} in flight"

    @property
    def label(self) -> str:
        """How a table or a chart names the group: ``sweep 1, closed loop``, ``load(), open
        loop``, ``2 load() runs, closed loop``."""
        if self.sweep is not None:
            return f"sweep {self.sweep}, {self.kind}"
        count = len(self.runs)
        return f"{'load()' if count == 1 else f'{count} load() runs'}, {self.kind}"


def run_groups(runs: Sequence[LoadRecord]) -> list[RunGroup]:
    """``runs`` (a case's load runs, in order) grouped: one group per sweep, and the runs of
    no sweep one group per mode and concurrency cap; groups in the order of their first run."""
    groups: dict[tuple[int | None, str, int | None], list[tuple[int, LoadRecord]]] = {}
    for number, run in enumerate(runs):
        cap = run.concurrency if run.mode == "rate" and run.sweep is None else None
        key = (run.sweep, run.mode, cap) if run.sweep is None else (run.sweep, "", None)
        groups.setdefault(key, []).append((number, run))
    return [
        RunGroup(tuple(members), sweep=members[0][1].sweep, mode=members[0][1].mode, cap=key[2])
        for key, members in groups.items()
    ]


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
    case: CaseRecord, group: RunGroup, style: Style, width: int | None
) -> tuple[list[str], list[str]]:
    rows = group.records
    judged = any(run.goodput is not None for run in rows)
    columns = [
        TableColumn(group.axis, [_level(r) for r in rows], "right"),
        TableColumn("req/s", [_number(r.request_throughput, 2) for r in rows], "right", 0, "req/s"),
    ]
    if group.mode == "rate":
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
        gates = [_gate(case, number) for number, _ in group.runs]
        columns.append(TableColumn("gate", gates, "center", 3, "gate"))
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


def _saturation_note(group: RunGroup) -> str | None:
    """What a sweep says about saturation; None for single runs."""
    if group.sweep is None:
        return None
    found = next((r for r in group.records if r.saturation is not None), None)
    if found is not None:
        level = f"{found.saturation:g}" + ("/s" if found.mode == "rate" else "")
        return (
            f"  saturation at {found.mode} {level} ({SATURATION_MARK}): the next level added "
            "under 10 % throughput while p99 TTFT grew"
        )
    return "  no saturation within the levels run"


def render_load_tables(
    cases: Sequence[CaseRecord], *, style: Style = "text", width: int | None = None
) -> LoadTables:
    """A block per case with load runs (test x model, and host), in case order: its title,
    then a table per group of runs (:func:`run_groups`), each under its label when the case
    has several.

    Failed cases keep their tables, with the error under them.
    """
    blocks: list[list[str]] = []
    dropped: list[str] = []
    for case in cases:
        if not case.load:
            continue
        lines = [_title(case, case.load, style, width)]
        groups = run_groups(case.load)
        for index, group in enumerate(groups):
            if style == "markdown":
                lines.append("")
            if len(groups) > 1:  # say which runs each table holds
                if style == "markdown":
                    lines += [f"**{md_escape(group.label)}**", ""]
                else:
                    lines += ([""] if index else []) + wrap(f"{group.label}:", width)
            table, left_out = _table(case, group, style, width)
            lines += table
            dropped += left_out
            saturation = _saturation_note(group)
            if saturation is not None:
                lines += _note(saturation, style, width)
        notes = [f"  stopped: {r.stopped}" for r in case.load if r.stopped]
        if case.outcome in ("failed", "error") and case.error:
            notes.append(f"  {case.outcome}: {case.error.strip().splitlines()[0]}")
        for note in notes:
            lines += _note(note, style, width)
        blocks.append(lines)
    return LoadTables(blocks, dropped)


def _note(note: str, style: Style, width: int | None) -> list[str]:
    if style == "markdown":
        return ["", f"- {md_escape(note.strip())}"]
    return wrap(note, width)
