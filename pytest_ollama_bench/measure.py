"""Pure measurement: timestamps and chunks in, a :class:`Measurement` out.

The client calls :meth:`Recorder.sent` just before the request goes out, :meth:`Recorder.headers`
when the response headers arrive, :meth:`Recorder.chunk` for each parsed stream record (with the
``perf_counter_ns`` of the network read that completed it) and :meth:`Recorder.done` with the
final record. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from .models import Endpoint
from .models import Measurement

__all__ = ["Recorder"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

_NS_PER_MS = 1_000_000


def _ms(delta_ns: int) -> float:
    return delta_ns / _NS_PER_MS


def _opt_int(final: Mapping[str, Any], key: str) -> int | None:
    value = final.get(key)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return None


def _rate(count: int | None, duration_ns: int | None) -> float | None:
    if count is None or count < 0 or not duration_ns:
        return None
    return count / duration_ns * 1e9


class Recorder:
    """Accumulates the timestamps of one request and builds its :class:`Measurement`."""

    def __init__(
        self,
        *,
        model: str,
        endpoint: Endpoint = "chat",
        api: str = "native",
        stream: bool = True,
        warmup: bool = False,
    ) -> None:
        self.model = model
        self.endpoint: Endpoint = endpoint
        self.api = api
        self.stream = stream
        self.warmup = warmup
        self._sent_ns: int | None = None
        self._headers_ns: int | None = None
        self._first_chunk_ns: int | None = None
        self._first_token_ns: int | None = None
        self._first_content_ns: int | None = None
        self._first_thinking_ns: int | None = None
        self._last_token_ns: int | None = None
        self._done_ns: int | None = None
        self._gaps_ns: list[int] = []
        self._chunks = 0
        self._bytes = 0
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[dict[str, Any]] = []
        self._final: Mapping[str, Any] = {}

    def sent(self, t_ns: int) -> None:
        """The request was handed to the transport at ``t_ns``."""
        self._sent_ns = t_ns

    def headers(self, t_ns: int) -> None:
        """The response status line and headers arrived at ``t_ns``."""
        self._headers_ns = t_ns

    def add_bytes(self, n: int) -> None:
        """``n`` more body bytes crossed the wire."""
        self._bytes += n

    def chunk(
        self,
        t_ns: int,
        content: str = "",
        thinking: str = "",
        tool_calls: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """One stream record arrived at ``t_ns``; records without output never count as tokens.

        Output is non-empty ``content`` or ``thinking``, or a tool call (``tool_calls`` are
        kept as given; see :meth:`replace_tool_calls` for streams that send them in pieces).
        """
        # the hot path of every stream: one call per chunk, so kept flat
        self._chunks += 1
        if self._first_chunk_ns is None:
            self._first_chunk_ns = t_ns
        if not (content or thinking or tool_calls):
            return
        if content:
            self._text.append(content)
            if self._first_content_ns is None:
                self._first_content_ns = t_ns
        if thinking:
            self._thinking.append(thinking)
            if self._first_thinking_ns is None:
                self._first_thinking_ns = t_ns
        if tool_calls:
            self._tool_calls.extend(dict(c) for c in tool_calls)
        last = self._last_token_ns
        if last is None:
            self._first_token_ns = t_ns
        else:
            self._gaps_ns.append(t_ns - last)
        self._last_token_ns = t_ns

    def replace_tool_calls(self, calls: Sequence[Mapping[str, Any]]) -> None:
        """Set the answer's tool calls (assembled from pieces by the OpenAI client)."""
        self._tool_calls = [dict(c) for c in calls]

    def done(self, t_ns: int, final: Mapping[str, Any]) -> None:
        """The final record (``done: true``) arrived at ``t_ns``.

        ``final`` carries Ollama's metric keys (``eval_count``, ``eval_duration`` in ns, ...);
        its text, if any, must already have been passed to :meth:`chunk`.
        """
        self._done_ns = t_ns
        self._final = final

    @property
    def text(self) -> str:
        """The answer text received so far."""
        return "".join(self._text)

    @property
    def chunks(self) -> int:
        """Stream records received so far."""
        return self._chunks

    @property
    def produced_output(self) -> bool:
        """Whether any record carried content, thinking or a tool call."""
        return self._first_token_ns is not None

    def measurement(self) -> Measurement:
        """Build the :class:`Measurement`; call after :meth:`done`."""
        if self._sent_ns is None or self._done_ns is None:
            raise RuntimeError("Recorder.measurement() needs sent() and done() first")
        start = self._sent_ns

        def since(t: int | None) -> float | None:
            return None if t is None else _ms(t - start)

        final = self._final
        eval_count = _opt_int(final, "eval_count")
        eval_ns = _opt_int(final, "eval_duration")
        prompt_count = _opt_int(final, "prompt_eval_count")
        cached = _opt_int(final, "prompt_eval_cached_count")
        prompt_ns = _opt_int(final, "prompt_eval_duration")
        load_ns = _opt_int(final, "load_duration")
        total_ns = _opt_int(final, "total_duration")

        ttft_ms = since(self._first_token_ns)
        last_ms = since(self._last_token_ns)
        tpot_ms: float | None = None
        client_rate: float | None = None
        tokens = eval_count or 0
        if ttft_ms is not None and last_ms is not None and tokens > 1:
            tpot_ms = (last_ms - ttft_ms) / (tokens - 1)
            if last_ms > ttft_ms:
                client_rate = (tokens - 1) / (last_ms - ttft_ms) * 1000.0
        # Ollama's rule: cache hits are not prefilled, so only processed tokens count
        processed = None if prompt_count is None else prompt_count - (cached or 0)
        ratio = None
        if cached is not None and prompt_count:
            ratio = min(max(cached / prompt_count, 0.0), 1.0)
        queue_ms = None
        if total_ns is not None and eval_ns is not None:
            # Ollama omits zero durations: an absent one took no time
            busy = (load_ns or 0) + (prompt_ns or 0) + eval_ns
            queue_ms = max(0.0, _ms(total_ns - busy))
        reason = final.get("done_reason")
        return Measurement(
            model=self.model,
            endpoint=self.endpoint,
            api="openai" if self.api == "openai" else "native",
            stream=self.stream,
            warmup=self.warmup,
            started_ns=start,
            headers_ms=since(self._headers_ns),
            first_chunk_ms=since(self._first_chunk_ns),
            ttft_ms=ttft_ms,
            ttft_content_ms=since(self._first_content_ns),
            ttft_thinking_ms=since(self._first_thinking_ns),
            last_token_ms=last_ms,
            total_ms=_ms(self._done_ns - start),
            itl_ms=[_ms(g) for g in self._gaps_ns],
            tpot_ms=tpot_ms,
            client_tokens_per_s=client_rate,
            tokens_per_s=_rate(eval_count, eval_ns),
            prompt_tokens_per_s=_rate(processed, prompt_ns) if processed else None,
            load_ms=None if load_ns is None else _ms(load_ns),
            prompt_eval_ms=None if prompt_ns is None else _ms(prompt_ns),
            eval_ms=None if eval_ns is None else _ms(eval_ns),
            server_total_ms=None if total_ns is None else _ms(total_ns),
            queue_ms=queue_ms,
            eval_count=eval_count,
            prompt_eval_count=prompt_count,
            prompt_cached_count=cached,
            prompt_cache_ratio=ratio,
            chunks=self._chunks,
            bytes=self._bytes,
            done_reason=reason if isinstance(reason, str) else None,
            text="".join(self._text),
            thinking="".join(self._thinking),
            tool_calls=self._tool_calls,
        )
