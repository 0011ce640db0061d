"""Regression rules against a baseline run (``--ollama-compare-fail``).

Pure, standard library only (the option parser reads it at start-up). Rules are direction-aware
(times must not grow, rates must not shrink, a spread must not grow), relative (``%``) or, for
times, absolute (``ms``/``s``). Metric names, directions and units come from the registry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

from .metrics import DIRECTED_METRICS
from .metrics import GATE_STATS
from .metrics import METRICS
from .metrics import STAT_CHOICES
from .metrics import metric
from .metrics import metric_choices
from .metrics import stat_direction
from .suggest import did_you_mean

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

    from .models import CaseRecord
    from .models import Report

__all__ = ["CompareFail", "Regression", "find_regressions", "parse_compare_fail"]

_COMPARE_FAIL = re.compile(
    r"^(?P<metric>[a-z_]+)(?:\.(?P<stat>[a-z0-9]+))?"
    r":(?P<amount>\d+(?:\.\d*)?|\.\d+)(?P<unit>%|ms|s)$"
)


def _compare_fail_help() -> str:
    return (
        "expected METRIC[.STAT]:N% or, for *_ms metrics, METRIC[.STAT]:Nms or :Ns "
        "(e.g. ttft_ms:10%, tokens_per_s:15%, total_ms:200ms, ttft_ms.p95:20%); "
        f"METRIC one of {', '.join(DIRECTED_METRICS)}; "
        f"STAT one of {', '.join(GATE_STATS)} (default median)"
    )


@dataclass(frozen=True)
class CompareFail:
    """A regression rule: ``stat`` of ``metric`` may worsen by at most ``amount`` ``unit``.

    In a run record a rule is its expression string (``ttft_ms:10%``).
    """

    metric: str
    stat: str
    amount: float
    unit: Literal["%", "ms"]
    expr: str

    def __str__(self) -> str:
        return self.expr

    @property
    def limit_text(self) -> str:
        """``10%`` or ``200 ms``."""
        return f"{self.amount:g}%" if self.unit == "%" else f"{self.amount:g} ms"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """Validate from an expression string (or a rule), serialise as the expression."""
        from pydantic_core import core_schema

        return core_schema.union_schema(
            [
                core_schema.is_instance_schema(cls),
                core_schema.no_info_after_validator_function(
                    parse_compare_fail, core_schema.str_schema()
                ),
            ],
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )


def parse_compare_fail(expr: str) -> CompareFail:
    """Parse ``METRIC[.STAT]:N%`` / ``METRIC[.STAT]:Nms`` / ``METRIC[.STAT]:Ns``.

    ``N`` may be decimal; ``s`` is converted to ms. Absolute limits need a ``*_ms`` metric.

    :raises ValueError: anything else; the message shows the valid forms and names.
    """
    text = expr.strip()
    match = _COMPARE_FAIL.match(text)
    if match is None:
        raise ValueError(f"invalid compare-fail expression {expr!r}: {_compare_fail_help()}")
    name = match["metric"]
    stat = match["stat"] or "median"
    if name not in DIRECTED_METRICS:
        hint = did_you_mean(name, metric_choices(m for m in METRICS if m.name in DIRECTED_METRICS))
        raise ValueError(
            f"invalid compare-fail expression {expr!r}: unknown metric {name!r}{hint}; "
            f"{_compare_fail_help()}"
        )
    if stat not in GATE_STATS:
        raise ValueError(
            f"invalid compare-fail expression {expr!r}: unknown statistic {stat!r}"
            f"{did_you_mean(stat, STAT_CHOICES)}; {_compare_fail_help()}"
        )
    amount = float(match["amount"])
    unit = match["unit"]
    if unit != "%" and metric(name).unit != "ms":
        raise ValueError(
            f"invalid compare-fail expression {expr!r}: {name} is a rate, so only a "
            f"percentage is allowed (e.g. {name}:15%)"
        )
    if unit == "s":
        amount *= 1000.0
    return CompareFail(
        metric=name,
        stat=stat,
        amount=amount,
        unit="%" if unit == "%" else "ms",
        expr=text,
    )


@dataclass(frozen=True)
class Regression:
    """One case whose statistic moved the wrong way by more than a rule allows."""

    nodeid: str
    model: str
    rule: CompareFail
    current: float
    baseline: float
    message: str

    def __str__(self) -> str:
        return self.message


_EPSILON = 1e-9


def _check(case: CaseRecord, base: CaseRecord, rule: CompareFail) -> Regression | None:
    now_stats = case.stats.get(rule.metric)
    old_stats = base.stats.get(rule.metric)
    if now_stats is None or old_stats is None:
        return None
    now = float(getattr(now_stats, rule.stat))
    old = float(getattr(old_stats, rule.stat))
    lower_better = stat_direction(rule.metric, rule.stat) == "lower"
    worsening = now - old if lower_better else old - now  # > 0: moved the wrong way
    if worsening <= 0:
        return None
    unit = metric(rule.metric).unit
    if rule.unit == "%":
        pct = math.inf if old == 0 else worsening / abs(old) * 100.0
        if pct <= rule.amount + _EPSILON:
            return None
        signed = pct if lower_better else -pct
        verdict = (
            f"{signed:+.1f}% > {rule.limit_text}"
            if lower_better
            else f"{signed:+.1f}% < -{rule.limit_text}"
        )
    else:
        if worsening <= rule.amount + _EPSILON:
            return None
        verdict = f"{now - old:+.1f} ms > {rule.limit_text}"
    # a fanned-out test's node id names its model; a compare() test's is shared by its models
    who = case.nodeid if case.test != case.nodeid else f"{case.nodeid} ({case.model})"
    message = (
        f"{who} {rule.metric} {rule.stat} {now:.1f} {unit} vs baseline {old:.1f} {unit}: {verdict}"
    )
    return Regression(
        nodeid=case.nodeid,
        model=case.model,
        rule=rule,
        current=now,
        baseline=old,
        message=message,
    )


def find_regressions(
    current: Report, baseline: Report, rules: Sequence[CompareFail]
) -> list[Regression]:
    """Every (case, rule) where ``current`` is worse than ``baseline`` beyond the rule's limit.

    Cases are matched by (node id, model); a case or statistic missing on either side is
    ignored. Times are worse when higher, rates when lower, a spread (stddev) when higher.
    """
    base_index = {(c.nodeid, c.model): c for c in baseline.cases}
    found: list[Regression] = []
    for case in current.cases:
        base = base_index.get((case.nodeid, case.model))
        if base is None:
            continue
        for rule in rules:
            regression = _check(case, base, rule)
            if regression is not None:
                found.append(regression)
    return found
