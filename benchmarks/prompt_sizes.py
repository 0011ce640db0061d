"""Sized prompts against a real tokenizer: asked tokens vs llama.cpp's own count, and prefill.

    python benchmarks/prompt_sizes.py [--quick]

SmolLM2-135M-Instruct is served two ways, each in its own **subprocess**
(``benchmarks/_servers.py``), 1 llama.cpp thread each, model loaded before measuring:

* ``emulator`` - ``OllamaEmulator(LlamaCppEngine(...))``, read with ``OllamaClient.chat``
  (``--ollama-embedded``'s path): ``prompt_eval_count`` is llama.cpp's ``prompt_n``;
* ``llama-http`` - xllamacpp's own OpenAI-compatible server, read with ``OpenAIClient.chat``:
  ``usage.prompt_tokens``.

For each path the model is calibrated once (``sizing.calibrate``: two requests of 64 and 128
words), then prompts of 64, 256 and 1,024 tokens (``SizedPrompt``, seed 1) are sent 3 times
each as ``cache="bust"`` sends them (variant 1, 2, 3: other word orders of the same count),
with ``output_tokens=16`` (``num_predict`` / ``max_tokens`` 16 and ``ignore_eos``). Per
request: the server's prompt token count against the one asked for (target: within 2 %), the
prefill rate ``prompt_tokens_per_s`` (the plugin's, = llama.cpp's ``prompt_n / prompt_ms``),
and the answer's length against the 16 asked for. The context is 2,048 tokens per slot
(``LlamaCppEngine``'s ``n_ctx``), room for 1,024 + 16.
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
from _common import verdict
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.openai import OpenAIClient
from pytest_ollama_bench.sizing import calibrate
from pytest_ollama_bench.synthetic import SizedPrompt
from pytest_ollama_bench.workload import output_options

NAME = "prompt_sizes"
MODEL = "smollm2:135m"
SIZES = (64, 256, 1024)
OUTPUT_TOKENS = 16
OPTIONS = {"temperature": 0, "seed": 42, **output_options(OUTPUT_TOKENS)}
TOLERANCE = 0.02
PATHS = ("emulator", "llama-http")


async def measure_path(
    path: str, client: Any, pid: int, sizes: tuple[int, ...], rounds: int
) -> dict[str, Any]:
    started = time.perf_counter()
    calibration = await calibrate(client, MODEL)
    calibration_s = time.perf_counter() - started
    rows = []
    for tokens in sizes:
        prompt = SizedPrompt(tokens, calibration=calibration, seed=1)
        for number in range(1, rounds + 1):
            text = str(prompt.variant(number))
            with CpuWindow(pid) as cpu:
                m = await client.chat(MODEL, [{"role": "user", "content": text}], options=OPTIONS)
            counted = m.prompt_eval_count or 0
            rows.append(
                {
                    "path": path,
                    "asked": tokens,
                    "round": number,
                    "words": prompt.words,
                    "counted": counted,
                    "error_pct": 100 * (counted - tokens) / tokens,
                    "cached": m.prompt_cached_count,
                    "prompt_eval_ms": m.prompt_eval_ms,
                    "prefill_tok_s": m.prompt_tokens_per_s,
                    "ttft_ms": m.ttft_ms,
                    "eval_count": m.eval_count,
                    "done_reason": m.done_reason,
                    "decode_tok_s": m.tokens_per_s,
                    "others": cpu.as_dict()["other_tenants_cores"],
                }
            )
    return {
        "calibration": calibration.describe(),
        "calibration_s": calibration_s,
        "requests": rows,
    }


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    sizes = SIZES[:2] if args.quick else SIZES
    rounds = 1 if args.quick else 3
    threads = str(args.n_threads)
    servers = {
        "emulator": ServerProcess("llamacpp-emulator", "--n-threads", threads, "--name", MODEL),
        "llama-http": ServerProcess("llamacpp-http", "--n-threads", threads, "--name", MODEL),
    }
    out: dict[str, Any] = {}
    for path in PATHS:
        server = servers[path]
        await asyncio.to_thread(server.start)
        try:
            kind = OllamaClient if path == "emulator" else OpenAIClient
            async with kind(server.url, timeout=600) as client:
                out[path] = await measure_path(path, client, server.pid, sizes, rounds)
        finally:
            await asyncio.to_thread(server.stop)
    return {"n_threads": args.n_threads, "options": OPTIONS, "paths": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    parser.add_argument("--n-threads", type=int, default=1, help="llama.cpp threads per server")
    args = parser.parse_args()
    started = time.perf_counter()
    data = asyncio.run(amain(args))
    print(
        f"SmolLM2-135M, llama.cpp {args.n_threads} thread(s), servers in subprocesses; "
        f"output_tokens={OUTPUT_TOKENS}; each size 3 rounds, another word order each"
    )
    summary = []
    ok = True
    for path, found in data["paths"].items():
        cal = found["calibration"]
        print(
            f"\n{path}: calibration samples {cal['samples']} -> base {cal['base']}, "
            f"per_word {cal['per_word']} ({found['calibration_s']:.1f} s)"
        )
        rows = found["requests"]
        print(
            table(
                [
                    [
                        r["asked"],
                        r["round"],
                        r["words"],
                        r["counted"],
                        fmt(r["error_pct"], 2),
                        fmt(r["prefill_tok_s"], 1),
                        fmt(r["prompt_eval_ms"], 1),
                        r["eval_count"],
                        r["done_reason"],
                        fmt(r["others"], 2),
                    ]
                    for r in rows
                ],
                [
                    "asked",
                    "round",
                    "words",
                    "counted",
                    "error %",
                    "prefill tok/s",
                    "prompt eval ms",
                    "output",
                    "done",
                    "others",
                ],
            )
        )
        for size in sorted({r["asked"] for r in rows}):
            sized = [r for r in rows if r["asked"] == size]
            worst = max(abs(r["error_pct"]) for r in sized)
            reached = all(r["eval_count"] == OUTPUT_TOKENS for r in sized)
            ok = ok and worst <= 100 * TOLERANCE and reached
            summary.append(
                [path, size, "/".join(str(r["counted"]) for r in sized), fmt(worst, 2),
                 fmt(median(r["prefill_tok_s"] for r in sized), 1),
                 "/".join(str(r["eval_count"]) for r in sized),
                 verdict(worst <= 100 * TOLERANCE and reached)]
            )  # fmt: skip
    print("\nsummary (target: every count within 2 % of the asked one, every answer 16 tokens)")
    print(
        table(
            summary,
            [
                "path",
                "asked",
                "counted",
                "worst error %",
                "prefill tok/s (median)",
                "output",
                "verdict",
            ],
        )
    )
    write_results(NAME, data, started)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
