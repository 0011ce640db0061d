"""The metric registry: the one vocabulary of pytest-ollama-bench.

Every metric the plugin records is defined here once: its record field (``ttft_ms``), the key of
its table columns (``ttft``), its label and unit, whether lower or higher is better, where its
value comes from (the client's clock, a server field, the wire) and its definition. Tables,
sorting, gates, baseline rules, Markdown, JUnit properties, exports and the README's metric
table all read it, so a new metric is one entry in :data:`METRICS`.

A table column is a metric and a statistic across rounds: ``ttft`` is the median of
``ttft_ms``, ``ttft_p95`` its 95th percentile, ``ttft_stddev`` its spread. Three columns are not
metrics: ``rounds`` (measured rounds), ``gate`` (the case's gate verdict) and ``outcome``.

Standard library only: the option parser reads this module at pytest start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING
from typing import Literal

if TYPE_CHECKING:
    from .models import CaseRecord

__all__ = [
    "COLUMNS",
    "DEFAULT_COLUMNS",
    "DEFAULT_SORT",
    "DIRECTED_METRICS",
    "GATE_STATS",
    "METRICS",
    "ROUND_METRICS",
    "SORT_KEYS",
    "STAT_NAMES",
    "VERBOSE_COLUMNS",
    "Column",
    "Direction",
    "Metric",
    "column_for",
    "markdown_table",
    "metric",
    "metric_direction",
    "parse_columns",
    "parse_sort",
    "stat_direction",
]

Direction = Literal["lower", "higher", "none"]
Source = Literal["client", "server", "wire"]
Kind = Literal["metric", "rounds", "gate", "outcome"]

#: The statistics computed over rounds, in the order of :class:`~.models.Stats`' fields.
STAT_NAMES: tuple[str, ...] = ("n", "min", "max", "mean", "stddev", "median", "p90", "p95", "p99")
#: Statistics a gate or a regression rule may name (``n`` is not a performance number).
GATE_STATS: tuple[str, ...] = tuple(s for s in STAT_NAMES if s != "n")
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
class Metric:
    """One recorded quantity.

    :ivar name: the field of :class:`~.models.Measurement` and the key of ``stats`` dicts.
    :ivar key: the column key (``ttft``); ``key_STAT`` names its other statistics.
    :ivar label: the column header without statistic and unit (``ttft``, ``tok/s``).
    :ivar unit: the unit of a value: ``ms``, ``tok/s``, ``tokens``, ``bytes`` or ``""``.
    :ivar direction: ``lower`` or ``higher`` is better, or ``none`` (a count: never ranked,
        gated or compared as a regression).
    :ivar source: ``client`` (the client's clock), ``server`` (a field of the server's final
        record) or ``wire`` (what crossed the network).
    :ivar definition: how the value is obtained (the README's metric table).
    :ivar pooled: one value per gap (``itl_ms``), pooled over every round, not one per round.
    :ivar median_suffix: the statistic label its median column carries (``itl p50``).
    """

    name: str
    key: str
    label: str
    unit: str
    direction: Direction
    source: Source
    definition: str
    pooled: bool = False
    median_suffix: str = ""

    @property
    def header_unit(self) -> str:
        """The unit shown in a header after the label (rates and counts carry it in the label)."""
        return "ms" if self.unit == "ms" else ""

    @property
    def decimals(self) -> int:
        """Digits after the decimal point in tables."""
        return 1 if self.direction != "none" else 0


# fmt: off
METRICS: tuple[Metric, ...] = (
    Metric("ttft_ms", "ttft", "ttft", "ms", "lower", "client",
           "request sent → first chunk whose content or thinking is non-empty (empty chunks "
           "never count)"),
    Metric("ttft_content_ms", "ttft_content", "ttft content", "ms", "lower", "client",
           "request sent → first chunk with non-empty answer content"),
    Metric("ttft_thinking_ms", "ttft_thinking", "ttft thinking", "ms", "lower", "client",
           "request sent → first chunk with non-empty thinking"),
    Metric("total_ms", "total", "total", "ms", "lower", "client",
           "request sent → final `done: true` chunk received"),
    Metric("tpot_ms", "tpot", "tpot", "ms", "lower", "client",
           "time per output token: (total − ttft) / (eval_count − 1)"),
    Metric("itl_ms", "itl", "itl", "ms", "lower", "client",
           "gaps between successive non-empty chunks (pooled over rounds)",
           pooled=True, median_suffix="p50"),
    Metric("tokens_per_s", "tps", "tok/s", "tok/s", "higher", "server",
           "decode rate: eval_count / eval_duration × 10⁹"),
    Metric("prompt_tokens_per_s", "prompt_tps", "prompt tok/s", "tok/s", "higher", "server",
           "prefill rate: prompt_eval_count / prompt_eval_duration × 10⁹"),
    Metric("load_ms", "load", "load", "ms", "lower", "server",
           "`load_duration`: a cold start and the scheduler's queue show here, not the wait "
           "for a parallel slot (that is only in total and TTFT)"),
    Metric("prompt_eval_ms", "prompt_eval", "prompt eval", "ms", "lower", "server",
           "`prompt_eval_duration`: prefill of the uncached prompt tokens"),
    Metric("eval_ms", "eval", "eval", "ms", "lower", "server",
           "`eval_duration`: decoding, from the first sampled token to the last"),
    Metric("eval_count", "tokens", "tokens", "tokens", "none", "server",
           "`eval_count`: generated tokens (no tokenizer needed)"),
    Metric("prompt_eval_count", "prompt_tokens", "prompt tokens", "tokens", "none", "server",
           "`prompt_eval_count`: prompt tokens, cached ones included"),
    Metric("chunks", "chunks", "chunks", "", "none", "wire",
           "stream records received"),
    Metric("bytes", "bytes", "bytes", "bytes", "none", "wire",
           "response body bytes received"),
)
# fmt: on

_BY_NAME: Mapping[str, Metric] = MappingProxyType({m.name: m for m in METRICS})

#: Per-round scalar metrics summarised across rounds (pooled metrics are summarised per gap).
ROUND_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if not m.pooled)
#: Metrics that are better when lower or higher: gateable, ranked, compared against baselines.
DIRECTED_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.direction != "none")


def metric(name: str) -> Metric:
    """The registered metric called ``name``.

    :raises KeyError: no such metric.
    """
    return _BY_NAME[name]


def metric_direction(name: str) -> Direction:
    """``lower``/``higher`` is better for ``name``, ``none`` for counts and unknown names."""
    found = _BY_NAME.get(name)
    return "none" if found is None else found.direction


def stat_direction(name: str, stat: str) -> Direction:
    """Direction of one statistic of ``name``: a smaller spread (stddev) is always better."""
    direction = metric_direction(name)
    if direction != "none" and stat == "stddev":
        return "lower"
    if stat == "n":
        return "none"
    return direction


# --------------------------------------------------------------------------- columns


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

    def value(self, case: CaseRecord) -> float | None:
        """The number this column shows for ``case`` (``None``: not measured or not numeric)."""
        if self.kind == "rounds":
            stats = case.stats.get("total_ms")
            return None if stats is None else float(stats.n)
        if self.metric is None:
            return None
        found = case.stats.get(self.metric.name)
        return None if found is None else float(getattr(found, self.stat))

    def format_number(self, value: float) -> str:
        """``value`` with this column's precision; whole counts print without decimals."""
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
        value = self.value(case)
        return "-" if value is None else self.format_number(value)


def _metric_column(m: Metric, stat: str) -> Column:
    suffix = m.median_suffix if stat == "median" else stat
    name = f"{m.key}_{suffix}" if suffix else m.key
    label = m.median_suffix if stat == "median" else _STAT_LABELS[stat]
    header = " ".join(p for p in (m.label, label) if p)
    if m.header_unit:
        header += f" ({m.header_unit})"
    what = "median" if stat == "median" else stat
    return Column(name, header, "metric", m, stat, f"{m.name} {what}")


@cache
def _columns() -> tuple[Mapping[str, Column], Mapping[str, str]]:
    columns: dict[str, Column] = {}
    aliases: dict[str, str] = {}
    for m in METRICS:
        for stat in GATE_STATS:
            column = _metric_column(m, stat)
            columns[column.name] = column
        median = _metric_column(m, "median").name
        for alias in (m.key, f"{m.key}_median", f"{m.key}_p50"):
            if alias != median:
                aliases[alias] = median
    columns["rounds"] = Column("rounds", "rounds", "rounds", description="measured rounds")
    columns["gate"] = Column("gate", "gate", "gate", description="✔ all gates held, ✘ one missed")
    columns["outcome"] = Column("outcome", "outcome", "outcome", description="pytest outcome")
    return MappingProxyType(columns), MappingProxyType(aliases)


#: Every selectable column by canonical name (``ttft``, ``ttft_p95``, ``itl_p50``, ``gate``...).
COLUMNS: Mapping[str, Column] = _columns()[0]

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

#: Row orders: a ranked column (best first), ``model`` (by name) or ``name`` (by node id).
SORT_KEYS: tuple[str, ...] = (
    *(name for name, c in COLUMNS.items() if c.direction != "none"),
    "model",
    "name",
)
DEFAULT_SORT = "ttft"


def column_for(name: str) -> Column | None:
    """The column ``name`` selects, accepting aliases (``itl`` → ``itl_p50``); else None."""
    key = name.strip().lower()
    return COLUMNS.get(_columns()[1].get(key, key))


def _valid_columns() -> str:
    keys = ", ".join(m.key for m in METRICS)
    stats = ", ".join(s for s in GATE_STATS if s != "median")
    return (
        f"{keys} (the median; KEY_STAT for another statistic, STAT one of {stats}), "
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
        raise ValueError(
            f"unknown column{plural} {', '.join(unknown)}; valid columns: {_valid_columns()}"
        )
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
        ranked = ", ".join(m.key for m in METRICS if m.direction != "none")
        raise ValueError(
            f"cannot sort by {text!r}; valid sort keys: {ranked} (or KEY_STAT for another "
            "statistic), model, name"
        )
    return column.name


def markdown_table() -> list[str]:
    """The README's metric table, one row per registered metric (the README is checked)."""
    rows = [
        "| metric | column | unit | better | source | definition |",
        "|---|---|---|---|---|---|",
    ]
    for m in METRICS:
        column = _metric_column(m, "median").name
        better = {"lower": "lower", "higher": "higher", "none": "—"}[m.direction]
        source = {"client": "client clock", "server": "server field", "wire": "wire"}[m.source]
        rows.append(
            f"| `{m.name}` | `{column}` | {m.unit or '—'} | {better} | {source} | {m.definition} |"
        )
    return rows
