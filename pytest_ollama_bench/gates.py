"""Gates: thresholds on a case's statistics that fail the test when missed.

Pure: no pytest import. A threshold comes from the ``llm_bench`` marker or from the command
line; the marker's wins for the same threshold. A threshold whose metric the server never
reported fails: the gate cannot be shown to hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from .models import GateResult
from .models import Stats
from .settings import Settings
from .spec import THRESHOLDS

__all__ = ["evaluate_gates"]


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def evaluate_gates(
    model: str,
    stats: Mapping[str, Stats],
    rounds: int,
    *,
    marker: Mapping[str, float],
    stat: str,
    settings: Settings,
) -> list[GateResult]:
    """Check every threshold in force for one model's case.

    :param stats: the case's statistics over its measured rounds (metric name -> Stats).
    :param rounds: how many measured rounds they cover (named in the messages).
    :param marker: the marker's thresholds by name; the command line's apply where absent.
    :param stat: the statistic every threshold is checked against (``median`` by default).
    :returns: one :class:`GateResult` per threshold in force, in :data:`THRESHOLDS` order.
    """
    results: list[GateResult] = []
    where = f"({model}, {rounds} round{'s' if rounds != 1 else ''})"
    for threshold in THRESHOLDS:
        limit: float | None = marker.get(threshold.name)
        source: Literal["marker", "option"] = "marker"
        if limit is None:
            limit = getattr(settings, threshold.name)
            source = "option"
        if limit is None:
            continue
        found = stats.get(threshold.metric)
        if found is None:
            value = None
            passed = False
            message = (
                f"{threshold.metric} was not reported by the server {where}; "
                f"cannot check {threshold.name} {limit:g}"
            )
        else:
            value = float(getattr(found, stat))
            passed = value <= limit if threshold.op == "<=" else value >= limit
            verdict = threshold.op if passed else (">" if threshold.op == "<=" else "<")
            message = (
                f"{threshold.metric} {stat} {_fmt(value)} {verdict} {threshold.name} {limit:g} "
                f"{where}"
            )
        results.append(
            GateResult(
                metric=threshold.metric,
                stat=stat,
                op=threshold.op,
                limit=limit,
                threshold=threshold.name,
                source=source,
                value=value,
                rounds=rounds,
                passed=passed,
                message=message,
            )
        )
    return results
