"""Calibrating a model's count of synthetic prompts against the server, once per process.

:func:`calibrate` sends the two calibration prompts of :mod:`pytest_ollama_bench.synthetic`
(64 and 128 words) as the calls will send theirs (same model, endpoint and system message;
one output token) and keeps the server's own count of each whole request
(``prompt_eval_count``; OpenAI: ``usage.prompt_tokens``), chat template included.
:class:`Calibrations` keeps them for the session, keyed by model, endpoint and system message
(under pytest-xdist each worker calibrates once). No pytest here.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import EmptyReplyError
from .names import normalize_model_name
from .synthetic import CALIBRATION_WORDS
from .synthetic import Calibration
from .synthetic import CalibrationError
from .synthetic import Endpoint
from .synthetic import calibration_text

if TYPE_CHECKING:
    from .models import Measurement
    from .runtime import BenchClient

__all__ = ["CALIBRATION_OPTIONS", "Calibrations", "calibrate"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

#: Options of a calibration request: one output token, greedy, and no early end of the answer
#: (a reply with no token at all would be an empty reply, not a count).
CALIBRATION_OPTIONS = {"num_predict": 1, "temperature": 0, "seed": 0, "ignore_eos": True}
Key = tuple[str, Endpoint, str | None]


async def _count(
    client: BenchClient, model: str, endpoint: Endpoint, text: str, system: str | None
) -> Measurement:
    if endpoint == "chat":
        messages = [{"role": "user", "content": text}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        return await client.chat(model, messages, options=CALIBRATION_OPTIONS, warmup=True)
    return await client.generate(
        model, text, system=system, options=CALIBRATION_OPTIONS, warmup=True
    )


async def calibrate(
    client: BenchClient, model: str, *, endpoint: Endpoint = "chat", system: str | None = None
) -> Calibration:
    """How the server counts synthetic prompts of ``model`` in requests of this shape.

    :raises CalibrationError: the server reported no prompt token count, or counts that do not
        grow with the prompt.
    :raises ServerError: a request failed (the client's errors).
    """
    samples: list[tuple[int, int]] = []
    for index, words in enumerate(CALIBRATION_WORDS):
        try:
            measured = await _count(client, model, endpoint, calibration_text(index), system)
        except EmptyReplyError:  # an end of text as the one token: once more, other order
            text = calibration_text(index, attempt=1)
            measured = await _count(client, model, endpoint, text, system)
        if measured.prompt_eval_count is None:
            raise CalibrationError(
                f"cannot size prompts for {model!r}: the server reported no prompt token count "
                f"(prompt_eval_count; OpenAI: usage.prompt_tokens) for a {endpoint} request of "
                f"{words} words; use prompts of your own"
            )
        samples.append((words, measured.prompt_eval_count))
    return Calibration(model, endpoint, system, tuple(samples))


class Calibrations:
    """The calibrations of this process: each model, endpoint and system message once."""

    def __init__(self) -> None:
        self._done: dict[Key, Calibration] = {}

    @staticmethod
    def key(model: str, endpoint: Endpoint, system: str | None) -> Key:
        return (normalize_model_name(model), endpoint, system)

    def get(self, model: str, endpoint: Endpoint, system: str | None) -> Calibration | None:
        """The calibration made before, if any."""
        return self._done.get(self.key(model, endpoint, system))

    def put(self, calibration: Calibration) -> Calibration:
        key = self.key(calibration.model, calibration.endpoint, calibration.system)
        return self._done.setdefault(key, calibration)

    def calibration_call(
        self, model: str, endpoint: Endpoint, system: str | None
    ) -> Callable[[BenchClient], Awaitable[Calibration]]:
        """A call (a coroutine function of a client) that returns the calibration, asking the
        server only the first time."""

        async def call(client: BenchClient) -> Calibration:
            found = self.get(model, endpoint, system)
            if found is not None:
                return found
            return self.put(await calibrate(client, model, endpoint=endpoint, system=system))

        return call
