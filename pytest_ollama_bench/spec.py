"""What a benchmark test asks for: the ``@pytest.mark.llm_bench`` arguments, validated.

Pure and light (no pytest, no pydantic): :func:`parse_marker` runs at collection time for every
marked test. A bad argument raises :class:`MarkerError` naming the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from .api_fields import option_choices
from .gates import SHORTHANDS
from .gates import GateRule
from .gates import marker_gate
from .gates import shorthand_gate
from .metrics import GATE_STATS
from .metrics import STAT_CHOICES
from .settings import CACHE_POLICIES
from .settings import START_POLICIES
from .settings import CachePolicy
from .settings import Settings
from .settings import StartPolicy
from .settings import split_names
from .suggest import did_you_mean
from .suggest import unknown_names

__all__ = [
    "MARKER_ARGS",
    "BenchSpec",
    "MarkerError",
    "parse_marker",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

MARKER_ARGS: tuple[str, ...] = (
    "models",
    "rounds",
    "warmup",
    "options",
    *(s.name for s in SHORTHANDS if s.flag is not None),
    "stat",
    *(s.name for s in SHORTHANDS if s.flag is None),
    "gates",
    "start",
    "cache",
)


class MarkerError(ValueError):
    """``@pytest.mark.llm_bench`` was given arguments it does not accept."""


@dataclass(frozen=True)
class BenchSpec:
    """The validated arguments of one test's ``llm_bench`` marker (all optional).

    :ivar gates: the marker's gate rules: its shorthands (``max_ttft_ms=...``), then the
        entries of ``gates={...}``.
    :ivar start: ``warm`` or ``cold`` (None: the command line's policy).
    :ivar cache: ``keep`` or ``bust`` (None: the command line's policy).
    """

    models: tuple[str, ...] | None = None
    rounds: int | None = None
    warmup: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    gates: tuple[GateRule, ...] = ()
    stat: str = "median"
    start: StartPolicy | None = None
    cache: CachePolicy | None = None

    def rounds_for(self, settings: Settings, asked: int | None = None) -> int:
        """Measured rounds of a call: the call's own value, else the marker's, else the option."""
        if asked is not None:
            return asked
        return self.rounds if self.rounds is not None else settings.rounds

    def warmup_for(self, settings: Settings, asked: int | None = None) -> int:
        """Warmup rounds of a call, with the same precedence as :meth:`rounds_for`; always 0
        under the ``cold`` start policy (every measured round starts with the model
        unloaded)."""
        if self.start_for(settings) == "cold":
            return 0
        if asked is not None:
            return asked
        return self.warmup if self.warmup is not None else settings.warmup

    def start_for(self, settings: Settings) -> StartPolicy:
        """The start policy in force: the marker's, else the command line's."""
        return self.start if self.start is not None else settings.start

    def cache_for(self, settings: Settings) -> CachePolicy:
        """The prompt-cache policy in force: the marker's, else the command line's."""
        return self.cache if self.cache is not None else settings.cache


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


def parse_marker(args: Iterable[Any], kwargs: Mapping[str, Any]) -> BenchSpec:
    """Validate ``llm_bench`` marker arguments; raise :class:`MarkerError` when they are wrong.

    An unknown argument is named with the likely one (an Ollama option such as
    ``temperature`` belongs in ``options``) before the list of the valid ones.
    """
    valid = ", ".join(MARKER_ARGS)
    if tuple(args):
        raise MarkerError(
            f"llm_bench takes keyword arguments only, got positional {tuple(args)!r}; "
            f"valid arguments: {valid}"
        )
    unknown = sorted(set(kwargs) - set(MARKER_ARGS))
    if unknown:
        which = "unknown arguments" if len(unknown) > 1 else "an unknown argument"
        names = unknown_names(unknown, option_choices(MARKER_ARGS))
        raise MarkerError(f"llm_bench got {which} {names}; valid arguments: {valid}")
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
        hint = did_you_mean(stat, STAT_CHOICES) if isinstance(stat, str) else ""
        raise MarkerError(
            f"llm_bench(stat=...) must be one of {', '.join(GATE_STATS)}, got {stat!r}{hint}"
        )
    return BenchSpec(
        models=None if models is None else _models_arg(models),
        rounds=None if rounds is None else _int_arg("rounds", rounds, 1),
        warmup=None if warmup is None else _int_arg("warmup", warmup, 0),
        options=dict(options or {}),
        gates=_gates(kwargs),
        stat=str(stat),
        start=_choice("start", kwargs.get("start"), START_POLICIES),  # type: ignore[arg-type]
        cache=_choice("cache", kwargs.get("cache"), CACHE_POLICIES),  # type: ignore[arg-type]
    )


def _gates(kwargs: Mapping[str, Any]) -> tuple[GateRule, ...]:
    rules: list[GateRule] = []
    for short in SHORTHANDS:
        value = kwargs.get(short.name)
        if value is None:
            continue
        limit = _positive(short.name, value)
        try:
            rules.append(shorthand_gate(short.name, limit, source="marker"))
        except ValueError as exc:
            raise MarkerError(f"llm_bench({short.name}=...): {exc}") from None
    table = kwargs.get("gates")
    if table is None:
        return tuple(rules)
    if not isinstance(table, Mapping):
        raise MarkerError(
            "llm_bench(gates=...) must be a dict such as {'ttft_content_ms.p95': 1500, "
            f"'tpot_ms': '<= 40'}}, got {table!r}"
        )
    for key, value in table.items():
        try:
            rules.append(marker_gate(str(key), value))
        except ValueError as exc:
            raise MarkerError(f"llm_bench(gates=...): {exc}") from None
    return tuple(rules)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise MarkerError(
            f"llm_bench({name}=...) must be one of {', '.join(map(repr, choices))}, got "
            f"{value!r}{hint}"
        )
    return str(value)
