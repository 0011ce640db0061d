"""Table columns: a metric and a statistic across rounds, or ``rounds``, ``gate``, ``outcome``.

``ttft`` is the median of ``ttft_ms`` (a metric's bare key shows its summary statistic: the
median, ``pass_rate``'s mean), ``ttft_p95`` its 95th percentile, ``ttft_stddev`` its spread.
Three columns are not metrics: ``rounds`` (measured rounds), ``gate`` (the case's gate verdict)
and ``outcome``. Columns, their headers, precision and ranking come from the metric registry
(:mod:`pytest_ollama_bench.metrics`); the option parser reads this module at start-up, so it is
standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING
from typing import Literal

from .metrics import GATE_STATS
from .metrics import REQUEST_METRICS
from .metrics import Direction
from .metrics import Metric
from .metrics import stat_direction
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .models import CaseRecord

__all__ = [
    "COLUMNS",
    "COLUMN_PRIORITY",
    "DEFAULT_COLUMNS",
    "DEFAULT_SORT",
    "FALLBACK_MARK",
    "SORT_KEYS",
    "VERBOSE_COLUMNS",
    "Column",
    "column_for",
    "parse_columns",
    "parse_sort",
    "width_priority",
]

Kind = Literal["metric", "rounds", "gate", "outcome"]

#: How a statistic is written in a column header (the median has no suffix).
_STAT_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "min": "min",
        "max": "max",
        "mean": "mean",
        "stddev": "sd",
        "median": "",
        "p90": "p90",
        "p95": "p95",
        "p99": "p99",
    }
)


@dataclass(frozen=True)
class Column:
    """One selectable table column (its ``--ollama-columns`` name is :attr:`name`).

    A ``metric`` column shows ``stat`` of ``CaseRecord.stats[metric.name]``; ``rounds`` the
    number of measured rounds; ``gate`` and ``outcome`` the case's gate verdict and outcome.
    """

    name: str
    header: str
    kind: Kind = "metric"
    metric: Metric | None = None
    stat: str = "median"
    description: str = ""

    @property
    def direction(self) -> Direction:
        """How the column ranks (``none``: shown as is)."""
        if self.metric is None:
            return "none"
        return stat_direction(self.metric.name, self.stat)

    @property
    def unit(self) -> str:
        """The unit of the shown values (``""`` for non-metric columns)."""
        return "" if self.metric is None else self.metric.unit

    def lookup(self, case: CaseRecord) -> tuple[float | None, bool]:
        """``(value, whether the metric's fallback supplied it)`` for ``case``."""
        if self.kind == "rounds":
            stats = case.stats.get("total_ms")
            return (None if stats is None else float(stats.n)), False
        if self.metric is None:
            return None, False
        found = case.stats.get(self.metric.name)
        if found is not None:
            return float(getattr(found, self.stat)), False
        if self.metric.fallback is not None:
            stand_in = case.stats.get(self.metric.fallback)
            if stand_in is not None:
                return float(getattr(stand_in, self.stat)), True
        return None, False

    def value(self, case: CaseRecord) -> float | None:
        """The number this column shows for ``case`` (``None``: not measured or not numeric).

        A metric with a fallback (``tokens_per_s``) shows the fallback's value where its own is
        absent; :meth:`text` marks such a cell with :data:`FALLBACK_MARK`.
        """
        return self.lookup(case)[0]

    def format_number(self, value: float) -> str:
        """``value`` with this column's precision; whole counts print without decimals."""
        if self.metric is not None and self.metric.unit == "ratio":
            return f"{value:.2f}"
        if self.direction == "none" and float(value).is_integer():
            return str(int(value))
        decimals = 1 if self.metric is None else max(1, self.metric.decimals)
        return f"{value:.{decimals}f}"

    def text(self, case: CaseRecord) -> str:
        """The plain cell text for ``case`` (no ranking), ``-`` when there is nothing to show."""
        if self.kind == "gate":
            if not case.gates:
                return "-"
            return "✔" if all(g.passed for g in case.gates) else "✘"
        if self.kind == "outcome":
            return case.outcome
        value, fell_back = self.lookup(case)
        if value is None:
            return "-"
        return self.format_number(value) + (FALLBACK_MARK if fell_back else "")


#: Marks a cell whose metric was absent and whose fallback (the client-side rate) is shown.
FALLBACK_MARK = "c"


def _metric_column(m: Metric, stat: str) -> Column:
    primary = stat == m.summary
    if primary:
        suffix = label = m.median_suffix if stat == "median" else ""
    else:
        suffix = stat
        label = _STAT_LABELS[stat] or stat
    name = f"{m.key}_{suffix}" if suffix else m.key
    header = " ".join(p for p in (m.label, label) if p)
    if m.header_unit:
        header += f" ({m.header_unit})"
    return Column(name, header, "metric", m, stat, f"{m.name} {stat}")


@cache
def _columns() -> tuple[Mapping[str, Column], Mapping[str, str]]:
    columns: dict[str, Column] = {}
    aliases: dict[str, str] = {}
    for m in REQUEST_METRICS:
        for stat in GATE_STATS:
            column = _metric_column(m, stat)
            columns[column.name] = column
        primary = _metric_column(m, m.summary).name
        names = [m.key, f"{m.key}_{m.summary}"]
        if m.summary == "median":
            names.append(f"{m.key}_p50")
        for alias in names:
            if alias != primary:
                aliases[alias] = primary
    columns["rounds"] = Column("rounds", "rounds", "rounds", description="measured rounds")
    columns["gate"] = Column("gate", "gate", "gate", description="✔ all gates held, ✘ one missed")
    columns["outcome"] = Column("outcome", "outcome", "outcome", description="pytest outcome")
    return MappingProxyType(columns), MappingProxyType(aliases)


#: Every selectable column by canonical name (``ttft``, ``ttft_p95``, ``itl_p50``, ``gate``...).
COLUMNS: Mapping[str, Column] = _columns()[0]

#: Columns shown when none are selected: the times and rates, and the work each row measured
#: (prompt tokens in, tokens out: medians of the server's counts).
DEFAULT_COLUMNS: tuple[str, ...] = (
    "ttft",
    "ttft_p95",
    "total",
    "tps",
    "prompt_tps",
    "load",
    "prompt_tokens",
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
    "prompt_tokens",
    "tokens",
    "chunks",
    "rounds",
    "gate",
)

#: The order in which columns stay when a table is wider than the terminal, most important
#: first: columns are left out from the end of this order, and columns not listed here (other
#: statistics, ``cached_tokens``, ``bytes``...) before any listed one. The sort column always
#: stays.
COLUMN_PRIORITY: tuple[str, ...] = (
    "ttft",
    "gate",
    "tps",
    "total",
    "outcome",
    "ttft_content",
    "tokens",
    "rounds",
    "ttft_p95",
    "prompt_tokens",
    "tpot",
    "itl_p50",
    "prompt_tps",
    "itl_p99",
    "load",
    "ttft_stddev",
    "chunks",
)

#: Row orders: a ranked column (best first), ``model`` (by name) or ``name`` (by node id).
SORT_KEYS: tuple[str, ...] = (
    *(name for name, c in COLUMNS.items() if c.direction != "none"),
    "model",
    "name",
)
DEFAULT_SORT = "ttft"


def width_priority(name: str) -> int:
    """Rank of column ``name`` when fitting a table to a width: 0 stays longest.

    Listed columns rank by :data:`COLUMN_PRIORITY`; every other column ranks after them.
    """
    try:
        return COLUMN_PRIORITY.index(name)
    except ValueError:
        return len(COLUMN_PRIORITY)


def column_for(name: str) -> Column | None:
    """The column ``name`` selects, accepting aliases (``itl`` → ``itl_p50``); else None."""
    key = name.strip().lower()
    return COLUMNS.get(_columns()[1].get(key, key))


def _column_choices(names: Iterable[str]) -> dict[str, str]:
    """Suggestions for a mistyped column among ``names``: the names, their aliases
    (``itl`` for ``itl_p50``) and the metric names (``tokens_per_s`` for ``tps``)."""
    chosen = set(names)
    choices = {m.name: repr(m.column) for m in REQUEST_METRICS if m.column in chosen}
    choices.update({a: repr(c) for a, c in _columns()[1].items() if c in chosen})
    choices.update({name: repr(name) for name in names})
    return choices


def _valid_columns() -> str:
    keys = ", ".join(m.key for m in REQUEST_METRICS)
    stats = ", ".join(GATE_STATS)
    return (
        f"{keys} (the median, pass_rate the mean; KEY_STAT for another statistic, STAT one of "
        f"{stats}), "
        "rounds, gate, outcome"
    )


def parse_columns(text: str) -> tuple[str, ...]:
    """Parse a comma-separated ``--ollama-columns`` value into canonical column names.

    ``model`` is always the first column and may be listed or not; duplicates are dropped.

    :raises ValueError: an unknown name (the message lists the valid ones) or an empty list.
    """
    names: list[str] = []
    unknown: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name or name == "model":
            continue
        column = column_for(name)
        if column is None:
            unknown.append(name)
        elif column.name not in names:
            names.append(column.name)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        choices = _column_choices([*COLUMNS, "model"])
        named = ", ".join(f"{name}{did_you_mean(name, choices)}" for name in unknown)
        raise ValueError(f"unknown column{plural} {named}; valid columns: {_valid_columns()}")
    if not names:
        raise ValueError(f"no columns given in {text!r}; valid columns: {_valid_columns()}")
    return tuple(names)


def parse_sort(text: str) -> str:
    """Validate a ``--ollama-sort`` value: a ranked column, ``model`` or ``name``.

    :raises ValueError: anything else (the message lists the valid keys).
    """
    key = text.strip().lower()
    if key in ("model", "name"):
        return key
    column = column_for(key)
    if column is None or column.direction == "none":
        ranked = ", ".join(m.key for m in REQUEST_METRICS if m.direction != "none")
        hint = "" if column is not None else did_you_mean(key, _column_choices(SORT_KEYS))
        raise ValueError(
            f"cannot sort by {text!r}{hint}; valid sort keys: {ranked} (or KEY_STAT for another "
            "statistic), model, name"
        )
    return column.name
