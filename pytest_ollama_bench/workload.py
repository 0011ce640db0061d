"""What a run sends: input and output lengths, prompt sets, and the requests of a workload.

* Lengths (:class:`Fixed`, :class:`Uniform`, :class:`Normal`): a token count per request,
  fixed or drawn from a distribution; :func:`length` also reads an int or a description.
* Prompt sets (:class:`PromptSet`, :func:`read_prompts`): prompts from a JSONL file (a JSON
  string, a list of messages, or ``{"prompt": ...}`` / ``{"messages": [...]}`` per line) or a
  text file (a prompt per line), used in order or sampled.
* :class:`Workload`: synthetic prompts of ``input_tokens`` or a prompt set, with
  ``output_tokens``, seeded. :meth:`Workload.item` gives request ``i`` (its prompt and
  options) the same way every time, whatever order requests run in, so a run with the same
  workload and seed sends the same requests; :meth:`Workload.describe` goes into the record
  and :meth:`Workload.from_description` makes the workload again from it.

:func:`output_options` are the options that ask for an answer of N tokens. Pure, standard
library only; a load run consumes :meth:`Workload.items` (or calls :meth:`Workload.item`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Literal

from .suggest import did_you_mean
from .synthetic import Calibration
from .synthetic import SizedPrompt

__all__ = [
    "Fixed",
    "Length",
    "Normal",
    "PromptSet",
    "Uniform",
    "WorkItem",
    "Workload",
    "length",
    "output_options",
    "read_prompts",
    "with_output_tokens",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

PromptValue = str | list[dict[str, Any]]
Order = Literal["sequential", "sample"]


def output_options(tokens: int) -> dict[str, Any]:
    """Options asking for ``tokens`` output tokens: the cap (``num_predict``; OpenAI:
    ``max_tokens``) and ``ignore_eos`` (llama.cpp and vLLM then never stop before it; Ollama
    ignores the option, so its models may stop early: ``done_reason`` ``stop``).

    :raises ValueError: ``tokens`` < 1.
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        raise ValueError(f"output_tokens must be a whole number >= 1, got {tokens!r}")
    return {"num_predict": tokens, "ignore_eos": True}


def with_output_tokens(call: str, options: Mapping[str, Any], tokens: int | None) -> dict[str, Any]:
    """``options`` with :func:`output_options` of ``tokens`` added (a copy; unchanged for None);
    an option given explicitly wins over an added one.

    :raises ValueError: ``tokens`` < 1, or an explicit ``num_predict`` other than ``tokens``
        (the message starts with ``call``, the call as the user wrote it).
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    merged = dict(options)
    if tokens is None:
        return merged
    wanted = output_options(tokens)
    if merged.get("num_predict", tokens) != tokens:
        raise ValueError(
            f"{call}: output_tokens={tokens} and options num_predict="
            f"{merged['num_predict']} disagree; give one of them"
        )
    return {**wanted, **merged}


# --------------------------------------------------------------------------- lengths


@dataclass(frozen=True)
class Fixed:
    """Always ``value`` tokens."""

    value: int

    def __post_init__(self) -> None:
        _check_count("value", self.value)

    def sample(self, rng: random.Random) -> int:
        return self.value

    def describe(self) -> dict[str, Any]:
        return {"dist": "fixed", "value": self.value}


@dataclass(frozen=True)
class Uniform:
    """A whole number from ``low`` to ``high`` (both included), each as likely."""

    low: int
    high: int

    def __post_init__(self) -> None:
        _check_count("low", self.low)
        if self.high < self.low:
            raise ValueError(f"uniform length: high {self.high} is below low {self.low}")

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    def describe(self) -> dict[str, Any]:
        return {"dist": "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Normal:
    """A normal distribution of ``mean`` and ``stddev``, rounded, kept within ``low``..``high``.

    Values outside the bounds are drawn again (a truncated normal; after 100 draws outside,
    the value is clipped), so the bounds do not pile up values.
    """

    mean: float
    stddev: float
    low: int = 1
    high: int | None = None

    def __post_init__(self) -> None:
        _check_count("low", self.low)
        if self.stddev < 0:
            raise ValueError(f"normal length: stddev must be >= 0, got {self.stddev}")
        if self.high is not None and self.high < self.low:
            raise ValueError(f"normal length: high {self.high} is below low {self.low}")

    def sample(self, rng: random.Random) -> int:
        high = self.high if self.high is not None else float("inf")
        value = round(self.mean)
        for _ in range(100):
            value = round(rng.gauss(self.mean, self.stddev))
            if self.low <= value <= high:
                return value
        return int(min(max(value, self.low), high))

    def describe(self) -> dict[str, Any]:
        return {
            "dist": "normal",
            "mean": self.mean,
            "stddev": self.stddev,
            "low": self.low,
            "high": self.high,
        }


Length = Fixed | Uniform | Normal
_DISTS: Mapping[str, type[Fixed] | type[Uniform] | type[Normal]] = {
    "fixed": Fixed,
    "uniform": Uniform,
    "normal": Normal,
}


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"length {name} must be a whole number >= 1, got {value!r}")


def length(value: int | Length | Mapping[str, Any]) -> Length:
    """A length from an int (fixed), a length, or its :meth:`describe` form
    (``{"dist": "normal", "mean": 512, "stddev": 64, "low": 256, "high": 1024}``).

    :raises ValueError: an unknown ``dist`` or bad parameters; :raises TypeError: another type.
    """
    if isinstance(value, (Fixed, Uniform, Normal)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Fixed(value)
    if isinstance(value, Mapping):
        params = dict(value)
        kind = params.pop("dist", None)
        dist = _DISTS.get(str(kind))
        if dist is None:
            raise ValueError(f"length dist must be one of {', '.join(_DISTS)}, got {kind!r}")
        try:
            return dist(**params)
        except TypeError as exc:
            raise ValueError(f"{kind} length: {exc}") from None
    raise TypeError(
        f"a length is an int, Fixed, Uniform, Normal or a description dict, got {value!r}"
    )


# --------------------------------------------------------------------------- prompt sets


def _prompt_of(value: Any, where: str) -> PromptValue:
    if isinstance(value, Mapping):
        if "messages" in value:
            value = value["messages"]
        elif "prompt" in value:
            value = value["prompt"]
    if isinstance(value, str) and value.strip():
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in value)
    ):
        return [dict(m) for m in value]
    raise ValueError(
        f"{where}: expected a prompt (a non-empty JSON string), a list of messages "
        '([{"role": "user", "content": "..."}]) or an object with "prompt" or "messages", '
        f"got {json.dumps(value)[:80]}"
    )


def read_prompts(path: str | os.PathLike[str]) -> list[PromptValue]:
    """The prompts of a file: ``.jsonl``/``.ndjson`` one JSON value per line, else one text
    prompt per line; blank lines are skipped. The file is UTF-8; a byte order mark before its
    first line (as editors on Windows write one) is not part of the first prompt.

    :raises ValueError: a line that is no prompt (its number and what was expected), or a
        file without prompts; :raises OSError: the file cannot be read.
    """
    where = Path(path)
    lines = where.read_text(encoding="utf-8-sig").splitlines()
    jsonl = where.suffix.lower() in (".jsonl", ".ndjson")
    prompts: list[PromptValue] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if not jsonl:
            prompts.append(line)
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
        prompts.append(_prompt_of(value, f"{path}:{number}"))
    if not prompts:
        raise ValueError(f"{path}: no prompts (every line is blank)")
    return prompts


@dataclass(frozen=True)
class PromptSet:
    """Prompts (strings or message lists) used ``sequential`` (request i gets prompt
    i mod n) or by ``sample`` (each request draws one, seeded)."""

    prompts: tuple[PromptValue, ...]
    order: Order = "sequential"
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.prompts:
            raise ValueError("a prompt set needs at least one prompt")
        if self.order not in ("sequential", "sample"):
            hint = did_you_mean(str(self.order), ("sequential", "sample"))
            raise ValueError(
                f"prompt order must be 'sequential' or 'sample', got {self.order!r}{hint}"
            )
        for number, prompt in enumerate(self.prompts, 1):
            _prompt_of(prompt, f"prompt {number}")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], order: Order = "sequential") -> PromptSet:
        """The prompts of ``path`` (see :func:`read_prompts`); ``source`` is the path as given."""
        return cls(tuple(read_prompts(path)), order, os.fspath(path))

    def pick(self, index: int, rng: random.Random) -> PromptValue:
        """The prompt of request ``index``."""
        if self.order == "sample":
            return self.prompts[rng.randrange(len(self.prompts))]
        return self.prompts[index % len(self.prompts)]

    def digest(self) -> str:
        """SHA-256 of the prompts as JSON: the same set gives the same digest."""
        text = json.dumps(list(self.prompts), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "count": len(self.prompts),
            "order": self.order,
            "sha256": self.digest(),
        }


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class WorkItem:
    """One request of a workload.

    :ivar index: its number in the run (from 0).
    :ivar prompt: a prompt string (a :class:`~.synthetic.SizedPrompt` for ``input_tokens``), a
        list of messages, or None (a workload of ``output_tokens`` only: the run's own prompt).
    :ivar options: the request options it adds (``num_predict``, ``ignore_eos``).
    :ivar input_tokens: the prompt tokens asked for (None with a prompt set).
    :ivar output_tokens: the output tokens asked for (None without ``output_tokens``).
    """

    index: int
    prompt: PromptValue | None
    options: dict[str, Any] = field(default_factory=dict)
    input_tokens: int | None = None
    output_tokens: int | None = None


LengthSpec = int | Length | Mapping[str, Any]


class Workload:
    """Synthetic prompts of ``input_tokens`` (or the prompts of ``prompts``) with answers of
    ``output_tokens``, drawn per request from ``seed``.

    ``input_tokens`` and ``output_tokens`` are lengths (an int, :class:`Fixed`,
    :class:`Uniform`, :class:`Normal` or a description dict); ``prompts`` a
    :class:`PromptSet` or a list of prompts (used in order). Request ``i`` draws from its own
    generator, seeded with ``seed`` and ``i``: the input length, then the output length, then
    (``order="sample"``) the prompt; its synthetic prompt is shuffled by ``seed`` and ``i``
    too, so every request's prompt differs from the first word.

    :raises ValueError: both ``input_tokens`` and ``prompts``, or neither a prompt source nor
        ``output_tokens``.
    """

    __slots__ = ("input_tokens", "output_tokens", "prompts", "seed")

    def __init__(
        self,
        input_tokens: LengthSpec | None = None,
        output_tokens: LengthSpec | None = None,
        prompts: PromptSet | Sequence[PromptValue] | None = None,
        seed: int | str = 0,
    ) -> None:
        self.input_tokens = None if input_tokens is None else length(input_tokens)
        self.output_tokens = None if output_tokens is None else length(output_tokens)
        if prompts is not None and not isinstance(prompts, PromptSet):
            prompts = PromptSet(tuple(prompts))
        self.prompts: PromptSet | None = prompts
        self.seed = seed
        if self.input_tokens is not None and self.prompts is not None:
            raise ValueError("a workload takes input_tokens or prompts, not both")
        if self.input_tokens is None and self.prompts is None and self.output_tokens is None:
            raise ValueError("a workload needs input_tokens, prompts or output_tokens")

    def __repr__(self) -> str:
        return f"Workload({self.describe()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Workload):
            return NotImplemented
        return self.describe() == other.describe()

    __hash__ = None  # type: ignore[assignment]

    @property
    def needs_calibration(self) -> bool:
        """Whether :meth:`item` needs the model's :class:`~.synthetic.Calibration`."""
        return self.input_tokens is not None

    def item(self, index: int, calibration: Calibration | None = None) -> WorkItem:
        """Request ``index``: the same for the same workload, seed and index.

        :raises ValueError: ``input_tokens`` without a calibration, or a drawn length the
            model cannot have (fewer tokens than its template).
        """
        rng = random.Random(f"pytest-ollama-bench/workload/{self.seed}/{index}")
        asked_in = self.input_tokens.sample(rng) if self.input_tokens is not None else None
        asked_out = self.output_tokens.sample(rng) if self.output_tokens is not None else None
        prompt: PromptValue | None = None
        if asked_in is not None:
            if calibration is None:
                raise ValueError(
                    "a workload with input_tokens needs the model's calibration "
                    "(ollama_bench.calibration())"
                )
            prompt = SizedPrompt(asked_in, calibration=calibration, seed=f"{self.seed}/{index}")
        elif self.prompts is not None:
            prompt = self.prompts.pick(index, rng)
        options = output_options(asked_out) if asked_out is not None else {}
        return WorkItem(index, prompt, options, asked_in, asked_out)

    def items(self, calibration: Calibration | None = None, start: int = 0) -> Iterator[WorkItem]:
        """Requests ``start``, ``start + 1``, ... without end."""
        index = start
        while True:
            yield self.item(index, calibration)
            index += 1

    def describe(self) -> dict[str, Any]:
        """The workload as JSON-able data (the record), enough to make it again."""
        return {
            "input_tokens": None if self.input_tokens is None else self.input_tokens.describe(),
            "output_tokens": None if self.output_tokens is None else self.output_tokens.describe(),
            "prompts": None if self.prompts is None else self.prompts.describe(),
            "seed": self.seed,
        }

    @classmethod
    def from_description(
        cls, data: Mapping[str, Any], prompts: PromptSet | Sequence[PromptValue] | None = None
    ) -> Workload:
        """The workload :meth:`describe` gave. A prompt set is read again from its ``source``
        file (or given as ``prompts``) and must have the recorded digest.

        :raises ValueError: a prompt set whose prompts differ from the recorded ones.
        """
        recorded = data.get("prompts")
        found: PromptSet | None = None
        if recorded is not None:
            order = recorded.get("order", "sequential")
            if prompts is None:
                found = PromptSet.from_file(str(recorded["source"]), order)
            elif isinstance(prompts, PromptSet):
                found = prompts
            else:
                found = PromptSet(tuple(prompts), order)
            digest = recorded.get("sha256")
            if digest is not None and found.digest() != digest:
                count = recorded.get("count")
                raise ValueError(
                    f"the prompts of {found.source or 'the given set'} differ from the recorded "
                    f"set ({count} prompt{'s' * (count != 1)}, sha256 {str(digest)[:12]}...)"
                )
        return cls(data.get("input_tokens"), data.get("output_tokens"), found, data.get("seed", 0))
