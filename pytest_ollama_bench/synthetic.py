"""Prompts of a chosen token count without a tokenizer: synthetic text and its calibration.

A synthetic prompt is words of :data:`VOCABULARY` joined by single spaces: 64 common English
words of 3 to 6 letters, each of which the tokenizers of current models (GPT-2-style BPE,
Llama 3, Qwen, SmolLM2, SentencePiece) count as one token with or without a leading space, and
which they never merge across a space. A prompt of ``W`` words holds every word ``W // 64``
times and the first ``W % 64`` words once more, the same words for every seed, in an order the
seed shuffles. So the server's count of a request depends on ``W`` only:

    prompt tokens = base + per_word * W

``base`` is the request's own tokens (the chat template, the role markers, a system message),
``per_word`` is 1 for those tokenizers. A :class:`Calibration` holds both for one model and
request shape, measured from the server's own count (``prompt_eval_count``; OpenAI:
``usage.prompt_tokens``) of two requests of :data:`CALIBRATION_WORDS` words, whole rounds of
the vocabulary, so ``per_word`` is exact even for a tokenizer that splits a word.

:class:`SizedPrompt` is such a prompt (a ``str``) that remembers how it was made;
:meth:`SizedPrompt.variant` gives a prompt of the same count whose words start differently
(``cache="bust"``). Pure, standard library only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any
from typing import Literal

__all__ = [
    "CALIBRATION_WORDS",
    "VOCABULARY",
    "Calibration",
    "CalibrationError",
    "SizedPrompt",
    "calibration_text",
    "synthetic_text",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

# fmt: off
#: The words of synthetic prompts: one token each for the tokenizers of current models (checked
#: on SmolLM2's with llama.cpp's ``/tokenize``, with and without a leading space).
VOCABULARY: tuple[str, ...] = (
    "river", "stone", "light", "house", "water", "green", "small", "long", "old", "high",
    "place", "night", "white", "black", "north", "south", "music", "field", "paper", "table",
    "market", "summer", "winter", "letter", "story", "bridge", "forest", "round", "quiet",
    "bright", "clear", "cold", "warm", "rain", "wind", "snow", "road", "town", "hill", "lake",
    "tree", "bird", "song", "blue", "red", "gold", "sand", "wood", "ship", "sea", "sky", "sun",
    "moon", "star", "fire", "door", "wall", "glass", "iron", "bread", "milk", "salt", "city",
    "world",
)
# fmt: on
#: Words of the two calibration prompts: one and two whole rounds of the vocabulary.
CALIBRATION_WORDS: tuple[int, int] = (len(VOCABULARY), 2 * len(VOCABULARY))

Endpoint = Literal["chat", "generate"]


class CalibrationError(ValueError):
    """The server's counts cannot size prompts (none reported, or not growing with the text)."""


def _words(count: int, seed: int | str) -> list[str]:
    full, extra = divmod(count, len(VOCABULARY))
    words = list(VOCABULARY) * full + list(VOCABULARY[:extra])
    random.Random(f"pytest-ollama-bench/{seed}").shuffle(words)
    return words


def synthetic_text(words: int, seed: int | str = 0, *, variant: int = 0) -> str:
    """``words`` vocabulary words, their order shuffled by ``seed``.

    Every seed and variant uses the same words (so the same token count); ``variant`` n >= 1
    shuffles again and starts with another word than the base text and than variant n - 1
    (when the text has two different words at least), so no two consecutive prompts share a
    first token.

    :raises ValueError: ``words`` < 1 or ``variant`` < 0.
    """
    if words < 1 or variant < 0:
        raise ValueError(f"words must be >= 1 and variant >= 0, got {words}, {variant}")
    base = _words(words, seed)
    if variant == 0:
        return " ".join(base)
    present = VOCABULARY[: min(words, len(VOCABULARY))]
    first = present[(present.index(base[0]) + variant) % len(present)]
    shuffled = _words(words, f"{seed}#{variant}")
    at = shuffled.index(first)
    return " ".join(shuffled[at:] + shuffled[:at])


def calibration_text(index: int, attempt: int = 0) -> str:
    """The text of calibration request ``index`` (0 or 1): :data:`CALIBRATION_WORDS` words
    (another order for another ``attempt``)."""
    return synthetic_text(CALIBRATION_WORDS[index], f"calibration/{index}/{attempt}")


@dataclass(frozen=True)
class Calibration:
    """How a server counts synthetic prompts of one model in one request shape.

    :ivar model: the model, as the calls name it.
    :ivar endpoint: ``chat`` (the prompt as the only user message) or ``generate``.
    :ivar system: the system message (``system=``) the requests carried, if any.
    :ivar samples: ``(words, prompt tokens)`` of the calibration requests, as the server
        counted them (``prompt_eval_count`` / ``usage.prompt_tokens``).
    """

    model: str
    endpoint: Endpoint
    system: str | None
    samples: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        (w1, t1), (w2, t2) = self.samples[0], self.samples[-1]
        if w2 <= w1 or t2 <= t1:
            raise CalibrationError(
                f"the server counted {t1} prompt tokens for {w1} words and {t2} for {w2} "
                f"({self.model!r}, {self.endpoint}): its count does not grow with the prompt, "
                "so prompts cannot be sized from it (a server that leaves cached prompt tokens "
                "out of prompt_eval_count, as Ollama v0.30.0 did? v0.30.1 counts them again)"
            )

    @property
    def per_word(self) -> float:
        """Tokens per vocabulary word (1.0 for the tokenizers of current models)."""
        (w1, t1), (w2, t2) = self.samples[0], self.samples[-1]
        return (t2 - t1) / (w2 - w1)

    @property
    def base(self) -> float:
        """Tokens of the request itself, before any word: template, roles, system message."""
        words, tokens = self.samples[0]
        return tokens - self.per_word * words

    def expected_tokens(self, words: int) -> float:
        """The count the server gives a request with a synthetic prompt of ``words`` words."""
        return self.base + self.per_word * words

    def words_for(self, tokens: int) -> int:
        """The words of a synthetic prompt the server counts as ``tokens``.

        :raises ValueError: ``tokens`` is less than the request's own tokens plus one word.
        """
        __tracebackhide__ = True  # pytest shows the error at the caller's line
        smallest = self.expected_tokens(1)
        if tokens < smallest - 0.5:
            shape = "a chat request" if self.endpoint == "chat" else "a generate request"
            raise ValueError(
                f"{self.model!r} counts {self.base:.0f} tokens in {shape} before the prompt's "
                f"text (its template{' and system message' if self.system else ''}): ask for "
                f"at least {round(smallest)} prompt tokens, got {tokens}"
            )
        return max(1, round((tokens - self.base) / self.per_word))

    def describe(self) -> dict[str, Any]:
        """The calibration as JSON-able data (the call record's ``workload``)."""
        return {
            "model": self.model,
            "endpoint": self.endpoint,
            "system": self.system is not None,
            "base": round(self.base, 3),
            "per_word": round(self.per_word, 4),
            "samples": [list(sample) for sample in self.samples],
        }


class SizedPrompt(str):
    """A synthetic prompt the server counts as :attr:`tokens` tokens (see the module).

    It is an ordinary ``str``; it also remembers how it was made (:meth:`describe`), and
    :meth:`variant` gives another prompt of the same count. Made by
    ``ollama_bench.prompt(tokens=..., seed=...)``, which calibrates the model first.

    :ivar tokens: the prompt tokens asked for: the server's count of the whole request
        (template and system message included).
    :ivar seed: shuffles the words; the same seed gives the same text.
    :ivar words: how many words the text has.
    :ivar calibration: the :class:`Calibration` the size comes from.
    :ivar variant_number: 0 for the text of the seed, n for its n-th variant.
    """

    tokens: int
    seed: int | str
    words: int
    calibration: Calibration
    variant_number: int

    def __new__(
        cls, tokens: int, *, calibration: Calibration, seed: int | str = 0, variant: int = 0
    ) -> SizedPrompt:
        __tracebackhide__ = True  # pytest shows the error at the caller's line
        if isinstance(tokens, bool) or not isinstance(tokens, int):
            raise TypeError(f"tokens must be an int, got {tokens!r}")
        words = calibration.words_for(tokens)
        text = super().__new__(cls, synthetic_text(words, seed, variant=variant))
        text.tokens = tokens
        text.seed = seed
        text.words = words
        text.calibration = calibration
        text.variant_number = variant
        return text

    def variant(self, n: int) -> SizedPrompt:
        """Variant ``n`` (>= 1): the same words and count, another order and first word."""
        return SizedPrompt(self.tokens, calibration=self.calibration, seed=self.seed, variant=n)

    def describe(self) -> dict[str, Any]:
        """How the prompt was made: asked tokens, seed, words, calibration (JSON-able)."""
        return {
            "input_tokens": self.tokens,
            "seed": self.seed,
            "words": self.words,
            "expected_tokens": round(self.calibration.expected_tokens(self.words), 1),
            "calibration": self.calibration.describe(),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.tokens, self.calibration, self.seed, self.variant_number))


def _rebuild(tokens: int, calibration: Calibration, seed: int | str, variant: int) -> SizedPrompt:
    return SizedPrompt(tokens, calibration=calibration, seed=seed, variant=variant)
