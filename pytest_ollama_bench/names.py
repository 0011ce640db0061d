"""Ollama model names: the one reading of ``[scheme://]host/namespace/model:tag``.

A port of Ollama's ``types/model/name.go`` (reference: ollama-api.md section 4.3), used by the
client (is a model installed? which ``/api/ps`` entry is it?) and by the server (which model
does a request name?). Standard library only.

* Defaults: host :data:`DEFAULT_REGISTRY` (``registry.ollama.ai``), namespace
  :data:`DEFAULT_NAMESPACE` (``library``), tag :data:`DEFAULT_TAG` (``latest``).
* Split: the tag is the part after the last ``:`` only when that ``:`` comes after the last
  ``/`` (``myhost:5000/ns/m`` has a port, not a tag); then the model is after the last ``/``,
  the namespace after the one before, and the rest is the host (a ``scheme://`` dropped).
* Display (``DisplayShortest``): default host and namespace dropped, the tag always shown;
  ``registry.ollama.ai/library/llama3.2`` is shown ``llama3.2:latest``.
* Identity: every part compares case-insensitively (``llama3.2`` is ``LLAMA3.2:latest``).

Two readings share that split:

* :func:`parse_model_name` is Ollama's own (``ParseName`` + ``IsValid``): parts must be
  non-empty and use the allowed characters; anything else is ``None`` (Ollama answers HTTP 400
  ``invalid model name``). The server and :func:`display_name` use it.
* :func:`read_model_name` is the client's lenient reading, for *matching* names only: a part
  left empty takes its default, a leading ``scheme://`` is dropped wherever the name has fewer
  parts, and characters are not checked, so a sloppy ``llama3.2:`` or a model id from another
  OpenAI-compatible server (a file path, a name with spaces) still compares instead of failing.
  Only a name without a model part is rejected. :func:`normalize_model_name` uses it.

For every name Ollama accepts, both readings give the same parts.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "ModelName",
    "display_name",
    "normalize_model_name",
    "parse_model_name",
    "read_model_name",
]

DEFAULT_REGISTRY = "registry.ollama.ai"
"""The registry host a name without a host refers to (not a server URL: see ``hosts``)."""
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
_MISSING = "!MISSING!"  # Go's MissingPart: a part the name promised but left empty


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
        if self.host.lower() != DEFAULT_REGISTRY:
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
    """Go's ``cutPromised``: an empty side of a found separator is ``_MISSING``."""
    i = text.rfind(sep)
    if i < 0:
        return text, "", False
    return text[:i] or _MISSING, text[i + len(sep) :] or _MISSING, True


def _split(text: str) -> tuple[str, str, str, str]:
    """Go's ``ParseNameBare``: ``(host, namespace, model, tag)``, ``""`` for a part not given."""
    rest = text
    tag = host = namespace = ""
    if rest.rfind(":") > rest.rfind("/"):
        rest, tag, _ = _cut_last(rest, ":")
    rest, model, promised = _cut_last(rest, "/")
    if not promised:
        return host, namespace, rest, tag
    rest, namespace, promised = _cut_last(rest, "/")
    if not promised:
        return host, rest, model, tag
    host = rest.split("://", 1)[-1]
    return host, namespace, model, tag


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
    """Parse like Ollama's ``model.ParseName``; ``None`` when the name is not valid.

    :param text: the name exactly as given (callers strip surrounding blanks themselves).
    :returns: the four parts, defaults filled in, spelling kept; ``None`` for a name Ollama
        rejects with ``invalid model name`` (an empty part, a bad character, a part too long).
    """
    host, namespace, model, tag = _split(text)
    name = ModelName(
        host=host or DEFAULT_REGISTRY,
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


def read_model_name(name: str) -> ModelName:
    """The client's lenient reading of a name, for matching it against what a server lists.

    Surrounding blanks and a leading ``scheme://`` are dropped, the parts are split as
    :func:`parse_model_name` splits them, and a part that is absent or empty takes its default;
    characters are not checked. For a name Ollama accepts the result equals
    :func:`parse_model_name`'s; ``llama3.2:`` reads as ``llama3.2:latest``.

    :param name: a model name in any form, e.g. ``registry.ollama.ai/library/llama3.2``.
    :returns: the four parts, spelling kept.
    :raises ValueError: when ``name`` is empty or blank, or has no model part (``ns/``).
    """
    text = name.strip()
    scheme_end = text.find("://")
    if scheme_end != -1:
        text = text[scheme_end + 3 :]
    if not text:
        raise ValueError(f"model name {name!r} is empty")
    host, namespace, model, tag = ("" if part == _MISSING else part for part in _split(text))
    if not model:
        raise ValueError(f"model name {name!r} has an empty model part; expected [namespace/]model")
    return ModelName(
        host=host or DEFAULT_REGISTRY,
        namespace=namespace or DEFAULT_NAMESPACE,
        model=model,
        tag=tag or DEFAULT_TAG,
    )


def display_name(name: str) -> str:
    """The name as ``ollama list`` and ``/api/tags`` show it (Ollama's ``DisplayShortest``).

    The tag is always present (``latest`` added); the default host is dropped, and the default
    namespace too when the host is the default one. Case is kept as given.

    :param name: a valid model name, e.g. ``registry.ollama.ai/library/llama3.2``; surrounding
        blanks are ignored.
    :returns: e.g. ``llama3.2:latest``, ``mattw/pygmalion:latest``,
        ``hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M``.
    :raises ValueError: when ``name`` is blank or not a name Ollama accepts
        (see :func:`parse_model_name`).
    """
    if not name.strip():
        raise ValueError(f"model name {name!r} is empty")
    parsed = parse_model_name(name.strip())
    if parsed is None:
        raise ValueError(f"invalid model name: {name!r}")
    return parsed.display


def normalize_model_name(name: str) -> str:
    """The key under which two names denote the same model: the display name, lower-cased.

    ``llama3.2``, ``Llama3.2:latest``, ``library/llama3.2`` and
    ``registry.ollama.ai/library/llama3.2:latest`` all give ``llama3.2:latest``. The name is
    read leniently (:func:`read_model_name`), so matching never rejects a name a server lists;
    for a valid name the key is ``display_name(name).lower()``.

    :param name: a model name in any form.
    :returns: the canonical comparison key.
    :raises ValueError: when ``name`` is empty or blank, or has no model part.
    """
    return read_model_name(name).display.lower()
