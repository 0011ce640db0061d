"""Load runs end to end: stopped by a duration, failing by timeout and broken streams, every
per-request statistic, a rate sweep, goodput gates and the github-action-benchmark exports.

Real test files under pytester against the emulator's slots, delays and faults on 127.0.0.1;
times are checked against the injected delays with generous bounds (a busy machine only ever
makes a stream slower, never faster than the server sends it).
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_ollama_bench.loadplan import arrival_times
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import Fault

TOKENS = ["one ", "two ", "three ", "four ", "five."]
#: ttft 60 ms + 4 gaps of 10 ms: each request holds its slot >= 100 ms
SLOW: dict[str, Any] = {"ttft_ms": 60, "itl_ms": 10, "tokens": TOKENS}


def run(
    pytester: pytest.Pytester, fake: FakeOllama, *args: str, models: str = "llama3.2"
) -> pytest.RunResult:
    return pytester.runpytest(
        f"--ollama-host={fake.url}", f"--ollama-models={models}", "--ollama-json=run.json",
        "--ollama-no-save", *args,
    )  # fmt: skip


def cases(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((pytester.path / "run.json").read_text())
    return list(data["cases"])


def load_runs(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    return [run for case in cases(pytester) for run in case["load"]]


# --------------------------------------------------------------------------- duration_s


def test_a_closed_loop_stops_sending_at_its_duration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time

        def test_timed(ollama_bench):
            began = time.perf_counter()
            result = ollama_bench.load("hi", concurrency=2, duration_s=1.0, warmup=0)
            print("ELAPSED", time.perf_counter() - began)
            assert result.completed > 0 and result.failed == 0
            assert 0.98 <= result.duration_s <= 2.5
        """
    )
    with FakeOllama(["llama3.2"], parallel=2, **SLOW) as fake:
        result = run(pytester, fake, "-s")
        chats = [r for r in fake.requests if r["path"] == "/api/chat"]
    result.assert_outcomes(passed=1)
    (record,) = load_runs(pytester)
    assert (record["duration_limit_s"], record["request_limit"]) == (1.0, None)
    assert record["stopped"] is None
    requests = record["requests"]
    # two requests of >= 100 ms at a time for one second: about 20, at least a few
    assert 4 <= record["completed"] == record["sent"] == len(requests) <= 22
    assert len(chats) == record["sent"]  # nothing went out that the record does not have
    # no request sent after the deadline; each worker's last one, sent before it, ended after
    # it and was awaited and counted
    assert max(q["sent_ms"] for q in requests) <= 1000 + 250  # a busy loop records it late
    assert max(q["ended_ms"] for q in requests) >= 1000
    assert all(q["measurement"] is not None for q in requests)
    assert 0.98 <= record["duration_s"] <= 2.5
    elapsed = re.search(r"ELAPSED (\S+)", result.stdout.str())
    assert elapsed is not None
    assert 1.0 <= float(elapsed[1]) <= 3.0  # the call returned then


def test_an_open_loop_stops_its_arrivals_at_its_duration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_timed(ollama_bench):
            result = ollama_bench.load("hi", rate=20, duration_s=1.0, seed=5, warmup=0)
            assert result.completed > 0 and result.failed == 0
        """
    )
    with FakeOllama(["llama3.2"], parallel=None, ttft_ms=150, itl_ms=10, tokens=TOKENS) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=1)
    (record,) = load_runs(pytester)
    assert (record["duration_limit_s"], record["rate"], record["seed"]) == (1.0, 20, 5)
    # the seed's schedule, by hand: plain exponential gaps of random.Random(seed) (unscaled:
    # a duration, not a request count), every arrival before the deadline
    rng, t, due = random.Random(5), 0.0, []
    while (t := t + rng.expovariate(20)) < 1.0:
        due.append(t * 1000)
    assert due == [x * 1000 for x in arrival_times(20, 5, duration_s=1.0)]
    assert 10 <= len(due) <= 30
    requests = sorted(record["requests"], key=lambda q: q["sent_ms"])
    assert record["sent"] == record["completed"] == len(requests) == len(due)
    late = [q["sent_ms"] - d for q, d in zip(requests, due, strict=True)]
    assert all(-1 <= x <= 250 for x in late), late  # sent on that schedule (a busy machine: late)
    # the last arrival (>= 190 ms of answer) was awaited after the deadline and counted
    assert max(q["ended_ms"] for q in requests) >= due[-1] + 190
    assert record["duration_s"] == pytest.approx(
        (max(q["ended_ms"] for q in requests) - requests[0]["sent_ms"]) / 1000
    )
    assert record["achieved_rate"] == pytest.approx(len(due) / (requests[-1]["sent_ms"] / 1000))


# --------------------------------------------------------------------------- error kinds

#: model -> (the fault of its first two requests, the kind a load run counts, its message)
FAULTS = {
    "silent": (Fault(stall_after=0, stall_s=2.5, times=2), "timeout", "no first chunk *1 s"),
    "stalls": (Fault(stall_after=1, stall_s=2.5, times=2), "timeout", "no next chunk *1 s"),
    "errors": (Fault(error_after=2, message="CUDA error: out of memory", times=2),
               "stream_error", "mid-stream after 2 chunk(s)"),
    "cuts": (Fault(cut_after=2, times=2), "incomplete", "without a 'done: true' record"),
    "aborts": (Fault(cut_after=2, cut_abort=True, times=2), "incomplete", "connection was closed"),
    "garbles": (Fault(malformed_after=1, times=2), "malformed", "is not a JSON object"),
}  # fmt: skip


def test_timeouts_and_broken_streams_are_counted_by_kind(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        KINDS = {"silent": "timeout", "stalls": "timeout", "errors": "stream_error",
                 "cuts": "incomplete", "aborts": "incomplete", "garbles": "malformed"}

        @pytest.mark.llm_bench(warmup=0)
        def test_faulty(ollama_bench):
            result = ollama_bench.load("hi", concurrency=2, requests=6)
            kind = KINDS[ollama_bench.model]
            assert (result.completed, result.failed) == (4, 2)
            assert result.errors == {kind: 2}
            assert [f.kind for f in result.failures] == [kind, kind]
            assert result.error_rate == 2 / 6
            print("FAILURE", ollama_bench.model, result.failures[0].error)
        """
    )
    with FakeOllama(list(FAULTS), parallel=None, **SLOW) as fake:
        for model, (fault, _, _) in FAULTS.items():
            fake.set_fault(model, fault)
        result = run(pytester, fake, "-s", "--ollama-timeout=1", models=",".join(FAULTS))
    result.assert_outcomes(passed=len(FAULTS))  # failed requests fail no test by themselves
    by_model = {case["model"]: case["load"][0] for case in cases(pytester)}
    assert set(by_model) == set(FAULTS)
    for model, (_, kind, said) in FAULTS.items():
        record = by_model[model]
        assert (record["sent"], record["completed"], record["failed"]) == (6, 4, 2), model
        assert record["errors"] == {kind: 2}
        assert record["error_rate"] == pytest.approx(2 / 6)
        failed = [q for q in record["requests"] if q["error_kind"] is not None]
        assert [q["error_kind"] for q in failed] == [kind, kind]
        assert all(q["measurement"] is None for q in failed)
        assert all(fnmatch.fnmatch(q["error"], f"*{said}*") for q in failed), failed
        assert record["stats"]["ttft_ms"]["n"] == 4  # the statistics are the completed ones'
        result.stdout.fnmatch_lines([f"*FAILURE {model} *{said}*"])
        result.stdout.fnmatch_lines([f"*[[]{model}[]]*", "*", "*", f"*  2 *2 ({kind})"])


# --------------------------------------------------------------------------- statistics


def test_every_per_request_statistic_follows_the_injected_delays(
    pytester: pytest.Pytester,
) -> None:
    # ttft 50 ms, then 5 more tokens 20 ms apart: last token at 150 ms, tpot = itl = 20 ms
    pytester.makepyfile(
        """
        import json

        def test_stats(ollama_bench):
            result = ollama_bench.load("hi", concurrency=2, requests=6, warmup=0)
            stats = {name: s.model_dump() for name, s in result.stats.items()}
            with open("stats.json", "w") as fh:
                json.dump(stats, fh)
        """
    )
    six = ["a ", "b ", "c ", "d ", "e ", "f."]
    with FakeOllama(["llama3.2"], parallel=2, ttft_ms=50, itl_ms=20, tokens=six) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=1)
    (record,) = load_runs(pytester)
    seen = json.loads((pytester.path / "stats.json").read_text())  # LoadResult.stats
    assert seen == record["stats"]  # the record keeps what the test saw
    stats = record["stats"]
    expected = {"ttft_ms": 50, "tpot_ms": 20, "itl_ms": 20, "last_token_ms": 150, "total_ms": 150}
    for name, injected in expected.items():
        s = stats[name]
        assert s["n"] == (6 * 5 if name == "itl_ms" else 6), name  # itl: every gap, pooled
        # a late gap is followed by a short one (the emulator keeps its cadence): itl's median
        # may sit a little under the injected gap, never far
        low = 0.85 if name == "itl_ms" else 0.95
        assert low * injected <= s["median"] <= injected + 150, (name, s)
        assert s["min"] <= s["median"] <= s["p99"] <= s["max"], (name, s)
    assert stats["last_token_ms"]["median"] >= stats["ttft_ms"]["median"] + 5 * 19
    assert stats["total_ms"]["min"] >= stats["last_token_ms"]["min"]  # the done record comes last
    assert stats["total_ms"]["median"] <= stats["last_token_ms"]["median"] + 100
    # each request on its own: tpot is (last token - ttft) / (tokens - 1)
    for q in record["requests"]:
        m = q["measurement"]
        assert m["tpot_ms"] == pytest.approx((m["last_token_ms"] - m["ttft_ms"]) / 5)
        assert len(m["itl_ms"]) == 5


# --------------------------------------------------------------------------- rate sweep


def _saturation_by_the_rule(runs: list[dict[str, Any]]) -> float | None:
    """The README's rule, by hand: the first level after which request throughput grows by
    less than 10 % while the p99 TTFT keeps growing."""
    for here, after in itertools.pairwise(runs):
        slower = after["request_throughput"] < 1.10 * here["request_throughput"]
        if slower and after["stats"]["ttft_ms"]["p99"] > here["stats"]["ttft_ms"]["p99"]:
            return float(here["rate"])
    return None


def test_a_rate_sweep_sends_each_rate_and_finds_where_one_slot_saturates(
    pytester: pytest.Pytester,
) -> None:
    # one slot, >= 100 ms a request: at most 10 req/s. At 5/s it keeps up; at 20/s and 80/s
    # the 8 requests queue, the throughput stays at the slot's and the p99 TTFT grows
    pytester.makepyfile(
        """
        def test_rates(ollama_bench):
            sweep = ollama_bench.sweep("hi", rates=[5, 20, 80], requests=8, warmup=1, seed=3)
            assert sweep.axis == "rate" and len(sweep) == 3
            assert [(r.mode, r.rate, r.level) for r in sweep] == [
                ("rate", 5, 5), ("rate", 20, 20), ("rate", 80, 80)]
            assert [r.completed for r in sweep] == [8, 8, 8]
            assert sweep.level(20) is sweep[1]
            print("SATURATION", sweep.saturation)
        """
    )
    with FakeOllama(["llama3.2"], parallel=1, max_queue=None, **SLOW) as fake:
        result = run(pytester, fake, "-s")
    result.assert_outcomes(passed=1)
    runs = load_runs(pytester)
    assert [(r["mode"], r["rate"], r["concurrency"]) for r in runs] == [
        ("rate", 5, None), ("rate", 20, None), ("rate", 80, None)
    ]  # fmt: skip
    assert [r["warmup"] for r in runs] == [1, 0, 0]
    for r in runs:
        assert r["seed"] == 3
        assert r["sent"] == r["completed"] == 8
        # the 8th request is due at 8 / rate s; it is sent then or (a busy machine) late
        assert 0.7 * r["rate"] <= r["achieved_rate"] <= 1.001 * r["rate"], r["achieved_rate"]
    # 8 requests one after the other on the slot take >= 0.8 s: never more than 10 req/s
    assert all(r["request_throughput"] <= 10 * 1.02 for r in runs)
    assert runs[1]["request_throughput"] > 1.5 * runs[0]["request_throughput"]
    assert runs[2]["stats"]["ttft_ms"]["p99"] > runs[0]["stats"]["ttft_ms"]["p99"] + 200
    saturation = _saturation_by_the_rule(runs)
    assert saturation == 20  # the contrast is wide: 5 -> 20 doubles, 20 -> 80 adds nothing
    assert [r["saturation"] for r in runs] == [saturation] * 3
    result.stdout.fnmatch_lines(
        [
            f"*SATURATION {saturation}",
            "llm_bench load: *test_rates [[]llama3.2[]] (3 runs)",
            "*rate (req/s)*req/s*sent/s*out tok/s*",
            "*-----*",
            "*  5 *",
            "* 20 < *",
            "* 80 *",
            "  saturation at rate 20/s (<): the next level added under 10 % throughput while "
            "p99 TTFT grew",
        ]
    )
    # each row shows the run's achieved rate in its sent/s column
    for r in runs:
        result.stdout.fnmatch_lines([f"*{r['rate']:g}*{r['achieved_rate']:.2f}*"])


# --------------------------------------------------------------------------- goodput gates

GOODPUT_GATES = """
import pytest
from pytest_ollama_bench import assert_contains

# every other answer is wrong: half the requests are good, whatever their latency
def run(ollama_bench):
    return ollama_bench.load(
        "2+2?", concurrency=2, requests=8, warmup=0, slo={"ttft_ms": 5000},
        check=lambda text: assert_contains(text, "4"),
    )

@pytest.mark.llm_bench(gates={"goodput": 0.5, "slo_attainment": ">= 0.4"})
def test_met(ollama_bench):
    result = run(ollama_bench)
    assert result.slo_attainment == 0.5 and result.goodput > 0.5

@pytest.mark.llm_bench(gates={"goodput": ">= 10000", "slo_attainment": ">= 0.9"})
def test_missed(ollama_bench):
    result = run(ollama_bench)
    assert result.slo_attainment == 0.5  # the body passes: only the gates fail it

def test_unjudged(ollama_bench):
    run(ollama_bench)
"""


def test_goodput_and_attainment_gates_pass_and_fail_on_a_real_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(GOODPUT_GATES)
    with FakeOllama(["llama3.2"], parallel=2, responses=["It is 4.", "It is 5."], **SLOW) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=2, failed=1)  # only the test whose gates missed fails
    missed = (
        "benchmark gate(s) missed: goodput *.* < 10000 (llama3.2, concurrency 2, 8 requests); "
        "slo_attainment 0.50 < 0.9 (llama3.2, concurrency 2, 8 requests)"
    )
    result.stdout.fnmatch_lines([missed])  # the failure's first line
    # pytest's short summary shows the misses (cut to the terminal's width)
    result.stdout.fnmatch_lines(
        ["FAILED *::test_missed[[]llama3.2[]] - Failed: benchmark gate(s) missed: goodput *.* "
         "< 10000 (llama3.2, concurrency 2, 8 requests); slo_attainment 0.50 < 0.9 *"]
    )  # fmt: skip
    assert "test_met" not in "\n".join(line for line in result.outlines if "FAILED" in line)
    by_test = {case["nodeid"].split("::")[1]: case for case in cases(pytester)}
    assert {name: case["outcome"] for name, case in by_test.items()} == {
        "test_met[llama3.2]": "passed", "test_missed[llama3.2]": "failed",
        "test_unjudged[llama3.2]": "passed",
    }  # fmt: skip
    for name, verdict in (("test_met[llama3.2]", True), ("test_missed[llama3.2]", False)):
        case = by_test[name]
        (run_record,) = case["load"]
        assert run_record["slo_attainment"] == 0.5
        gates = {g["metric"]: g for g in case["gates"]}
        assert set(gates) == {"goodput", "slo_attainment"}
        for metric in ("goodput", "slo_attainment"):
            assert gates[metric]["passed"] is verdict
            assert gates[metric]["value"] == pytest.approx(run_record[metric])
            assert gates[metric]["op"] == ">="
            assert gates[metric]["load_run"] == 0
    result.stdout.fnmatch_lines(["*test_met*", "*", "*", "*  2 *✔*"])
    result.stdout.fnmatch_lines(["*test_missed*", "*", "*", "*  2 *✘*"])


# --------------------------------------------------------------------------- exports


def _github_action_benchmark_entries(path: Path) -> list[dict[str, Any]]:
    """The file, checked for the shape github-action-benchmark's customSmallerIsBetter and
    customBiggerIsBetter read (its src/extract.ts): a non-empty JSON array of ``{name: str,
    unit: str, value: number, range?: str, extra?: str}``, one chart per unique name."""
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    assert data  # the action rejects an empty array
    for entry in data:
        assert {"name", "unit", "value"} <= set(entry) <= {"name", "unit", "value", "range",
                                                            "extra"}  # fmt: skip
        assert isinstance(entry["name"], str)
        assert isinstance(entry["unit"], str)
        assert entry["name"]
        assert entry["unit"]
        assert isinstance(entry["value"], (int, float))
        assert not isinstance(entry["value"], bool)
        assert all(isinstance(entry[k], str) for k in ("range", "extra") if k in entry)
    assert len({e["name"] for e in data}) == len(data)
    return data


def test_load_runs_in_the_github_action_benchmark_exports(pytester: pytest.Pytester) -> None:
    # one slot and one queue place: at concurrency 4 some requests get Ollama's 503
    pytester.makepyfile(
        """
        def test_overload(ollama_bench):
            sweep = ollama_bench.sweep(
                "hi", concurrency=[1, 4], requests=8, warmup=0, slo={"ttft_ms": 5000}
            )
            assert sweep[0].failed == 0 and sweep[1].errors.get("http_503", 0) > 0
        """
    )
    with FakeOllama(["llama3.2"], parallel=1, max_queue=1, **SLOW) as fake:
        result = run(
            pytester, fake, "--ollama-export=github-smaller=gh/smaller.json",
            "--ollama-export=github-bigger=gh/bigger.json",
        )  # fmt: skip
    result.assert_outcomes(passed=1)
    runs = load_runs(pytester)
    smaller = _github_action_benchmark_entries(pytester.path / "gh" / "smaller.json")
    bigger = _github_action_benchmark_entries(pytester.path / "gh" / "bigger.json")
    prefix = "test_load_runs_in_the_github_action_benchmark_exports.py::test_overload (llama3.2)"
    # each file has its direction's run-level metrics, one entry per run (a sweep's levels)
    files = {"smaller": (smaller, {"error_rate": "ratio"}),
             "bigger": (bigger, {"request_throughput": "req/s", "output_throughput": "tok/s",
                                 "goodput": "req/s", "slo_attainment": "ratio"})}  # fmt: skip
    # the smaller file also follows each run's TTFT and TPOT, median and p99
    tails = {f"{m} {s}" for m in ("ttft_ms", "tpot_ms") for s in ("median", "p99")}
    for name, (entries, metrics) in files.items():
        by_name = {e["name"]: e for e in entries}
        expected = {f"{prefix} concurrency {r['concurrency']} {m}" for r in runs for m in metrics}
        if name == "smaller":
            expected |= {
                f"{prefix} concurrency {r['concurrency']} {t}" for r in runs for t in tails
            }
        assert set(by_name) == expected, name  # and nothing of the other direction
        for r in runs:
            for metric, unit in metrics.items():
                entry = by_name[f"{prefix} concurrency {r['concurrency']} {metric}"]
                assert entry["unit"] == unit
                assert entry["value"] == pytest.approx(r[metric])
                assert entry["extra"].splitlines() == [
                    f"load run at concurrency {r['concurrency']}: {r['sent']} requests sent, "
                    f"{r['completed']} completed, {r['failed']} failed",
                    "outcome: passed",
                ]
    for r in runs:
        for tail in tails:
            entry = {e["name"]: e for e in smaller}[
                f"{prefix} concurrency {r['concurrency']} {tail}"
            ]
            name, stat = tail.split()
            assert entry["unit"] == "ms"
            assert entry["value"] == pytest.approx(r["stats"][name][stat])
    overloaded = next(e for e in smaller if e["name"].endswith("concurrency 4 error_rate"))
    assert 0 < overloaded["value"] < 1


def test_a_load_run_and_a_sweep_level_at_the_same_level_keep_their_own_export_entries(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_mixed(ollama_bench):
            ollama_bench.load("hi", concurrency=2, requests=2, warmup=0)
            ollama_bench.sweep("hi", concurrency=[1, 2], requests=2, warmup=0)
            ollama_bench.load("hi", concurrency=2, requests=2, warmup=0)
        """
    )
    with FakeOllama(["llama3.2"], parallel=2) as fake:
        result = run(pytester, fake, "--ollama-export=github-bigger=gh/bigger.json")
    result.assert_outcomes(passed=1)
    entries = _github_action_benchmark_entries(pytester.path / "gh" / "bigger.json")
    prefix = "test_a_load_run_and_a_sweep_level_at_the_same_level_keep_their_own_export_entries"
    names = [
        e["name"].removeprefix(f"{prefix}.py::test_mixed (llama3.2) ")
        for e in entries
        if e["name"].endswith(" request_throughput")
    ]
    assert names == [
        "load() concurrency 2 (run 1) request_throughput",
        "sweep 1 concurrency 1 request_throughput",
        "sweep 1 concurrency 2 request_throughput",
        "load() concurrency 2 (run 4) request_throughput",
    ]
