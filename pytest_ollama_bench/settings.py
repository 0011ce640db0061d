"""The plugin's configuration for one session: a frozen dataclass, light to import."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .regression import CompareFail

__all__ = [
    "APIS",
    "CACHE_POLICIES",
    "DEFAULT_STORAGE_DIR",
    "START_POLICIES",
    "VALID_RUN_NAME",
    "Api",
    "CachePolicy",
    "Settings",
    "StartPolicy",
    "check_run_name",
    "split_names",
]

Api = Literal["native", "openai"]
APIS: tuple[Api, ...] = ("native", "openai")
#: ``warm``: warmup rounds first; ``cold``: the model unloaded before every measured round.
StartPolicy = Literal["warm", "cold"]
START_POLICIES: tuple[StartPolicy, ...] = ("warm", "cold")
#: ``keep``: prompts as given; ``bust``: a unique prefix on each round's prompt.
CachePolicy = Literal["keep", "bust"]
CACHE_POLICIES: tuple[CachePolicy, ...] = ("keep", "bust")

#: The run history's directory, relative to pytest's rootdir.
DEFAULT_STORAGE_DIR = ".ollama-bench"
#: What a run name (``--ollama-save NAME``) may look like.
VALID_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Settings:
    """The plugin's configuration for one session, resolved once (CLI > env > ini > default).

    Each field's default here is the option's default (the option table reads it).
    """

    host: str = "http://127.0.0.1:11434"
    # every server when --ollama-host names several (host is the first); () for one
    hosts: tuple[str, ...] = ()
    api: Api = "native"
    models: tuple[str, ...] = ()
    rounds: int = 3
    warmup: int = 1
    start: StartPolicy = "warm"
    cache: CachePolicy = "keep"
    timeout: float = 300.0
    require: bool = False
    serialize: bool = True  # one benchmark at a time per server across xdist workers
    lock_timeout: float = 3600.0
    max_ttft_ms: float | None = None
    max_total_ms: float | None = None
    min_tokens_per_s: float | None = None
    gates: tuple[str, ...] = ()  # --ollama-gate expressions, as gates.parse_gate reads them
    # every benchmark as a smoke test: one round, no warmup, no gates, nothing recorded
    smoke: bool = False
    # session report
    json_path: str | None = None
    save: bool = True
    exports: tuple[tuple[str, str], ...] = ()  # (format, path)
    save_name: str | None = None
    record_text: int | None = 2000  # characters of each round's answer kept in the record
    storage_dir: str = DEFAULT_STORAGE_DIR
    html_path: str | None = None
    html_history: int = 20
    columns: tuple[str, ...] | None = None
    sort: str | None = None
    compare: str | None = None
    compare_fail: tuple[CompareFail, ...] = ()
    # embedded llama.cpp engine
    embedded: bool = False
    embedded_gguf: tuple[str, str] | None = None
    embedded_parallel: int = 1
    # where each option given came from, by field name: its flag ("--ollama-gate"), or
    # "environment variable PYTEST_OLLAMA_GATE", or "ini option ollama_gate"
    origins: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        """Like the dataclass repr, with credentials removed from the host (``-l`` tracebacks
        show it)."""
        from dataclasses import fields

        from .hosts import redact_host

        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["host"] = redact_host(self.host)
        shown["hosts"] = tuple(redact_host(h) for h in self.hosts)
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def origin(self, name: str) -> str | None:
        """Where the option of field ``name`` was given (a flag, an environment variable or an
        ini option, as usage errors name it); None when it has its default."""
        return dict(self.origins).get(name)

    @property
    def targets(self) -> tuple[str, ...]:
        """Every server to benchmark: ``hosts``, or ``host`` alone."""
        return self.hosts or (self.host,)

    def redacted(self) -> Settings:
        """These settings with every server URL's credentials removed (for the run record)."""
        from dataclasses import replace

        from .hosts import redact_host

        return replace(
            self,
            host=redact_host(self.host),
            hosts=tuple(redact_host(h) for h in self.hosts),
        )


def split_names(values: Iterable[str] | str) -> tuple[str, ...]:
    """``["a,b", "c"]`` or ``"a, b"`` -> ``("a", "b", "c")``: split on commas and newlines,
    blanks dropped, order kept, duplicates dropped."""
    items = [values] if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        for name in str(item).replace("\n", ",").split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return tuple(out)


def check_run_name(name: str) -> str:
    """``name`` if it can name a saved run (``--ollama-save NAME``), else ValueError.

    A name is 1-64 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit;
    not only digits (those are run numbers) and not ``latest``.
    """
    if (
        not VALID_RUN_NAME.match(name)
        or name.isdigit()
        or name == "latest"
        or name.endswith(".json")
    ):
        raise ValueError(
            f"invalid run name {name!r}: use 1-64 letters, digits, '.', '_' or '-' (not only "
            "digits, not 'latest', no .json suffix), e.g. main or v1.2"
        )
    return name
