"""The load generator's own error at high concurrency, its CPU cost, and how far it scales.

    python benchmarks/load_generator.py [--quick] [--levels 250,500,1000,...]

The emulator runs in a subprocess (``benchmarks/_servers.py emulator --record-timings``):
every stream line's write time is logged (``perf_counter_ns`` after the write was drained;
CLOCK_MONOTONIC, shared by both processes). The client is the plugin's own load generator,
``pytest_ollama_bench.load.run_load`` (what ``ollama_bench.load()`` runs) with an
``OllamaClient``: N requests, all in flight at once. Two ways to start them:

* ``spread``: Poisson arrivals at N requests per token interval, capped at N in flight
  (``rate=N/0.1, concurrency=N``), so the N streams start within about 100 ms and their tokens
  arrive at independent moments, as N independent users' would;
* ``lockstep``: a closed loop of N workers starting together, so every 100 ms the server
  writes a token to all N streams in one burst (as one batched decode step of a real server
  would) and the client reads N chunks back to back: the last of a burst waits for the others.

Every stream: the first token after 100 ms, then one every 100 ms (10 tokens/s), 20 tokens.
From each request's ``Measurement`` the client's receive time of every token is rebuilt
(``started_ns + ttft_ms``, then the ``itl_ms`` gaps) and compared with the server's write time
of the same line:

* TTFT error = receive - write of the first token;
* chunk error = receive - write of tokens 2..20 (each token's delivery latency to the
  generator's measurement).

Before each level the same number of warmup requests open the pooled connections (the
generator's warmup phase); only the measured run is timed. The client's CPU (this process,
``time.process_time``) is divided by the chunks it read and the requests it made.

Target (``spread``): TTFT and chunk error p99 <= 10 ms at 1,000 streams of 10 tokens/s; the
largest level within both bounds is what this machine sustains. ``lockstep`` shows the cost of
bursts: its chunk error grows with N times the CPU per chunk.
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
from _common import percentile
from _common import table
from _common import verdict
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.load import run_load
from pytest_ollama_bench.loadplan import plan_load
from pytest_ollama_bench.models import LoadRecord

NAME = "load_generator"
MODEL = "load:latest"
TTFT_MS = 100.0
ITL_MS = 100.0  # 10 tokens/s per stream
TOKENS = 20
LEVELS = (250, 500, 1000, 1500, 2000, 3000)
QUICK_LEVELS = (100, 250)
LIMIT_MS = 10.0
TARGET_LEVEL = 1000


def profile() -> dict[str, Any]:
    return {
        "name": MODEL,
        "tokens": [f" t{i}" for i in range(TOKENS)],
        "ttft_ms": TTFT_MS,
        "itl_ms": ITL_MS,
        "parallel": None,
        "max_queue": None,
    }


MODES = ("spread", "lockstep")


def plan(tag: str, n: int, mode: str) -> Any:
    rate = n / (ITL_MS / 1000) if mode == "spread" else None
    return plan_load(
        nodeid=NAME, model=MODEL, endpoint="chat", api="native",
        prompts=lambda i: f"{tag}-{i}", system=None, options={}, fields={},
        concurrency=n, rate=rate, requests=n, duration_s=None, warmup=0, seed=1,
        cache="keep", check=None, slo=None,
    )  # fmt: skip


async def server_log(session: aiohttp.ClientSession, control: str) -> dict[str, dict[int, int]]:
    """marker -> {line index: write ns} from the emulator's control port."""
    async with session.get(control + "/log") as resp:
        data = await resp.json()
    seqs = {seq: marker for seq, marker in data["requests"] if marker}
    out: dict[str, dict[int, int]] = {}
    for seq, index, t_ns in data["chunk_log"]:
        marker = seqs.get(seq)
        if marker is not None:
            out.setdefault(marker, {})[index] = t_ns
    return out


def errors(record: LoadRecord, tag: str, lines: dict[str, dict[int, int]]) -> dict[str, Any]:
    ttft: list[float] = []
    chunk: list[float] = []
    overlap_events: list[tuple[int, int]] = []
    for request in record.requests:
        m = request.measurement
        if request.warmup or m is None or m.started_ns is None or m.ttft_ms is None:
            continue
        write = lines.get(f"{tag}-{request.index}", {})
        recv = [m.started_ns + m.ttft_ms * 1e6]
        for gap in m.itl_ms:
            recv.append(recv[-1] + gap * 1e6)
        if len(recv) != TOKENS or any(i not in write for i in range(TOKENS)):
            raise RuntimeError(f"stream {request.index}: {len(recv)} tokens, lines {sorted(write)}")
        ttft.append((recv[0] - write[0]) / 1e6)
        chunk += [(recv[i] - write[i]) / 1e6 for i in range(1, TOKENS)]
        overlap_events += [(write[0], 1), (write[TOKENS - 1], -1)]
    best = cur = 0
    for _, delta in sorted(overlap_events):
        cur += delta
        best = max(best, cur)
    return {"ttft_error_ms": ttft, "chunk_error_ms": chunk, "overlap": best}


async def level(url: str, control: str, n: int, mode: str, pid: int) -> dict[str, Any]:
    async with OllamaClient(url, timeout=120) as client, aiohttp.ClientSession() as session:
        await run_load(plan(f"warm{n}", n, "lockstep"), client)  # opens n pooled connections
        async with session.post(control + "/reset") as resp:
            await resp.read()
        tag = f"{mode}{n}"
        with CpuWindow(pid) as cpu:
            record, fatal = await run_load(plan(tag, n, mode), client)
        if fatal is not None or record.failed:
            raise RuntimeError(f"level {n}: {record.errors} {fatal}")
        await asyncio.sleep(0.3)  # the server logs a line after its drain returns
        found = errors(record, tag, await server_log(session, control))
    chunks = record.sent * (TOKENS + 1)  # every stream line the client read and parsed
    ttft, chunk = found["ttft_error_ms"], found["chunk_error_ms"]
    return {
        "concurrency": n,
        "mode": mode,
        "streams": len(ttft),
        "overlap": found["overlap"],
        "max_in_flight": record.max_in_flight,
        "duration_s": record.duration_s,
        "cpu": cpu.as_dict(),
        "client_cpu_us_per_chunk": cpu.own_s / chunks * 1e6,
        "client_cpu_ms_per_request": cpu.own_s / record.sent * 1e3,
        "ttft_error_ms": {q: percentile(ttft, q) for q in (50, 99, 100)},
        "chunk_error_ms": {q: percentile(chunk, q) for q in (50, 99, 100)},
        "within": percentile(ttft, 99) <= LIMIT_MS and percentile(chunk, 99) <= LIMIT_MS,
    }


async def amain(levels: tuple[int, ...]) -> list[dict[str, Any]]:
    results = []
    profiles = json.dumps([profile()])
    with ServerProcess("emulator", "--profiles", profiles, "--record-timings") as srv:
        for n in levels:
            for mode in MODES:
                results.append(await level(srv.url, srv.control, n, mode, srv.pid))
                r = results[-1]
                print(
                    f"  {n} streams {mode}: ttft err p99 {r['ttft_error_ms'][99]:.2f} ms, "
                    f"chunk err p99 {r['chunk_error_ms'][99]:.2f} ms", flush=True
                )  # fmt: skip
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    parser.add_argument("--levels", help="comma-separated concurrency levels")
    args = parser.parse_args()
    levels = QUICK_LEVELS if args.quick else LEVELS
    if args.levels:
        levels = tuple(int(x) for x in args.levels.split(","))
    started = time.perf_counter()
    results = asyncio.run(amain(levels))
    rows = [
        [
            r["concurrency"],
            r["mode"],
            r["overlap"],
            fmt(r["ttft_error_ms"][50], 2),
            fmt(r["ttft_error_ms"][99], 2),
            fmt(r["ttft_error_ms"][100], 2),
            fmt(r["chunk_error_ms"][50], 2),
            fmt(r["chunk_error_ms"][99], 2),
            fmt(r["chunk_error_ms"][100], 2),
            fmt(r["client_cpu_us_per_chunk"], 1),
            fmt(r["client_cpu_ms_per_request"], 2),
            f"{r['cpu']['own_cpu_s'] / r['cpu']['wall_s']:.0%}",
            "-" if r["cpu"]["pid_cpu_s"][0] is None
            else f"{r['cpu']['pid_cpu_s'][0] / r['cpu']['wall_s']:.0%}",
            fmt(r["cpu"]["other_tenants_cores"], 2),
            verdict(r["within"]),
        ]
        for r in results
    ]  # fmt: skip
    print(
        f"\nThe load generator's own error (ms) vs the emulator's write times; streams of "
        f"{TOKENS} tokens, 1st after {TTFT_MS:g} ms, then {1000 / ITL_MS:g} tokens/s"
    )
    print(
        table(
            rows,
            ["streams", "start", "overlap", "TTFT err p50", "p99", "max", "chunk err p50",
             "p99", "max", "CPU us/chunk", "CPU ms/req", "client CPU", "srv CPU", "others",
             f"p99s <= {LIMIT_MS:g} ms"],
        )
    )  # fmt: skip
    spread = [r for r in results if r["mode"] == "spread"]
    within = [r["concurrency"] for r in spread if r["within"]]
    sustained = max(within) if within else None
    target = next((r for r in spread if r["concurrency"] == TARGET_LEVEL), None)
    print(
        "overlap = most streams the server was writing at once; CPU us/chunk and ms/req = the "
        "client process's CPU over the run / stream lines read / requests; client and srv CPU "
        "= share of one core; others = cores busy with other tenants' work"
    )
    if target is not None:
        print(f"target at {TARGET_LEVEL} streams (spread): {verdict(target['within'])}")
    print(f"largest level within both bounds on this machine (spread): {sustained}")
    write_results(
        NAME,
        {
            "parameters": {
                "ttft_ms": TTFT_MS, "itl_ms": ITL_MS, "tokens": TOKENS, "levels": levels,
                "limit_ms": LIMIT_MS,
            },
            "sustained_concurrency": sustained,
            "results": results,
        },
        started,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
