"""Servers the benchmarks run in a subprocess, so the client under test has its own process.

    python benchmarks/_servers.py emulator --profiles '[{"name": "m", "ttft_ms": 20}]' \
        [--record-timings]
    python benchmarks/_servers.py fast-ndjson --lines 20000
    python benchmarks/_servers.py llamacpp-emulator [--n-threads 1] [--n-parallel 1]
    python benchmarks/_servers.py llamacpp-http [--n-threads 1]

Once listening, one JSON line goes to stdout: ``{"url": ..., "control": ..., "pid": ...}``.
SIGINT/SIGTERM stops the server.

* ``emulator``: the package's ``OllamaEmulator`` + ``SimulatedEngine`` (profiles as JSON
  objects of ``ModelProfile`` fields; ``"tokens_repeat": [token, n]`` stands for
  ``tokens=[token] * n``). ``control`` is a second loopback port: ``GET /log`` returns
  ``{"chunk_log": [[seq, line, t_ns], ...], "requests": [[seq, marker], ...]}`` (the marker is
  the content of the request's last message, or its prompt) and ``POST /reset`` clears both
  lists (only while idle: the request sequence numbers restart at 0).
* ``fast-ndjson``: a minimal asyncio HTTP/1.1 server that answers every ``POST /api/chat`` or
  ``/api/generate`` with ``--lines`` pre-built Ollama-shaped NDJSON lines plus a final
  ``done`` line, framed like Ollama (one HTTP chunk per line) but handed to the transport in
  one write - a server that is never the bottleneck of a client's consume loop.
* ``llamacpp-emulator``: ``OllamaEmulator(LlamaCppEngine(...))`` (SmolLM2-135M) with
  ``--n-parallel`` slots, model pre-loaded before the line is printed.
* ``llamacpp-http``: xllamacpp's own OpenAI-compatible HTTP server
  (``start_llamacpp_http_server``), same model, ``cache_prompt`` off like the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from typing import Any

_ANSWER_WORDS = (" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog.")


def _announce(**info: Any) -> None:
    print(json.dumps({**info, "pid": os.getpid()}), flush=True)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


# --------------------------------------------------------------------------- emulator


def _marker(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return str(messages[-1].get("content"))
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else None


async def _control_server(emulator: Any) -> Any:
    from aiohttp import web

    async def log(request: web.Request) -> web.Response:
        requests = [[seq, _marker(req.get("body"))] for seq, req in enumerate(emulator.requests)]
        payload = {"chunk_log": emulator.chunk_log, "requests": requests}
        return web.Response(body=json.dumps(payload).encode(), content_type="application/json")

    async def reset(request: web.Request) -> web.Response:
        emulator.requests.clear()
        emulator.chunk_log.clear()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/log", log)
    app.router.add_post("/reset", reset)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def _serve_emulator(args: argparse.Namespace) -> None:
    from pytest_ollama_bench.server import OllamaEmulator
    from pytest_ollama_bench.server import SimulatedEngine
    from pytest_ollama_bench.testing import ModelProfile

    profiles = []
    for spec in json.loads(args.profiles):
        spec = dict(spec)
        repeat = spec.pop("tokens_repeat", None)
        if repeat is not None:
            spec["tokens"] = [repeat[0]] * int(repeat[1])
        profiles.append(ModelProfile(**spec))
    emulator = OllamaEmulator(
        SimulatedEngine(profiles), record_timings=args.record_timings, close_engine=True
    )
    await emulator.start()
    runner, control = await _control_server(emulator)
    _announce(url=emulator.url, control=control)
    try:
        await _wait_for_signal()
    finally:
        await runner.cleanup()
        await emulator.stop()


async def _serve_llamacpp_emulator(args: argparse.Namespace) -> None:
    from pytest_ollama_bench.server import OllamaEmulator
    from pytest_ollama_bench.server.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(name=args.name, n_threads=args.n_threads, n_parallel=args.n_parallel)
    emulator = OllamaEmulator(engine, close_engine=True)
    await engine.load(engine.name)
    await emulator.start()
    _announce(url=emulator.url, control=None, model=engine.name, n_threads=args.n_threads)
    try:
        await _wait_for_signal()
    finally:
        await emulator.stop()


def _serve_llamacpp_http(args: argparse.Namespace) -> None:
    from pytest_ollama_bench.server.llamacpp import start_llamacpp_http_server

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # cache_prompt off: every request evaluates its whole prompt, as LlamaCppEngine does
    server = start_llamacpp_http_server(
        None, 0, name=args.name, n_threads=args.n_threads, cache_prompt=False
    )
    try:
        _announce(url=server.url, control=None, model=server.name, n_threads=args.n_threads)
        while not stop.wait(0.2):
            pass
    finally:
        server.close()


# --------------------------------------------------------------------------- fast NDJSON


def _ndjson_body(endpoint: str, model: str, lines: int) -> bytes:
    """Ollama's wire format: one HTTP chunk per NDJSON line, then the terminating chunk."""
    stamp = "2026-01-01T00:00:00.123456789Z"
    parts: list[bytes] = []

    def add(obj: dict[str, Any]) -> None:
        line = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        parts.append(b"%x\r\n%s\r\n" % (len(line), line))

    for i in range(lines):
        word = _ANSWER_WORDS[i % len(_ANSWER_WORDS)]
        if endpoint == "chat":
            text: dict[str, Any] = {"message": {"role": "assistant", "content": word}}
        else:
            text = {"response": word}
        add({"model": model, "created_at": stamp, **text, "done": False})
    final_text: dict[str, Any] = (
        {"message": {"role": "assistant", "content": ""}}
        if endpoint == "chat"
        else {"response": ""}
    )
    add(
        {
            "model": model,
            "created_at": stamp,
            **final_text,
            "done": True,
            "done_reason": "length",
            "total_duration": 1_000_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": 10,
            "prompt_eval_duration": 10_000_000,
            "eval_count": lines,
            "eval_duration": 900_000_000,
        }
    )
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


class _FastNDJSON(asyncio.Protocol):
    def __init__(self, bodies: dict[str, bytes]) -> None:
        self._bodies = bodies
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self._buf[:end].decode("latin-1").split("\r\n")
            length = 0
            for header in head[1:]:
                name, _, value = header.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self._buf) < total:
                return
            self._buf = self._buf[total:]
            method, path = head[0].split(" ")[:2]
            assert self._transport is not None
            self._transport.write(self._respond(method, path))

    def _respond(self, method: str, path: str) -> bytes:
        body = self._bodies.get(path) if method == "POST" else None
        if body is None:
            text = b'{"error":"not found"}'
            return (
                b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json; charset=utf-8\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(text), text)
            )
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body
        )


async def _serve_fast(args: argparse.Namespace) -> None:
    bodies = {
        "/api/chat": _ndjson_body("chat", args.model, args.lines),
        "/api/generate": _ndjson_body("generate", args.model, args.lines),
    }
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _FastNDJSON(bodies), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _announce(url=f"http://127.0.0.1:{port}", control=None, lines=args.lines)
    try:
        await _wait_for_signal()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/_servers.py")
    sub = parser.add_subparsers(dest="mode", required=True)
    emu = sub.add_parser("emulator")
    emu.add_argument("--profiles", required=True, help="JSON list of ModelProfile fields")
    emu.add_argument("--record-timings", action="store_true")
    fast = sub.add_parser("fast-ndjson")
    fast.add_argument("--lines", type=int, default=20000)
    fast.add_argument("--model", default="fast:latest")
    for name in ("llamacpp-emulator", "llamacpp-http"):
        llama = sub.add_parser(name)
        llama.add_argument("--n-threads", type=int, default=None)
        llama.add_argument("--name", default="smollm2:135m")
    sub.choices["llamacpp-emulator"].add_argument("--n-parallel", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        if args.mode == "emulator":
            asyncio.run(_serve_emulator(args))
        elif args.mode == "fast-ndjson":
            asyncio.run(_serve_fast(args))
        elif args.mode == "llamacpp-emulator":
            asyncio.run(_serve_llamacpp_emulator(args))
        else:
            _serve_llamacpp_http(args)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
