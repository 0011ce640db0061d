"""The reported prefill rate vs llama.cpp's own, with llama.cpp's prompt cache on.

    python benchmarks/prefill_rate.py [--quick]

llama.cpp's own OpenAI-compatible server (xllamacpp, SmolLM2-135M, 1 thread, ``cache_prompt``
on: its default) is read by ``OpenAIClient.chat`` through a loopback proxy that keeps every
response's bytes, so each round has both numbers from the same response:

* reported = ``Measurement.prompt_tokens_per_s`` = (prompt_eval_count - prompt_cached_count)
  / prompt_eval_duration, from ``usage.prompt_tokens``,
  ``usage.prompt_tokens_details.cached_tokens`` and ``timings.prompt_ms``;
* llama.cpp = its ``timings.prompt_per_second`` (``prompt_n / prompt_ms``);
* before = what the plugin reported before it knew about the cache: ``usage.prompt_tokens /
  prompt_ms`` (every prompt token, cached ones included, over the time of the processed ones).

Rounds: a long prompt three times (a miss, then two hits: llama.cpp re-processes one token),
the same system prompt with other questions (partial hits), the first prompt with a unique
prefix (``cache="bust"``'s: a miss again, but for the chat template's first tokens), then the
first prompt again. Target: every round within 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import aiohttp
from _common import fmt
from _common import table
from _common import verdict
from _common import write_results
from aiohttp import web

from pytest_ollama_bench.calls import bust_prefix
from pytest_ollama_bench.openai import OpenAIClient

NAME = "prefill_rate"
MODEL = "smollm2:135m"
TOLERANCE = 0.05
SYSTEM = (
    "You are a patient teacher who explains science to curious children. "
    "Use short sentences, friendly words and one example from everyday life. " * 6
)
QUESTIONS = (
    "Why is the sky blue?",
    "Why do leaves change colour in autumn?",
    "How does a rainbow form?",
)
OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 8}


class TeeProxy:
    """A loopback proxy to ``upstream`` that keeps the bytes of every response."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.bodies: list[bytes] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        # a session per request: llama.cpp's server closes the connection after each stream
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as upstream,
        ):
            response = web.StreamResponse(
                status=upstream.status,
                headers={"Content-Type": upstream.headers.get("Content-Type", "")},
            )
            await response.prepare(request)
            kept = bytearray()
            async for data in upstream.content.iter_any():
                kept += data
                await response.write(data)
            self.bodies.append(bytes(kept))
            # the client may hang up right after `data: [DONE]`, before the body's end
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
            return response

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def final_event(body: bytes) -> dict[str, Any]:
    """The SSE event with ``timings`` (llama.cpp's last one)."""
    for line in body.decode().splitlines():
        if line.startswith("data: {") and '"timings"' in line:
            found = json.loads(line[len("data: ") :])
            assert isinstance(found, dict)
            return found
    raise ValueError("no timings in the response")


def plan(quick: bool) -> list[list[dict[str, str]]]:
    """The rounds' messages: one prompt thrice, other questions, then the first one busted."""

    def chat(question: str, prefix: str = "") -> list[dict[str, str]]:
        return [
            {"role": "system", "content": prefix + SYSTEM},
            {"role": "user", "content": question},
        ]

    first = QUESTIONS[0]
    rounds = [chat(first), chat(first), chat(first)]
    rounds += [chat(q) for q in (QUESTIONS[1:2] if quick else QUESTIONS[1:])]
    rounds += [chat(first, bust_prefix()), chat(first)]
    return rounds


def kind(usage: dict[str, Any], timings: dict[str, Any]) -> str:
    """What llama.cpp's cache did: miss, hit (all but one token) or partial."""
    if not timings["cache_n"] or timings["cache_n"] <= 4:
        return "miss"
    return "hit" if timings["prompt_n"] <= 1 else "partial"


async def measure(url: str, proxy: TeeProxy, quick: bool) -> list[dict[str, Any]]:
    rows = []
    async with OpenAIClient(proxy.url, timeout=120) as client:
        for number, messages in enumerate(plan(quick), 1):
            m = await client.chat(MODEL, messages, options=OPTIONS)
            while len(proxy.bodies) < number:  # the proxy keeps a body once upstream ends it
                await asyncio.sleep(0.005)
            event = final_event(proxy.bodies[number - 1])
            usage, timings = event["usage"], event["timings"]
            own = float(timings["prompt_per_second"])
            reported = m.prompt_tokens_per_s
            rows.append(
                {
                    "round": kind(usage, timings),
                    "prompt_tokens": usage["prompt_tokens"],
                    "cached_tokens": m.prompt_cached_count,
                    "prompt_n": timings["prompt_n"],
                    "cache_n": timings["cache_n"],
                    "prompt_ms": timings["prompt_ms"],
                    "llamacpp_prompt_per_second": own,
                    "reported_prompt_tokens_per_s": reported,
                    "before_prompt_tokens_per_s": usage["prompt_tokens"]
                    / (timings["prompt_ms"] / 1000),
                    "ratio": None if reported is None else reported / own,
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test)")
    args = parser.parse_args()
    started = time.perf_counter()
    from pytest_ollama_bench.server.llamacpp import start_llamacpp_http_server

    server = start_llamacpp_http_server(None, 0, n_threads=1, cache_prompt=True)

    async def run() -> list[dict[str, Any]]:
        proxy = TeeProxy(server.url)
        await proxy.start()
        try:
            return await measure(server.url, proxy, args.quick)
        finally:
            await proxy.close()

    try:
        rows = asyncio.run(run())
    finally:
        server.close()
    print(
        table(
            [
                [
                    i,
                    r["round"],
                    r["prompt_tokens"],
                    r["cached_tokens"],
                    r["prompt_n"],
                    fmt(r["prompt_ms"], 1),
                    fmt(r["llamacpp_prompt_per_second"], 1),
                    fmt(r["reported_prompt_tokens_per_s"], 1),
                    fmt(r["ratio"], 4),
                    fmt(r["before_prompt_tokens_per_s"], 1),
                ]
                for i, r in enumerate(rows, 1)
            ],
            [
                "#",
                "round",
                "prompt tokens",
                "cached",
                "prompt_n",
                "prompt_ms",
                "llama.cpp tok/s",
                "reported tok/s",
                "ratio",
                "before tok/s",
            ],
        )
    )
    within = [r for r in rows if r["ratio"] is not None and abs(r["ratio"] - 1) <= TOLERANCE]
    met = len(within) == len(rows)
    print(
        f"\nreported prefill rate within {TOLERANCE:.0%} of llama.cpp's prompt_per_second: "
        f"{len(within)}/{len(rows)} rounds  {verdict(met)}"
    )
    check = {
        "target": f"reported prefill rate within {TOLERANCE:.0%} of llama.cpp's own, every round",
        "measured": f"{len(within)}/{len(rows)}",
        "met": met,
    }
    write_results(NAME, {"rounds": rows, "targets": [check]}, started)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
