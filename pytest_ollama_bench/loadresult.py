"""A load run's numbers from its requests, what ``load()`` and ``sweep()`` return, the SLOs and
the saturation rule.

Pure: no pytest, no I/O. :func:`summarize` turns the requests of one run (each with its
measurement or its error) into a :class:`~.models.LoadRecord`: counts, errors by kind, wall
time, request and output throughput, the statistics of every per-request metric, and, with
SLOs or a check, goodput and attainment. :class:`LoadResult` and :class:`SweepResult` are the
test's view of records.

Definitions (the metric registry has them too):

* the run's wall time runs from the first measured request sent to the last one ended (warmup
  requests are left out); ``request_throughput`` = completed / wall time, ``output_throughput``
  = Σ ``eval_count`` of the completed requests / wall time (the server's counts);
* an SLO is a limit on one per-request metric that every request must meet on its own (p100,
  as vLLM's ``--goodput`` and aiperf's goodput count): ``<=`` for lower-is-better metrics,
  ``>=`` for higher-is-better ones. A request with one output token has no ``tpot_ms``: it
  meets a ``tpot_ms`` SLO (vLLM counts its TPOT as 0); any other metric it lacks misses;
* a request is *good* when it completed, met every SLO and its answer passed ``check=``;
  ``goodput`` = good requests / wall time, ``slo_attainment`` = good / requests sent (a failed
  request is not good);
* saturation (:func:`saturation_level`): the first level after which request throughput grows
  by less than 10 % while the p99 TTFT keeps growing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .metrics import REQUEST_METRICS
from .metrics import find_metric
from .metrics import metric_choices
from .models import LoadRecord
from .models import LoadRequestRecord
from .models import Measurement
from .models import Stats
from .stats import stats_over
from .suggest import did_you_mean

__all__ = [
    "SATURATION_GROWTH",
    "SLO_METRICS",
    "CheckFailure",
    "LoadFailure",
    "LoadResult",
    "Slo",
    "SweepResult",
    "parse_slo",
    "saturation_level",
    "summarize",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

#: Metrics an SLO may name: per-request, one value per request, better lower or higher.
SLO_METRICS: tuple[str, ...] = tuple(
    m.name for m in REQUEST_METRICS if not m.pooled and m.direction != "none"
)
#: Saturation: the next level's throughput is below this multiple of the level's.
SATURATION_GROWTH = 1.10


@dataclass(frozen=True)
class Slo:
    """Every request's ``metric`` must be ``<= limit`` (lower is better) or ``>= limit``."""

    metric: str
    limit: float
    op: str

    def miss(self, measurement: Measurement) -> str | None:
        """Why ``measurement`` misses this SLO (``ttft_ms 2312.4 > 2000``), or None."""
        value = getattr(measurement, self.metric)
        if value is None:
            if self.metric == "tpot_ms" and (measurement.eval_count or 0) <= 1:
                return None  # one output token: no time per output token, as vLLM counts it
            return f"{self.metric} not reported"
        ok = value <= self.limit if self.op == "<=" else value >= self.limit
        if ok:
            return None
        verdict = ">" if self.op == "<=" else "<"
        return f"{self.metric} {value:.1f} {verdict} {self.limit:g}"


def parse_slo(slo: Mapping[str, Any] | None) -> tuple[Slo, ...]:
    """``{"ttft_ms": 2000, "tpot_ms": 100}`` -> :class:`Slo` rules.

    :raises ValueError: a metric no SLO can name (the message lists the valid ones) or a limit
        that is not a positive finite number.
    :raises TypeError: ``slo`` is not a mapping.
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    if slo is None:
        return ()
    if not isinstance(slo, Mapping):
        raise TypeError(f"slo= must be a dict such as {{'ttft_ms': 2000}}, got {slo!r}")
    rules = []
    for name, limit in slo.items():
        found = find_metric(str(name))
        if found is None or found.name not in SLO_METRICS:
            choices = metric_choices(m for m in REQUEST_METRICS if m.name in SLO_METRICS)
            hint = did_you_mean(str(name), choices)
            raise ValueError(
                f"slo= names {name!r}{hint}, which is no per-request metric with a direction; "
                f"one of {', '.join(SLO_METRICS)}"
            )
        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
            raise ValueError(f"slo[{name!r}] must be a number, got {limit!r}")
        if not math.isfinite(limit) or limit <= 0:
            raise ValueError(f"slo[{name!r}] must be a positive finite number, got {limit!r}")
        op = "<=" if found.direction == "lower" else ">="
        rules.append(Slo(found.name, float(limit), op))
    return tuple(rules)


def _judged(request: LoadRequestRecord, slos: Sequence[Slo], checked: bool) -> LoadRequestRecord:
    if request.warmup or not (slos or checked):
        return request
    m = request.measurement
    if m is None:
        return request.model_copy(update={"good": False})
    misses = [miss for slo in slos if (miss := slo.miss(m)) is not None]
    passed = m.pass_rate is None or m.pass_rate == 1.0
    return request.model_copy(update={"good": not misses and passed, "slo_misses": misses})


def summarize(
    base: LoadRecord,
    requests: Sequence[LoadRequestRecord],
    *,
    slos: Sequence[Slo] = (),
    checked: bool = False,
    max_in_flight: int = 0,
    stopped: str | None = None,
) -> LoadRecord:
    """``base`` (what the run asked for) completed with the numbers of ``requests``.

    :param requests: every request, warmup ones included (marked); their times are ms from
        the start of the measured phase, so an open loop's achieved rate counts from there.
    :param slos: the run's SLOs (each request is judged, see the module).
    :param checked: whether the run had a ``check=`` (its outcome is on each measurement).
    """
    judged = [_judged(r, slos, checked) for r in requests]
    measured = [r for r in judged if not r.warmup]
    done = [r.measurement for r in measured if r.measurement is not None]
    errors: dict[str, int] = {}
    for r in measured:
        if r.measurement is None:
            kind = r.error_kind or "error"
            errors[kind] = errors.get(kind, 0) + 1
    sent = len(measured)
    duration = None
    if measured:
        span_ms = max(r.ended_ms for r in measured) - min(r.sent_ms for r in measured)
        duration = span_ms / 1000.0 if span_ms > 0 else None
    achieved = None
    if base.mode == "rate" and measured:
        last = max(r.sent_ms for r in measured)
        achieved = sent / (last / 1000.0) if last > 0 else None
    good = sum(1 for r in measured if r.good)
    judging = bool(slos) or checked

    def per_s(count: float) -> float | None:
        return None if duration is None else count / duration

    return base.model_copy(
        update={
            "sent": sent,
            "completed": len(done),
            "failed": sent - len(done),
            "errors": dict(sorted(errors.items())),
            "duration_s": duration,
            "achieved_rate": achieved,
            "request_throughput": per_s(len(done)) if done else (0.0 if sent else None),
            "output_throughput": per_s(sum(m.eval_count or 0 for m in done)) if done else None,
            "goodput": per_s(good) if judging and sent else None,
            "slo_attainment": good / sent if judging and sent else None,
            "error_rate": (sent - len(done)) / sent if sent else None,
            "max_in_flight": max_in_flight,
            "stats": stats_over(done),
            "stopped": stopped,
            "requests": judged,
        }
    )


def saturation_level(records: Sequence[LoadRecord]) -> float | None:
    """The level of ``records`` (levels in increasing order) at which the server saturates.

    The first level after which request throughput grows by less than 10 %
    (:data:`SATURATION_GROWTH`) while the p99 TTFT keeps growing; None when no level is.
    """
    for here, after in itertools.pairwise(records):
        rate, next_rate = here.request_throughput, after.request_throughput
        ttft, next_ttft = here.stats.get("ttft_ms"), after.stats.get("ttft_ms")
        if rate is None or next_rate is None or ttft is None or next_ttft is None:
            continue
        if next_rate < SATURATION_GROWTH * rate and next_ttft.p99 > ttft.p99:
            return here.level
    return None


# --------------------------------------------------------------------------- the test's view


@dataclass(frozen=True)
class LoadFailure:
    """A measured request that failed: its number, error kind and message."""

    index: int
    kind: str
    error: str


@dataclass(frozen=True)
class CheckFailure:
    """A completed request whose answer failed ``check=``: why, and the answer."""

    index: int
    error: str
    answer: str


class LoadResult:
    """What one load run measured (``ollama_bench.load()``, or one level of a sweep).

    :ivar mode: ``concurrency`` (closed loop) or ``rate`` (open loop); :attr:`level` its value.
    :ivar completed: measured requests that completed; :ivar failed: those that failed, by kind
        in :attr:`errors` (``{"http_503": 3, "timeout": 1}``) and one by one in
        :attr:`failures`.
    :ivar duration_s: wall time, first measured request sent -> last ended (s).
    :ivar request_throughput: completed requests/s over :attr:`duration_s`.
    :ivar output_throughput: generated tokens/s (the server's ``eval_count``) over it.
    :ivar achieved_rate: open loop: requests sent per second (None for a closed loop).
    :ivar stats: per-request metric -> :class:`~.models.Stats` over the completed requests
        (``ttft_ms``, ``tpot_ms``, ``itl_ms``, ``last_token_ms``, ``total_ms``, ``queue_ms``
        where the server reports it, ...).
    :ivar max_in_flight: the most measured requests in flight at once (client side).
    :ivar measurements: every completed measured request's :class:`~.models.Measurement`.
    :ivar goodput: good requests/s (met every SLO, passed ``check=``); None without either.
    :ivar slo_attainment: good requests / requests sent (0 to 1); None without either.
    :ivar check_failures: the answers that failed ``check=``, with why.
    :ivar stopped: why the run ended before its limits (the prompts ran out, a fatal error).
    :ivar record: the run's :class:`~.models.LoadRecord` (what the JSON keeps).
    """

    def __init__(self, record: LoadRecord) -> None:
        self.record = record
        self.model = record.model
        self.mode = record.mode
        self.level = record.level
        self.concurrency = record.concurrency
        self.rate = record.rate
        self.completed = record.completed
        self.failed = record.failed
        self.errors: dict[str, int] = dict(record.errors)
        self.duration_s = record.duration_s
        self.request_throughput = record.request_throughput
        self.output_throughput = record.output_throughput
        self.achieved_rate = record.achieved_rate
        self.goodput = record.goodput
        self.slo_attainment = record.slo_attainment
        self.error_rate = record.error_rate
        self.max_in_flight = record.max_in_flight
        self.stats: dict[str, Stats] = dict(record.stats)
        self.stopped = record.stopped
        measured = [r for r in record.requests if not r.warmup]
        self.measurements: list[Measurement] = [
            r.measurement for r in measured if r.measurement is not None
        ]
        self.failures: list[LoadFailure] = [
            LoadFailure(r.index, r.error_kind or "error", r.error or "")
            for r in measured
            if r.measurement is None
        ]
        self.check_failures: list[CheckFailure] = [
            CheckFailure(r.index, r.measurement.check_error or "", r.measurement.text)
            for r in measured
            if r.measurement is not None and r.measurement.pass_rate == 0.0
        ]

    def __repr__(self) -> str:
        rate = self.request_throughput
        shown = "-" if rate is None else f"{rate:.2f}"
        return (
            f"<LoadResult {self.model} {self.mode} {self.level:g}: {self.completed} completed, "
            f"{self.failed} failed, {shown} req/s>"
        )


class SweepResult:
    """The levels of one ``ollama_bench.sweep()``, in increasing order.

    :ivar axis: ``concurrency`` or ``rate``.
    :ivar levels: one :class:`LoadResult` per level.
    :ivar saturation: the level at which the server saturates (see :func:`saturation_level`),
        None when it did not within the levels run.
    """

    def __init__(self, results: Sequence[LoadResult]) -> None:
        self.levels: list[LoadResult] = list(results)
        self.axis = self.levels[0].mode if self.levels else "concurrency"
        self.saturation: float | None = saturation_level([r.record for r in self.levels])

    def __len__(self) -> int:
        return len(self.levels)

    def __iter__(self) -> Iterator[LoadResult]:
        return iter(self.levels)

    def __getitem__(self, index: int) -> LoadResult:
        return self.levels[index]

    def level(self, value: float) -> LoadResult:
        """The result of the level ``value`` (a concurrency or a rate).

        :raises KeyError: no such level.
        """
        for result in self.levels:
            if result.level == value:
                return result
        raise KeyError(f"no level {value!r}; levels: {[r.level for r in self.levels]}")

    def __repr__(self) -> str:
        shown = [f"{r.level:g}" for r in self.levels]
        return f"<SweepResult {self.axis} {', '.join(shown)}; saturation {self.saturation}>"
