"""Ollama model names: parsing, validation, normalisation and case-insensitive matching.

A port of ``types/model/name.go``: ``[scheme://]host/namespace/model:tag`` with the defaults
``registry.ollama.ai``, ``library`` and ``latest``. The tag is the part after the last ``:``
only when that ``:`` comes after the last ``/``. Lookups compare every part case-insensitively,
so ``llama3.2`` == ``LLAMA3.2:latest`` == ``library/llama3.2:latest``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_NAMESPACE",
    "DEFAULT_TAG",
    "ModelName",
    "normalize_model_name",
    "parse_model_name",
]

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
_MISSING = "!MISSING!"


@dataclass(frozen=True)
class ModelName:
    """A fully qualified model name (all four parts present)."""

    host: str
    namespace: str
    model: str
    tag: str

    @property
    def display(self) -> str:
        """``DisplayShortest``: default host and namespace dropped, tag always shown."""
        if self.host.lower() != DEFAULT_HOST:
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        else:
            prefix = ""
        return f"{prefix}{self.model}:{self.tag}"

    @property
    def full(self) -> str:
        """``host/namespace/model:tag`` (what Ollama prints in capability errors)."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Case-insensitive identity."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())


def _cut_last(text: str, sep: str) -> tuple[str, str, bool]:
    i = text.rfind(sep)
    if i < 0:
        return text, "", False
    return text[:i] or _MISSING, text[i + len(sep) :] or _MISSING, True


def _valid_part(kind: str, part: str) -> bool:
    limit = 350 if kind == "host" else 80
    if not 1 <= len(part) <= limit:
        return False
    for i, ch in enumerate(part):
        alnum = ch.isascii() and (ch.isalnum() or ch == "_")
        if i == 0:
            if not alnum:
                return False
        elif ch in "-_":
            continue
        elif ch == ".":
            if kind == "namespace":
                return False
        elif ch == ":":
            if kind != "host":
                return False
        elif not alnum:
            return False
    return True


def parse_model_name(text: str) -> ModelName | None:
    """Parse like Ollama's ``model.ParseName``; ``None`` when the name is not valid."""
    rest = text
    tag = ""
    host = ""
    namespace = ""
    if rest.rfind(":") > rest.rfind("/"):
        rest, tag, _ = _cut_last(rest, ":")
    rest, model, promised = _cut_last(rest, "/")
    if not promised:
        model = rest
    else:
        rest, namespace, promised = _cut_last(rest, "/")
        if not promised:
            namespace = rest
        else:
            scheme_host = rest.split("://", 1)
            host = scheme_host[-1]
    name = ModelName(
        host=host or DEFAULT_HOST,
        namespace=namespace or DEFAULT_NAMESPACE,
        model=model,
        tag=tag or DEFAULT_TAG,
    )
    parts = (
        ("host", name.host),
        ("namespace", name.namespace),
        ("model", name.model),
        ("tag", name.tag),
    )
    if not all(_valid_part(kind, part) for kind, part in parts):
        return None
    return name


def normalize_model_name(text: str) -> str:
    """The display name, tag included (``llama3.2`` -> ``llama3.2:latest``).

    Raises ``ValueError`` for an invalid name.
    """
    name = parse_model_name(text.strip())
    if name is None:
        raise ValueError(f"invalid model name: {text!r}")
    return name.display
