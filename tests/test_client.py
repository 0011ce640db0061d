"""The native client against the package's emulator, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.errors import OllamaConnectionError
from pytest_ollama_bench.errors import OllamaHTTPError
from pytest_ollama_bench.errors import OllamaIncompleteStreamError
from pytest_ollama_bench.errors import OllamaMalformedResponseError
from pytest_ollama_bench.errors import OllamaModelNotFoundError
from pytest_ollama_bench.errors import OllamaStreamError
from pytest_ollama_bench.errors import OllamaTimeoutError
from pytest_ollama_bench.hosts import parse_host
from pytest_ollama_bench.hosts import redact_host
from pytest_ollama_bench.models import Measurement
from pytest_ollama_bench.reading import NDJSONSplitter
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import Fault

USER = [{"role": "user", "content": "What is 2+2? One sentence."}]


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    with FakeOllama(models=("llama3.2", "qwen2.5:0.5b")) as fake:
        yield fake


def chat(url: str, model: str = "llama3.2", timeout: float = 30.0, **kw: object) -> Measurement:
    async def go() -> Measurement:
        async with OllamaClient(url, timeout=timeout) as client:
            return await client.chat(model, USER, **kw)  # type: ignore[arg-type]

    return asyncio.run(go())


# --------------------------------------------------------------------------- NDJSON splitting

RECORDS = st.lists(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none()),
        max_size=4,
    ),
    min_size=1,
    max_size=20,
)


@given(RECORDS, st.data())
def test_any_split_of_a_stream_yields_the_same_records(
    records: list[dict[str, object]], data: st.DataObject
) -> None:
    stream = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    splitter = NDJSONSplitter()
    lines = [line for piece in pieces for line in splitter.feed(piece)]
    assert splitter.flush() == b""
    assert [json.loads(line) for line in lines] == records


@given(RECORDS, st.data())
def test_a_last_line_without_newline_comes_out_at_flush(
    records: list[dict[str, object]], data: st.DataObject
) -> None:
    stream = b"\n".join(json.dumps(r).encode() for r in records)
    cut = data.draw(st.integers(0, len(stream)))
    splitter = NDJSONSplitter()
    lines = splitter.feed(stream[:cut]) + splitter.feed(stream[cut:])
    rest = splitter.flush()
    assert [json.loads(x) for x in [*lines, rest]] == records


# --------------------------------------------------------------------------- host rules


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        ("1.2.3.4:1234", "http://1.2.3.4:1234"),
        ("example.com:1234", "http://example.com:1234"),
        (":1234", "http://127.0.0.1:1234"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("::1", "http://[::1]:11434"),
        ("[::1]", "http://[::1]:11434"),
        ("http://1.2.3.4", "http://1.2.3.4:80"),
        ("https://1.2.3.4", "https://1.2.3.4:443"),
        ("https://example.com/ollama", "https://example.com:443/ollama"),
        (":66000", "http://127.0.0.1:11434"),
        (' "localhost:9999" ', "http://localhost:9999"),
        ("ollama.com", "https://ollama.com:443"),
        ("https://u:p@proxy.example:8443/ollama", "https://u:p@proxy.example:8443/ollama"),
        ("u:p@127.0.0.1", "http://u:p@127.0.0.1:11434"),
    ],
)
def test_host_follows_ollamas_rules(
    value: str | None, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert parse_host(value) == url


def test_host_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:4321")
    assert parse_host() == "http://127.0.0.1:4321"
    assert OllamaClient().host == "http://127.0.0.1:4321"


def test_credentials_never_reach_reports() -> None:
    assert redact_host("http://user:secret@127.0.0.1:11434/x?token=1") == "http://127.0.0.1:11434/x"


# --------------------------------------------------------------------------- happy paths


def test_chat_stream_is_measured(server: FakeOllama) -> None:
    m = chat(server.url)
    assert m.text == "2 + 2 equals 4."
    assert m.done_reason == "stop"
    assert m.eval_count == 5
    assert m.prompt_eval_count is not None
    assert m.prompt_eval_count > 0
    assert m.chunks == 6  # five tokens and the done record
    assert m.ttft_ms is not None
    assert 0 < m.ttft_ms <= m.total_ms
    assert len(m.itl_ms) == 4
    assert m.bytes > 0


def test_generate_and_non_stream(server: FakeOllama) -> None:
    async def go() -> tuple[Measurement, Measurement]:
        async with OllamaClient(server.url) as client:
            g = await client.generate("qwen2.5:0.5b", "2+2?", options={"num_predict": 2})
            n = await client.chat("llama3.2", USER, stream=False)
            return g, n

    g, n = asyncio.run(go())
    assert g.endpoint == "generate"
    assert g.text == "2 +"
    assert g.done_reason == "length"
    assert g.eval_count == 2
    assert n.stream is False
    assert n.text == "2 + 2 equals 4."
    assert n.chunks == 1


def test_list_version_ps_show(server: FakeOllama) -> None:
    async def go() -> tuple[str, list[dict[str, object]], dict[str, object]]:
        async with OllamaClient(server.url) as client:
            return await client.version(), await client.tags(), await client.show("llama3.2")

    version, tags, show = asyncio.run(go())
    assert version
    assert {t["name"] for t in tags} == {"llama3.2:latest", "qwen2.5:0.5b"}
    assert "details" in show


def test_timings_are_consistent_with_injected_delays(server: FakeOllama) -> None:
    profile = server.profile("llama3.2")
    profile.ttft_ms = 150
    profile.itl_ms = 40
    m = chat(server.url)
    assert m.ttft_ms is not None
    # generous bounds: the delay is a floor; a loaded machine only adds time
    assert 140 <= m.ttft_ms <= 1500
    # the emulator keeps an absolute token schedule: after a late token it catches up, but
    # never sends two tokens closer than half an interval
    assert all(15 <= gap <= 1000 for gap in m.itl_ms)
    # the schedule is absolute: the last token is due 150 + 4 x 40 ms after the request, late
    # or not (a late first token shortens the gaps after it, never the last token's time)
    assert 0.95 * (150 + 4 * 40) <= m.ttft_ms + sum(m.itl_ms) <= 5000
    assert sum(m.itl_ms) <= 4000
    assert m.total_ms >= 140 + 4 * 35
    # the server's own account agrees with what it was told to spend
    assert m.eval_ms is not None
    assert 4 * 35 <= m.eval_ms <= 4000


def test_thinking_counts_for_ttft(server: FakeOllama) -> None:
    server.profile("llama3.2").thinking = "Let me add."
    server.profile("llama3.2").itl_ms = 5
    m = chat(server.url)
    assert m.thinking == "Let me add."
    assert m.ttft_thinking_ms is not None
    assert m.ttft_content_ms is not None
    assert m.ttft_ms == m.ttft_thinking_ms < m.ttft_content_ms


# --------------------------------------------------------------------------- every error


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(OllamaConnectionError) as info:
        chat(url)
    msg = str(info.value)
    assert url in msg
    assert "not reachable" in msg
    assert "ollama serve" in msg


def test_missing_model(server: FakeOllama) -> None:
    with pytest.raises(OllamaModelNotFoundError) as info:
        chat(server.url, model="llama9")
    assert info.value.status == 404
    assert info.value.error == "model 'llama9' not found"
    assert "run: ollama pull llama9" in str(info.value)


@pytest.mark.parametrize("text", ['model "llama9" not found, try pulling it first'])
def test_missing_model_older_server_texts(server: FakeOllama, text: str) -> None:
    server.set_fault("llama3.2", Fault(status=404, message=text))
    with pytest.raises(OllamaModelNotFoundError, match="try pulling it first"):
        chat(server.url)


def test_other_http_error_carries_status_and_server_text(server: FakeOllama) -> None:
    server.set_fault("llama3.2", Fault(status=503))
    with pytest.raises(OllamaHTTPError) as info:
        chat(server.url)
    assert info.value.status == 503
    assert "maximum pending requests exceeded" in str(info.value)
    assert "HTTP 503" in str(info.value)


def test_error_line_mid_stream(server: FakeOllama) -> None:
    server.set_fault("llama3.2", Fault(error_after=2, message="CUDA error: out of memory"))
    with pytest.raises(OllamaStreamError) as info:
        chat(server.url)
    assert info.value.chunks == 2
    assert "CUDA error: out of memory" in str(info.value)
    assert "after 2 chunk(s)" in str(info.value)


def test_stream_without_done(server: FakeOllama) -> None:
    server.set_fault("llama3.2", Fault(cut_after=3))
    with pytest.raises(OllamaIncompleteStreamError) as info:
        chat(server.url)
    assert info.value.chunks == 3
    assert "broke off after 3 chunk(s)" in str(info.value)


def test_malformed_line(server: FakeOllama) -> None:
    server.set_fault("llama3.2", Fault(malformed_after=1))
    with pytest.raises(OllamaMalformedResponseError) as info:
        chat(server.url)
    assert info.value.line_number == 2
    assert "is not a JSON object" in str(info.value)


def test_no_first_chunk_within_timeout(server: FakeOllama) -> None:
    server.profile("llama3.2").ttft_ms = 3000
    with pytest.raises(OllamaTimeoutError) as info:
        chat(server.url, timeout=0.3)
    assert info.value.phase == "first chunk"
    assert "within 0.3 s" in str(info.value)
    assert "--ollama-timeout" in str(info.value)


def test_no_next_chunk_within_timeout(server: FakeOllama) -> None:
    server.set_fault("llama3.2", Fault(stall_after=2, stall_s=3))
    with pytest.raises(OllamaTimeoutError) as info:
        chat(server.url, timeout=0.3)
    assert info.value.phase == "next chunk"
