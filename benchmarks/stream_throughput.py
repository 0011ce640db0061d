"""Chunks per second a client consumes from a fast NDJSON stream: plugin vs official vs raw.

    python benchmarks/stream_throughput.py [--quick]

One ``/api/chat`` stream of ``--lines`` Ollama-shaped lines (20,000 + the final ``done`` line)
is read by

* ``plugin``   - ``OllamaClient.chat`` (measurement on: every line timed and recorded);
* ``official`` - ``ollama.AsyncClient``: ``async for part in await client.chat(..., stream=True)``;
* ``raw``      - the floor: ``async for line in resp.content: json.loads(line)`` on aiohttp;
* ``bytes``    - no parsing at all (``iter_any`` + counting newlines): the ceiling set by the
  server and the transport, to show that the server is not the bottleneck;
* variants of the plugin's consume loop (subclasses overriding ``OllamaClient._consume``; every
  line is parsed): ``readline`` (``async for line in resp.content``), ``chunked64k``
  (``iter_chunked(65536)``), ``inline`` (``iter_any`` + ``bytes.split`` with the per-line work
  inlined), and ``orjson`` when orjson is importable.

The server is ``benchmarks/_servers.py fast-ndjson`` in a subprocess: pre-built lines framed like
Ollama (one HTTP chunk per line) handed to the transport in one write. The package's emulator
drains every line before the next (``set_write_buffer_limits(high=0)``), which caps it far below
what the clients can read; its ceiling is measured too (``emulator`` section) to show why it is
not used here. All clients run in turn in each repetition (rotating the order), and medians of
the repetitions are compared. Targets: plugin >= 2x official and >= 0.9x raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import aiohttp
from _common import CpuWindow
from _common import ServerProcess
from _common import fmt
from _common import median
from _common import table
from _common import verdict
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.reading import NDJSONSplitter

NAME = "stream_throughput"
MODEL = "fast:latest"
MESSAGES = [{"role": "user", "content": "stream please"}]
TARGET_VS_OFFICIAL = 2.0
TARGET_VS_RAW = 0.9

try:
    import orjson
except ImportError:  # not installed in the project's venv
    orjson = None


# --------------------------------------------------------------------------- plugin variants


class ReadlineClient(OllamaClient):
    """Consume with aiohttp's line iterator (``readline`` per line)."""

    async def _consume(self, resp: Any, rec: Any, endpoint: Any, path: str, deadline: Any) -> None:
        text_key = "response" if endpoint == "generate" else None
        clock = time.perf_counter_ns
        line_no = 0
        loads = json.loads
        async for raw in resp.content:
            t = clock()
            rec.add_bytes(len(raw))
            line = raw.strip()
            if not line:
                continue
            deadline.renew()
            line_no += 1
            if self._record(loads, line, line_no, t, rec, text_key, path):
                return
        raise self._incomplete(path, rec, "the stream ended without a 'done: true' record")


class Chunked64kClient(OllamaClient):
    """Consume in reads of up to 64 KiB (``iter_chunked``) + the NDJSON splitter."""

    async def _consume(self, resp: Any, rec: Any, endpoint: Any, path: str, deadline: Any) -> None:
        text_key = "response" if endpoint == "generate" else None
        splitter = NDJSONSplitter()
        clock = time.perf_counter_ns
        line_no = 0
        loads = json.loads
        async for data in resp.content.iter_chunked(65536):
            t = clock()
            rec.add_bytes(len(data))
            lines = splitter.feed(data)
            if lines:
                deadline.renew()
            for line in lines:
                line_no += 1
                if self._record(loads, line, line_no, t, rec, text_key, path):
                    return
        raise self._incomplete(path, rec, "the stream ended without a 'done: true' record")


def _make_inline(loads: Callable[[bytes], Any]) -> type[OllamaClient]:
    class InlineClient(OllamaClient):
        """``iter_any`` + ``bytes.split``; the common case of ``_record`` inlined.

        A line that is not the plain shape (not a dict, an ``error`` key, a non-dict
        ``message``, non-string text) falls back to ``self._record`` so errors and odd
        records behave exactly as before.
        """

        async def _consume(
            self, resp: Any, rec: Any, endpoint: Any, path: str, deadline: Any
        ) -> None:
            text_key = "response" if endpoint == "generate" else None
            clock = time.perf_counter_ns
            chunk = rec.chunk
            record = self._record
            line_no = 0
            buf = b""
            async for data in resp.content.iter_any():
                t = clock()
                rec.add_bytes(len(data))
                if buf:
                    data = buf + data
                *lines, buf = data.split(b"\n")
                if lines:
                    deadline.renew()
                for line in lines:
                    if not line or line.isspace():
                        continue
                    line_no += 1
                    try:
                        obj = loads(line)
                    except ValueError:
                        obj = None
                    if type(obj) is not dict or "error" in obj:
                        record(loads, line, line_no, t, rec, text_key, path)  # raises
                        continue
                    if text_key is None:
                        msg = obj.get("message")
                        if type(msg) is not dict:
                            if record(loads, line, line_no, t, rec, text_key, path):
                                return
                            continue
                        content = msg.get("content") or ""
                        thinking = msg.get("thinking") or ""
                        tools = msg.get("tool_calls") or ()
                    else:
                        content = obj.get(text_key) or ""
                        thinking = obj.get("thinking") or ""
                        tools = obj.get("tool_calls") or ()
                    if type(content) is not str or type(thinking) is not str:
                        if record(loads, line, line_no, t, rec, text_key, path):
                            return
                        continue
                    chunk(t, content=content, thinking=thinking, tool_calls=tools)
                    if obj.get("done") is True:
                        rec.done(t, obj)
                        return
            if buf.strip():
                line_no += 1
                if record(loads, buf, line_no, clock(), rec, text_key, path):
                    return
            raise self._incomplete(path, rec, "the stream ended without a 'done: true' record")

    return InlineClient


def _make_orjson_client() -> type[OllamaClient]:
    assert orjson is not None
    loads = orjson.loads

    class OrjsonClient(OllamaClient):
        """The package's consume loop, with ``orjson.loads`` in place of ``json.loads``."""

        async def _consume(
            self, resp: Any, rec: Any, endpoint: Any, path: str, deadline: Any
        ) -> None:
            text_key = "response" if endpoint == "generate" else None
            splitter = NDJSONSplitter()
            clock = time.perf_counter_ns
            line_no = 0
            async for data in resp.content.iter_any():
                t = clock()
                rec.add_bytes(len(data))
                lines = splitter.feed(data)
                if lines:
                    deadline.renew()
                for line in lines:
                    line_no += 1
                    if self._record(loads, line, line_no, t, rec, text_key, path):
                        return
            raise self._incomplete(path, rec, "the stream ended without a 'done: true' record")

    return OrjsonClient


# --------------------------------------------------------------------------- runners


Runner = Callable[[], Awaitable[int]]


async def make_runners(url: str, variants: bool) -> tuple[dict[str, Runner], list[Any]]:
    """name -> coroutine function returning the number of lines consumed; plus closers."""
    import ollama

    closers: list[Any] = []
    runners: dict[str, Runner] = {}

    def plugin_runner(cls: type[OllamaClient]) -> Runner:
        client = cls(url, timeout=120)
        closers.append(client.aclose)

        async def run() -> int:
            m = await client.chat(MODEL, MESSAGES)
            return m.chunks

        return run

    runners["plugin"] = plugin_runner(OllamaClient)

    official = ollama.AsyncClient(host=url)

    async def run_official() -> int:
        n = 0
        async for _part in await official.chat(model=MODEL, messages=MESSAGES, stream=True):
            n += 1
        return n

    runners["official"] = run_official
    session = aiohttp.ClientSession()
    closers.append(session.close)
    payload = {"model": MODEL, "messages": MESSAGES, "stream": True}

    async def run_raw() -> int:
        n = 0
        async with session.post(url + "/api/chat", json=payload) as resp:
            async for line in resp.content:
                json.loads(line)
                n += 1
        return n

    async def run_bytes() -> int:
        n = 0
        async with session.post(url + "/api/chat", json=payload) as resp:
            async for data in resp.content.iter_any():
                n += data.count(b"\n")
        return n

    runners["raw"] = run_raw
    runners["bytes"] = run_bytes
    if variants:
        runners["v:readline"] = plugin_runner(ReadlineClient)
        runners["v:chunked64k"] = plugin_runner(Chunked64kClient)
        runners["v:inline"] = plugin_runner(_make_inline(json.loads))
        if orjson is not None:
            runners["v:orjson"] = plugin_runner(_make_orjson_client())
            runners["v:inline+orjson"] = plugin_runner(_make_inline(orjson.loads))
    return runners, closers


async def measure(runners: dict[str, Runner], reps: int, pid: int) -> dict[str, list[dict]]:
    names = list(runners)
    for name in names:  # warm-up: connections, imports, caches
        await runners[name]()
    samples: dict[str, list[dict]] = {name: [] for name in names}
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            with CpuWindow(pid) as cpu:
                lines = await runners[name]()
            samples[name].append(
                {
                    "rep": rep,
                    "lines": lines,
                    "chunks_per_s": lines / cpu.wall_s,
                    "cpu_us_per_chunk": cpu.own_s / lines * 1e6,
                    "cpu": cpu.as_dict(),
                }
            )
    return samples


def summarise(samples: dict[str, list[dict]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, reps in samples.items():
        server_share = [
            r["cpu"]["pid_cpu_s"][0] / r["cpu"]["wall_s"]
            for r in reps
            if r["cpu"]["pid_cpu_s"][0] is not None
        ]
        others = [r["cpu"]["other_tenants_cores"] for r in reps]
        out[name] = {
            "lines": reps[0]["lines"],
            "chunks_per_s_median": median(r["chunks_per_s"] for r in reps),
            "chunks_per_s_min": min(r["chunks_per_s"] for r in reps),
            "chunks_per_s_max": max(r["chunks_per_s"] for r in reps),
            "cpu_us_per_chunk_median": median(r["cpu_us_per_chunk"] for r in reps),
            "server_cpu_share_median": median(server_share) if server_share else None,
            "other_tenants_cores_median": median(x for x in others if x is not None),
        }
    return out


def paired_ratio(samples: dict[str, list[dict]], a: str, b: str) -> float:
    """Median over repetitions of a/b throughput (each repetition ran both)."""
    return median(
        x["chunks_per_s"] / y["chunks_per_s"] for x, y in zip(samples[a], samples[b], strict=True)
    )


async def emulator_ceiling(lines: int, reps: int) -> dict[str, Any]:
    """The package emulator (subprocess) read by the raw loop: its per-line drain caps it."""
    spec = [{"name": MODEL, "tokens_repeat": ["x", lines], "parallel": None}]
    server = ServerProcess("emulator", "--profiles", json.dumps(spec))
    await asyncio.to_thread(server.start)
    try:
        async with aiohttp.ClientSession() as session:
            payload = {"model": MODEL, "messages": MESSAGES, "stream": True}

            async def raw() -> int:
                n = 0
                async with session.post(server.url + "/api/chat", json=payload) as resp:
                    async for line in resp.content:
                        json.loads(line)
                        n += 1
                return n

            await raw()
            runs = []
            for _ in range(reps):
                with CpuWindow(server.pid) as cpu:
                    n = await raw()
                runs.append(
                    {
                        "lines": n,
                        "chunks_per_s": n / cpu.wall_s,
                        "server_cpu_share": (cpu.pid_s[0] or 0.0) / cpu.wall_s,
                        "cpu": cpu.as_dict(),
                    }
                )
    finally:
        await asyncio.to_thread(server.stop)
    return {
        "lines": lines + 1,
        "runs": runs,
        "chunks_per_s_median": median(r["chunks_per_s"] for r in runs),
        "server_cpu_share_median": median(r["server_cpu_share"] for r in runs),
    }


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    lines = args.lines or (10_000 if args.quick else 50_000)
    reps = args.reps or (3 if args.quick else 11)
    server = ServerProcess("fast-ndjson", "--lines", str(lines), "--model", MODEL)
    await asyncio.to_thread(server.start)
    try:
        runners, closers = await make_runners(server.url, variants=not args.no_variants)
        try:
            samples = await measure(runners, reps, server.pid)
        finally:
            for close in closers:
                await close()
    finally:
        await asyncio.to_thread(server.stop)
    emu_lines = 2_000 if args.quick else 5_000
    emulator = await emulator_ceiling(emu_lines, 2 if args.quick else 3)
    return {
        "lines_per_stream": lines + 1,
        "reps": reps,
        "orjson": None if orjson is None else orjson.__version__,
        "samples": samples,
        "summary": summarise(samples),
        "emulator": emulator,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    parser.add_argument("--lines", type=int, default=0, help="lines per stream")
    parser.add_argument("--reps", type=int, default=0, help="repetitions")
    parser.add_argument("--no-variants", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    data = asyncio.run(amain(args))
    summary, samples = data["summary"], data["samples"]
    raw = summary["raw"]["chunks_per_s_median"]
    official = summary["official"]["chunks_per_s_median"]
    rows = []
    for name, s in summary.items():
        srv = s["server_cpu_share_median"]
        rows.append(
            [
                name,
                s["lines"],
                f"{s['chunks_per_s_median']:,.0f}",
                f"{s['chunks_per_s_min']:,.0f}-{s['chunks_per_s_max']:,.0f}",
                fmt(s["cpu_us_per_chunk_median"], 1),
                fmt(s["chunks_per_s_median"] / official, 2),
                fmt(s["chunks_per_s_median"] / raw, 2),
                fmt(paired_ratio(samples, name, "raw"), 2),
                "-" if srv is None else f"{srv:.0%}",
                fmt(s["other_tenants_cores_median"], 2),
            ]
        )
    print(
        f"Chunks/s consumed from one stream of {data['lines_per_stream']:,} NDJSON lines "
        f"(fast server in a subprocess), median of {data['reps']} interleaved repetitions"
    )
    print(
        table(
            rows,
            [
                "client",
                "lines",
                "chunks/s",
                "min-max",
                "client CPU us/chunk",
                "x official",
                "x raw",
                "x raw (paired)",
                "server CPU",
                "others",
            ],
        )
    )
    emu = data["emulator"]
    print(
        f"\nemulator ceiling (package OllamaEmulator in a subprocess, raw loop, "
        f"{emu['lines']:,} lines): {emu['chunks_per_s_median']:,.0f} chunks/s, server CPU "
        f"{emu['server_cpu_share_median']:.0%} -> {raw / emu['chunks_per_s_median']:.1f}x below "
        f"what the raw loop reads from the fast server; bytes-only ceiling of the fast server: "
        f"{summary['bytes']['chunks_per_s_median'] / raw:.1f}x the raw loop"
    )
    plugin = summary["plugin"]["chunks_per_s_median"]
    checks = [
        {
            "target": f"plugin >= {TARGET_VS_OFFICIAL:g}x official",
            "ratio": plugin / official,
            "paired_ratio": paired_ratio(samples, "plugin", "official"),
            "met": plugin / official >= TARGET_VS_OFFICIAL,
        },
        {
            "target": f"plugin >= {TARGET_VS_RAW:g}x raw",
            "ratio": plugin / raw,
            "paired_ratio": paired_ratio(samples, "plugin", "raw"),
            "met": plugin / raw >= TARGET_VS_RAW,
        },
    ]
    for name in summary:
        if name.startswith("v:"):
            v = summary[name]["chunks_per_s_median"]
            checks.append(
                {
                    "target": f"{name}: >= {TARGET_VS_OFFICIAL:g}x official and "
                    f">= {TARGET_VS_RAW:g}x raw",
                    "ratio": v / raw,
                    "paired_ratio": paired_ratio(samples, name, "raw"),
                    "met": v / official >= TARGET_VS_OFFICIAL and v / raw >= TARGET_VS_RAW,
                    "variant": True,
                }
            )
    print()
    print(
        table(
            [
                [c["target"], fmt(c["ratio"], 2), fmt(c["paired_ratio"], 2), verdict(c["met"])]
                for c in checks
            ],
            ["target", "ratio of medians", "median paired ratio", "verdict"],
        )
    )
    write_results(NAME, {**data, "targets": checks}, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
