"""What a benchmark test asks for: ``@pytest.mark.llm_bench`` arguments and the gates they set.

Pure: no pytest import. :func:`parse_marker` validates the marker's arguments (raising
:class:`MarkerError` with the list of valid ones) and :func:`evaluate_gates` checks a case's
statistics against the marker's and the command line's thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

from .settings import Settings

if TYPE_CHECKING:
    from .models import GateResult
    from .models import Measurement

__all__ = [
    "GATES",
    "MARKER_ARGS",
    "BenchSpec",
    "Gate",
    "MarkerError",
    "evaluate_gates",
    "parse_marker",
]

#: Statistics a gate may apply to (the fields of :class:`~.models.Stats` but ``n``).
GATE_STATS: tuple[str, ...] = ("min", "max", "mean", "stddev", "median", "p90", "p95", "p99")


@dataclass(frozen=True)
class Gate:
    """A threshold name and what it checks."""

    threshold: str  # marker argument / Settings field
    metric: str
    op: Literal["<=", ">="]


GATES: tuple[Gate, ...] = (
    Gate("max_ttft_ms", "ttft_ms", "<="),
    Gate("max_total_ms", "total_ms", "<="),
    Gate("min_tokens_per_s", "tokens_per_s", ">="),
)

MARKER_ARGS: tuple[str, ...] = (
    "models",
    "rounds",
    "warmup",
    "options",
    *(g.threshold for g in GATES),
    "stat",
)


class MarkerError(ValueError):
    """``@pytest.mark.llm_bench`` was given arguments it does not accept."""


@dataclass(frozen=True)
class BenchSpec:
    """The validated arguments of one test's ``llm_bench`` marker (all optional)."""

    models: tuple[str, ...] | None = None
    rounds: int | None = None
    warmup: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    stat: str = "median"


def _models_arg(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")]
    elif isinstance(value, (list, tuple)) and all(isinstance(n, str) for n in value):
        names = [n.strip() for n in value]
    else:
        raise MarkerError(
            f"llm_bench(models=...) must be a list of model names or a comma-separated string, "
            f"got {value!r}"
        )
    out = tuple(dict.fromkeys(n for n in names if n))
    if not out:
        raise MarkerError(f"llm_bench(models=...) names no model: {value!r}")
    return out


def _int_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MarkerError(f"llm_bench({name}=...) must be an integer >= {minimum}, got {value!r}")
    return value


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise MarkerError(f"llm_bench({name}=...) must be a number > 0, got {value!r}")
    return float(value)


def parse_marker(args: Iterable[Any], kwargs: Mapping[str, Any]) -> BenchSpec:
    """Validate ``llm_bench`` marker arguments; raise :class:`MarkerError` when they are wrong."""
    valid = ", ".join(MARKER_ARGS)
    if tuple(args):
        raise MarkerError(
            f"llm_bench takes keyword arguments only, got positional {tuple(args)!r}; "
            f"valid arguments: {valid}"
        )
    unknown = sorted(set(kwargs) - set(MARKER_ARGS))
    if unknown:
        raise MarkerError(
            f"llm_bench got unknown argument(s) {', '.join(unknown)}; valid arguments: {valid}"
        )
    models = kwargs.get("models")
    rounds = kwargs.get("rounds")
    warmup = kwargs.get("warmup")
    options = kwargs.get("options")
    if options is not None and not isinstance(options, Mapping):
        raise MarkerError(
            f"llm_bench(options=...) must be a dict of Ollama options, got {options!r}"
        )
    stat = kwargs.get("stat", "median")
    if stat not in GATE_STATS:
        raise MarkerError(
            f"llm_bench(stat=...) must be one of {', '.join(GATE_STATS)}, got {stat!r}"
        )
    thresholds = {
        g.threshold: _positive(g.threshold, kwargs[g.threshold])
        for g in GATES
        if kwargs.get(g.threshold) is not None
    }
    return BenchSpec(
        models=None if models is None else _models_arg(models),
        rounds=None if rounds is None else _int_arg("rounds", rounds, 1),
        warmup=None if warmup is None else _int_arg("warmup", warmup, 0),
        options=dict(options or {}),
        thresholds=thresholds,
        stat=str(stat),
    )


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def evaluate_gates(
    model: str,
    rounds: Iterable[Measurement],
    spec: BenchSpec,
    settings: Settings,
) -> list[GateResult]:
    """Check every threshold in force (marker first, else command line) for one model's rounds.

    A threshold whose metric the server never reported fails: the gate cannot be shown to hold.
    """
    from .measure import stats_over
    from .models import GateResult

    measured = [m for m in rounds if not m.warmup]
    stats = stats_over(measured)
    results: list[GateResult] = []
    for gate in GATES:
        limit: float | None = spec.thresholds.get(gate.threshold)
        source: Literal["marker", "option"] = "marker"
        if limit is None:
            limit = getattr(settings, gate.threshold)
            source = "option"
        if limit is None:
            continue
        where = f"({model}, {len(measured)} round{'s' if len(measured) != 1 else ''})"
        stat_obj = stats.get(gate.metric)
        if stat_obj is None:
            value = None
            passed = False
            message = (
                f"{gate.metric} was not reported by the server {where}; "
                f"cannot check {gate.threshold} {limit:g}"
            )
        else:
            value = float(getattr(stat_obj, spec.stat))
            passed = value <= limit if gate.op == "<=" else value >= limit
            bad = ">" if gate.op == "<=" else "<"
            good = gate.op
            message = (
                f"{gate.metric} {spec.stat} {_fmt(value)} {good if passed else bad} "
                f"{gate.threshold} {limit:g} {where}"
            )
        results.append(
            GateResult(
                metric=gate.metric,
                stat=spec.stat,
                op=gate.op,
                limit=limit,
                threshold=gate.threshold,
                source=source,
                value=value,
                rounds=len(measured),
                passed=passed,
                message=message,
            )
        )
    return results
