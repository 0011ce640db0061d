"""Real batching: llama.cpp with 1 and with 4 parallel slots, at 1, 2 and 4 concurrent requests.

    python benchmarks/parallel_slots.py [--quick] [--n-threads 1]

SmolLM2-135M-Instruct served by ``OllamaEmulator(LlamaCppEngine(n_parallel=P))`` in a
subprocess (``benchmarks/_servers.py llamacpp-emulator --n-parallel P``), model loaded and
warmed up before measuring. At each concurrency C a closed loop keeps C requests in flight
(C workers, each sending its requests one after the other) with ``temperature`` 0, ``seed``
42, ``num_predict`` 64 and long-answer prompts, read with ``OllamaClient.chat``.

Per level:

* ``out tok/s`` = sum of the server's ``eval_count`` over the level's wall time (first request
  sent -> last final chunk received): the model's total output rate;
* ``req/s`` = requests over the same wall time;
* ``stream tok/s`` = median per-request decode rate, llama.cpp's own
  (``eval_count / eval_duration``);
* ``TTFT p50`` = median client time to first token;
* ``wait p50`` = median ``total_duration - (load + prompt_eval + eval)``: the time a request
  waited for a slot (plus a little overhead), as Ollama's own timings show it.

With 1 slot, concurrency only queues: ``out tok/s`` stays flat and TTFT grows by about a
request per extra client. With 4 slots llama.cpp batches the requests into each decode step:
each stream is slower, the total is higher.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import CpuWindow
from _common import ServerProcess
from _common import fmt
from _common import median
from _common import table
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.models import Measurement

NAME = "parallel_slots"
MODEL = "smollm2:135m"
OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 64}
PROMPTS = (
    "Write a long, detailed story about a dragon who learns to bake bread.",
    "Explain in detail how a car engine works, step by step.",
    "Describe the history of the Roman Empire in as much detail as you can.",
    "Write a long essay about why the oceans matter for life on Earth.",
)
SLOTS = (1, 4)
CONCURRENCY = (1, 2, 4)


async def level(client: OllamaClient, concurrency: int, per_worker: int) -> dict[str, Any]:
    """``concurrency`` workers sending ``per_worker`` requests each, back to back."""
    measurements: list[Measurement] = []

    async def worker(index: int) -> None:
        for i in range(per_worker):
            prompt = PROMPTS[(index + i * concurrency) % len(PROMPTS)]
            messages = [{"role": "user", "content": prompt}]
            measurements.append(await client.chat(MODEL, messages, options=OPTIONS))

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall_s = time.perf_counter() - started
    waits = [
        m.server_total_ms - (m.load_ms or 0.0) - (m.prompt_eval_ms or 0.0) - (m.eval_ms or 0.0)
        for m in measurements
        if m.server_total_ms is not None
    ]
    tokens = sum(m.eval_count or 0 for m in measurements)
    return {
        "requests": len(measurements),
        "wall_s": wall_s,
        "tokens": tokens,
        "output_tokens_per_s": tokens / wall_s,
        "requests_per_s": len(measurements) / wall_s,
        "stream_tokens_per_s_p50": median(m.tokens_per_s for m in measurements if m.tokens_per_s),
        "ttft_ms_p50": median(m.ttft_ms for m in measurements if m.ttft_ms is not None),
        "wait_ms_p50": median(waits),
        "measurements": [m.model_dump(exclude={"itl_ms"}) for m in measurements],
    }


async def amain(args: argparse.Namespace) -> list[dict[str, Any]]:
    per_worker = 1 if args.quick else 3
    rows: list[dict[str, Any]] = []
    for slots in SLOTS:
        server = ServerProcess(
            "llamacpp-emulator",
            "--n-threads",
            str(args.n_threads),
            "--n-parallel",
            str(slots),
            "--name",
            MODEL,
        )
        await asyncio.to_thread(server.start)
        try:
            async with OllamaClient(server.url, timeout=600) as client:
                await client.chat(MODEL, [{"role": "user", "content": "Hi"}], options=OPTIONS)
                for concurrency in CONCURRENCY:
                    with CpuWindow(server.pid) as cpu:
                        result = await level(client, concurrency, per_worker)
                    result.update(slots=slots, concurrency=concurrency, cpu=cpu.as_dict())
                    rows.append(result)
        finally:
            await asyncio.to_thread(server.stop)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    parser.add_argument("--n-threads", type=int, default=1, help="llama.cpp threads")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = asyncio.run(amain(args))
    print(
        f"SmolLM2-135M, llama.cpp {args.n_threads} thread(s), server in a subprocess; "
        f"options {OPTIONS}; closed loop"
    )
    print(
        table(
            [
                [
                    r["slots"],
                    r["concurrency"],
                    r["requests"],
                    fmt(r["wall_s"], 2),
                    fmt(r["requests_per_s"], 2),
                    fmt(r["output_tokens_per_s"], 1),
                    fmt(r["stream_tokens_per_s_p50"], 1),
                    fmt(r["ttft_ms_p50"], 0),
                    fmt(r["wait_ms_p50"], 0),
                    fmt(r["cpu"]["other_tenants_cores"], 2),
                ]
                for r in rows
            ],
            [
                "slots",
                "concurrency",
                "requests",
                "wall s",
                "req/s",
                "out tok/s",
                "stream tok/s",
                "TTFT p50 ms",
                "wait p50 ms",
                "others",
            ],
        )
    )
    base = {r["slots"]: r["output_tokens_per_s"] for r in rows if r["concurrency"] == 1}
    for r in rows:
        r["speedup_vs_concurrency_1"] = r["output_tokens_per_s"] / base[r["slots"]]
    print(
        "speed-up of out tok/s over concurrency 1: "
        + ", ".join(
            f"{r['slots']} slot(s) x{r['concurrency']}: {r['speedup_vs_concurrency_1']:.2f}"
            for r in rows
        )
    )
    write_results(NAME, {"n_threads": args.n_threads, "options": OPTIONS, "levels": rows}, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
