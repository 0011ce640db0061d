"""The ``--ollama-*`` options, ``ollama_*`` ini keys and environment variables.

Everything is resolved once, by :func:`resolve`, into a frozen :class:`Settings` with the
precedence command line > environment > ini file > built-in default. Bad values raise
:class:`pytest.UsageError` naming the option, where the value came from, and what is valid.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import TypeVar

import pytest

from .client import parse_host
from .models import Settings

__all__ = ["OPTIONS", "register", "resolve"]

T = TypeVar("T")

GROUP = "ollama"
_STRING: Literal["string"] = "string"
APIS = ("native", "openai")


@dataclass(frozen=True)
class Option:
    """One setting: its flag, ini key, environment variable and parser."""

    name: str  # Settings field
    flag: str
    metavar: str | None
    help: str
    env: str | None
    ini_type: Literal["string", "linelist", "bool"] | None = None
    default_text: str = ""


OPTIONS: tuple[Option, ...] = (
    Option(
        "host",
        "--ollama-host",
        "URL",
        "Ollama server to benchmark",
        "OLLAMA_HOST",
        default_text="$OLLAMA_HOST, else http://127.0.0.1:11434",
    ),
    Option(
        "api",
        "--ollama-api",
        "{native,openai}",
        "API to drive: Ollama's native /api/chat, or an OpenAI-compatible /v1/chat/completions",
        "PYTEST_OLLAMA_API",
        default_text="native",
    ),
    Option(
        "models",
        "--ollama-models",
        "NAMES",
        "Comma-separated models to run every benchmark test with (repeatable)",
        "PYTEST_OLLAMA_MODELS",
        ini_type="linelist",
        default_text="none",
    ),
    Option(
        "rounds",
        "--ollama-rounds",
        "N",
        "Measured rounds per call",
        "PYTEST_OLLAMA_ROUNDS",
        default_text="3",
    ),
    Option(
        "warmup",
        "--ollama-warmup",
        "N",
        "Warmup rounds per call, kept but left out of the statistics",
        "PYTEST_OLLAMA_WARMUP",
        default_text="1",
    ),
    Option(
        "timeout",
        "--ollama-timeout",
        "SECONDS",
        "Seconds to wait for the first chunk and between chunks",
        "PYTEST_OLLAMA_TIMEOUT",
        default_text="300",
    ),
    Option(
        "require",
        "--ollama-require",
        None,
        "Make an unreachable server or a missing model an error instead of a skip",
        "PYTEST_OLLAMA_REQUIRE",
        ini_type="bool",
        default_text="off",
    ),
    Option(
        "max_ttft_ms",
        "--ollama-max-ttft-ms",
        "MS",
        "Fail a benchmark whose time to first token exceeds MS (global gate)",
        "PYTEST_OLLAMA_MAX_TTFT_MS",
    ),
    Option(
        "max_total_ms",
        "--ollama-max-total-ms",
        "MS",
        "Fail a benchmark whose total time exceeds MS (global gate)",
        "PYTEST_OLLAMA_MAX_TOTAL_MS",
    ),
    Option(
        "min_tokens_per_s",
        "--ollama-min-tokens-per-s",
        "RATE",
        "Fail a benchmark whose decode rate is below RATE tokens/s (global gate)",
        "PYTEST_OLLAMA_MIN_TOKENS_PER_S",
    ),
)


def _dest(opt: Option) -> str:
    return "ollama_" + opt.name


def register(parser: pytest.Parser) -> None:
    """Add the option group and ini keys."""
    group = parser.getgroup(GROUP, "LLM benchmarks against an Ollama server (pytest-ollama-bench)")
    for opt in OPTIONS:
        help_text = opt.help
        if opt.env:
            help_text += f"; env {opt.env}"
        if opt.default_text:
            help_text += f". Default: {opt.default_text}"
        if opt.ini_type == "bool":
            group.addoption(
                opt.flag, action="store_true", default=None, dest=_dest(opt), help=help_text
            )
        elif opt.name == "models":
            group.addoption(
                opt.flag, action="append", default=None, dest=_dest(opt), metavar=opt.metavar,
                help=help_text,
            )  # fmt: skip
        else:
            group.addoption(
                opt.flag, default=None, dest=_dest(opt), metavar=opt.metavar, help=help_text
            )
        ini_type = opt.ini_type if opt.ini_type is not None else _STRING
        parser.addini(_dest(opt), f"{opt.help} (same as {opt.flag})", type=ini_type)


# --------------------------------------------------------------------------- resolution


def _raw(config: pytest.Config, opt: Option) -> tuple[Any, str] | None:
    """The first value given for ``opt``, with a description of where it came from."""
    value = config.getoption(_dest(opt))
    if value is not None:
        return value, f"{opt.flag}"
    if opt.env:
        env = os.environ.get(opt.env)
        if env is not None and env.strip() != "":
            return env, f"environment variable {opt.env}"
    ini = config.getini(_dest(opt))
    if ini not in (None, "", []):
        if opt.ini_type == "bool" and ini is False:
            return None
        return ini, f"ini option {_dest(opt)}"
    return None


def _bad(opt: Option, where: str, value: Any, expected: str) -> pytest.UsageError:
    return pytest.UsageError(
        f"{where}: {value!r} is not a valid value for {opt.flag}; expected {expected}"
    )


def _number(
    kind: Callable[[str], T], minimum: float, exclusive: bool = False
) -> Callable[[Option, str, Any], T]:
    def parse(opt: Option, where: str, value: Any) -> T:
        what = "an integer" if kind is int else "a number"
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        try:
            number = kind(str(value).strip())
        except ValueError:
            raise _bad(opt, where, value, f"{what} {bound}") from None
        if number < minimum or (exclusive and number == minimum):  # type: ignore[operator]
            raise _bad(opt, where, value, f"{what} {bound}")
        return number

    return parse


def _bool(opt: Option, where: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise _bad(opt, where, value, "one of 1, true, yes, on, 0, false, no, off")


def _api(opt: Option, where: str, value: Any) -> str:
    text = str(value).strip().lower()
    if text not in APIS:
        raise _bad(opt, where, value, "one of " + ", ".join(APIS))
    return text


def split_models(values: Iterable[str] | str) -> tuple[str, ...]:
    """``["a,b", "c"]`` or ``"a, b"`` -> ``("a", "b", "c")``, order kept, duplicates dropped."""
    items = [values] if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        for name in str(item).replace("\n", ",").split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return tuple(out)


def _models(opt: Option, where: str, value: Any) -> tuple[str, ...]:
    models = split_models(value)
    if not models:
        raise _bad(
            opt, where, value, "a comma-separated list of model names, e.g. llama3.2,qwen2.5"
        )
    return models


def _host(opt: Option, where: str, value: Any) -> str:
    text = str(value).strip()
    try:
        return parse_host(text)
    except ValueError as exc:  # pragma: no cover - parse_host is lenient like Ollama's
        raise _bad(opt, where, value, f"a URL such as http://127.0.0.1:11434 ({exc})") from None


_PARSERS: dict[str, Callable[[Option, str, Any], Any]] = {
    "host": _host,
    "api": _api,
    "models": _models,
    "rounds": _number(int, 1),
    "warmup": _number(int, 0),
    "timeout": _number(float, 0, exclusive=True),
    "require": _bool,
    "max_ttft_ms": _number(float, 0, exclusive=True),
    "max_total_ms": _number(float, 0, exclusive=True),
    "min_tokens_per_s": _number(float, 0, exclusive=True),
}


def resolve(config: pytest.Config) -> Settings:
    """Read every option once and return the session's frozen :class:`Settings`."""
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        found = _raw(config, opt)
        if found is None:
            continue
        value, where = found
        values[opt.name] = _PARSERS[opt.name](opt, where, value)
    return Settings(**values)
