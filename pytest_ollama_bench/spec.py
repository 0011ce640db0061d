"""What a benchmark test asks for: the ``@pytest.mark.llm_bench`` arguments, validated.

Pure and light (no pytest, no pydantic): :func:`parse_marker` runs at collection time for every
marked test. A bad argument raises :class:`MarkerError` naming the valid ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

from .metrics import GATE_STATS
from .settings import Settings
from .settings import split_names

__all__ = [
    "MARKER_ARGS",
    "THRESHOLDS",
    "BenchSpec",
    "MarkerError",
    "Threshold",
    "parse_marker",
]


@dataclass(frozen=True)
class Threshold:
    """A named threshold (a marker argument and a :class:`Settings` field) on one metric."""

    name: str
    metric: str
    op: Literal["<=", ">="]


#: The thresholds a marker or the command line may set.
THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("max_ttft_ms", "ttft_ms", "<="),
    Threshold("max_total_ms", "total_ms", "<="),
    Threshold("min_tokens_per_s", "tokens_per_s", ">="),
)

MARKER_ARGS: tuple[str, ...] = (
    "models",
    "rounds",
    "warmup",
    "options",
    *(t.name for t in THRESHOLDS),
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

    def rounds_for(self, settings: Settings, asked: int | None = None) -> int:
        """Measured rounds of a call: the call's own value, else the marker's, else the option."""
        if asked is not None:
            return asked
        return self.rounds if self.rounds is not None else settings.rounds

    def warmup_for(self, settings: Settings, asked: int | None = None) -> int:
        """Warmup rounds of a call, with the same precedence as :meth:`rounds_for`."""
        if asked is not None:
            return asked
        return self.warmup if self.warmup is not None else settings.warmup


def _models_arg(value: Any) -> tuple[str, ...]:
    if not (
        isinstance(value, str)
        or (isinstance(value, (list, tuple)) and all(isinstance(n, str) for n in value))
    ):
        raise MarkerError(
            f"llm_bench(models=...) must be a list of model names or a comma-separated string, "
            f"got {value!r}"
        )
    names = split_names(value)
    if not names:
        raise MarkerError(f"llm_bench(models=...) names no model: {value!r}")
    return names


def _int_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MarkerError(f"llm_bench({name}=...) must be an integer >= {minimum}, got {value!r}")
    return value


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise MarkerError(f"llm_bench({name}=...) must be a number > 0, got {value!r}")
    return float(value)


#: Ollama sampling options people pass to the marker directly instead of in ``options``.
_OLLAMA_OPTIONS = frozenset(
    ("temperature", "seed", "num_predict", "num_ctx", "top_k", "top_p", "min_p", "stop",
     "repeat_penalty", "keep_alive")
)  # fmt: skip


def _guess(name: str) -> str | None:
    """The argument ``name`` was probably meant to be, for a "did you mean" hint."""
    if name in _OLLAMA_OPTIONS:
        return f"options={{{name!r}: ...}}"
    match = difflib.get_close_matches(name, MARKER_ARGS, n=1, cutoff=0.6)
    return match[0] if match else None


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
        guesses = [guess for name in unknown if (guess := _guess(name)) is not None]
        hint = f"; did you mean {', '.join(guesses)}?" if guesses else ""
        raise MarkerError(
            f"llm_bench got unknown argument(s) {', '.join(unknown)}; valid arguments: {valid}"
            f"{hint}"
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
        t.name: _positive(t.name, kwargs[t.name])
        for t in THRESHOLDS
        if kwargs.get(t.name) is not None
    }
    return BenchSpec(
        models=None if models is None else _models_arg(models),
        rounds=None if rounds is None else _int_arg("rounds", rounds, 1),
        warmup=None if warmup is None else _int_arg("warmup", warmup, 0),
        options=dict(options or {}),
        thresholds=thresholds,
        stat=str(stat),
    )
