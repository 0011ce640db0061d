"""The plugin's load generator side by side with NVIDIA aiperf, same emulator, same concurrency.

    python benchmarks/aiperf_compare.py [--quick] [--aiperf PATH]

aiperf is not a dependency: install it in a virtualenv of its own (about 1.2 GB) and pass its
executable (default: ``aiperf`` on ``PATH``)::

    python3 -m venv aiperf-venv && aiperf-venv/bin/pip install aiperf
    python benchmarks/aiperf_compare.py --aiperf aiperf-venv/bin/aiperf

The emulator runs in a subprocess (``benchmarks/_servers.py emulator``): 100 ms to the first
token, then 50 tokens 10 ms apart, no slot limit, so the concurrency is the client's alone. At
each concurrency every client runs the same closed loop (N requests always in flight) with the
same warmup (N requests) and the same number of measured requests:

* ``plugin native``: ``pytest_ollama_bench.load.run_load`` with ``OllamaClient``
  (``POST /api/chat``, NDJSON), what ``ollama_bench.load(concurrency=N)`` runs;
* ``plugin openai``: the same with ``OpenAIClient`` (``POST /v1/chat/completions``, SSE);
* ``aiperf``: ``aiperf profile --endpoint-type chat --streaming --concurrency N
  --request-count M --warmup-request-count N`` against the same ``/v1/chat/completions``,
  numbers read from its ``profile_export_aiperf.json``.

**aiperf's tokenizer.** aiperf counts tokens with a Hugging Face tokenizer named after the
model (``--tokenizer``; its ``builtin`` one downloads tiktoken's encoding): offline, with an
Ollama-style model name, it cannot start. Here it gets a local word-level tokenizer built on
the fly (``tokenizers.WordLevel``, written to a temporary directory with the aiperf venv's own
Python), and ``--use-server-token-count``, so output tokens come from the server's ``usage``,
as the plugin's come from ``eval_count``: neither tool's numbers depend on a tokenizer.

**CPU per chunk.** The plugin: this process's CPU during the measured run / stream chunks
read (``Measurement.chunks``). aiperf runs as a tree of processes (controller, workers, record
processors) with seconds of start-up: its CPU is taken from ``getrusage(RUSAGE_CHILDREN)``
around the whole command, and the marginal cost per chunk is (CPU of the run - CPU of a
one-request run) / (chunks of the run - chunks of the one-request run), chunks counted by the
server. Peak RSS: the largest process of each (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import ServerProcess
from _common import fmt
from _common import table
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.load import run_load
from pytest_ollama_bench.loadplan import plan_load
from pytest_ollama_bench.openai import OpenAIClient

NAME = "aiperf_compare"
MODEL = "compare:latest"
PROMPT = "How much is two plus two? Respond in exactly one sentence."
TOKENS = 50
LEVELS = ((1, 40), (8, 160), (32, 320))
QUICK_LEVELS = ((4, 16),)

_TOKENIZER = """
import json, sys
from pathlib import Path
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
out = Path(sys.argv[1])
words = ["[UNK]", "[BOS]", "[EOS]", *sys.argv[2].split()]
vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
tok.decoder = decoders.WordPiece(prefix="##")
tok.save(str(out / "tokenizer.json"))
special = {"unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]"}
(out / "special_tokens_map.json").write_text(json.dumps(special))
config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 100000, **special}
(out / "tokenizer_config.json").write_text(json.dumps(config))
"""


def profile() -> dict[str, Any]:
    return {
        "name": MODEL,
        "tokens": [f" w{i}" for i in range(TOKENS)],
        "ttft_ms": 100,
        "itl_ms": 10,
        "parallel": None,
        "max_queue": None,
    }


def children_cpu() -> tuple[float, float]:
    """(CPU seconds of the waited-for child processes so far, their largest peak RSS MB)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


async def server_chunks(control: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(control + "/log") as resp:
        data = await resp.json()
    return len(data["chunk_log"])


async def reset(control: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(control + "/reset") as resp:
        await resp.read()


async def plugin_run(url: str, api: str, n: int, requests: int) -> dict[str, Any]:
    plan = plan_load(
        nodeid=NAME, model=MODEL, endpoint="chat", api=api,  # type: ignore[arg-type]
        prompts=PROMPT, system=None, options={}, fields={}, concurrency=n, rate=None,
        requests=requests, duration_s=None, warmup=n, seed=None, cache="keep", check=None,
        slo=None,
    )  # fmt: skip
    client = OpenAIClient(url, timeout=120) if api == "openai" else OllamaClient(url, timeout=120)
    async with client:
        cpu0 = time.process_time()
        record, fatal = await run_load(plan, client)
        cpu = time.process_time() - cpu0
    if fatal is not None or record.failed:
        raise RuntimeError(f"plugin {api} at {n}: {record.errors} {fatal}")
    measured = [r.measurement for r in record.requests if not r.warmup and r.measurement]
    all_chunks = sum(r.measurement.chunks for r in record.requests if r.measurement)
    ttft = record.stats["ttft_ms"]
    return {
        "client": f"plugin {api}",
        "requests": len(measured),
        "request_throughput": record.request_throughput,
        "ttft_p50_ms": ttft.median,
        "ttft_p99_ms": ttft.p99,
        "cpu_s": cpu,
        "chunks": all_chunks,  # the warmup's too: the CPU covers them
        "cpu_us_per_chunk": cpu / all_chunks * 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def aiperf_command(aiperf: str, url: str, n: int, requests: int, workdir: Path) -> list[str]:
    return [
        aiperf, "profile", "--model", MODEL, "--url", url, "--endpoint-type", "chat",
        "--streaming", "--concurrency", str(n), "--request-count", str(requests),
        "--warmup-request-count", str(n), "--tokenizer", str(workdir / "tokenizer"),
        "--use-server-token-count", "--input-file", str(workdir / "prompts.jsonl"),
        "--custom-dataset-type", "single_turn", "--artifact-dir",
        str(workdir / f"run-{n}-{requests}"), "--ui", "none",
    ]  # fmt: skip


async def aiperf_run(
    aiperf: str, url: str, control: str, n: int, requests: int, workdir: Path
) -> dict[str, Any]:
    await reset(control)
    cpu0, _ = children_cpu()
    started = time.perf_counter()
    done = await asyncio.to_thread(
        subprocess.run,
        aiperf_command(aiperf, url, n, requests, workdir),
        cwd=workdir, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    cpu1, rss = children_cpu()
    if done.returncode != 0:
        raise RuntimeError(f"aiperf failed ({done.returncode}): {done.stdout[-3000:]}")
    export = json.loads(
        (workdir / f"run-{n}-{requests}" / "profile_export_aiperf.json").read_text()
    )
    ttft = export["time_to_first_token"]
    return {
        "client": "aiperf",
        "requests": int(export["request_count"]["avg"]),
        "request_throughput": export["request_throughput"]["avg"],
        "ttft_p50_ms": ttft["p50"],
        "ttft_p99_ms": ttft["p99"],
        "cpu_s": cpu1 - cpu0,
        "wall_s": wall,
        "chunks": await server_chunks(control),
        "peak_rss_mb": rss,
    }


async def amain(levels: tuple[tuple[int, int], ...], aiperf: str) -> dict[str, Any]:
    python = str(Path(aiperf).resolve().parent / "python")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "tokenizer").mkdir()
        words = " ".join(PROMPT.replace("?", " ").replace(".", " ").split())
        subprocess.run([python, "-c", _TOKENIZER, str(workdir / "tokenizer"), words], check=True)
        (workdir / "prompts.jsonl").write_text(json.dumps({"text": PROMPT}) + "\n")
        profiles = json.dumps([profile()])
        with ServerProcess("emulator", "--profiles", profiles, "--record-timings") as srv:
            base = await aiperf_run(aiperf, srv.url, srv.control, 1, 1, workdir)
            for n, requests in levels:
                for api in ("native", "openai"):
                    rows.append({"concurrency": n, **await plugin_run(srv.url, api, n, requests)})
                run = await aiperf_run(aiperf, srv.url, srv.control, n, requests, workdir)
                run["cpu_us_per_chunk"] = (
                    (run["cpu_s"] - base["cpu_s"]) / (run["chunks"] - base["chunks"]) * 1e6
                )
                rows.append({"concurrency": n, **run})
                print(f"  concurrency {n} done", flush=True)
    return {"rows": rows, "aiperf_one_request": base}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test")
    parser.add_argument("--aiperf", default=shutil.which("aiperf"), help="aiperf executable")
    args = parser.parse_args()
    if not args.aiperf:
        parser.error("aiperf not found: install it in a venv of its own and pass --aiperf PATH")
    started = time.perf_counter()
    data = asyncio.run(amain(QUICK_LEVELS if args.quick else LEVELS, args.aiperf))
    rows = [
        [
            r["concurrency"],
            r["client"],
            r["requests"],
            fmt(r["request_throughput"], 2),
            fmt(r["ttft_p50_ms"], 1),
            fmt(r["ttft_p99_ms"], 1),
            fmt(r["cpu_us_per_chunk"], 1),
            fmt(r["cpu_s"], 2),
            fmt(r["peak_rss_mb"], 0),
        ]
        for r in data["rows"]
    ]
    print(
        f"\nSame emulator (ttft 100 ms, {TOKENS} tokens 10 ms apart), closed loop at each "
        "concurrency"
    )
    print(
        table(
            rows,
            ["concurrency", "client", "requests", "req/s", "TTFT p50 ms", "TTFT p99 ms",
             "CPU us/chunk", "CPU s", "peak RSS MB"],
        )
    )  # fmt: skip
    base = data["aiperf_one_request"]
    print(
        f"aiperf CPU us/chunk is marginal: minus its one-request run ({base['cpu_s']:.1f} CPU s, "
        f"{base['wall_s']:.1f} s wall, mostly start-up); its CPU s column is the whole command"
    )
    write_results(NAME, data, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
