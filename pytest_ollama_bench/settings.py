"""The plugin's configuration for one session: a frozen dataclass, light to import."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .regression import CompareFail

__all__ = [
    "APIS",
    "CACHE_POLICIES",
    "DEFAULT_STORAGE_DIR",
    "START_POLICIES",
    "Api",
    "CachePolicy",
    "Settings",
    "StartPolicy",
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


@dataclass(frozen=True)
class Settings:
    """The plugin's configuration for one session, resolved once (CLI > env > ini > default).

    Each field's default here is the option's default (the option table reads it).
    """

    host: str = "http://127.0.0.1:11434"
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
