"""The metric registry: the one vocabulary of pytest-ollama-bench.

Every metric the plugin records is defined here once: its record field (``ttft_ms``), the key of
its table columns (``ttft``), its label and unit, whether lower or higher is better, where its
value comes from (the client's clock, a server field, the wire) and its definition. Tables,
sorting, gates, baseline rules, Markdown, JUnit properties, exports and the README's metric
table all read it, so a new metric is one entry in :data:`METRICS`.

The table columns made of these metrics (``ttft`` is the median of ``ttft_ms``, ``ttft_p95``
its 95th percentile) are :mod:`pytest_ollama_bench.columns`'.

Standard library only: the option parser reads this module at pytest start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .suggest import quoted

__all__ = [
    "DIRECTED_METRICS",
    "GATE_METRICS",
    "GATE_STATS",
    "METRICS",
    "REQUEST_METRICS",
    "ROUND_METRICS",
    "RUN_METRICS",
    "STAT_CHOICES",
    "STAT_NAMES",
    "Direction",
    "Level",
    "Metric",
    "find_metric",
    "markdown_table",
    "metric",
    "metric_choices",
    "metric_direction",
    "stat_direction",
]

Direction = Literal["lower", "higher", "none"]
Source = Literal["client", "server", "wire", "check", "load"]
#: ``request``: one value per request (a round of a call, a request of a load run), summarised
#: across them; ``run``: one value per load run (a level of ``load()``/``sweep()``).
Level = Literal["request", "run"]

#: The statistics computed over rounds, in the order of :class:`~.models.Stats`' fields.
STAT_NAMES: tuple[str, ...] = ("n", "min", "max", "mean", "stddev", "median", "p90", "p95", "p99")
#: Statistics a gate or a regression rule may name (``n`` is not a performance number).
GATE_STATS: tuple[str, ...] = tuple(s for s in STAT_NAMES if s != "n")
#: Suggestions for a mistyped statistic: the statistics themselves, and what other tools call
#: some of them (``p50`` is the median).
STAT_CHOICES: Mapping[str, str] = MappingProxyType(
    {"p50": "'median'", "avg": "'mean'", "std": "'stddev'", "sd": "'stddev'", **quoted(GATE_STATS)}
)
_SOURCE_TEXT: Mapping[str, str] = MappingProxyType(
    {
        "client": "client clock",
        "server": "server field",
        "wire": "wire",
        "check": "check=",
        "load": "load run",
    }
)


@dataclass(frozen=True)
class Metric:
    """One recorded quantity.

    :ivar name: the field of :class:`~.models.Measurement` and the key of ``stats`` dicts.
    :ivar key: the column key (``ttft``); ``key_STAT`` names its other statistics.
    :ivar label: the column header without statistic and unit (``ttft``, ``tok/s``).
    :ivar unit: the unit of a value: ``ms``, ``tok/s``, ``tokens``, ``bytes``, ``ratio`` (a
        share from 0 to 1) or ``""``.
    :ivar direction: ``lower`` or ``higher`` is better, or ``none`` (a count or a share: never
        ranked or compared as a regression; gated only with an explicit ``<=``/``>=``).
    :ivar source: ``client`` (the client's clock), ``server`` (a field of the server's final
        record), ``wire`` (what crossed the network), ``check`` (the test's ``check=``) or
        ``load`` (counted over a whole load run).
    :ivar definition: how the value is obtained (the README's metric table).
    :ivar pooled: one value per gap (``itl_ms``), pooled over every round, not one per round.
    :ivar median_suffix: the statistic label its median column carries (``itl p50``).
    :ivar summary: the statistic its bare column shows and a gate without a statistic checks
        when the marker names none (``median``; ``mean`` for a 0/1 outcome such as
        ``pass_rate``).
    :ivar fallback: a metric that stands in where this one is absent (the client-side decode
        rate for the server's): tables mark such a cell, gates say so.
    :ivar level: ``request`` (a field of :class:`~.models.Measurement`, summarised across
        rounds or requests) or ``run`` (one number per load run, a field of
        :class:`~.models.LoadRecord`: no statistic, gated as it is).
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
    summary: str = "median"
    fallback: str | None = None
    level: Level = "request"

    @property
    def header_unit(self) -> str:
        """The unit shown in a header after the label (rates and counts carry it in the label)."""
        return "ms" if self.unit == "ms" else ""

    @property
    def decimals(self) -> int:
        """Digits after the decimal point in tables."""
        if self.unit == "ratio":
            return 2
        return 1 if self.direction != "none" else 0

    @property
    def column(self) -> str:
        """The name of its main column: the key (``itl_p50`` for a pooled metric)."""
        if self.summary == "median" and self.median_suffix:
            return f"{self.key}_{self.median_suffix}"
        return self.key

    @property
    def source_text(self) -> str:
        """Where the value comes from, as the README's metric table says it."""
        return _SOURCE_TEXT[self.source]


# fmt: off
METRICS: tuple[Metric, ...] = (
    Metric("ttft_ms", "ttft", "ttft", "ms", "lower", "client",
           "request sent → first chunk carrying output: non-empty content or thinking, or a "
           "tool call (empty chunks never count); for a reasoning model its first thinking "
           "token"),
    Metric("ttft_content_ms", "ttft_content", "ttft content", "ms", "lower", "client",
           "request sent → first chunk with non-empty answer content (the first answer token)"),
    Metric("ttft_thinking_ms", "ttft_thinking", "ttft thinking", "ms", "lower", "client",
           "request sent → first chunk with non-empty thinking (the first reasoning token)"),
    Metric("last_token_ms", "last_token", "last token", "ms", "lower", "client",
           "request sent → last chunk carrying output (content, thinking or a tool call); a "
           "usage-only or final record after it does not move it"),
    Metric("total_ms", "total", "total", "ms", "lower", "client",
           "request sent → final record received (`done: true`; OpenAI: `data: [DONE]`)"),
    Metric("tpot_ms", "tpot", "tpot", "ms", "lower", "client",
           "time per output token: (last_token − ttft) / (eval_count − 1)"),
    Metric("itl_ms", "itl", "itl", "ms", "lower", "client",
           "gaps between successive chunks carrying output (pooled over rounds)",
           pooled=True, median_suffix="p50"),
    Metric("tokens_per_s", "tps", "tok/s", "tok/s", "higher", "server",
           "server decode rate: eval_count / eval_duration × 10⁹ (OpenAI: llama.cpp's "
           "`timings.predicted_n` / `predicted_ms`); where the server sends no duration, "
           "tables show `client_tokens_per_s` marked `c` and gates use it",
           fallback="client_tokens_per_s"),
    Metric("client_tokens_per_s", "client_tps", "client tok/s", "tok/s", "higher", "client",
           "client-side decode rate: (eval_count − 1) / (last_token − ttft) × 10³, from the "
           "server's output token count (OpenAI: `usage.completion_tokens`) and client "
           "timestamps"),
    Metric("prompt_tokens_per_s", "prompt_tps", "prompt tok/s", "tok/s", "higher", "server",
           "prefill rate of the processed prompt tokens: (prompt_eval_count − "
           "prompt_cached_count) / prompt_eval_duration × 10⁹ (Ollama's rule; cache hits are "
           "not prefilled); OpenAI: the same from `usage` and llama.cpp's `timings` "
           "(= `prompt_n` / `prompt_ms`)"),
    Metric("load_ms", "load", "load", "ms", "lower", "server",
           "`load_duration`: a cold start and the scheduler's queue show here, not the wait "
           "for a parallel slot (that is only in total and TTFT)"),
    Metric("queue_ms", "queue", "queue", "ms", "lower", "server",
           "`total_duration` − (`load_duration` + `prompt_eval_duration` + `eval_duration`), an "
           "absent one counted as 0 (Ollama omits zeros): the wait for a parallel slot plus the "
           "server's own overhead; only where the server reports `total_duration` (native API)"),
    Metric("prompt_eval_ms", "prompt_eval", "prompt eval", "ms", "lower", "server",
           "`prompt_eval_duration`: prefill of the uncached prompt tokens"),
    Metric("eval_ms", "eval", "eval", "ms", "lower", "server",
           "`eval_duration`: decoding, from the first sampled token to the last"),
    Metric("eval_count", "tokens", "tokens", "tokens", "none", "server",
           "`eval_count` (OpenAI: `usage.completion_tokens`): generated tokens (no tokenizer "
           "needed)"),
    Metric("prompt_eval_count", "prompt_tokens", "prompt tokens", "tokens", "none", "server",
           "`prompt_eval_count` (OpenAI: `usage.prompt_tokens`): prompt tokens, cached ones "
           "included"),
    Metric("prompt_cached_count", "cached_tokens", "cached tokens", "tokens", "none", "server",
           "`prompt_eval_cached_count` (OpenAI: `usage.prompt_tokens_details.cached_tokens`, "
           "else llama.cpp's `timings.cache_n`): prompt tokens served from the cache; null "
           "when the server does not say"),
    Metric("prompt_cache_ratio", "cache_hit", "cache hit", "ratio", "none", "server",
           "prompt_cached_count / prompt_eval_count: the share of the prompt served from the "
           "cache (0 to 1)"),
    Metric("pass_rate", "pass_rate", "pass rate", "ratio", "higher", "check",
           "share of rounds whose answer passed the call's `check=` (1 or 0 per round; its "
           "column and gate use the mean over rounds)",
           summary="mean"),
    Metric("chunks", "chunks", "chunks", "", "none", "wire",
           "stream records received"),
    Metric("bytes", "bytes", "bytes", "bytes", "none", "wire",
           "response body bytes received"),
    Metric("request_throughput", "req_s", "req/s", "req/s", "higher", "load",
           "run-level: completed requests / the run's wall time (first measured request sent → "
           "last one ended; warmup requests left out)",
           summary="value", level="run"),
    Metric("output_throughput", "out_tps", "out tok/s", "tok/s", "higher", "load",
           "run-level: Σ `eval_count` of the completed requests / the run's wall time (the "
           "server's token counts, no tokenizer)",
           summary="value", level="run"),
    Metric("goodput", "goodput", "goodput", "req/s", "higher", "load",
           "run-level: requests that met every SLO of `slo=` (each request on its own, p100, as "
           "vLLM and aiperf count) and whose answer passed `check=` / the run's wall time; "
           "absent without `slo=` or `check=`",
           summary="value", level="run"),
    Metric("slo_attainment", "slo", "slo met", "ratio", "higher", "load",
           "run-level: share of the run's requests, failed ones included, that goodput counts "
           "(0 to 1); absent without `slo=` or `check=`",
           summary="value", level="run"),
    Metric("error_rate", "err", "err rate", "ratio", "lower", "load",
           "run-level: failed requests / requests sent (warmup left out); the record counts them "
           "by kind (`http_503` queue full, `timeout`, `stream_error`, ...)",
           summary="value", level="run"),
)
# fmt: on

_BY_NAME: Mapping[str, Metric] = MappingProxyType({m.name: m for m in METRICS})

#: The per-request metrics (fields of a Measurement), summarised across rounds or requests.
REQUEST_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.level == "request")
#: The run-level metrics: one number per load run (a level of ``load()``/``sweep()``).
RUN_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.level == "run")
#: Per-round scalar metrics summarised across rounds (pooled metrics are summarised per gap).
ROUND_METRICS: tuple[str, ...] = tuple(m.name for m in REQUEST_METRICS if not m.pooled)
#: Per-request metrics that are better when lower or higher: ranked and compared against
#: baselines (a gate with a bare limit takes any metric's direction).
DIRECTED_METRICS: tuple[str, ...] = tuple(m.name for m in REQUEST_METRICS if m.direction != "none")
#: Every metric a gate may name (counts and shares need an explicit ``<=``/``>=``).
GATE_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS)


def metric(name: str) -> Metric:
    """The registered metric called ``name``.

    :raises KeyError: no such metric.
    """
    return _BY_NAME[name]


def find_metric(name: str) -> Metric | None:
    """The registered metric called ``name``, or None."""
    return _BY_NAME.get(name)


def metric_choices(metrics: Iterable[Metric] = METRICS) -> dict[str, str]:
    """Suggestions for a mistyped metric name among ``metrics``: each metric's name, and its
    column key (``ttft``, ``tps``) for it."""
    chosen = list(metrics)
    return {**{m.key: repr(m.name) for m in chosen}, **quoted(m.name for m in chosen)}


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


def markdown_table() -> list[str]:
    """The README's metric table, one row per registered metric (the README is checked)."""
    rows = [
        "| metric | column | unit | better | source | definition |",
        "|---|---|---|---|---|---|",
    ]
    for m in METRICS:
        column = m.column
        better = {"lower": "lower", "higher": "higher", "none": "—"}[m.direction]
        rows.append(
            f"| `{m.name}` | `{column}` | {m.unit or '—'} | {better} | {m.source_text} | "
            f"{m.definition} |"
        )
    return rows
