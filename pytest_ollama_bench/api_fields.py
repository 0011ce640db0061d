"""The request fields of Ollama's ``/api/chat`` and ``/api/generate``, and which a call passes on.

Every field of Ollama's ``ChatRequest`` and ``GenerateRequest`` (``api/types.go``) reaches the
server unchanged when a benchmark call or a client method is given it as a keyword; a keyword
that is no request field is rejected before any request, with the likely one first (an
Ollama option such as ``temperature`` belongs in ``options``) and the valid ones listed. Fields
a call sets itself (``model``, ``messages``/``prompt``, ``options``, ``system``) are its own
arguments. Pure, standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Literal

from .suggest import did_you_mean
from .suggest import quoted
from .suggest import unknown_names

__all__ = [
    "CHAT_FIELDS",
    "ENDPOINTS",
    "GENERATE_FIELDS",
    "OLLAMA_OPTIONS",
    "check_endpoint",
    "check_fields",
    "option_choices",
    "passthrough_fields",
]

#: The request kinds a call sends: ``/api/chat`` or ``/api/generate``.
ENDPOINTS: tuple[str, ...] = ("chat", "generate")

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

#: ``api.ChatRequest``'s JSON fields, in the struct's order.
CHAT_FIELDS: tuple[str, ...] = (
    "model",
    "messages",
    "stream",
    "format",
    "keep_alive",
    "tools",
    "options",
    "think",
    "truncate",
    "shift",
    "logprobs",
    "top_logprobs",
)
#: ``api.GenerateRequest``'s JSON fields, in the struct's order.
GENERATE_FIELDS: tuple[str, ...] = (
    "model",
    "prompt",
    "suffix",
    "system",
    "template",
    "context",
    "stream",
    "raw",
    "format",
    "keep_alive",
    "images",
    "options",
    "think",
    "truncate",
    "shift",
    "logprobs",
    "top_logprobs",
)
_OWN = frozenset({"model", "messages", "prompt", "options", "system"})
#: The keys of a request's ``options`` (``api.Options`` and ``api.Runner``, in their order).
OLLAMA_OPTIONS: tuple[str, ...] = (
    "num_keep", "seed", "num_predict", "top_k", "top_p", "min_p", "typical_p", "repeat_last_n",
    "temperature", "repeat_penalty", "presence_penalty", "frequency_penalty", "stop", "num_ctx",
    "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread",
)  # fmt: skip


def option_choices(names: Iterable[str]) -> dict[str, str]:
    """Suggestions for a mistyped keyword: ``names`` themselves, and for an Ollama option
    (``temperature``) where it belongs, ``options={'temperature': ...}``."""
    choices = {option: f"options={{{option!r}: ...}}" for option in OLLAMA_OPTIONS}
    return {**choices, **quoted(names)}


def check_endpoint(endpoint: object, *, call: str) -> Literal["chat", "generate"]:
    """``endpoint`` when it is ``chat`` or ``generate``.

    :raises ValueError: anything else, with the likely one.
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    if endpoint not in ENDPOINTS:
        hint = did_you_mean(endpoint, ENDPOINTS) if isinstance(endpoint, str) else ""
        raise ValueError(
            f"{call}: endpoint={endpoint!r}{hint} is no endpoint; use 'chat' (/api/chat) or "
            "'generate' (/api/generate)"
        )
    return "chat" if endpoint == "chat" else "generate"


def passthrough_fields(endpoint: Literal["chat", "generate"]) -> tuple[str, ...]:
    """The request fields a call takes as keywords (all but the ones it sets itself)."""
    fields = CHAT_FIELDS if endpoint == "chat" else GENERATE_FIELDS
    return tuple(f for f in fields if f not in _OWN)


def check_fields(
    endpoint: Literal["chat", "generate"],
    fields: Mapping[str, Any],
    *,
    call: str,
    own: Iterable[str] = (),
) -> dict[str, Any]:
    """``fields`` without ``None`` values, once every name is a request field of ``endpoint``.

    :param call: how the message names the call, e.g. ``ollama_bench.chat()``.
    :param own: the call's own keyword arguments, listed first among the valid ones.
    :raises TypeError: a keyword that is no request field; the message names the likely one
        (:func:`option_choices`), then lists the valid ones.
    :raises ValueError: ``endpoint`` is neither ``chat`` nor ``generate``.
    """
    __tracebackhide__ = True  # pytest shows the error at the caller's line
    valid = passthrough_fields(check_endpoint(endpoint, call=call))
    unknown = [name for name in fields if name not in valid]
    if unknown:
        own = tuple(own)
        names = unknown_names(unknown, option_choices((*own, *valid)))
        which = "unexpected keyword argument"
        which = f"{which}s" if len(unknown) > 1 else f"an {which}"
        lead = f"{', '.join(own)}, and " if own else ""
        raise TypeError(
            f"{call} got {which} {names}; valid keywords: {lead}"
            f"the /api/{endpoint} request fields {', '.join(valid)}"
        )
    return {name: value for name, value in fields.items() if value is not None}
