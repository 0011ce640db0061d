"""Open-loop accuracy: the achieved arrival rate and whether the arrivals are Poisson.

    python benchmarks/open_loop.py [--quick]

``pytest_ollama_bench.load.run_load`` (what ``ollama_bench.load(rate=R, requests=N)`` runs)
against the emulator in a subprocess (5 ms to the first token, 3 tokens, no slot limit, so
the server never holds an arrival back). For each run the client's send times (``sent_ms`` of
every request, from the start of the run) are compared with:

* the requested rate: achieved rate = N / (time of the N-th send), within 2 % is the target;
* the seed's own schedule (``arrival_times(R, seed, N)``): each send's lateness, the
  generator's timing error;
* the Poisson hypothesis, two ways (both computed here, no SciPy needed), on the gaps
  between the actual sends (and, for reference, on the seed's own schedule):

  - **KS test** of the gaps between sends against the exponential distribution of mean 1/R:
    D = sup |F_n(x) - (1 - exp(-R x))|, p from the asymptotic Kolmogorov distribution
    P(K > t) = 2 Σ_{j>=1} (-1)^(j-1) exp(-2 j² t²) with t = (√n + 0.12 + 0.11/√n) D
    (Stephens' correction);
  - **dispersion index** of the counts in 1 s windows: variance / mean is 1 for a Poisson
    process; (k - 1) * index follows chi-square with k - 1 degrees of freedom, p two-sided from the
    Wilson-Hilferty normal approximation. (A run of N requests ends exactly at N/R s, so the
    counts are multinomial: the expected index is 1 - 1/k, not quite 1.)

Target: achieved rate within 2 % of the requested one over 2,000 requests, p > 0.01 in both
tests.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import statistics
import sys
import time
from typing import Any

from _common import CpuWindow
from _common import ServerProcess
from _common import fmt
from _common import percentile
from _common import table
from _common import verdict
from _common import write_results

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.load import run_load
from pytest_ollama_bench.loadplan import arrival_times
from pytest_ollama_bench.loadplan import plan_load

NAME = "open_loop"
MODEL = "open:latest"
RUNS = ((100.0, 1), (100.0, 2), (100.0, 3), (50.0, 4), (200.0, 5))
QUICK_RUNS = ((100.0, 1),)
REQUESTS = 2000
QUICK_REQUESTS = 300
RATE_TOLERANCE = 0.02
ALPHA = 0.01


def ks_exponential(gaps: list[float], rate: float) -> tuple[float, float]:
    """(D, p) of the one-sample KS test of ``gaps`` against Exponential(rate)."""
    data = sorted(gaps)
    n = len(data)
    d = 0.0
    for i, x in enumerate(data):
        cdf = 1.0 - math.exp(-rate * x)
        d = max(d, (i + 1) / n - cdf, cdf - i / n)
    t = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    p = 2 * sum((-1) ** (j - 1) * math.exp(-2 * j * j * t * t) for j in range(1, 101))
    return d, min(max(p, 0.0), 1.0)


def dispersion(sends_s: list[float], window_s: float = 1.0) -> tuple[float, float, int]:
    """(variance / mean of the counts per window, two-sided p, windows)."""
    k = int(max(sends_s) // window_s)  # whole windows only
    counts = [0] * k
    for t in sends_s:
        i = int(t // window_s)
        if i < k:
            counts[i] += 1
    mean = statistics.fmean(counts)
    index = statistics.variance(counts) / mean
    dof = k - 1
    x = dof * index  # ~ chi-square(dof) under Poisson
    z = ((x / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    p = math.erfc(abs(z) / math.sqrt(2))
    return index, p, k


async def one_run(url: str, rate: float, seed: int, requests: int, pid: int) -> dict[str, Any]:
    plan = plan_load(
        nodeid=NAME, model=MODEL, endpoint="chat", api="native", prompts="hi", system=None,
        options={}, fields={}, concurrency=None, rate=rate, requests=requests, duration_s=None,
        warmup=20, seed=seed, cache="keep", check=None, slo=None,
    )  # fmt: skip
    async with OllamaClient(url, timeout=60) as client:
        with CpuWindow(pid) as cpu:
            record, fatal = await run_load(plan, client)
    if fatal is not None or record.failed:
        raise RuntimeError(f"rate {rate}: {record.errors} {fatal}")
    sends = sorted(r.sent_ms / 1000 for r in record.requests if not r.warmup)
    due = list(arrival_times(rate, seed, requests))
    late_ms = [(s - d) * 1000 for s, d in zip(sends, due, strict=True)]
    gaps = [b - a for a, b in itertools.pairwise([0.0, *sends])]
    d, p_ks = ks_exponential(gaps, rate)
    ideal = [b - a for a, b in itertools.pairwise([0.0, *due])]
    d_ideal, p_ideal = ks_exponential(ideal, rate)
    index, p_di, windows = dispersion(sends)
    ideal_index, ideal_p_di, _ = dispersion(due)
    achieved = record.achieved_rate or math.nan
    seeded = requests / due[-1]
    return {
        "rate": rate,
        "seed": seed,
        "requests": requests,
        "achieved_rate": achieved,
        "rate_error": achieved / rate - 1,
        "schedule_rate": seeded,
        "late_ms": {q: percentile(late_ms, q) for q in (50, 99, 100)},
        "ks_d": d,
        "ks_p": p_ks,
        "schedule_ks_d": d_ideal,
        "schedule_ks_p": p_ideal,
        "dispersion_index": index,
        "dispersion_p": p_di,
        "schedule_dispersion_index": ideal_index,
        "schedule_dispersion_p": ideal_p_di,
        "windows": windows,
        "max_in_flight": record.max_in_flight,
        "cpu": cpu.as_dict(),
        "sends_s": sends,
        "ok": abs(achieved / rate - 1) <= RATE_TOLERANCE and p_ks > ALPHA and p_di > ALPHA,
    }


async def amain(runs: tuple[tuple[float, int], ...], requests: int) -> list[dict[str, Any]]:
    profile = {"name": MODEL, "ttft_ms": 5, "itl_ms": 1, "tokens": ["a", "b", "c"],
               "parallel": None, "max_queue": None}  # fmt: skip
    results = []
    with ServerProcess("emulator", "--profiles", json.dumps([profile])) as srv:
        for rate, seed in runs:
            results.append(await one_run(srv.url, rate, seed, requests, srv.pid))
            r = results[-1]
            print(f"  rate {rate:g} seed {seed}: achieved {r['achieved_rate']:.3f}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, < 60 s")
    args = parser.parse_args()
    runs = QUICK_RUNS if args.quick else RUNS
    requests = QUICK_REQUESTS if args.quick else REQUESTS
    started = time.perf_counter()
    results = asyncio.run(amain(runs, requests))
    rows = [
        [
            f"{r['rate']:g}",
            r["seed"],
            r["requests"],
            fmt(r["achieved_rate"], 3),
            f"{r['rate_error']:+.3%}",
            fmt(r["late_ms"][50], 2),
            fmt(r["late_ms"][99], 2),
            fmt(r["late_ms"][100], 2),
            fmt(r["ks_d"], 4),
            fmt(r["ks_p"], 3),
            fmt(r["schedule_ks_p"], 3),
            f"{r['dispersion_index']:.3f} ({r['windows']} s)",
            fmt(r["dispersion_p"], 3),
            f"{r['schedule_dispersion_index']:.3f}",
            fmt(r["cpu"]["other_tenants_cores"], 2),
            verdict(r["ok"]),
        ]
        for r in results
    ]
    print(f"\nOpen loop: {requests} requests per run, Poisson arrivals seeded")
    print(
        table(
            rows,
            ["req/s asked", "seed", "requests", "achieved", "error", "late p50 ms", "p99", "max",
             "KS D", "KS p", "sched. KS p", "dispersion", "disp p", "sched. disp",
             "others",
             f"<= {RATE_TOLERANCE:.0%}, p > {ALPHA:g}"],
        )
    )  # fmt: skip
    print(
        "achieved = requests / time of the last send; late = send time minus the seed's "
        "schedule; KS = gaps between sends vs Exponential(rate) (sched.: the seed's own gaps, "
        "before any sleep); dispersion = variance/mean of counts per "
        "1 s window (expected 1 - 1/windows; sched.: of the seed's schedule); others = cores "
        "busy with other tenants' work"
    )
    write_results(
        NAME,
        {"parameters": {"runs": runs, "requests": requests}, "results": results},
        started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
