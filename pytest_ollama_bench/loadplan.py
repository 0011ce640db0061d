"""What a load run is asked to do, checked before any request goes out.

:func:`plan_load` validates the arguments of ``ollama_bench.load()`` / ``sweep()`` into a
:class:`LoadPlan`; :class:`PromptSource` gives each request its prompt: a string or a messages
list (every request sends it), a list of either (used in turn), a function of the request's
number, or an iterator (a workload), the last two optionally giving :class:`LoadRequest` items
with options of their own. Pure: no pytest, no I/O.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal
from typing import NamedTuple
from typing import cast

from .api_fields import check_fields
from .calls import Prompt
from .calls import to_messages
from .checks import Check
from .checks import check_name
from .loadresult import Slo
from .loadresult import parse_slo
from .models import Endpoint
from .models import LoadMode
from .models import LoadRecord
from .openai_fields import request_fields
from .settings import Api
from .settings import CachePolicy
from .workload import WorkItem
from .workload import with_output_tokens

__all__ = [
    "LoadPlan",
    "LoadRequest",
    "PromptSource",
    "Taken",
    "arrival_times",
    "plan_load",
    "sweep_plans",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True


@dataclass(frozen=True)
class LoadRequest:
    """One request a workload asks for: its prompt (a string or a messages list) and options
    merged over the run's (``None``: the run's)."""

    prompt: Prompt
    options: Mapping[str, Any] | None = None


class Taken(NamedTuple):
    """What a prompt source gives for one request.

    :ivar prompt_index: the index of the prompt in a list (None otherwise).
    :ivar prompt: the chat's messages, or the generate prompt.
    :ivar options: the request's own options (merged over the run's), or None.
    :ivar input_tokens: the prompt tokens a workload asked for (a sized prompt), or None.
    :ivar output_tokens: the answer tokens a workload asked for, or None.
    """

    prompt_index: int | None
    prompt: str | list[dict[str, Any]]
    options: Mapping[str, Any] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class PromptSource:
    """The prompts of a load run, one per request.

    :param prompts: a string or a messages list (every request sends it); a list or tuple of
        strings, messages lists, :class:`LoadRequest` s or :class:`~.workload.WorkItem` s
        (used in turn); a function of the request's number (from 0, warmup requests first)
        returning one of those, or None when the workload is over; or any other iterable,
        read one item per request (the run ends when it is exhausted).
    :param endpoint: ``chat`` (messages) or ``generate`` (a prompt string).
    :param system: a system message put first (chat) or sent as ``system`` (generate).
    :raises TypeError: a prompt of the wrong type (for a list: checked now; otherwise when it
        comes).
    :raises ValueError: an empty list.
    """

    def __init__(self, prompts: object, endpoint: Endpoint, system: str | None) -> None:
        __tracebackhide__ = True  # pytest shows the error at the caller's line
        self._endpoint = endpoint
        self._system = system
        self._call = f"ollama_bench.load() ({endpoint})"
        self._items: list[Taken] | None = None
        self._given: list[str | list[dict[str, Any]]] = []
        self._function: Callable[[int], object] | None = None
        self._iterator: Iterator[object] | None = None
        self.kind: Literal["list", "function", "iterator"] = "list"
        if isinstance(prompts, str) or _is_messages(prompts):
            self._items = [self._convert(prompts, None)]
            self._given = [_as_given(prompts)]
        elif isinstance(prompts, (list, tuple)):
            if not prompts:
                raise ValueError(f"{self._call}: the list of prompts is empty")
            self._items = [self._convert(p, i) for i, p in enumerate(prompts)]
            self._given = [_as_given(p) for p in prompts]
        elif callable(prompts):
            self._function = cast(Callable[[int], object], prompts)
            self.kind = "function"
        elif isinstance(prompts, Iterable):
            self._iterator = iter(prompts)
            self.kind = "iterator"
        else:
            raise TypeError(
                f"{self._call} takes a prompt, a list of prompts, a function of the request's "
                f"number or an iterator of prompts, got {prompts!r}"
            )

    @property
    def recorded(self) -> list[str | list[dict[str, Any]]]:
        """What the record keeps: a list's prompts as given; nothing for the other sources."""
        return list(self._given)

    def _convert(self, item: object, index: int | None) -> Taken:
        __tracebackhide__ = True  # pytest shows the error at the caller's line
        options: Mapping[str, Any] | None = None
        asked_in = asked_out = None
        if _is_request(item):  # a LoadRequest or a workload's WorkItem
            if getattr(item, "prompt", None) is None:
                raise TypeError(
                    f"{self._call}: the workload's request {getattr(item, 'index', '?')} has "
                    "no prompt; give the Workload input_tokens or prompts"
                )
            options = getattr(item, "options", None) or None
            asked_in = getattr(item, "input_tokens", None)
            asked_out = getattr(item, "output_tokens", None)
            item = getattr(item, "prompt")  # noqa: B009  # duck-typed, see _is_request
            if options is not None and not isinstance(options, Mapping):
                raise TypeError(f"{self._call}: a request's options must be a dict: {options!r}")
        if self._endpoint == "chat":
            messages = to_messages(cast(Prompt, item), self._system, self._call)
            return Taken(index, messages, options, asked_in, asked_out)
        if not isinstance(item, str):
            raise TypeError(
                f"ollama_bench.load(endpoint='generate') takes prompt strings: {item!r}"
            )
        return Taken(index, item, options, asked_in, asked_out)

    def take(self, number: int) -> Taken | None:
        """The prompt of request ``number``; None when the workload is over."""
        if self._items is not None:
            return self._items[number % len(self._items)]
        if self._function is not None:
            item = self._function(number)
            return None if item is None else self._convert(item, None)
        assert self._iterator is not None
        try:
            return self._convert(next(self._iterator), None)
        except StopIteration:
            return None


def _is_request(item: object) -> bool:
    """Whether ``item`` is a request (a prompt with options): a :class:`LoadRequest` or a
    :class:`~.workload.WorkItem`, told by their attributes (pytester's inner runs import
    modules afresh, so a class test may not be the one a test file imported)."""
    return (
        isinstance(item, (LoadRequest, WorkItem))
        or (hasattr(item, "prompt") and hasattr(item, "options"))
    ) and not isinstance(item, (str, Mapping, list, tuple))


def _as_given(item: object) -> str | list[dict[str, Any]]:
    """A prompt as the record keeps it: the string, or the messages as plain dicts."""
    if _is_request(item):
        item = getattr(item, "prompt")  # noqa: B009
    if isinstance(item, str):
        return str(item)
    return [dict(cast(Mapping[str, Any], m)) for m in cast(Sequence[object], item)]


def _is_messages(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(m, Mapping) for m in value)
    )


@dataclass(frozen=True)
class LoadPlan:
    """A validated load run: what to send, at which concurrency or rate, for how long."""

    nodeid: str
    model: str
    endpoint: Endpoint
    api: Api
    source: PromptSource
    system: str | None
    options: dict[str, Any]
    fields: dict[str, Any]
    mode: LoadMode
    concurrency: int | None
    rate: float | None
    requests: int | None
    duration_s: float | None
    warmup: int
    seed: int | None
    cache: CachePolicy = "keep"
    check: Check | None = None
    slos: tuple[Slo, ...] = ()
    slo: dict[str, float] = field(default_factory=dict)
    sweep: int | None = None
    output_tokens: int | None = None
    workload: dict[str, Any] | None = None

    def base_record(self) -> LoadRecord:
        """The record of what was asked (the results are filled in by the run)."""
        return LoadRecord(
            nodeid=self.nodeid,
            model=self.model,
            endpoint=self.endpoint,
            api=self.api,
            mode=self.mode,
            concurrency=self.concurrency,
            rate=self.rate,
            request_limit=self.requests,
            duration_limit_s=self.duration_s,
            warmup=self.warmup,
            seed=self.seed,
            options=self.options,
            fields=self.fields,
            prompts=self.source.recorded,
            prompt_source=self.source.kind,
            cache=self.cache,
            slo=self.slo,
            check=None if self.check is None else check_name(self.check),
            sweep=self.sweep,
            workload=self.workload,
        )


def _whole(name: str, value: object, minimum: int) -> int | None:
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"ollama_bench.load(): {name}= must be an integer >= {minimum}, got {value!r}"
        )
    return value


def _positive(name: str, value: object) -> float | None:
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"ollama_bench.load(): {name}= must be a number > 0, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"ollama_bench.load(): {name}= must be a number > 0, got {value!r}")
    return float(value)


def plan_load(
    *,
    nodeid: str,
    model: str,
    endpoint: Endpoint,
    api: Api,
    prompts: object,
    system: str | None,
    options: Mapping[str, Any],
    fields: Mapping[str, Any],
    concurrency: int | None,
    rate: float | None,
    requests: int | None,
    duration_s: float | None,
    warmup: int,
    seed: int | None,
    cache: CachePolicy,
    check: Check | None,
    slo: Mapping[str, Any] | None,
    own: Sequence[str] = (),
    output_tokens: int | None = None,
    workload: Mapping[str, Any] | None = None,
    call: str = "ollama_bench.load()",
) -> LoadPlan:
    """Check a load run's arguments and return its plan; nothing is sent.

    ``seed=None`` picks one at random (recorded, so the arrivals can be repeated).
    ``output_tokens`` adds :func:`~.workload.output_options` to ``options`` (every request
    asks for answers of that length); ``workload`` describes the workload the prompts come
    from, for the record (:meth:`~.workload.Workload.describe`); ``call`` is how messages
    name the call (``ollama_bench.sweep()`` for a sweep).

    :raises ValueError: neither ``concurrency`` nor ``rate``, neither ``requests`` nor
        ``duration_s``, a value out of range, an SLO on a metric that has none, or a request
        field with no counterpart on the OpenAI API.
    :raises TypeError: a keyword that is no request field, a prompt of the wrong type, a
        ``check`` that is not callable.
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    sent = check_fields(endpoint, fields, call=call, own=own)
    if api == "openai":
        request_fields(None, **sent)
    n = _whole("concurrency", concurrency, 1)
    r = _positive("rate", rate)
    limit = _whole("requests", requests, 1)
    seconds = _positive("duration_s", duration_s)
    if n is None and r is None:
        raise ValueError(
            f"{call} needs concurrency=N (a closed loop: N requests always in flight) or "
            "rate=R (an open loop: R requests per second, Poisson arrivals)"
        )
    if limit is None and seconds is None:
        raise ValueError(f"{call} needs requests=N and/or duration_s=S to know when to stop")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"{call}: warmup= must be an integer >= 0, got {warmup!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"{call}: seed= must be an integer, got {seed!r}")
    if check is not None and not callable(check):
        raise TypeError(f"{call}: check= must be a function of the answer text, got {check!r}")
    slos = parse_slo(slo)
    merged = with_output_tokens(call, options, output_tokens)
    described = None if workload is None else dict(workload)
    if output_tokens is not None:
        described = {**(described or {}), "output_tokens": output_tokens}
    return LoadPlan(
        nodeid=nodeid,
        model=model,
        endpoint=endpoint,
        api=api,
        source=PromptSource(prompts, endpoint, system),
        system=system,
        options=merged,
        fields=sent,
        mode="rate" if r is not None else "concurrency",
        concurrency=n,
        rate=r,
        requests=limit,
        duration_s=seconds,
        warmup=warmup,
        seed=seed if seed is not None or r is None else random.SystemRandom().randrange(2**32),
        cache=cache,
        check=check,
        slos=slos,
        slo={s.metric: s.limit for s in slos},
        output_tokens=output_tokens,
        workload=described,
    )


def arrival_times(
    rate: float, seed: int | None, requests: int | None = None, duration_s: float | None = None
) -> Iterator[float]:
    """When an open loop sends its requests: seconds after its start, in order.

    With ``requests`` and no ``duration_s``: ``requests`` exponential gaps of ``random.Random
    (seed)``, scaled so that the last request is sent at ``requests / rate`` exactly, i.e. a
    Poisson process of rate ``rate`` conditioned on its ``requests``-th arrival falling there
    (the arrivals before it are then uniform order statistics): the achieved rate is the
    requested one, the local fluctuations are Poisson's. Otherwise (a duration): unscaled
    exponential gaps of mean ``1 / rate`` until ``duration_s`` (and ``requests``, if given).
    """
    rng = random.Random(seed)
    if requests is not None and duration_s is None:
        gaps = [rng.expovariate(rate) for _ in range(requests)]
        scale = requests / rate / math.fsum(gaps)
        t = 0.0
        for gap in gaps:
            t += gap * scale
            yield t
        return
    t, sent = 0.0, 0
    while requests is None or sent < requests:
        t += rng.expovariate(rate)
        if duration_s is not None and t >= duration_s:
            return
        sent += 1
        yield t


def sweep_plans(plan: LoadPlan, levels: Sequence[float], sweep: int) -> list[LoadPlan]:
    """One plan per level of a sweep: ``plan`` at each concurrency (closed loop) or rate (open
    loop) of ``levels``, the warmup only before the first level.

    :raises ValueError: no levels, or levels not in increasing order (each a valid
        concurrency or rate).
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    if not levels:
        raise ValueError("ollama_bench.sweep() needs at least one level")
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise ValueError(
            f"ollama_bench.sweep(): levels must increase (saturation is read across them in "
            f"order), got {list(levels)}"
        )
    plans = []
    for i, level in enumerate(levels):
        concurrency, rate = plan.concurrency, plan.rate
        if plan.mode == "concurrency":
            if isinstance(level, bool) or not isinstance(level, int) or level < 1:
                raise ValueError(
                    f"ollama_bench.sweep(): a concurrency must be an integer >= 1, got {level!r}"
                )
            concurrency = level
        else:
            if isinstance(level, bool) or not isinstance(level, (int, float)) or not level > 0:
                raise ValueError(f"ollama_bench.sweep(): a rate must be a number > 0: {level!r}")
            rate = float(level)
        warmup = plan.warmup if i == 0 else 0
        plans.append(
            dataclasses.replace(
                plan, concurrency=concurrency, rate=rate, warmup=warmup, sweep=sweep
            )
        )
    return plans
