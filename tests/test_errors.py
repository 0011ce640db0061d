"""The structured client errors: their fields, the message rendered from them, their names."""

from __future__ import annotations

import pickle

import pytest

import pytest_ollama_bench
from pytest_ollama_bench import errors
from pytest_ollama_bench.availability import model_list_failure_reason
from pytest_ollama_bench.errors import IncompleteStreamError
from pytest_ollama_bench.errors import MalformedResponseError
from pytest_ollama_bench.errors import ModelNotFoundError
from pytest_ollama_bench.errors import ServerError
from pytest_ollama_bench.errors import ServerHTTPError
from pytest_ollama_bench.errors import ServerTimeoutError
from pytest_ollama_bench.errors import ServerUnreachableError
from pytest_ollama_bench.errors import StreamError

HOST = "http://127.0.0.1:11434"
START = "or point --ollama-host / OLLAMA_HOST at a running server"


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (
            ServerUnreachableError(host=HOST, path="/api/tags", detail="Connect call failed"),
            "unreachable",
            f"Ollama server at {HOST} is not reachable (Connect call failed); start it with "
            f"'ollama serve' {START}",
        ),
        (
            ServerUnreachableError(host=HOST, api="openai"),
            "unreachable",
            f"OpenAI-compatible server at {HOST} is not reachable; start it ('ollama serve', "
            f"'llama-server', ...) {START}",
        ),
        (
            ServerHTTPError(
                host=HOST, path="/api/chat", method="POST", status=500, error="runner crashed"
            ),
            "http",
            f"POST {HOST}/api/chat answered HTTP 500: runner crashed; the server failed; "
            "check its log",
        ),
        (
            ServerHTTPError(host=HOST, path="/api/chat", status=503, error="busy"),
            "http",
            f"{HOST}/api/chat answered HTTP 503: busy; the server is busy; lower the "
            "concurrency or raise OLLAMA_MAX_QUEUE",
        ),
        (
            ServerHTTPError(
                host=HOST, path="/v1/chat/completions", api="openai", status=401, error="no key"
            ),
            "http",
            f"{HOST}/v1/chat/completions answered HTTP 401: no key; the server wants an API "
            "key; set OPENAI_API_KEY",
        ),
        (
            ServerHTTPError(
                host=HOST,
                path="/v1/chat/completions",
                api="openai",
                status=404,
                error="404: Not Found",
                body_is_json=False,
            ),
            "http",
            f"{HOST}/v1/chat/completions answered HTTP 404: 404: Not Found; is {HOST} an "
            "OpenAI-compatible server? give --ollama-host without the /v1 suffix",
        ),
        (
            ServerHTTPError(host=HOST, path="/api/x", status=418, error="teapot"),
            "http",
            f"{HOST}/api/x answered HTTP 418: teapot; check the server log",
        ),
        (
            ModelNotFoundError(host=HOST, path="/api/chat", error="model 'm' not found", model="m"),
            "model_not_found",
            f"model 'm' not found on {HOST} (HTTP 404: model 'm' not found); run: ollama pull m",
        ),
        (
            ModelNotFoundError(host=HOST, api="openai", error="no such model", model="m"),
            "model_not_found",
            f"model 'm' not found on {HOST} (HTTP 404: no such model); pull or load it on the "
            "server (Ollama: ollama pull m) or pick one that GET /v1/models lists",
        ),
        (
            StreamError(host=HOST, path="/api/chat", error="CUDA error", chunks=2, model="m"),
            "stream_error",
            f"{HOST}/api/chat reported an error mid-stream after 2 chunk(s) for model 'm': "
            "CUDA error; check the server log (journalctl -u ollama / ~/.ollama/logs/server.log)",
        ),
        (
            StreamError(host=HOST, path="/v1/chat/completions", api="openai", error="x", chunks=0),
            "stream_error",
            f"{HOST}/v1/chat/completions reported an error mid-stream after 0 chunk(s) for "
            "model '': x; check the server log",
        ),
        (
            IncompleteStreamError(host=HOST, path="/api/chat", chunks=3, model="m"),
            "incomplete",
            f"stream from {HOST}/api/chat for model 'm' broke off after 3 chunk(s): the stream "
            "ended without a 'done: true' record; the server may have crashed or been restarted",
        ),
        (
            IncompleteStreamError(
                host=HOST, path="/api/chat", chunks=1, model="m", reason="closed", detail="reset"
            ),
            "incomplete",
            f"stream from {HOST}/api/chat for model 'm' broke off after 1 chunk(s): the "
            "connection was closed (reset); the server may have crashed or been restarted",
        ),
        (
            IncompleteStreamError(host=HOST, path="/v1/chat/completions", api="openai", chunks=2),
            "incomplete",
            f"stream from {HOST}/v1/chat/completions for model '' broke off after 2 chunk(s): "
            "the stream ended without 'data: [DONE]' or a finish_reason; Ollama's /v1 ends a "
            "stream like this when the model fails mid-stream; --ollama-api native shows the "
            "error",
        ),
        (
            IncompleteStreamError(host=HOST, api="openai", chunks=0, reason="no_events"),
            "incomplete",
            f"stream from {HOST} for model '' broke off after 0 chunk(s): the response had no "
            "SSE 'data:' events; is it an OpenAI-compatible server?",
        ),
        (
            MalformedResponseError(host=HOST, path="/api/tags", method="GET", line=b"<html>"),
            "malformed",
            f"GET {HOST}/api/tags returned a body that is not JSON: '<html>'; is {HOST} an "
            "Ollama server?",
        ),
        (
            MalformedResponseError(
                host=HOST, path="/api/chat", line=b"{oops", line_number=4, part="line"
            ),
            "malformed",
            f"line 4 of the stream from {HOST}/api/chat is not a JSON object: '{{oops'; the "
            "server or a proxy in between corrupted the stream",
        ),
        (
            ServerTimeoutError(
                host=HOST, path="/api/chat", phase="first chunk", seconds=0.5, model="m"
            ),
            "timeout",
            f"no first chunk from {HOST}/api/chat for model 'm' within 0.5 s; the model may "
            "still be loading or the server is overloaded: raise --ollama-timeout or warm the "
            "model up",
        ),
    ],
)
def test_kind_and_message_come_from_the_fields(exc: ServerError, kind: str, message: str) -> None:
    assert exc.kind == kind
    assert exc.message == message
    assert str(exc) == message
    assert exc.message == f"{exc.summary}; {exc.hint}"
    assert exc.args == (message,)
    assert isinstance(exc, ServerError)


def test_fields_are_kept_as_given() -> None:
    exc = ModelNotFoundError(
        host=HOST, path="/api/chat", method="POST", error="model 'm' not found", model="m"
    )
    assert (exc.host, exc.path, exc.api, exc.method) == (HOST, "/api/chat", "native", "POST")
    assert (exc.status, exc.error, exc.model, exc.body_is_json) == (
        404,
        "model 'm' not found",
        "m",
        True,
    )
    assert isinstance(exc, ServerHTTPError)
    bad = MalformedResponseError(host=HOST, line=b"x" * 500, line_number=7, part="event")
    assert (bad.line, bad.line_number, bad.part) == (b"x" * 500, 7, "event")
    assert "x" * 200 + "\u2026" in bad.message
    assert "x" * 201 not in bad.message
    timeout = ServerTimeoutError(host=HOST, phase="response", seconds=3.0)
    assert (timeout.phase, timeout.seconds, timeout.model) == ("response", 3.0, "")


def test_message_follows_a_changed_field() -> None:
    exc = ServerHTTPError(host=HOST, path="/api/tags", status=500, error="boom")
    exc.status = 503
    assert "HTTP 503" in str(exc)


def test_errors_survive_pickling() -> None:
    exc = StreamError(host=HOST, path="/api/chat", error="boom", chunks=2, model="m")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is StreamError
    assert (back.error, back.chunks, back.model, str(back)) == ("boom", 2, "m", str(exc))


ALIASES = {
    "OllamaError": "ServerError",
    "OllamaConnectionError": "ServerUnreachableError",
    "OllamaHTTPError": "ServerHTTPError",
    "OllamaModelNotFoundError": "ModelNotFoundError",
    "OllamaStreamError": "StreamError",
    "OllamaIncompleteStreamError": "IncompleteStreamError",
    "OllamaMalformedResponseError": "MalformedResponseError",
    "OllamaTimeoutError": "ServerTimeoutError",
}


@pytest.mark.parametrize(("old", "new"), ALIASES.items())
def test_ollama_names_are_the_same_classes(old: str, new: str) -> None:
    assert getattr(errors, old) is getattr(errors, new)
    assert getattr(pytest_ollama_bench, old) is getattr(errors, new)
    assert getattr(pytest_ollama_bench, new) is getattr(errors, new)
    assert old in pytest_ollama_bench.__all__
    assert new in pytest_ollama_bench.__all__


def test_old_names_still_catch() -> None:
    from pytest_ollama_bench import OllamaError
    from pytest_ollama_bench import OllamaHTTPError

    with pytest.raises(OllamaHTTPError):
        raise ModelNotFoundError(host=HOST, error="x", model="m")
    with pytest.raises(OllamaError):
        raise ServerTimeoutError(host=HOST, phase="response", seconds=1.0)


# --------------------------------------------------------------------------- listing reasons


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            ServerHTTPError(
                host=HOST, path="/api/tags", method="GET", status=500, error="disk full"
            ),
            f"could not list the models of {HOST}: GET /api/tags answered HTTP 500: disk full; "
            "check the server log",
        ),
        (
            ServerHTTPError(host=HOST, path="/api/tags", method="GET", status=404, error="nope"),
            f"could not list the models of {HOST}: GET /api/tags answered HTTP 404: nope; is "
            "this an Ollama server? (for an OpenAI-compatible one use --ollama-api openai)",
        ),
        (
            ServerHTTPError(
                host=HOST, path="/v1/models", method="GET", api="openai", status=403, error="no"
            ),
            f"could not list the models of {HOST}: GET /v1/models answered HTTP 403: no; the "
            "server refused the API key; check OPENAI_API_KEY",
        ),
        (
            ServerHTTPError(
                host=HOST,
                path="/v1/models",
                method="GET",
                api="openai",
                status=404,
                error="404: Not Found",
                body_is_json=False,
            ),
            f"could not list the models of {HOST}: GET /v1/models answered HTTP 404: 404: Not "
            f"Found; {HOST} does not look like an OpenAI-compatible server: check --ollama-host "
            "(the server's base URL), or use --ollama-api native for Ollama's own API",
        ),
        (
            MalformedResponseError(host=HOST, path="/api/tags", method="GET", line=b"<html>"),
            f"could not list the models of {HOST}: GET /api/tags returned a body that is not "
            "JSON (an HTML page); is this an Ollama server?",
        ),
        (
            MalformedResponseError(
                host=HOST,
                path="/v1/models",
                method="GET",
                api="openai",
                line=b"{}",
                expected="a JSON object with a 'data' list",
            ),
            f"could not list the models of {HOST}: GET /v1/models returned a body that is not "
            "a JSON object with a 'data' list ('{}'); is this an OpenAI-compatible server?",
        ),
        (
            ServerTimeoutError(host=HOST, path="/api/tags", phase="response", seconds=2.0),
            f"could not list the models of {HOST}: no response to GET /api/tags within 2 s; "
            "the server is overloaded or stuck: check its log, or raise --ollama-timeout",
        ),
    ],
)
def test_model_list_failure_reason(exc: ServerError, reason: str) -> None:
    assert model_list_failure_reason(exc) == reason
    assert "not reachable" not in reason


def test_model_list_failure_reason_of_a_connection_failure_is_the_error_itself() -> None:
    exc = ServerUnreachableError(host=HOST, path="/v1/models", api="openai", detail="refused")
    assert model_list_failure_reason(exc) == exc.message
    assert "is not reachable (refused); start it ('ollama serve', 'llama-server'" in exc.message


def test_errors_module_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pytest_ollama_bench.errors; "
        "print(sorted(m for m in ('aiohttp', 'pydantic', 'pytest', 'orjson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
