"""The plugin's configuration for one session: a frozen dataclass, light to import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Api", "Settings"]

Api = Literal["native", "openai"]


@dataclass(frozen=True)
class Settings:
    """The plugin's configuration for one session, resolved once (CLI > env > ini > default)."""

    host: str = "http://127.0.0.1:11434"
    api: Api = "native"
    models: tuple[str, ...] = ()
    rounds: int = 3
    warmup: int = 1
    timeout: float = 300.0
    require: bool = False
    serialize: bool = True  # one benchmark at a time per server across xdist workers
    max_ttft_ms: float | None = None
    max_total_ms: float | None = None
    min_tokens_per_s: float | None = None
    # session report
    json_path: str | None = None
    save: bool = True
    storage_dir: str = ".ollama-bench"
    columns: tuple[str, ...] | None = None
    sort: str | None = None
    compare: str | None = None
    compare_fail: tuple[str, ...] = ()
    # embedded llama.cpp engine
    embedded: bool = False
    embedded_gguf: tuple[str, str] | None = None
