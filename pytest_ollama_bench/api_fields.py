"""The request fields of Ollama's ``/api/chat`` and ``/api/generate``, and which a call passes on.

Every field of Ollama's ``ChatRequest`` and ``GenerateRequest`` (``api/types.go``) reaches the
server unchanged when a benchmark call or a client method is given it as a keyword; a keyword
that is no request field is rejected before any request, with the valid ones listed. Fields a
call sets itself (``model``, ``messages``/``prompt``, ``options``, ``system``) are its own
arguments. Pure, standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any
from typing import Literal

__all__ = ["CHAT_FIELDS", "GENERATE_FIELDS", "check_fields", "passthrough_fields"]

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
    :raises TypeError: a keyword that is no request field; the message lists the valid ones.
    """
    valid = passthrough_fields(endpoint)
    unknown = [name for name in fields if name not in valid]
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        plural = "s" if len(unknown) > 1 else ""
        own_text = ", ".join(own)
        lead = f"{own_text}, and " if own_text else ""
        raise TypeError(
            f"{call} got unexpected keyword argument{plural} {names}; valid keywords: {lead}"
            f"the /api/{endpoint} request fields {', '.join(valid)}"
        )
    return {name: value for name, value in fields.items() if value is not None}
