"""Statistics across rounds, computed with the standard library's :mod:`statistics`.

Percentiles interpolate linearly between closest ranks (``statistics.quantiles(...,
method="inclusive")``, NumPy's default); the standard deviation is the sample one
(``statistics.stdev``), 0 for a single value.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from collections.abc import Sequence

from .metrics import REQUEST_METRICS
from .models import Measurement
from .models import Stats

__all__ = ["percentile", "stats_over", "summarize"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True


def percentile(values: Sequence[float], q: int) -> float:
    """Percentile ``q`` (a whole number 0-100) of ``values``, interpolating between ranks.

    :raises ValueError: no values, or ``q`` not a whole number within 0..100.
    """
    if not values:
        raise ValueError("percentile() of an empty sequence")
    if q != int(q) or not 0 <= q <= 100:
        raise ValueError(f"percentile q must be a whole number within 0..100, got {q}")
    data = sorted(float(v) for v in values)
    if len(data) == 1 or q == 0:
        return data[0]
    if q == 100:
        return data[-1]
    return _cut_points(data)[int(q) - 1]


def summarize(values: Iterable[float]) -> Stats:
    """n, min, max, mean, sample stddev (0 for one value), median, p90, p95, p99.

    :raises ValueError: no values.
    """
    data = sorted(float(v) for v in values)
    n = len(data)
    if n == 0:
        raise ValueError("summarize() needs at least one value")
    if n == 1:
        only = data[0]
        return Stats(
            n=1, min=only, max=only, mean=only, stddev=0.0, median=only, p90=only, p95=only,
            p99=only,
        )  # fmt: skip
    cuts = _cut_points(data)
    return Stats(
        n=n,
        min=data[0],
        max=data[-1],
        mean=math.fsum(data) / n,
        stddev=statistics.stdev(data),
        median=statistics.median(data),
        p90=cuts[89],
        p95=cuts[94],
        p99=cuts[98],
    )


def _cut_points(data: list[float]) -> list[float]:
    """The 99 percentile cut points of sorted ``data``, kept within the data and in order.

    ``statistics.quantiles`` interpolates as ``(a * (n - d) + b * d) / n``, which can land one
    ulp outside ``[a, b]`` (even for ``a == b``); a percentile never leaves the data's range
    nor falls below a lower one.
    """
    cuts = statistics.quantiles(data, n=100, method="inclusive")
    low, high = data[0], data[-1]
    out: list[float] = []
    for cut in cuts:
        cut = min(max(cut, low), high)
        out.append(max(cut, out[-1]) if out else cut)
    return out


def stats_over(rounds: Iterable[Measurement]) -> dict[str, Stats]:
    """Statistics per registered metric over the non-warmup ``rounds``.

    A metric the server never reported in any round is left out (absent, not zero). Pooled
    metrics (``itl_ms``) are summarised over every value of every round.
    """
    measured = [m for m in rounds if not m.warmup]
    out: dict[str, Stats] = {}
    for metric in REQUEST_METRICS:
        if metric.pooled:
            values = [v for m in measured for v in getattr(m, metric.name)]
        else:
            values = [v for m in measured if (v := getattr(m, metric.name)) is not None]
        if values:
            out[metric.name] = summarize(values)
    return out
