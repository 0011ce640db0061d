"""Gates: a limit on one statistic of any registered metric, failing the test when missed.

One rule type, :class:`GateRule` (metric, statistic, operator, limit), comes from three places
that all parse here:

* the marker's ``gates={"METRIC[.STAT]": LIMIT}`` (the direction from the metric registry:
  ``<=`` for lower-is-better, ``>=`` for higher-is-better) or ``{"METRIC[.STAT]": "<= 40"}``
  (:func:`marker_gate`);
* the command line's ``--ollama-gate METRIC[.STAT]OP LIMIT`` (:func:`parse_gate`);
* the shorthands ``max_ttft_ms``, ``max_total_ms``, ``min_tokens_per_s`` (marker and command
  line) and ``min_pass_rate`` (:data:`SHORTHANDS`).

Rules from the marker and from the command line all apply, so a command line can only tighten
a suite (the stricter limit decides). :func:`evaluate` checks rules against a mapping of metric
name to :class:`~.models.Stats` (or to a plain number, for run-level metrics) and never passes a
gate whose metric has no value. Pure: no pytest import; light (the marker parser reads it at
collection time; pydantic is imported by :func:`evaluate` only).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Literal

from .metrics import GATE_STATS
from .metrics import METRICS
from .metrics import STAT_CHOICES
from .metrics import find_metric
from .metrics import metric_choices
from .settings import Settings
from .suggest import did_you_mean

if TYPE_CHECKING:
    from .models import CaseRecord
    from .models import GateResult
    from .models import LoadRecord
    from .models import Stats

__all__ = [
    "SHORTHANDS",
    "GateRule",
    "Shorthand",
    "case_gates",
    "evaluate",
    "level_label",
    "marker_gate",
    "merge_rules",
    "option_rules",
    "parse_gate",
    "shorthand_gate",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

Op = Literal["<=", "<", ">=", ">"]
Source = Literal["marker", "option", "default"]

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_EXPR = re.compile(
    rf"^\s*(?P<metric>[a-z_]+)(?:\.(?P<stat>[a-z0-9]+))?\s*(?P<op><=|>=|<|>)\s*(?P<limit>{_NUMBER})"
    r"\s*$"
)
_LIMIT = re.compile(rf"^\s*(?P<op><=|>=|<|>)\s*(?P<limit>{_NUMBER})\s*$")
_PASSES = {
    "<=": lambda v, lim: v <= lim,
    "<": lambda v, lim: v < lim,
    ">=": lambda v, lim: v >= lim,
    ">": lambda v, lim: v > lim,
}
_MISSED = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}


@dataclass(frozen=True)
class GateRule:
    """``stat`` of ``metric`` must satisfy ``op limit``.

    :ivar stat: None checks the metric's summary statistic (``mean`` for ``pass_rate``) or,
        for a metric summarised by its median, the marker's ``stat`` (default ``median``).
    :ivar name: the shorthand that set the rule (``max_ttft_ms``), None for an expression.
    :ivar source: ``marker``, ``option`` (command line, ini or environment) or ``default``
        (``min_pass_rate 1`` when a call has a ``check=`` and no pass-rate gate is set).
    :ivar origin: where an ``option`` rule was given, as messages name it (``--ollama-gate``,
        ``environment variable PYTEST_OLLAMA_GATE``, ``ini option ollama_gate``); None: its
        flag.
    """

    metric: str
    op: Op
    limit: float
    stat: str | None = None
    name: str | None = None
    source: Source = "option"
    origin: str | None = None

    @property
    def expression(self) -> str:
        """The rule as ``--ollama-gate`` writes it: ``ttft_content_ms.p95<=1500``."""
        stat = f".{self.stat}" if self.stat else ""
        return f"{self.metric}{stat}{self.op}{self.limit:g}"

    @property
    def threshold(self) -> str:
        """How results name the rule: its shorthand, else its expression."""
        return self.name or self.expression

    def stat_for(self, default: str) -> str:
        """The statistic checked when the marker's ``stat`` is ``default``."""
        if self.stat is not None:
            return self.stat
        found = find_metric(self.metric)
        if found is not None and found.summary != "median":
            return found.summary
        return default

    def __str__(self) -> str:
        return self.expression


@dataclass(frozen=True)
class Shorthand:
    """A named gate: a marker argument (and, with ``flag``, a command-line option)."""

    name: str
    metric: str
    op: Op
    flag: str | None = None


#: The named gates; each is a :class:`GateRule` on its metric.
SHORTHANDS: tuple[Shorthand, ...] = (
    Shorthand("max_ttft_ms", "ttft_ms", "<=", "--ollama-max-ttft-ms"),
    Shorthand("max_total_ms", "total_ms", "<=", "--ollama-max-total-ms"),
    Shorthand("min_tokens_per_s", "tokens_per_s", ">=", "--ollama-min-tokens-per-s"),
    Shorthand("min_pass_rate", "pass_rate", ">="),
)
_SHORTHAND = {s.name: s for s in SHORTHANDS}


_EXPR_FORM = (
    "METRIC[.STAT]OP LIMIT with OP one of <=, <, >=, > (e.g. ttft_content_ms.p95<=1500, "
    "tokens_per_s>=20)"
)
_MARKER_FORM = (
    "gates={'METRIC[.STAT]': LIMIT} or {'METRIC[.STAT]': 'OP LIMIT'} (e.g. "
    "{'ttft_content_ms.p95': 1500, 'tpot_ms': '<= 40'})"
)


def _syntax(form: str = _EXPR_FORM) -> str:
    return (
        f"{form}; METRIC one of {', '.join(m.name for m in METRICS)}; STAT one of "
        f"{', '.join(GATE_STATS)} (default: the marker's stat, median)"
    )


def _checked(
    what: str, metric: str, stat: str | None, limit: float, form: str = _EXPR_FORM
) -> None:
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    found = find_metric(metric)
    if found is None:
        hint = did_you_mean(metric, metric_choices())
        raise ValueError(f"{what}: unknown metric {metric!r}{hint}; {_syntax(form)}")
    if stat is not None and found.level == "run":
        raise ValueError(
            f"{what}: {metric} is one number per load run, it has no statistic; write "
            f"{metric}{'<=' if found.direction == 'lower' else '>='}N"
        )
    if stat is not None and stat not in GATE_STATS:
        hint = did_you_mean(stat, STAT_CHOICES)
        raise ValueError(f"{what}: unknown statistic {stat!r}{hint}; {_syntax(form)}")
    if not math.isfinite(limit):
        raise ValueError(f"{what}: the limit must be a finite number")
    if found.unit == "ratio" and not 0 <= limit <= 1:
        raise ValueError(f"{what}: {metric} is a share from 0 to 1, so is its limit")


def parse_gate(expr: str, *, source: Source = "option") -> GateRule:
    """Parse ``METRIC[.STAT]OP LIMIT`` (``--ollama-gate``), e.g. ``tokens_per_s>=20``.

    :raises ValueError: anything else; the message shows the syntax and the valid names.
    """
    match = _EXPR.match(expr)
    if match is None:
        raise ValueError(f"invalid gate {expr!r}: expected {_syntax()}")
    metric, stat, limit = match["metric"], match["stat"], float(match["limit"])
    _checked(f"invalid gate {expr!r}", metric, stat, limit)
    op: Op = match["op"]  # type: ignore[assignment]  # the regex admits only the four
    return GateRule(metric=metric, op=op, limit=limit, stat=stat, source=source)


def marker_gate(key: str, value: object, *, source: Source = "marker") -> GateRule:
    """One entry of the marker's ``gates`` dict: ``"METRIC[.STAT]": LIMIT`` or ``"OP LIMIT"``.

    A bare number takes its direction from the registry (``<=`` for lower-is-better metrics,
    ``>=`` for higher-is-better ones); counts and shares have none and need ``"<= N"``.

    :raises ValueError: an unknown metric or statistic, or a limit that is not a number or an
        ``"OP N"`` string.
    """
    what = f"gates[{key!r}]"
    metric, _, stat_text = str(key).strip().partition(".")
    stat = stat_text or None
    if isinstance(value, str):
        match = _LIMIT.match(value)
        if match is None:
            raise ValueError(f"{what}: {value!r} is not a limit such as '<= 40' or '>= 20'")
        op: Op = match["op"]  # type: ignore[assignment]
        limit = float(match["limit"])
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        limit = float(value)
        found = find_metric(metric)
        if found is not None and found.direction == "none":
            raise ValueError(
                f"{what}: {metric} is not better lower or higher; write the limit as "
                f"'<= {limit:g}' or '>= {limit:g}'"
            )
        op = "<=" if found is None or found.direction == "lower" else ">="
    else:
        raise ValueError(f"{what}: the limit must be a number or a string such as '<= 40'")
    _checked(what, metric, stat, limit, _MARKER_FORM)
    return GateRule(metric=metric, op=op, limit=limit, stat=stat, source=source)


def shorthand_gate(name: str, limit: float, *, source: Source) -> GateRule:
    """The rule a shorthand (``max_ttft_ms=800``) stands for."""
    short = _SHORTHAND[name]
    _checked(name, short.metric, None, limit)
    return GateRule(metric=short.metric, op=short.op, limit=limit, name=name, source=source)


def option_rules(settings: Settings) -> list[GateRule]:
    """The command line's rules (or the environment's, or the ini file's): its shorthands,
    then each ``--ollama-gate``, each with where it was given."""
    rules = [
        replace(shorthand_gate(s.name, limit, source="option"), origin=settings.origin(s.name))
        for s in SHORTHANDS
        if (limit := getattr(settings, s.name, None)) is not None
    ]
    origin = settings.origin("gates")
    rules.extend(replace(parse_gate(expr), origin=origin) for expr in settings.gates)
    return rules


def merge_rules(*groups: Iterable[GateRule]) -> list[GateRule]:
    """Every rule of every group, in order, without repeating one (same metric, statistic,
    operator and limit): the marker's and the command line's rules all apply."""
    seen: set[tuple[str, str | None, str, float]] = set()
    out: list[GateRule] = []
    for group in groups:
        for rule in group:
            key = (rule.metric, rule.stat, rule.op, rule.limit)
            if key not in seen:
                seen.add(key)
                out.append(rule)
    return out


def _fmt(value: float, metric: str) -> str:
    found = find_metric(metric)
    if found is not None and found.unit == "ratio":
        return f"{value:.2f}"
    if value != 0 and abs(value) < 0.1:
        return f"{value:.3g}"
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def _origin(rule: GateRule) -> str:
    if rule.source == "marker":
        return ""
    if rule.source == "default":
        return (
            " (the default gate of check=: every answer must pass; set min_pass_rate to allow less)"
        )
    if rule.origin is not None:
        return f" from {rule.origin}"
    short = _SHORTHAND.get(rule.name or "")
    return f" from {short.flag if short is not None and short.flag else '--ollama-gate'}"


def evaluate(
    rules: Iterable[GateRule],
    values: Mapping[str, Stats | float],
    *,
    label: str,
    rounds: int,
    default_stat: str = "median",
    counted: str = "round",
) -> list[GateResult]:
    """Check ``rules`` against ``values`` (metric name -> :class:`Stats`, or a plain number).

    A metric without a value fails its gate (it cannot be shown to hold), except that a gate on
    a metric with a fallback (``tokens_per_s``) checks the fallback's value (the client-side
    rate) and says so.

    :param label: what the values are of, named in the messages (a model).
    :param rounds: how many measured rounds (or requests) they cover.
    :param default_stat: the marker's ``stat``, for rules that name no statistic.
    :param counted: what ``rounds`` counts, for the messages (``round``; ``request`` for a
        load run).
    :returns: one :class:`GateResult` per rule, in order.
    """
    from .models import GateResult

    where = f"({label}, {rounds} {counted}{'s' if rounds != 1 else ''})"
    results: list[GateResult] = []
    for rule in rules:
        stat = rule.stat_for(default_stat)
        limit_text = f"{rule.name} {rule.limit:g}" if rule.name else f"{rule.limit:g}"
        metric = rule.metric
        found = values.get(metric)
        note = ""
        spec = find_metric(metric)
        if found is None and spec is not None and spec.fallback is not None:
            stand_in = values.get(spec.fallback)
            if stand_in is not None:
                note = f"; the server reported no {metric}, so the client-side rate is checked"
                metric, found = spec.fallback, stand_in
        if found is None:
            value = None
            passed = False
            if spec is not None and spec.source == "server":
                why = "was not reported by the server"
            elif spec is not None and spec.source == "check":
                why = "has no value: no call of the test gave a check="
            elif spec is not None and spec.level == "run" and "request_throughput" in values:
                why = "has no value: the load run had no slo= and no check="
            elif spec is not None and spec.level == "run":
                why = "has no value: the test ran no load()"
            else:
                why = "has no value in any measured round"
            message = f"{metric} {why} {where}; cannot check {limit_text}"
        else:
            number = found if isinstance(found, (int, float)) else getattr(found, stat)
            value = float(number)
            passed = _PASSES[rule.op](value, rule.limit)
            verdict = rule.op if passed else _MISSED[rule.op]
            shown = _fmt(value, metric)
            named = metric if stat == "value" else f"{metric} {stat}"
            message = f"{named} {shown} {verdict} {limit_text} {where}{note}"
        results.append(
            GateResult(
                metric=metric,
                stat=stat,
                op=rule.op,
                limit=rule.limit,
                threshold=rule.threshold,
                source=rule.source,
                value=value,
                rounds=rounds,
                passed=passed,
                message=message + _origin(rule),
            )
        )
    return results


def _run_level(rule: GateRule) -> bool:
    found = find_metric(rule.metric)
    return found is not None and found.level == "run"


def level_label(record: LoadRecord) -> str:
    """How messages name a load run: ``llama3.2, concurrency 4`` or ``llama3.2, rate 2/s``."""
    level = f"{record.level:g}" + ("/s" if record.mode == "rate" else "")
    return f"{record.model}, {record.mode} {level}"


def case_gates(
    case: CaseRecord, rules: Sequence[GateRule], *, default_stat: str = "median"
) -> list[GateResult]:
    """Every gate of one case: ``rules`` over its calls' measured rounds, and over each of its
    load runs.

    A call's rounds are checked against the per-request rules (plus the default ``pass_rate``
    gate of a ``check=``, ``min_pass_rate 1``); a load run against every rule, its run-level
    metrics (``request_throughput``, ``goodput``, ...) and the statistics of its completed
    requests alike (a ``check=`` of a load run counts in goodput, not in a default gate). A
    marker's rule on a run-level metric in a test without a load run fails (no value); the
    command line's applies only to load runs.
    """
    out: list[GateResult] = []
    measured = [m for call in case.calls for m in call.rounds if not m.warmup]
    if measured:
        no_load = not case.load
        in_force = [r for r in rules if not _run_level(r) or (r.source == "marker" and no_load)]
        checked = any(m.pass_rate is not None for m in measured)
        if checked and not any(r.metric == "pass_rate" for r in rules):
            default = GateRule("pass_rate", ">=", 1.0, name="min_pass_rate", source="default")
            in_force = [*in_force, default]
        out += evaluate(
            in_force, case.stats, label=case.model, rounds=len(measured), default_stat=default_stat
        )
    for number, record in enumerate(case.load):
        values: dict[str, Stats | float] = {**record.stats, **record.run_values()}
        results = evaluate(
            rules,
            values,
            label=level_label(record),
            rounds=record.sent,
            default_stat=default_stat,
            counted="request",
        )
        out += [g.model_copy(update={"load_run": number}) for g in results]
    return out
