"""Pydantic models for what the plugin measures and records.

Everything here is plain data: it serialises to JSON with ``model_dump(mode="json")`` and
travels from xdist workers to the controller inside ``item.user_properties``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from .settings import Api
from .settings import Settings

Endpoint = Literal["chat", "generate"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # newer reports still load


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
    started_ns: int | None = Field(
        default=None,
        description="time.perf_counter_ns() when the request was sent (a monotonic clock "
        "reading, to order rounds and line them up with other timelines; not a date)",
    )
    # client-side timings
    headers_ms: float | None = Field(default=None, description="request sent -> response headers")
    first_chunk_ms: float | None = Field(default=None, description="request sent -> first chunk")
    ttft_ms: float | None = Field(
        None,
        description="request sent -> first chunk carrying output (content, thinking or a tool "
        "call)",
    )
    ttft_content_ms: float | None = Field(
        None, description="request sent -> first chunk with non-empty answer content"
    )
    ttft_thinking_ms: float | None = Field(
        None, description="request sent -> first chunk with non-empty thinking"
    )
    last_token_ms: float | None = Field(
        None, description="request sent -> last chunk carrying output"
    )
    total_ms: float = Field(description="request sent -> final record received")
    itl_ms: list[float] = Field(
        default_factory=list, description="gaps between successive chunks carrying output"
    )
    tpot_ms: float | None = Field(
        default=None, description="(last_token - ttft) / (eval_count - 1)"
    )
    client_tokens_per_s: float | None = Field(
        default=None, description="(eval_count - 1) / (last_token - ttft), tokens per second"
    )
    # server-side metrics (Ollama's final chunk; durations converted to ms)
    tokens_per_s: float | None = None
    prompt_tokens_per_s: float | None = Field(
        default=None,
        description="(prompt_eval_count - prompt_cached_count) / prompt_eval_duration",
    )
    load_ms: float | None = None
    prompt_eval_ms: float | None = None
    eval_ms: float | None = None
    server_total_ms: float | None = None
    queue_ms: float | None = Field(
        default=None,
        description="server_total - (load + prompt_eval + eval), an absent one counted as 0: "
        "the wait for a parallel slot plus server overhead (None without total_duration)",
    )
    eval_count: int | None = None
    prompt_eval_count: int | None = None
    prompt_cached_count: int | None = Field(
        default=None, description="prompt tokens served from the cache, as the server says"
    )
    prompt_cache_ratio: float | None = Field(
        default=None, description="prompt_cached_count / prompt_eval_count"
    )
    # wire
    chunks: int = 0
    bytes: int = 0
    done_reason: str | None = None
    text: str = Field(
        default="", description="the answer; in a run record its first --ollama-record-text chars"
    )
    thinking: str = Field(default="", description="the thinking, cut like text")
    text_chars: int | None = Field(
        default=None, description="the answer's full length when the record keeps less of it"
    )
    thinking_chars: int | None = Field(
        default=None, description="the thinking's full length when the record keeps less of it"
    )
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the tool calls of the answer, in Ollama's shape: {id?, function: {index?, "
        "name, arguments (an object; the raw text when it is not JSON)}}",
    )
    # the call's check= on this round's answer
    pass_rate: float | None = Field(
        default=None,
        description="1.0 when the answer passed the call's check=, 0.0 when it failed, "
        "None without a check",
    )
    check_error: str | None = Field(
        default=None, description="why the answer failed the check (its exception)"
    )
    # what the request asked for (sized prompts, output_tokens=)
    input_tokens_asked: int | None = Field(
        default=None,
        description="the prompt tokens a sized prompt was made for (compare prompt_eval_count)",
    )
    output_tokens_asked: int | None = Field(
        default=None, description="output_tokens=N of the call or workload: the answer asked for"
    )
    output_reached: bool | None = Field(
        default=None,
        description="whether eval_count reached output_tokens_asked; when not, done_reason "
        "says why (stop: the model ended its answer, as Ollama's models may despite "
        "ignore_eos)",
    )


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


class GateResult(_Frozen):
    """One threshold checked against one statistic of one case."""

    metric: str = Field(
        description="the metric checked (client_tokens_per_s when the gate on tokens_per_s "
        "fell back to the client-side rate)"
    )
    stat: str
    op: Literal["<=", "<", ">=", ">"]
    limit: float
    threshold: str = Field(
        description="the shorthand that set it (max_ttft_ms, min_pass_rate, ...) or the gate "
        "expression (ttft_content_ms.p95<=1500)"
    )
    source: Literal["marker", "option", "default"] = Field(
        description="the llm_bench marker, the command line (or ini/environment), or the "
        "default gate of a check= (min_pass_rate 1)"
    )
    value: float | None
    rounds: int
    passed: bool
    message: str
    load_run: int | None = Field(
        default=None,
        description="the load run it checked (an index into the case's load), None for calls",
    )


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
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="the request fields the call passed through (tools, format, think, ...)",
    )
    start: Literal["warm", "cold"] = Field(
        default="warm",
        description="warm: warmup rounds first; cold: the model unloaded before each round",
    )
    cache: Literal["keep", "bust"] = Field(
        default="keep",
        description="keep: prompts as given; bust: a unique prefix on each round's prompt",
    )
    check: str | None = Field(default=None, description="the name of the call's check=")
    workload: dict[str, Any] | None = Field(
        default=None,
        description="what the call asked for, to repeat it: input_tokens and seed of a sized "
        "prompt (with its words and the model's calibration: base, per_word, samples) and "
        "output_tokens",
    )
    round_count: int | None = Field(
        default=None,
        description="measured rounds the call was set to run (call argument > marker > option)",
    )
    warmup_count: int | None = Field(
        default=None, description="warmup rounds the call was set to run, same precedence"
    )
    rounds: list[Measurement] = Field(default_factory=list)
    stats: dict[str, Stats] = Field(default_factory=dict)
    error: str | None = None


# --------------------------------------------------------------------------- load runs

#: ``concurrency``: a closed loop (N requests always in flight); ``rate``: an open loop
#: (Poisson arrivals at R requests/s).
LoadMode = Literal["concurrency", "rate"]


class LoadRequestRecord(_Frozen):
    """One request of a load run: its measurement when it completed, its error when not."""

    index: int = Field(description="the request's number in send order, from 0 (warmup first)")
    warmup: bool = False
    sent_ms: float = Field(
        description="when it was sent, ms after the run's measured phase started (warmup: "
        "negative, before it)"
    )
    ended_ms: float = Field(description="when it completed or failed, on the same clock")
    prompt: int | None = Field(
        default=None, description="which of the prompts (a list's index) it sent; None otherwise"
    )
    measurement: Measurement | None = Field(
        default=None, description="the request's measurement (check= outcome included)"
    )
    error_kind: str | None = Field(
        default=None,
        description="why it failed: http_503 (queue full), http_500, timeout, stream_error, "
        "incomplete, malformed, empty_reply, ... (the structured error's kind; http_STATUS for "
        "an HTTP error)",
    )
    error: str | None = Field(default=None, description="the error message")
    good: bool | None = Field(
        default=None,
        description="met every SLO and passed check= (None without slo= and check=, and for "
        "warmup requests)",
    )
    slo_misses: list[str] = Field(
        default_factory=list, description="the SLOs it missed, e.g. 'ttft_ms 2312.4 > 2000'"
    )


class LoadRecord(_Frozen):
    """One load run of a test (``load()``, or one level of ``sweep()``): what was asked, what
    came back, and every request."""

    nodeid: str
    model: str
    endpoint: Endpoint = "chat"
    api: Api = "native"
    mode: LoadMode
    concurrency: int | None = Field(
        default=None, description="requests kept in flight (closed loop), or an open loop's cap"
    )
    rate: float | None = Field(default=None, description="requested arrivals per second")
    request_limit: int | None = Field(
        default=None, description="measured requests asked for (requests=)"
    )
    duration_limit_s: float | None = Field(
        default=None, description="seconds after which no new request was sent (duration_s=)"
    )
    warmup: int = Field(default=0, description="warmup requests sent before the run")
    seed: int | None = Field(default=None, description="the seed of the Poisson arrivals")
    options: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, Any] = Field(default_factory=dict)
    prompts: list[str | list[dict[str, Any]]] = Field(
        default_factory=list,
        description="the prompts, used in turn (empty when a function or an iterator made them)",
    )
    prompt_source: Literal["list", "function", "iterator"] = "list"
    cache: Literal["keep", "bust"] = "keep"
    slo: dict[str, float] = Field(
        default_factory=dict, description="metric -> limit every request had to meet (slo=)"
    )
    check: str | None = Field(default=None, description="the name of check=")
    workload: dict[str, Any] | None = Field(
        default=None,
        description="the workload the prompts came from (Workload.describe()), and "
        "output_tokens=N of the run",
    )
    sweep: int | None = Field(
        default=None, description="the number of the sweep (in the test) this run is a level of"
    )
    saturation: float | None = Field(
        default=None,
        description="the sweep's saturation level (the same on every level of the sweep)",
    )
    sent: int = Field(default=0, description="measured requests sent")
    completed: int = 0
    failed: int = 0
    errors: dict[str, int] = Field(
        default_factory=dict, description="failed requests by error kind"
    )
    duration_s: float | None = Field(
        default=None, description="wall time: the first measured request sent -> the last ended"
    )
    achieved_rate: float | None = Field(
        default=None, description="open loop: measured requests sent per second of the run"
    )
    request_throughput: float | None = None
    output_throughput: float | None = None
    goodput: float | None = None
    slo_attainment: float | None = None
    error_rate: float | None = None
    max_in_flight: int = Field(default=0, description="the most measured requests in flight")
    stats: dict[str, Stats] = Field(
        default_factory=dict, description="per-request metrics over the completed requests"
    )
    stopped: str | None = Field(
        default=None, description="why the run ended before its limits, if it did"
    )
    requests: list[LoadRequestRecord] = Field(default_factory=list)

    @property
    def level(self) -> float:
        """The run's level: its concurrency (closed loop) or its request rate (open loop)."""
        value = self.concurrency if self.mode == "concurrency" else self.rate
        return float(value or 0)

    def run_values(self) -> dict[str, float]:
        """The run-level metrics it has, by name (what gates on them read)."""
        from .metrics import RUN_METRICS

        values = ((m.name, getattr(self, m.name)) for m in RUN_METRICS)
        return {name: float(value) for name, value in values if value is not None}


# --------------------------------------------------------------------------- session report

Outcome = Literal["passed", "failed", "skipped", "error"]

#: Bump when a field changes meaning or is removed; adding optional fields keeps the version.
SCHEMA_VERSION = 1


class ModelDetails(_Frozen):
    """What the server says about a model; fields the source does not give are None.

    Sources: an ``/api/tags`` entry (every field), a row of ``ollama list`` (``name``, the
    12-character ``digest`` prefix, ``size`` rounded by the CLI, ``modified_at`` as its
    relative text such as ``5 days ago``), an entry of OpenAI's ``GET /v1/models`` (``name``;
    ``size`` from llama.cpp's ``meta``). ``modified_at`` and ``remote_host`` stay out of the
    run record: ``model_details`` in the JSON has the other six keys.
    """

    name: str
    digest: str | None = None
    size: int | None = Field(default=None, description="bytes")
    family: str | None = None
    parameter_size: str | None = Field(default=None, description="as the server says, e.g. 3.2B")
    quantization_level: str | None = None
    # what the server lists besides: neither written to the record nor in its schema
    modified_at: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    remote_host: SkipJsonSchema[str | None] = Field(
        default=None, exclude=True, description="where a cloud model runs (ollama.com)"
    )


class ResourceUse(_Frozen):
    """Resources sampled while one case ran (absent values could not be read here)."""

    samples: int = 0
    cpu_percent_mean: float | None = None
    cpu_percent_max: float | None = None
    ram_used_mb_max: float | None = None
    ram_percent_max: float | None = None
    ollama_rss_mb_max: float | None = None
    vram_mb: float | None = Field(default=None, description="size_vram of the model from /api/ps")
    model_size_mb: float | None = Field(
        default=None, description="size of the loaded model, /api/ps"
    )


class GPUInfo(_Frozen):
    name: str
    memory_total_mb: float | None = None
    driver: str | None = None
    vendor: str | None = None


class SystemInfo(_Frozen):
    """The machine the benchmark ran on."""

    os: str
    os_release: str
    machine: str
    hostname: str | None = None
    python_version: str
    python_implementation: str
    cpu_model: str | None = None
    cpu_cores_physical: int | None = None
    cpu_cores_logical: int | None = None
    ram_total_mb: float | None = None
    gpus: list[GPUInfo] = Field(default_factory=list)


class GitInfo(_Frozen):
    commit: str
    branch: str | None = None
    dirty: bool = False


class CaseRecord(_Frozen):
    """One test x model: every call it made, its statistics, gates and outcome."""

    nodeid: str
    test: str = Field(
        description="the test function's node id without the model (and host) parameter"
    )
    model: str
    host: str | None = Field(
        default=None,
        description="the server (credentials removed) when the run had several (--ollama-host)",
    )
    model_details: ModelDetails | None = None
    calls: list[CallRecord] = Field(default_factory=list)
    load: list[LoadRecord] = Field(
        default_factory=list, description="the test's load runs (load(), each level of sweep())"
    )
    stats: dict[str, Stats] = Field(
        default_factory=dict, description="over the measured rounds of all calls"
    )
    gates: list[GateResult] = Field(default_factory=list)
    outcome: Outcome = "passed"
    error: str | None = None
    duration_s: float | None = None
    resources: ResourceUse | None = None
    attempts: int | None = Field(
        default=None,
        description="how many times the test ran (reruns, e.g. pytest-rerunfailures); the "
        "record keeps the last attempt's calls, gates and outcome",
    )


class RegressionRecord(_Frozen):
    """One case whose statistic moved the wrong way by more than a ``--ollama-compare-fail``
    rule allows."""

    nodeid: str
    model: str
    rule: str = Field(description="the rule as given, e.g. ttft_ms:10%")
    metric: str
    stat: str
    current: float
    baseline: float
    baseline_run: str | None = Field(
        default=None, description="the run file the baseline value came from"
    )
    message: str


class BaselineInfo(_Frozen):
    """Which saved runs this run was compared with."""

    ref: str = Field(
        description="what was asked for: latest (each case's latest good measurement), a "
        "run number, a run name or a path"
    )
    runs: list[str] = Field(
        default_factory=list, description="the run files the baseline values came from"
    )
    cases_with_baseline: int = 0
    cases_without_baseline: int = 0


class Report(_Frozen):
    """A whole run, as written to ``.ollama-bench/runs/NNNN_<timestamp>.json``."""

    schema_version: int = SCHEMA_VERSION
    plugin_version: str
    created_at: datetime
    host: str = Field(description="server URL with credentials stripped (the first server)")
    hosts: list[str] = Field(
        default_factory=list,
        description="every server, credentials stripped, when --ollama-host named several",
    )
    api: Api = "native"
    ollama_version: str | None = None
    system: SystemInfo | None = None
    git: GitInfo | None = None
    settings: Settings
    name: str | None = Field(default=None, description="the run's name (--ollama-save NAME)")
    interrupted: bool = False
    exit_status: int | None = Field(
        default=None, description="the session's exit status, a failed regression gate included"
    )
    baseline: BaselineInfo | None = None
    regressions: list[RegressionRecord] = Field(default_factory=list)
    cases: list[CaseRecord] = Field(default_factory=list)
