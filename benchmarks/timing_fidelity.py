"""How far the plugin client's TTFT and inter-token timestamps are from the server's truth.

    python benchmarks/timing_fidelity.py [--quick]

The emulator (``OllamaEmulator`` + ``SimulatedEngine``, ``record_timings=True``) logs
``perf_counter_ns`` right after each stream line was written and drained: that is the truth.
The client (``OllamaClient.chat``) reports ``started_ns``, ``ttft_ms`` and the ``itl_ms`` gaps,
from which its receive time of every non-empty chunk is rebuilt:

    t_recv[0] = started_ns + ttft_ms,   t_recv[i] = t_recv[i-1] + itl_ms[i-1]

* TTFT error = t_recv[0] - t_write[0] (ms);
* chunk error = t_recv[i] - t_write[i] for the later chunks (each chunk's delivery latency);
* ITL gap error = itl_ms[i] - (t_write[i+1] - t_write[i]) (what a gap statistic is off by).

``perf_counter_ns`` is CLOCK_MONOTONIC on Linux, shared by all processes, so the main setup
runs the emulator in a **subprocess** (``benchmarks/_servers.py emulator``): the client is
measured, not the GIL shared with a server. The same streams are also run against the
emulator in a **thread** of this process (``FakeOllama``) for comparison.

Every stream: ttft 20 ms, itl 5 ms, 50 tokens; 1, 16 and 64 concurrent streams against one
model with ``parallel`` = 128, so the streams really run at once (the observed overlap is
reported). Targets: p50 TTFT error <= 2 ms on one stream; p99 <= 10 ms at 64 streams
(TTFT and chunk errors).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
from _common import CpuWindow
from _common import ServerProcess
from _common import fmt
from _common import median
from _common import percentile
from _common import table
from _common import verdict
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.models import Measurement

NAME = "timing_fidelity"
MODEL = "fidelity:latest"
TTFT_MS = 20.0
ITL_MS = 5.0
TOKENS = 50
PARALLEL = 128
CONCURRENCY = (1, 16, 64)
TARGET_TTFT_P50_1 = 2.0
TARGET_P99_64 = 10.0


def profile() -> dict[str, Any]:
    return {
        "name": MODEL,
        "tokens": [f" t{i}" for i in range(TOKENS)],
        "ttft_ms": TTFT_MS,
        "itl_ms": ITL_MS,
        "parallel": PARALLEL,
    }


# --------------------------------------------------------------------------- truth sources


class SubprocessTruth:
    """The emulator in ``benchmarks/_servers.py``; chunk_log over its control port."""

    setup = "subprocess"

    def __init__(self) -> None:
        self.server = ServerProcess(
            "emulator", "--profiles", json.dumps([profile()]), "--record-timings"
        )
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        await asyncio.to_thread(self.server.start)
        self.session = aiohttp.ClientSession()
        return self.server.url

    async def reset(self) -> None:
        assert self.session is not None
        async with self.session.post(self.server.control + "/reset") as resp:
            await resp.read()

    async def log(self) -> tuple[list[list[int]], dict[str, int]]:
        assert self.session is not None
        async with self.session.get(self.server.control + "/log") as resp:
            data = await resp.json()
        seqs = {marker: seq for seq, marker in data["requests"] if marker}
        return data["chunk_log"], seqs

    def pids(self) -> tuple[int, ...]:
        return (self.server.pid,)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        await asyncio.to_thread(self.server.stop)


class ThreadTruth:
    """``FakeOllama``: the emulator on a daemon thread of this process (shares the GIL)."""

    setup = "thread"

    def __init__(self) -> None:
        from pytest_ollama_bench.testing import FakeOllama
        from pytest_ollama_bench.testing import ModelProfile

        self.fake = FakeOllama([ModelProfile(**profile())], record_timings=True)

    async def start(self) -> str:
        await asyncio.to_thread(self.fake.start)
        return self.fake.url

    async def reset(self) -> None:
        # called while no request is in flight; the server thread is idle
        self.fake.requests.clear()
        self.fake.chunk_log.clear()

    async def log(self) -> tuple[list[list[int]], dict[str, int]]:
        seqs: dict[str, int] = {}
        for seq, req in enumerate(list(self.fake.requests)):
            body = req.get("body")
            if isinstance(body, dict) and body.get("messages"):
                seqs[str(body["messages"][-1]["content"])] = seq
        return [list(entry) for entry in self.fake.chunk_log], seqs

    def pids(self) -> tuple[int, ...]:
        return ()

    async def stop(self) -> None:
        await asyncio.to_thread(self.fake.stop)


# --------------------------------------------------------------------------- analysis


def timeline(m: Measurement) -> tuple[int, list[float], float]:
    """(sent ns, receive ns of each non-empty chunk, receive ns of the done chunk)."""
    assert m.started_ns is not None
    assert m.ttft_ms is not None
    recv = [m.started_ns + m.ttft_ms * 1e6]
    for gap in m.itl_ms:
        recv.append(recv[-1] + gap * 1e6)
    return m.started_ns, recv, m.started_ns + m.total_ms * 1e6


def analyse(tl: tuple[int, list[float], float], lines: dict[int, int]) -> dict[str, Any]:
    """Errors of one stream: client receive times against the server's write times (ms)."""
    started, recv, done = tl
    n = len(recv)
    if n != TOKENS or any(i not in lines for i in range(n + 1)):
        raise RuntimeError(f"stream mismatch: {n} client tokens, server lines {sorted(lines)}")
    write = [lines[i] for i in range(n)]
    server_gaps = [(write[i + 1] - write[i]) / 1e6 for i in range(n - 1)]
    client_gaps = [(recv[i + 1] - recv[i]) / 1e6 for i in range(n - 1)]
    return {
        "started_ns": started,
        "ttft_ms": (recv[0] - started) / 1e6,
        "server_ttft_ms": (write[0] - started) / 1e6,
        "ttft_error_ms": (recv[0] - write[0]) / 1e6,
        "chunk_errors_ms": [(r - w) / 1e6 for r, w in zip(recv[1:], write[1:], strict=True)],
        "gap_errors_ms": [c - s for c, s in zip(client_gaps, server_gaps, strict=True)],
        "server_itl_ms": server_gaps,
        "done_error_ms": (done - lines[n]) / 1e6,
        "first_write_ns": write[0],
        "last_write_ns": lines[n],
    }


def max_overlap(streams: list[dict[str, Any]]) -> int:
    """Most streams the server was writing at the same moment."""
    events = sorted(
        [(s["first_write_ns"], 1) for s in streams] + [(s["last_write_ns"], -1) for s in streams]
    )
    best = cur = 0
    for _, delta in events:
        cur += delta
        best = max(best, cur)
    return best


async def complete_log(truth: Any, markers: list[str]) -> dict[str, dict[int, int]]:
    """marker -> {line index: write time}, once every stream's last line is logged.

    The server appends a line's entry after its drain returns, which can be after the
    client already has the line, so the log is polled for up to 2 s.
    """
    for _ in range(100):
        chunk_log, seqs = await truth.log()
        per_seq: dict[int, dict[int, int]] = {}
        for seq, index, t_ns in chunk_log:
            per_seq.setdefault(seq, {})[index] = t_ns
        out = {mk: per_seq.get(seqs.get(mk, -1), {}) for mk in markers}
        if all(len(lines) == TOKENS + 1 for lines in out.values()):
            return out
        await asyncio.sleep(0.02)
    raise RuntimeError("the server's chunk_log never covered every stream")


Timeline = tuple[int, list[float], float]


async def raw_stream(session: aiohttp.ClientSession, url: str, marker: str) -> Timeline:
    """The floor: a bare aiohttp loop (``iter_any``, split, ``json.loads``) that only
    timestamps lines, no Recorder, no Measurement."""
    payload = {"model": MODEL, "messages": [{"role": "user", "content": marker}]}
    clock = time.perf_counter_ns
    recv: list[float] = []
    done = 0.0
    buf = b""
    started = clock()
    async with session.post(url + "/api/chat", json=payload) as resp:
        async for data in resp.content.iter_any():
            t = clock()
            *lines, buf = (buf + data).split(b"\n")
            for line in lines:
                if line:
                    if json.loads(line).get("done"):
                        done = t
                    else:
                        recv.append(t)
    return started, recv, done


async def run_setup(truth: Any, reps: dict[int, int], with_raw: bool) -> list[dict[str, Any]]:
    """Batches of ``conc`` streams per client; with ``with_raw`` the plugin and the bare
    aiohttp loop alternate batch by batch."""
    url = await truth.start()
    names = ["plugin", "raw"] if with_raw else ["plugin"]
    results = {
        name: {"setup": truth.setup, "client": name, "url": url, "by_concurrency": {}}
        for name in names
    }
    try:
        async with OllamaClient(url, timeout=60) as client, aiohttp.ClientSession() as session:

            async def plugin_one(marker: str) -> Timeline:
                m = await client.chat(MODEL, [{"role": "user", "content": marker}])
                return timeline(m)

            async def raw_one(marker: str) -> Timeline:
                return await raw_stream(session, url, marker)

            ones = {"plugin": plugin_one, "raw": raw_one}
            for conc in CONCURRENCY:
                batches: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
                for name in names:  # warm-up batch: opens the pooled connections
                    await asyncio.gather(*(ones[name](f"warm-{conc}-{i}") for i in range(conc)))
                for rep in range(reps[conc]):
                    order = names if rep % 2 == 0 else names[::-1]
                    for name in order:
                        await truth.reset()
                        markers = [f"{truth.setup}-{name}-{conc}-{rep}-{i}" for i in range(conc)]
                        with CpuWindow(*truth.pids()) as cpu:
                            tls = await asyncio.gather(*(ones[name](mk) for mk in markers))
                        per_seq = await complete_log(truth, markers)
                        streams = [
                            analyse(tl, per_seq[mk]) for mk, tl in zip(markers, tls, strict=True)
                        ]
                        batches[name].append(
                            {
                                "rep": rep,
                                "cpu": cpu.as_dict(),
                                "max_overlap": max_overlap(streams),
                                "streams": streams,
                            }
                        )
                for name in names:
                    summary = summarise(batches[name])
                    for batch in batches[name]:
                        for stream in batch["streams"]:
                            # = differences of consecutive chunk errors; kept out of the JSON
                            del stream["gap_errors_ms"]
                    results[name]["by_concurrency"][str(conc)] = {
                        "batches": batches[name],
                        "summary": summary,
                    }
    finally:
        await truth.stop()
    return list(results.values())


def summarise(batches: list[dict[str, Any]]) -> dict[str, Any]:
    streams = [s for b in batches for s in b["streams"]]
    ttft = [s["ttft_error_ms"] for s in streams]
    chunk = [e for s in streams for e in s["chunk_errors_ms"]]
    gap = [abs(e) for s in streams for e in s["gap_errors_ms"]]
    server_itl = [g for s in streams for g in s["server_itl_ms"]]
    cpu = [
        b["cpu"]["pid_cpu_s"][0] / b["cpu"]["wall_s"]
        for b in batches
        if b["cpu"]["pid_cpu_s"] and b["cpu"]["pid_cpu_s"][0] is not None
    ]
    others = [
        b["cpu"]["other_tenants_cores"]
        for b in batches
        if b["cpu"]["other_tenants_cores"] is not None
    ]
    summary: dict[str, Any] = {"streams": len(streams), "chunks": len(chunk)}
    for name, values in (
        ("ttft_error_ms", ttft),
        ("chunk_error_ms", chunk),
        ("gap_abs_error_ms", gap),
    ):
        summary[name] = {
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "max": max(values),
            "min": min(values),
        }
    summary["server_itl_ms_p50"] = percentile(server_itl, 50)
    summary["server_ttft_ms_p50"] = median(s["server_ttft_ms"] for s in streams)
    summary["max_overlap"] = max(b["max_overlap"] for b in batches)
    summary["server_cpu_share"] = median(cpu) if cpu else None
    summary["client_process_cpu_share"] = median(
        b["cpu"]["own_cpu_s"] / b["cpu"]["wall_s"] for b in batches
    )
    summary["other_tenants_cores"] = median(others) if others else None
    return summary


def print_tables(results: list[dict[str, Any]]) -> None:
    headers = [
        "setup/client",
        "streams",
        "n",
        "TTFT err p50",
        "p99",
        "max",
        "chunk err p50",
        "p99",
        "max",
        "|ITL gap err| p50",
        "p99",
        "max",
        "srv itl p50",
        "overlap",
        "srv CPU",
        "client CPU",
        "others",
    ]
    rows = []
    for res in results:
        for conc, data in res["by_concurrency"].items():
            s = data["summary"]
            cpu = s["server_cpu_share"]
            rows.append(
                [
                    f"{res['setup']}/{res['client']}",
                    conc,
                    s["streams"],
                    fmt(s["ttft_error_ms"]["p50"], 3),
                    fmt(s["ttft_error_ms"]["p99"], 3),
                    fmt(s["ttft_error_ms"]["max"], 3),
                    fmt(s["chunk_error_ms"]["p50"], 3),
                    fmt(s["chunk_error_ms"]["p99"], 3),
                    fmt(s["chunk_error_ms"]["max"], 3),
                    fmt(s["gap_abs_error_ms"]["p50"], 3),
                    fmt(s["gap_abs_error_ms"]["p99"], 3),
                    fmt(s["gap_abs_error_ms"]["max"], 3),
                    fmt(s["server_itl_ms_p50"], 2),
                    s["max_overlap"],
                    "-" if cpu is None else f"{cpu:.0%}",
                    f"{s['client_process_cpu_share']:.0%}",
                    fmt(s["other_tenants_cores"], 2),
                ]
            )
    print(
        f"Timing error of OllamaClient vs the emulator's write times (ms); each stream: "
        f"ttft {TTFT_MS:g} ms, itl {ITL_MS:g} ms, {TOKENS} tokens"
    )
    print(table(rows, headers))
    print(
        "n = streams measured; chunk err = receive minus write time of chunks 2..50; srv itl = "
        "the server's achieved gap;\noverlap = most streams written at once; srv/client CPU = "
        "process CPU / wall; others = cores busy with other tenants' work (median of batches)\n"
        "plugin = OllamaClient.chat; raw = a bare aiohttp loop that only timestamps lines (the "
        "floor for any aiohttp client here), batches alternating with the plugin's"
    )


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def find(client: str) -> dict[str, Any]:
        return next(r for r in results if r["setup"] == "subprocess" and r["client"] == client)[
            "by_concurrency"
        ]

    sub, raw = find("plugin"), find("raw")
    rows = [
        ("1", "ttft_error_ms", "p50", f"p50 TTFT error, 1 stream <= {TARGET_TTFT_P50_1:g} ms"),
        ("64", "ttft_error_ms", "p99", f"p99 TTFT error, 64 streams <= {TARGET_P99_64:g} ms"),
        (
            "64",
            "chunk_error_ms",
            "p99",
            f"p99 chunk (inter-token) error, 64 streams <= {TARGET_P99_64:g} ms",
        ),
    ]
    checks = []
    for conc, metric, stat, label in rows:
        limit = TARGET_TTFT_P50_1 if conc == "1" else TARGET_P99_64
        value = sub[conc]["summary"][metric][stat]
        checks.append(
            {
                "target": label,
                "measured_ms": value,
                "raw_floor_ms": raw[conc]["summary"][metric][stat],
                "ratio_to_limit": value / limit,
                "met": value <= limit,
            }
        )
    return checks


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        reps_sub = {1: 8, 16: 2, 64: 2}
        reps_thread = {1: 4, 16: 1, 64: 1}
    else:
        reps_sub = {1: 40, 16: 10, 64: 10}
        reps_thread = {1: 20, 16: 5, 64: 5}
    results = await run_setup(SubprocessTruth(), reps_sub, with_raw=True)
    if not args.no_thread:
        results += await run_setup(ThreadTruth(), reps_thread, with_raw=False)
    return {"results": results, "reps": {"subprocess": reps_sub, "thread": reps_thread}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    parser.add_argument("--no-thread", action="store_true", help="skip the in-thread setup")
    args = parser.parse_args()
    started = time.perf_counter()
    data = asyncio.run(amain(args))
    print_tables(data["results"])
    checks = targets(data["results"])
    print()
    print(
        table(
            [
                [
                    c["target"],
                    fmt(c["measured_ms"], 3),
                    f"{c['ratio_to_limit']:.2f}",
                    fmt(c["raw_floor_ms"], 3),
                    verdict(c["met"]),
                ]
                for c in checks
            ],
            [
                "target (subprocess setup, plugin client)",
                "measured ms",
                "x limit",
                "raw-loop floor ms",
                "verdict",
            ],
        )
    )
    write_results(
        NAME,
        {
            "parameters": {
                "ttft_ms": TTFT_MS,
                "itl_ms": ITL_MS,
                "tokens": TOKENS,
                "parallel": PARALLEL,
                "concurrency": CONCURRENCY,
                **data["reps"],
            },
            "targets": checks,
            "results": data["results"],
        },
        started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
