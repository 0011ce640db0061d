"""Which models an Ollama server has: ``/api/tags``, ``ollama list`` and name lookups.

Pure functions, no I/O: the client fetches ``GET /api/tags`` (or runs ``ollama list``) and hands
the result here; the plugin turns the answers into skip reasons. Names are compared with
:mod:`pytest_ollama_bench.names` (Ollama's ``types/model/name.go``): the full form is
``host/namespace/model:tag`` with defaults ``registry.ollama.ai``, ``library`` and ``latest``,
and lookups are case-insensitive.

A failed listing becomes a reason too (:func:`model_list_failure_reason`, from the client's
structured error). Light to import (the plugin imports it at pytest start-up): the pydantic
:class:`~pytest_ollama_bench.models.ModelDetails` is imported when a list is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from .errors import MalformedResponseError
from .errors import ServerError
from .errors import ServerHTTPError
from .errors import ServerTimeoutError
from .errors import ServerUnreachableError
from .errors import body_text
from .errors import is_html
from .names import display_name
from .names import normalize_model_name

if TYPE_CHECKING:
    from .models import ModelDetails

__all__ = [
    "display_name",
    "find_model",
    "missing_model_reason",
    "model_from_tags_entry",
    "model_list_failure_reason",
    "normalize_model_name",
    "parse_ollama_list",
    "parse_tags",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

_MAX_LISTED_MODELS = 10
_LIST_HEADER = ("NAME", "ID", "SIZE", "MODIFIED")
_COLUMN_GAP = re.compile(r"\s{2,}")
_SIZE = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>B|KB|MB|GB|TB|PB)$")
_SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def model_from_tags_entry(entry: Mapping[str, Any]) -> ModelDetails:
    """The model one element of ``/api/tags``' ``models`` list describes.

    Missing, null or mistyped optional keys become ``None`` and unknown keys are ignored.
    The name is ``name``, else ``model`` (the Python client drops ``name``); ``family`` falls
    back to the first of ``details.families``.

    :param entry: the JSON object for one model.
    :returns: the model.
    :raises ValueError: when the entry has neither a ``name`` nor a ``model`` string.
    """
    from .models import ModelDetails

    name = _str_or_none(entry.get("name")) or _str_or_none(entry.get("model"))
    if name is None:
        raise ValueError(f"/api/tags entry has neither 'name' nor 'model': {dict(entry)!r}")
    raw_details = entry.get("details")
    details: Mapping[str, Any] = raw_details if isinstance(raw_details, Mapping) else {}
    family = _str_or_none(details.get("family"))
    families = details.get("families")
    if family is None and isinstance(families, list) and families:
        family = _str_or_none(families[0])
    return ModelDetails(
        name=name,
        digest=_str_or_none(entry.get("digest")),
        size=_int_or_none(entry.get("size")),
        family=family,
        parameter_size=_str_or_none(details.get("parameter_size")),
        quantization_level=_str_or_none(details.get("quantization_level")),
        modified_at=_str_or_none(entry.get("modified_at")),
        remote_host=_str_or_none(entry.get("remote_host")),
    )


def parse_tags(payload: Mapping[str, Any]) -> list[ModelDetails]:
    """Parse the JSON body of ``GET /api/tags`` (``{"models": [...]}``), keeping server order.

    :param payload: the decoded JSON object; a missing or null ``models`` means no models.
    :returns: the installed models, newest first as the server sends them.
    :raises ValueError: when ``models`` is not a list or an entry is not an object with a name.
    """
    models = payload.get("models")
    if models is None:
        return []
    if not isinstance(models, list):
        raise ValueError(f"/api/tags 'models' must be a list, got {type(models).__name__}")
    result: list[ModelDetails] = []
    for index, entry in enumerate(models):
        if not isinstance(entry, Mapping):
            raise ValueError(f"/api/tags models[{index}] must be an object, got {entry!r}")
        result.append(model_from_tags_entry(entry))
    return result


def _parse_size(text: str, line: str) -> int | None:
    if text == "-":
        return None
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(
            f"unrecognised SIZE {text!r} in `ollama list` row {line!r}; expected e.g. '2.0 GB', "
            "'274 MB' or '-'"
        )
    return round(float(match.group("value")) * _SIZE_UNITS[match.group("unit")])


def _header_columns(header: str) -> list[int] | None:
    """Start offsets of the four columns when ``header`` is the ``ollama list`` header."""
    cells = _COLUMN_GAP.split(header.strip())
    if tuple(cells) != _LIST_HEADER:
        return None
    starts: list[int] = []
    position = 0
    for cell in cells:
        position = header.index(cell, position)
        starts.append(position)
        position += len(cell)
    return starts


def _row_cells(line: str, starts: list[int]) -> list[str]:
    cells = _COLUMN_GAP.split(line.strip())
    if len(cells) == len(starts):
        return cells
    # Fall back to the header's fixed column offsets (tablewriter pads every cell).
    bounds = [*starts[1:], len(line)]
    return [line[begin:end].strip() for begin, end in zip(starts, bounds, strict=True)]


def parse_ollama_list(output: str) -> list[ModelDetails]:
    """Parse the table printed by ``ollama list`` (``ollama ls``).

    Columns are ``NAME  ID  SIZE  MODIFIED``, left-aligned and padded with spaces (lines carry
    trailing blanks). ``ID`` becomes ``digest`` (the 12-character prefix the CLI shows),
    ``SIZE`` is converted to bytes with decimal units (``2.0 GB`` is 2,000,000,000; the CLI
    rounds, so the value is approximate) and ``-`` (cloud models) to ``None``; ``MODIFIED`` is
    kept as the CLI's relative text (``5 days ago``) in ``modified_at``.

    :param output: the command's standard output.
    :returns: the models in the order listed; ``[]`` for a header-only table.
    :raises ValueError: when the first non-blank line is not the ``ollama list`` header, or a row
        does not have four cells or a recognisable size.
    """
    from .models import ModelDetails

    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty `ollama list` output; expected a 'NAME  ID  SIZE  MODIFIED' header")
    starts = _header_columns(lines[0])
    if starts is None:
        raise ValueError(
            f"unrecognised `ollama list` header {lines[0]!r}; expected the columns "
            "'NAME  ID  SIZE  MODIFIED'"
        )
    models: list[ModelDetails] = []
    for line in lines[1:]:
        cells = _row_cells(line, starts)
        if len(cells) != len(_LIST_HEADER) or not all(cells):
            raise ValueError(
                f"unrecognised `ollama list` row {line!r}; expected four cells "
                "NAME, ID, SIZE, MODIFIED"
            )
        name, digest, size, modified = cells
        models.append(
            ModelDetails(
                name=name,
                digest=digest,
                size=_parse_size(size, line),
                modified_at=modified,
            )
        )
    return models


def find_model(wanted: str, installed: Sequence[ModelDetails]) -> ModelDetails | None:
    """The installed model that ``wanted`` names, comparing :func:`normalize_model_name` keys.

    :param wanted: the name the user asked for, e.g. ``llama3.2`` or ``Qwen2.5:0.5B``.
    :param installed: what the server has.
    :returns: the first match, or ``None``.
    :raises ValueError: when ``wanted`` is empty or blank.
    """
    key = normalize_model_name(wanted)
    for model in installed:
        if normalize_model_name(model.name) == key:
            return model
    return None


def missing_model_reason(
    model: str, host: str, installed: Sequence[ModelDetails], embedded: bool = False
) -> str:
    """The skip reason for a model the server does not have, with the command that fixes it.

    :param model: the model as the user named it.
    :param host: the server's base URL.
    :param installed: what the server has, in server order.
    :param embedded: the server is the embedded engine (``--ollama-embedded``), which serves
        its own model only: the fix is to select that model, not ``ollama pull``.
    :returns: e.g. ``model 'x' not available on http://127.0.0.1:11434 (have: a:latest, b:7b);
        run: ollama pull x``; ``(have: none)`` for an empty server; beyond 10 models the list
        ends ``, … (+N more)``.
    """
    names = [m.name for m in installed]
    if not names:
        have = "none"
    else:
        have = ", ".join(names[:_MAX_LISTED_MODELS])
        if len(names) > _MAX_LISTED_MODELS:
            have += f", \u2026 (+{len(names) - _MAX_LISTED_MODELS} more)"
    wanted = model.strip()
    if embedded and names:
        return (
            f"model '{wanted}' not available on the embedded engine at {host}, which serves "
            f"only {have}: select it with --ollama-models={names[0]}"
        )
    return f"model '{wanted}' not available on {host} (have: {have}); run: ollama pull {wanted}"


_LIST_404_HINTS = {
    "native": "is this an Ollama server? (for an OpenAI-compatible one use --ollama-api openai)",
    "openai": (
        "{host} does not look like an OpenAI-compatible server: check --ollama-host (the "
        "server's base URL), or use --ollama-api native for Ollama's own API"
    ),
}


def model_list_failure_reason(exc: ServerError) -> str:
    """The skip or error reason when listing a server's models failed with ``exc``.

    Only a connection failure says the server is not reachable (with how to start one);
    anything else names the request, what came back and what to check.

    :param exc: the client's error from ``installed_models()``.
    :returns: e.g. ``Ollama server at http://127.0.0.1:11434 is not reachable
        (connection refused); start it with 'ollama serve' or point --ollama-host /
        OLLAMA_HOST at a running server``, or ``could not list the models of
        http://127.0.0.1:11434: GET /api/tags answered HTTP 500: <server text>; check the
        server log``.
    """
    if isinstance(exc, ServerUnreachableError):
        return exc.message
    head = f"could not list the models of {exc.host}"
    if isinstance(exc, ServerHTTPError):
        if exc.status == 404:
            hint = _LIST_404_HINTS[exc.api].format(host=exc.host)
        elif exc.status in (401, 403, 429, 503):
            hint = exc.hint
        else:
            hint = "check the server log"
        return f"{head}: {exc.method} {exc.path} answered HTTP {exc.status}: {exc.error}; {hint}"
    if isinstance(exc, MalformedResponseError):
        shown = body_text(exc.line) if is_html(exc.line) else repr(body_text(exc.line))
        return (
            f"{head}: {exc.method} {exc.path} returned a body that is not {exc.expected} "
            f"({shown}); is this an {exc.server}?"
        )
    if isinstance(exc, ServerTimeoutError):
        return (
            f"{head}: no {exc.phase} to GET {exc.path} within {exc.seconds:g} s; the server is "
            "overloaded or stuck: check its log, or raise --ollama-timeout"
        )
    return f"{head}: {exc.message}"
