"""Pydantic models for what the plugin measures and records.

Everything here is plain data: it serialises to JSON with ``model_dump(mode="json")`` and
travels from xdist workers to the controller inside ``item.user_properties``.
"""

from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

Endpoint = Literal["chat", "generate"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Measurement(_Frozen):
    """One streamed (or non-streamed) request, timed by the client.

    All ``*_ms`` values are milliseconds measured with ``time.perf_counter_ns`` from the moment
    the request was sent. Server metrics the stream omitted (Ollama omits zero values) are
    ``None``: absent means absent, never 0.
    """

    model: str
    endpoint: Endpoint = "chat"
    api: Literal["native", "openai"] = "native"
    stream: bool = True
    warmup: bool = False
    # client-side timings
    headers_ms: float | None = Field(None, description="request sent -> response headers")
    first_chunk_ms: float | None = Field(None, description="request sent -> first chunk")
    ttft_ms: float | None = Field(
        None, description="request sent -> first chunk with non-empty content or thinking"
    )
    ttft_content_ms: float | None = Field(
        None, description="request sent -> first chunk with non-empty answer content"
    )
    ttft_thinking_ms: float | None = Field(
        None, description="request sent -> first chunk with non-empty thinking"
    )
    total_ms: float = Field(description="request sent -> final done chunk received")
    itl_ms: list[float] = Field(
        default_factory=list, description="gaps between successive non-empty chunks"
    )
    tpot_ms: float | None = Field(None, description="(total - ttft) / (eval_count - 1)")
    # server-side metrics (Ollama's final chunk; durations converted to ms)
    tokens_per_s: float | None = None
    prompt_tokens_per_s: float | None = None
    load_ms: float | None = None
    prompt_eval_ms: float | None = None
    eval_ms: float | None = None
    server_total_ms: float | None = None
    eval_count: int | None = None
    prompt_eval_count: int | None = None
    # wire
    chunks: int = 0
    bytes: int = 0
    done_reason: str | None = None
    text: str = ""
    thinking: str = ""


class Stats(_Frozen):
    """Summary statistics of one metric over the recorded rounds."""

    n: int
    min: float
    max: float
    mean: float
    stddev: float
    median: float
    p90: float
    p95: float
    p99: float


STAT_NAMES: tuple[str, ...] = tuple(Stats.model_fields)


Api = Literal["native", "openai"]


class Settings(_Frozen):
    """The plugin's configuration for one session, resolved once (CLI > env > ini > default)."""

    host: str = "http://127.0.0.1:11434"
    api: Api = "native"
    models: tuple[str, ...] = ()
    rounds: int = 3
    warmup: int = 1
    timeout: float = 300.0
    require: bool = False
    max_ttft_ms: float | None = None
    max_total_ms: float | None = None
    min_tokens_per_s: float | None = None


class GateResult(_Frozen):
    """One threshold checked against one statistic of one case."""

    metric: str
    stat: str
    op: Literal["<=", ">="]
    limit: float
    threshold: str  # the marker / option name, e.g. "max_ttft_ms"
    source: Literal["marker", "option"]
    value: float | None
    rounds: int
    passed: bool
    message: str


class CallRecord(_Frozen):
    """One ``chat``/``generate`` call of a test: its request and every round (warmup marked)."""

    nodeid: str
    model: str
    endpoint: Endpoint
    api: Api = "native"
    prompt: str | list[dict[str, Any]]
    system: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    parallel: bool = False
    rounds: list[Measurement] = Field(default_factory=list)
    stats: dict[str, Stats] = Field(default_factory=dict)
    error: str | None = None
