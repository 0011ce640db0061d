"""Fault matrix, part 2: what the server sends (large answers, redirects, resets, bad bytes,
absurd numbers), interrupts, secrets, and the plugins people combine with this one
(pytest-rerunfailures, pytest-timeout, anyio on trio). Each test is one numbered input of the
issue "A regression gate and run record you can trust"; where a session ran, its record is
validated afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rawserver import END
from rawserver import RawServer
from rawserver import Reply
from rawserver import Request
from rawserver import chat_stream
from rawserver import chunk
from rawserver import chunked_head
from rawserver import http
from rawserver import ndjson
from rawserver import ollama

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.errors import ConnectionLostError
from pytest_ollama_bench.errors import IncompleteStreamError
from pytest_ollama_bench.errors import MalformedResponseError
from pytest_ollama_bench.errors import ProtocolError
from pytest_ollama_bench.errors import RedirectError
from pytest_ollama_bench.errors import ResponseTooLargeError
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.openai import OpenAIClient
from pytest_ollama_bench.reading import NDJSONSplitter
from pytest_ollama_bench.settings import Settings
from pytest_ollama_bench.sse import SSEParser
from pytest_ollama_bench.storage import RunStore
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import Fault

MESSAGES = [{"role": "user", "content": "hi"}]
ONE_CALL = """
import pytest

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_one(ollama_bench):
    ollama_bench.chat("2+2?")
"""


def record(pytester: pytest.Pytester) -> Report:
    """The newest saved run, validated."""
    path = RunStore(pytester.path / ".ollama-bench").runs()[-1]
    return Report.model_validate_json(path.read_text(encoding="utf-8"))


def chat(url: str, **kwargs: object) -> object:
    async def go() -> object:
        async with OllamaClient(url, timeout=10, **kwargs) as client:  # type: ignore[arg-type]
            return await client.chat("llama3.2", MESSAGES)

    return asyncio.run(go())


def openai_chat(url: str) -> object:
    async def go() -> object:
        async with OpenAIClient(url, timeout=10) as client:
            return await client.chat("llama3.2", MESSAGES)

    return asyncio.run(go())


# --------------------------------------------------------------------------- 7. large answers


@pytest.mark.parametrize("make", [NDJSONSplitter, SSEParser])
def test_7_a_long_line_is_split_in_linear_time(make: type) -> None:
    # 16 MiB in 1 KiB reads: re-copying the buffer per read would move ~128 GiB
    piece = b"x" * 1024
    splitter = make()
    start = time.perf_counter()
    for _ in range(16 * 1024):
        assert not splitter.feed(piece)
    out = splitter.feed(b"\n\n")
    elapsed = time.perf_counter() - start
    assert elapsed < 20.0
    if make is NDJSONSplitter:
        assert [len(line) for line in out] == [16 * 1024 * 1024]


def test_7_a_line_over_the_limit_is_a_typed_error() -> None:
    line = b'{"message": {"content": "' + b"x" * 5000 + b'"}, "done": false}\n'
    reply = Reply([chunked_head(), chunk(line), chunk(chat_stream()), END])
    server = RawServer(lambda r: ollama(r, chat=reply))
    with server, pytest.raises(ResponseTooLargeError) as info:
        chat(server.url, max_line_bytes=4096)
    assert "longer than 4,096 bytes" in str(info.value)
    assert info.value.model == "llama3.2"


def test_7_the_record_keeps_a_capped_excerpt_of_each_answer(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=1)
        def test_long(ollama_bench):
            result = ollama_bench.chat("tell a long story")
            assert len(result.text) > 1000  # the test sees every character
        """
    )
    fake_ollama.profile("llama3.2").response = "once upon a time " * 300
    args = [f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2"]
    pytester.runpytest(*args, "--ollama-record-text=100").assert_outcomes(passed=1)
    rounds = record(pytester).cases[0].calls[0].rounds
    assert len(rounds) == 2  # warmup included, capped alike
    for m in rounds:
        assert len(m.text) == 100
        assert m.text_chars is not None
        assert m.text_chars > 1000
    pytester.runpytest(*args, "--ollama-record-text=all").assert_outcomes(passed=1)
    kept = record(pytester).cases[0].calls[0].rounds[-1]
    assert kept.text_chars is None
    assert len(kept.text) > 1000
    pytester.runpytest(*args).assert_outcomes(passed=1)
    assert all(len(m.text) <= 2000 for m in record(pytester).cases[0].calls[0].rounds)


# --------------------------------------------------------------------------- 8. Ctrl-C


def test_8_after_an_interrupt_no_request_and_the_record_is_written(
    pytester: pytest.Pytester,
) -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/api/version":
            return Reply(hang=True)
        return ollama(request)

    pytester.makepyfile(
        ONE_CALL
        + """

def test_two_ctrl_c():
    raise KeyboardInterrupt
"""
    )
    with RawServer(handler) as server:
        result = pytester.runpytest_subprocess(
            f"--ollama-host={server.url}", "--ollama-models=llama3.2", "--ollama-timeout=120"
        )
        assert result.ret == pytest.ExitCode.INTERRUPTED
        assert "GET /api/version" not in server.paths()
    report = record(pytester)
    assert report.interrupted
    assert report.ollama_version is None
    assert [c.outcome for c in report.cases] == ["passed"]


SLOW_GIT = """#!/bin/sh
# a git that takes its time (a huge repository, a network file system): the session is
# building its record while this runs
touch "$GIT_STARTED"
sleep 3
exit 1
"""


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.05)


def test_8_a_second_ctrl_c_keeps_the_record_and_shows_no_plugin_frames(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/api/version" or b"hang" in request.body:
            return Reply(hang=True)  # a server that stopped answering
        return ollama(request)

    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_a_done(ollama_bench):
            ollama_bench.chat("2+2?")

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_b_hangs(ollama_bench):
            ollama_bench.chat("hang")
        """
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(SLOW_GIT)
    (bin_dir / "git").chmod(0o755)
    started = tmp_path / "git-started"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_STARTED": str(started),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    with RawServer(handler) as server:
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--tb=long",
            f"--ollama-host={server.url}", "--ollama-models=llama3.2", "--ollama-timeout=120",
        ]  # fmt: skip
        proc = subprocess.Popen(
            command, cwd=pytester.path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            _wait_for(lambda: any(b"hang" in r.body for r in server.requests), 120)
            time.sleep(0.5)  # the call waits for an answer that never comes
            proc.send_signal(signal.SIGINT)
            _wait_for(started.exists, 60)  # the interrupted session is building its record
            proc.send_signal(signal.SIGINT)
            output = proc.communicate(timeout=120)[0]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        paths = server.paths()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "GET /api/version" not in paths
    assert "Traceback" not in output, output
    assert "Ctrl-C was held until the run record was written" in output
    assert not re.search(r"pytest_ollama_bench[/\\]\S*\.py", output), output
    report = record(pytester)
    assert report.interrupted
    assert [(c.nodeid.split("::")[-1], c.outcome) for c in report.cases] == [
        ("test_a_done[llama3.2]", "passed")
    ]
    assert report.cases[0].stats["ttft_ms"].n == 1


# --------------------------------------------------------------------------- 9-11. the client


def test_9_10_a_redirect_is_not_followed_and_names_its_target() -> None:
    with RawServer(ollama) as elsewhere:
        target = f"{elsewhere.url}/api/chat"

        def handler(request: Request) -> Reply:
            return Reply([http(307, "", f"Location: {target}")])

        with RawServer(handler) as server, pytest.raises(RedirectError) as info:
            chat(server.url)
        assert elsewhere.requests == []  # the prompt never went anywhere else
    message = str(info.value)
    assert f"answered HTTP 307 redirecting to {target}" in message
    assert "point --ollama-host" in message


def test_9_a_redirect_loop_is_a_typed_error() -> None:
    with RawServer(lambda r: Reply([http(302, "", f"Location: {r.path}")])) as server:
        with pytest.raises(RedirectError) as info:
            chat(server.url)
        assert len(server.requests) == 1
    assert info.value.status == 302


def test_9_a_broken_http_answer_is_a_typed_error() -> None:
    server = RawServer(lambda r: Reply([b"SPDY/9 what\r\n\r\n"]))
    with server, pytest.raises(ProtocolError) as info:
        chat(server.url)
    assert "is not valid HTTP" in str(info.value)


def test_9_a_number_out_of_range_is_malformed_not_an_overflow() -> None:
    event = {
        "choices": [{"delta": {"content": "4"}, "finish_reason": "stop"}],
        "timings": {"predicted_n": 3, "predicted_ms": 1e303},
    }
    body = b"data: " + json.dumps(event).encode() + b"\n\ndata: [DONE]\n\n"
    reply = Reply([http(200, body, ctype="text/event-stream")])

    def handler(request: Request) -> Reply:
        return reply if request.path == "/v1/chat/completions" else ollama(request)

    with RawServer(handler) as server, pytest.raises(MalformedResponseError) as info:
        openai_chat(server.url)
    assert "timings.predicted_ms 1e+303, not a duration in milliseconds" in str(info.value)


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ('{"models": [{"size": 1}]}', "a model list with a name for every model"),
        ('{"models": 5}', "a JSON object with a 'models' list"),
        ("<html><body>login</body></html>", "is not JSON"),
    ],
)
def test_9_11_a_bad_model_list_says_what_was_wrong_in_every_test(
    pytester: pytest.Pytester, tags: str, why: str
) -> None:
    def handler(request: Request) -> Reply:
        if request.path == "/api/tags":
            return Reply([http(200, tags)])
        return ollama(request)

    pytester.makepyfile(ONE_CALL + ONE_CALL.replace("test_one", "test_again"))
    with RawServer(handler) as server:
        result = pytester.runpytest("-rs", f"--ollama-host={server.url}", "--ollama-models=x")
    result.assert_outcomes(skipped=2)
    lines = [x for x in result.stdout.lines if x.startswith("SKIPPED")]
    assert len(lines) == 2
    for line in lines:
        assert "could not list the models" in line
        assert why in line
        assert "not reachable" not in line
    result.stdout.no_fnmatch_line("*Traceback*")


def test_11_invalid_utf8_is_reported_as_invalid_utf8() -> None:
    line = b'{"message": {"content": "\xff\xfe"}, "done": false}\n'
    reply = Reply([chunked_head(), chunk(line), END])
    server = RawServer(lambda r: ollama(r, chat=reply))
    with server, pytest.raises(MalformedResponseError) as info:
        chat(server.url)
    assert "line 1 of the stream" in str(info.value)
    assert "is not valid UTF-8 (byte 0xff at offset 25)" in str(info.value)


def test_11_a_reset_after_the_request_is_not_an_unreachable_server() -> None:
    with RawServer(lambda r: ollama(r, chat=Reply(reset=True))) as server:
        with pytest.raises(IncompleteStreamError) as info:
            chat(server.url)
        assert server.paths() == ["POST /api/chat"]  # it was reachable: it got the request
    message = str(info.value)
    assert "not reachable" not in message
    assert "ollama serve" not in message
    assert "connection was closed" in message

    async def version() -> str:
        async with OllamaClient(server.url) as client:
            return await client.version()

    with RawServer(lambda r: Reply(reset=True)) as server, pytest.raises(ConnectionLostError):
        asyncio.run(version())


BAD_CHUNK = b"zz\r\n"  # where the next chunk's size should be


@pytest.mark.parametrize("where", ["native stream", "openai stream", "json body"])
def test_11_a_broken_chunk_inside_an_answer_is_a_broken_answer_not_a_slow_server(
    where: str,
) -> None:
    event = {"choices": [{"delta": {"content": "4"}, "finish_reason": None}]}
    first = {
        "native stream": ("/api/chat", "application/x-ndjson", chat_stream()[:40]),
        "openai stream": (
            "/v1/chat/completions",
            "text/event-stream",
            b"data: " + json.dumps(event).encode() + b"\n\n",
        ),
        "json body": ("/api/tags", "application/json", b'{"models": ['),
    }[where]
    path, ctype, start = first
    broken = Reply([chunked_head(ctype), chunk(start), BAD_CHUNK], pause_s=0.3)  # head first

    def handler(request: Request) -> Reply:
        return broken if request.path == path else ollama(request)

    async def call(url: str) -> object:
        client_type = OpenAIClient if where == "openai stream" else OllamaClient
        async with client_type(url, timeout=120) as client:
            if where == "json body":
                return await client.tags()  # type: ignore[union-attr]
            return await client.chat("llama3.2", MESSAGES)

    with RawServer(handler) as server:
        start_s = time.monotonic()
        with pytest.raises((ProtocolError, IncompleteStreamError, ConnectionLostError)) as info:
            asyncio.run(call(server.url))
        elapsed = time.monotonic() - start_s
    assert elapsed < 60  # at once, not at the 120 s deadline for the next record
    message = str(info.value)
    assert "not valid HTTP" in message or "connection was closed" in message, message
    assert "loading" not in message
    assert f"{server.url}{path}" in message


# --------------------------------------------------------------------------- 12-13. secrets

FAILING = """
import pytest

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_fails(ollama_bench):
    result = ollama_bench.chat("2+2?")
    assert result.text == "five"
"""


def _no_secret(secret: str, result: pytest.RunResult, pytester: pytest.Pytester) -> None:
    for line in [*result.stdout.lines, *result.stderr.lines]:
        assert secret not in line
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".xml"):
            assert secret not in path.read_text(errors="replace"), path


def test_12_url_credentials_never_show_even_with_locals(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING)
    with RawServer(ollama) as server:
        host = server.url.replace("http://", "http://ada:s3cr%23t@")
        result = pytester.runpytest(
            "-l", "--tb=long", f"--ollama-host={host}", "--ollama-models=llama3.2",
            "--junitxml=junit.xml",
        )  # fmt: skip
        auth = {r.headers.get("authorization") for r in server.requests}
    result.assert_outcomes(failed=1)
    assert auth == {"Basic YWRhOnMzY3IjdA=="}  # ada:s3cr#t, decoded, as HTTP Basic
    _no_secret("s3cr", result, pytester)
    assert record(pytester).host == server.url
    settings = Settings(host=host)  # what -l shows of it wherever it is a local
    assert repr(settings).startswith(f"Settings(host='{server.url}'")
    assert "s3cr" not in repr(settings)
    assert "s3cr" not in repr(OllamaClient(host))


BROKEN_CALLS = """
import pytest

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_sync(ollama_bench):
    result = ollama_bench.chat("2+2?")
    assert result.text == "five"

@pytest.mark.asyncio
@pytest.mark.llm_bench(rounds=1, warmup=0)
async def test_async(ollama_bench):
    result = await ollama_bench.agenerate("2+2=")
    assert result.text == "five"

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_compare(ollama_bench):
    ollama_bench.compare("2+2?", models=["llama3.2", "llama3.2"])

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_keeps_the_error(ollama_bench):
    try:
        ollama_bench.chat("2+2?")
    except BaseException as exc:  # kept as a local: -l shows it
        error = exc
    else:
        error = None
    assert error is None

def test_client_directly():  # a script's own client: its error escapes through every frame
    import asyncio
    import os
    from pytest_ollama_bench import OllamaClient

    async def go():
        async with OllamaClient(os.environ["BENCH_HOST"], timeout=30) as client:
            await client.version()
            return await client.chat("llama3.2", [{"role": "user", "content": "hi"}])

    asyncio.run(go())
"""

GARBAGE = b"SPDY/9 what\r\n\xff\x00\r\n\r\n"


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "server",
    [
        "resets",
        "sends garbage",
        "resets the call",
        "sends garbage to the call",
        "breaks the stream",
        "closed port",
    ],
)
def test_12_url_credentials_never_show_when_the_connection_breaks(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    password = "pw-Zq9x!7"  # what must never show
    basic = "YWRhOnB3LVpxOXghNw=="  # base64 of ada:pw-Zq9x!7, the header's value

    def handler(request: Request) -> Reply:
        calls = request.path in ("/api/chat", "/api/generate")
        if server == "resets" or (server == "resets the call" and calls):
            return Reply(reset=True)
        if server == "sends garbage" or (server == "sends garbage to the call" and calls):
            return Reply([GARBAGE])
        if server == "breaks the stream" and calls:  # one piece, then bytes that are no chunk
            piece = ndjson({"model": "llama3.2", "message": {"content": "4"}, "done": False})
            return Reply([chunked_head(), chunk(piece), GARBAGE], pause_s=0.05)
        return ollama(request)

    pytester.makepyfile(BROKEN_CALLS)
    with RawServer(handler) as raw:
        url = raw.url if server != "closed port" else f"http://127.0.0.1:{_closed_port()}"
        host = url.replace("http://", "http://ada:pw-Zq9x%217@")
        monkeypatch.setenv("BENCH_HOST", host)
        option = f"--ollama-host={host}"
        sessions = [[option], ["-l", "--tb=long", option], ["--tb=long"]]
        for flags in sessions:
            if option not in flags:  # the last one: the host from OLLAMA_HOST
                monkeypatch.setenv("OLLAMA_HOST", host)
            result = pytester.runpytest(
                *flags, "-rA", "--ollama-models=llama3.2", "--junitxml=junit.xml"
            )
            outcomes = result.parseoutcomes()
            assert outcomes.get("failed", 0) + outcomes.get("skipped", 0) == 5, flags
            assert outcomes["failed"] >= 1, flags  # the script's own client, at least
            assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str(), flags
            for secret in (password, "pw-Zq9x%217", basic):
                _no_secret(secret, result, pytester)
        sent = {r.headers.get("authorization") for r in raw.requests}
    assert sent == (set() if server == "closed port" else {f"Basic {basic}"})
    runs = RunStore(pytester.path / ".ollama-bench").runs()
    assert len(runs) == len(sessions)  # a record of each, none holding the password
    assert {c.outcome for c in record(pytester).cases} <= {"failed", "skipped", "error"}


FAILING_CALLS = """
import asyncio
import os

import pytest

from pytest_ollama_bench import OllamaClient

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_keyword(ollama_bench):
    ollama_bench.chat("2+2?", bogus_field=1)  # <- TypeError

@pytest.mark.asyncio
@pytest.mark.llm_bench(rounds=1, warmup=0)
async def test_async_keyword(ollama_bench):
    await ollama_bench.agenerate("2+2=", bogus_field=1)  # <- TypeError

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_rounds(ollama_bench):
    ollama_bench.generate("2+2=", rounds=0)  # <- ValueError

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_compare_keyword(ollama_bench):
    ollama_bench.compare("2+2?", models=["llama3.2"], bogus_field=1)  # <- TypeError

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_prompt_too_small(ollama_bench):
    ollama_bench.prompt(tokens=1)  # <- ValueError

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_load_arguments(ollama_bench):
    ollama_bench.load("2+2?", concurrency=0)  # <- ValueError

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_server_error(ollama_bench):
    ollama_bench.chat("2+2?", model="broken")

def test_client_directly():
    async def go():
        async with OllamaClient(os.environ["BENCH_HOST"]) as client:
            messages = [{"role": "user", "content": "hi"}]
            return await client.chat("broken", messages)  # <- ServerHTTPError

    asyncio.run(go())
"""


def _where_each_failure_ends(failures: str) -> set[str]:
    """``file:line: Error`` of each failure's last shown frame, in any ``--tb`` style."""
    ends = set()
    for section in re.split(r"^_{3,} \S+ _{3,}$", failures, flags=re.MULTILINE)[1:]:
        long_form = re.findall(r"^(\S+\.py:\d+): (\w+)$", section, re.MULTILINE)
        short_form = re.findall(r"^(\S+\.py:\d+): in \w+$", section, re.MULTILINE)
        error = re.findall(r"^E +(?:[\w.]+\.)?(\w+):", section, re.MULTILINE)
        if long_form:
            ends.add(": ".join(long_form[-1]))
        elif short_form and error:
            ends.add(f"{short_form[-1]}: {error[-1]}")
    return ends


def test_12_plugin_frames_are_hidden_from_a_failing_call_s_traceback(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ollama.add_model("broken")
    fake_ollama.set_fault("broken", Fault(status=500, message="CUDA error: out of memory"))
    monkeypatch.setenv("BENCH_HOST", fake_ollama.url)
    source = pytester.makepyfile(FAILING_CALLS)
    expected = {  # where each failure must end: the test's own line
        f"{source.name}:{number}: {line.split('# <- ')[1]}"
        for number, line in enumerate(source.read_text().splitlines(), 1)
        if "# <- " in line
    }
    assert len(expected) == 7
    args = [f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2"]
    for flags in ([], ["--tb=long"], ["-l", "--tb=long"], ["--tb=short"]):
        result = pytester.runpytest(*flags, *args)
        result.assert_outcomes(failed=8)
        failures = result.stdout.str().split("= FAILURES =")[1].split("= ollama-bench summary =")[0]
        assert not re.search(r"pytest_ollama_bench[/\\]\S*\.py", failures), (flags, failures)
        assert _where_each_failure_ends(failures) == expected, (flags, failures)
        result.stdout.fnmatch_lines(  # a failed request: its message, no traceback at all
            [
                "*_ test_server_error[[]llama3.2[]] _*",
                "chat call to 'broken' failed after 0 completed round(s): *HTTP 500: CUDA error*",
                "*_ test_client_directly _*",
            ]
        )
    full = pytester.runpytest("--full-trace", *args)  # for a bug report: every frame
    assert re.search(r"pytest_ollama_bench[/\\]calls\.py", full.stdout.str())


@pytest.mark.parametrize("password", ["pa#ss", "pa?ss", "pa/ss", "pa@ss"])
def test_12_malformed_credentials_are_rejected_without_echo(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    pytester.makepyfile("def test_x(): pass")
    for env in (False, True):
        value = f"http://ada:{password}@127.0.0.1:11434"
        if env:
            monkeypatch.setenv("OLLAMA_HOST", value)
            result = pytester.runpytest()
        else:
            result = pytester.runpytest(f"--ollama-host={value}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: *credentials in the server URL*percent-encode*"])
        assert password not in result.stdout.str() + result.stderr.str()
        result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_13_a_bearer_token_from_the_environment_is_sent_and_never_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_OLLAMA_API_KEY", "tok-9f8e7d")
    pytester.makepyfile(FAILING)
    with RawServer(ollama) as server:
        result = pytester.runpytest(
            "-l", f"--ollama-host={server.url}", "--ollama-models=llama3.2", "--junitxml=j.xml"
        )
        auth = {r.headers.get("authorization") for r in server.requests}
    result.assert_outcomes(failed=1)
    assert auth == {"Bearer tok-9f8e7d"}
    _no_secret("tok-9f8e7d", result, pytester)


def openai_server(request: Request) -> Reply:
    """A minimal OpenAI-compatible server (on top of :func:`ollama`): models and a chat."""
    if request.path == "/v1/models":
        models = {"object": "list", "data": [{"id": "llama3.2", "object": "model"}]}
        return Reply([http(200, json.dumps(models), ctype="application/json")])
    if request.path == "/v1/chat/completions":
        events = [
            {"choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": None}]},
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
            },
        ]
        body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        return Reply([http(200, body + b"data: [DONE]\n\n", ctype="text/event-stream")])
    return ollama(request)


API_KEYS = ("PYTEST_OLLAMA_API_KEY", "OLLAMA_API_KEY", "OPENAI_API_KEY")


def test_13_openai_with_url_credentials_works_and_finishes(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in API_KEYS:
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(ONE_CALL)
    host = fake_ollama.url.replace("http://", "http://ada:pw@")
    args = [f"--ollama-host={host}", "--ollama-api=openai", "--ollama-models=llama3.2"]
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    assert record(pytester).cases[0].outcome == "passed"
    with RawServer(openai_server) as server:  # what reaches the server: HTTP Basic, no Bearer
        raw_host = server.url.replace("http://", "http://ada:pw-9%23q@")  # ada:pw-9#q
        raw = pytester.runpytest(
            "-l", f"--ollama-host={raw_host}", "--ollama-api=openai", "--ollama-models=llama3.2",
            "--junitxml=junit.xml",
        )  # fmt: skip
        sent = {(r.path, r.headers.get("authorization")) for r in server.requests}
    raw.assert_outcomes(passed=1)
    basic = "Basic " + base64.b64encode(b"ada:pw-9#q").decode()
    assert ("/v1/chat/completions", basic) in sent
    assert {auth for _, auth in sent} == {basic}  # every request, and never "Bearer ollama"
    assert record(pytester).host == server.url
    for secret in ("pw-9#q", "pw-9%23q", basic.split()[1]):
        _no_secret(secret, raw, pytester)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc123")
    both = pytester.runpytest(*args)
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["ERROR: *environment variable OPENAI_API_KEY holds an API key*"])
    assert "sk-abc123" not in both.stdout.str() + both.stderr.str()


@pytest.mark.parametrize(
    ("api", "env", "header"),
    [
        ("native", {"PYTEST_OLLAMA_API_KEY": "key-own-1"}, "Bearer key-own-1"),
        ("native", {"OLLAMA_API_KEY": "key-ollama-2"}, "Bearer key-ollama-2"),
        ("native", {"OPENAI_API_KEY": "key-openai-3"}, None),  # not read for Ollama's API
        (
            "native",
            {"PYTEST_OLLAMA_API_KEY": "key-own-1", "OLLAMA_API_KEY": "key-ollama-2"},
            "Bearer key-own-1",
        ),
        ("native", {}, None),
        ("openai", {"PYTEST_OLLAMA_API_KEY": "key-own-1"}, "Bearer key-own-1"),
        ("openai", {"OPENAI_API_KEY": "key-openai-3"}, "Bearer key-openai-3"),
        ("openai", {"OLLAMA_API_KEY": "key-ollama-2"}, "Bearer ollama"),  # not read: default
        (
            "openai",
            {"PYTEST_OLLAMA_API_KEY": "key-own-1", "OPENAI_API_KEY": "key-openai-3"},
            "Bearer key-own-1",
        ),
        ("openai", {}, "Bearer ollama"),
    ],
)
def test_13_the_api_key_from_the_environment_is_the_one_sent_and_never_written(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    api: str,
    env: dict[str, str],
    header: str | None,
) -> None:
    for name in API_KEYS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(FAILING)  # a failing test: -l shows its locals, JUnit its failure
    with RawServer(openai_server) as server:
        result = pytester.runpytest(
            "-l", "--tb=long", f"--ollama-host={server.url}", f"--ollama-api={api}",
            "--ollama-models=llama3.2", "--junitxml=junit.xml",
        )  # fmt: skip
        sent = {r.headers.get("authorization") for r in server.requests}
        paths = {r.path for r in server.requests}
    result.assert_outcomes(failed=1)  # the call went through; the answer is not "five"
    assert ("/v1/chat/completions" if api == "openai" else "/api/chat") in paths
    assert sent == {header}
    assert record(pytester).cases[0].stats  # measured
    for value in env.values():
        _no_secret(value, result, pytester)


# --------------------------------------------------------------------------- plugins


def test_reruns_judge_and_record_each_attempt_on_its_own(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        ATTEMPTS = []

        @pytest.mark.llm_bench(rounds=2, warmup=1, max_ttft_ms=100000)
        def test_flaky(ollama_bench):
            ollama_bench.chat("hi")
            ATTEMPTS.append(1)
            assert len(ATTEMPTS) >= 3
        """
    )
    result = pytester.runpytest(
        "-p", "rerunfailures", "--reruns=2", f"--ollama-host={fake_ollama.url}",
        "--ollama-models=llama3.2", "--junitxml=junit.xml",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    assert result.parseoutcomes()["rerun"] == 2
    (case,) = record(pytester).cases
    assert case.outcome == "passed"
    assert case.attempts == 3
    (call,) = case.calls  # the attempt that counts, not all three
    assert [m.warmup for m in call.rounds] == [True, False, False]
    assert case.stats["ttft_ms"].n == 2
    assert len(case.gates) == 1
    assert case.gates[0].rounds == 2
    xml = (pytester.path / "junit.xml").read_text()
    # one element per attempt (pytest-rerunfailures >= 15) or one for the test: either way
    # each carries one attempt's numbers, not those of the attempts before it
    for element in re.findall(r"<testcase .*?</testcase>", xml):
        assert element.count('name="ollama[llama3.2].ttft_ms.median"') == 1


def test_a_call_abandoned_by_pytest_timeout_is_cancelled_before_the_next(
    pytester: pytest.Pytester,
) -> None:
    slow = Reply(
        [chunked_head(), *[chunk(ndjson({"message": {"content": "w"}}))] * 600, END],
        pause_s=0.1,
    )

    def handler(request: Request) -> Reply:
        if request.path == "/api/chat" and b"slow" in request.body:
            return slow
        return ollama(request)

    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.timeout(8, method="signal")  # well past start-up on a loaded machine
        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_a_times_out(ollama_bench):
            ollama_bench.chat("slow")

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_b_next(ollama_bench):
            ollama_bench.chat("fast")
        """
    )
    with RawServer(handler) as server:
        result = pytester.runpytest_subprocess(
            "-p", "timeout", f"--ollama-host={server.url}", "--ollama-models=llama3.2"
        )
        chats = [r for r in server.requests if r.path == "/api/chat"]
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Timeout*"])
    assert [b"slow" in r.body for r in chats] == [True, False]
    assert chats[1].busy == 0  # the abandoned stream was closed before the next call
    assert "/api/chat" in server.client_closed
    outcomes = {c.nodeid.split("::")[-1]: c.outcome for c in record(pytester).cases}
    assert outcomes == {"test_a_times_out[llama3.2]": "failed", "test_b_next[llama3.2]": "passed"}


def test_async_calls_under_anyio_with_trio(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytest.importorskip("trio")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return request.param

        @pytest.mark.anyio
        @pytest.mark.llm_bench(rounds=1, warmup=0)
        async def test_async(ollama_bench, anyio_backend):
            result = await ollama_bench.achat("2+2?")
            assert result.text
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(passed=2)
    assert len(record(pytester).cases) == 2
    assert all(c.stats for c in record(pytester).cases)


def test_an_async_call_outside_asyncio_and_trio_says_what_it_needs() -> None:
    from pytest_ollama_bench.runtime import Runtime

    async def call(client: object) -> None:
        raise AssertionError("never called")

    coro = Runtime(Settings()).run_async(call)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="need a running asyncio event loop"):
        coro.send(None)
