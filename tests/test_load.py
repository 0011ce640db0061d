"""``ollama_bench.load()`` and ``sweep()`` against the emulator's parallel slots and queue.

Closed and open loops over real sockets; throughput and queueing are checked against the
emulator's slot count and injected delays with generous bounds (a busy machine only ever
makes the numbers worse, never better than the server allows).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from datetime import datetime
from datetime import timezone
from typing import Any

import pytest

from pytest_ollama_bench.htmlreport.load import load_series
from pytest_ollama_bench.htmlreport.page import render_html
from pytest_ollama_bench.loadplan import arrival_times
from pytest_ollama_bench.loadresult import LoadResult
from pytest_ollama_bench.loadresult import parse_slo
from pytest_ollama_bench.loadresult import summarize
from pytest_ollama_bench.models import CaseRecord
from pytest_ollama_bench.models import LoadRecord
from pytest_ollama_bench.models import LoadRequestRecord
from pytest_ollama_bench.models import Measurement
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.report import render_summary
from pytest_ollama_bench.settings import Settings
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import Fault
from pytest_ollama_bench.workload import Workload

TOKENS = ["one ", "two ", "three ", "four ", "five."]
#: ttft 60 ms + 4 gaps of 10 ms: each request holds its slot >= 100 ms
SLOW = {"ttft_ms": 60, "itl_ms": 10, "tokens": TOKENS}
SERVICE_S = 0.100


def run(pytester: pytest.Pytester, fake: FakeOllama, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json",
        "--ollama-no-save", *args,
    )  # fmt: skip


def load_runs(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    data = json.loads((pytester.path / "run.json").read_text())
    return [run for case in data["cases"] for run in case["load"]]


def chat_contents(fake: FakeOllama) -> list[str]:
    return [r["body"]["messages"][-1]["content"] for r in fake.requests if r["path"] == "/api/chat"]


# --------------------------------------------------------------------------- closed loop


def test_closed_loop_keeps_n_in_flight_and_the_slots_cap_throughput(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_capacity(ollama_bench):
            two = ollama_bench.load("2+2?", concurrency=2, requests=12, warmup=1)
            four = ollama_bench.load("2+2?", concurrency=4, requests=16, warmup=1)
            assert (two.completed, two.failed, four.completed) == (12, 0, 16)
            assert (two.max_in_flight, four.max_in_flight) == (2, 4)
            assert len(four.measurements) == 16 and four.errors == {}
        """
    )
    with FakeOllama(["llama3.2"], parallel=2, max_queue=None, **SLOW) as fake:
        result = run(pytester, fake)
        server_max = fake.max_in_flight["llama3.2:latest"]
    result.assert_outcomes(passed=1)
    assert server_max == 2  # the server never ran more than its slots
    two, four = load_runs(pytester)
    capacity = 2 / SERVICE_S  # two slots, each request holding one >= 100 ms
    for r in (two, four):
        assert r["mode"] == "concurrency"
        assert r["warmup"] == 1
        assert r["sent"] == r["completed"] == r["request_limit"]
        assert 0.3 * capacity <= r["request_throughput"] <= 1.05 * capacity
        tokens = sum(q["measurement"]["eval_count"] for q in r["requests"] if not q["warmup"])
        assert r["output_throughput"] == pytest.approx(tokens / r["duration_s"])
        assert len([q for q in r["requests"] if q["warmup"]]) == 1
    # at concurrency 4 half the requests wait a whole service time for a slot: the server's
    # queue time (total_duration minus load, prefill and decode) and the client's TTFT show it
    assert two["stats"]["queue_ms"]["median"] < 40
    assert four["stats"]["queue_ms"]["median"] >= 0.5 * SERVICE_S * 1000
    assert four["stats"]["ttft_ms"]["median"] > two["stats"]["ttft_ms"]["median"] + 40
    # one table for the test, a row per run
    result.stdout.fnmatch_lines(
        [
            "llm_bench load: *::test_capacity [[]llama3.2[]] (2 runs)",
            "*concurrency*req/s*out tok/s*ttft p50 (ms)*ttft p99 (ms)*errors*",
            "*-----*",
            "*  2 * 0",
            "*  4 * 0",
        ]
    )


def test_more_connections_than_aiohttp_pools_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_wide(ollama_bench):
            result = ollama_bench.load("hi", concurrency=150, requests=150, warmup=0)
            assert result.max_in_flight == 150
        """
    )
    with FakeOllama(["llama3.2"], parallel=None, ttft_ms=1000) as fake:
        result = run(pytester, fake)
        server_max = fake.max_in_flight["llama3.2:latest"]
    result.assert_outcomes(passed=1)
    # more than aiohttp's default pool of 100 reached the server at once (a loaded machine may
    # take longer than a request to open all 150, so not necessarily every one)
    assert server_max > 100


def test_queue_full_503_is_counted_as_a_failure_kind_and_the_run_goes_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_overload(ollama_bench):
            result = ollama_bench.load("hi", concurrency=4, requests=12, warmup=0)
            assert result.errors.get("http_503", 0) == result.failed > 0
            assert result.completed == 12 - result.failed > 0
            assert {f.kind for f in result.failures} == {"http_503"}
            assert "maximum pending requests exceeded" in result.failures[0].error
            assert result.error_rate == result.failed / 12
        """
    )
    with FakeOllama(["llama3.2"], parallel=1, max_queue=1, **SLOW) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=1)
    (record,) = load_runs(pytester)
    assert set(record["errors"]) == {"http_503"}
    failed = [q for q in record["requests"] if q["error_kind"]]
    assert len(failed) == record["failed"]
    assert all(q["measurement"] is None for q in failed)
    result.stdout.fnmatch_lines(["*  4 *(http_503)*"])


def test_a_run_whose_every_request_failed_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_broken(ollama_bench):
            ollama_bench.load("hi", concurrency=2, requests=4, warmup=0)
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        fake.set_fault("llama3.2", Fault(status=500, message="CUDA error"))
        result = run(pytester, fake)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*load run on 'llama3.2' at concurrency 2: none of its 4 requests completed "
         "(4 http_500); the first: *CUDA error*"]
    )  # fmt: skip
    (record,) = load_runs(pytester)  # the record keeps the run all the same
    assert record["errors"] == {"http_500": 4}


# --------------------------------------------------------------------------- open loop


def test_open_loop_sends_seeded_poisson_arrivals_at_the_rate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_rate(ollama_bench):
            result = ollama_bench.load("hi", rate=25, requests=40, seed=7, warmup=0)
            assert result.mode == "rate" and result.completed == 40
        """
    )
    with FakeOllama(["llama3.2"], parallel=4, ttft_ms=20, itl_ms=5) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=1)
    (record,) = load_runs(pytester)
    assert (record["rate"], record["seed"], record["concurrency"]) == (25, 7, None)
    # the schedule the seed stands for: 40 exponential gaps, scaled to end at 40 / 25 s
    due = [t * 1000 for t in arrival_times(25, 7, 40)]
    gaps = [b - a for a, b in itertools.pairwise([0.0, *due])]
    assert due[-1] == pytest.approx(1600)
    assert len(set(gaps)) == 40
    sent = [q["sent_ms"] for q in sorted(record["requests"], key=lambda q: q["sent_ms"])]
    late = [s - d for s, d in zip(sent, due, strict=True)]
    assert all(-1 <= x <= 60 for x in late), late  # sent on schedule (a busy machine: late)
    assert record["achieved_rate"] == pytest.approx(40 / (sent[-1] / 1000))
    assert record["achieved_rate"] == pytest.approx(25, rel=0.04)
    result.stdout.fnmatch_lines(["*rate (req/s)*req/s*sent/s*", "*25 *"])


def test_open_loop_with_a_cap_waits_in_the_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_capped(ollama_bench):
            result = ollama_bench.load("hi", rate=200, concurrency=2, requests=10, warmup=0)
            assert result.max_in_flight == 2 and result.completed == 10
        """
    )
    with FakeOllama(["llama3.2"], parallel=None, **SLOW) as fake:
        result = run(pytester, fake)
        server_max = fake.max_in_flight["llama3.2:latest"]
    result.assert_outcomes(passed=1)
    assert server_max == 2


# --------------------------------------------------------------------------- SLOs, checks


def _m(ttft: float, tpot: float | None, tokens: int, text: str = "4") -> Measurement:
    return Measurement(
        model="m", ttft_ms=ttft, tpot_ms=tpot, eval_count=tokens, total_ms=ttft + 100, text=text
    )


def _r(i: int, sent: float, ended: float, m: Measurement | None) -> LoadRequestRecord:
    kind = None if m is not None else "http_503"
    return LoadRequestRecord(index=i, sent_ms=sent, ended_ms=ended, measurement=m, error_kind=kind)


def test_goodput_and_attainment_by_hand() -> None:
    requests = [
        _r(0, 0, 1000, _m(ttft=100, tpot=10, tokens=11)),  # good
        _r(1, 0, 1500, _m(ttft=300, tpot=10, tokens=21)),  # ttft misses 200
        _r(2, 500, 2000, _m(ttft=150, tpot=30, tokens=31)),  # tpot misses 20
        _r(3, 600, 1800, None),  # 503: not good
        _r(4, 700, 900, _m(ttft=50, tpot=None, tokens=1)),  # one token: no tpot, meets it
    ]
    base = LoadRecord(nodeid="t", model="m", mode="concurrency", concurrency=2)
    record = summarize(base, requests, slos=parse_slo({"ttft_ms": 200, "tpot_ms": 20}))
    # wall time: first sent (0 ms) -> last ended (2000 ms)
    assert record.duration_s == 2.0
    assert (record.sent, record.completed, record.failed) == (5, 4, 1)
    assert record.request_throughput == 4 / 2.0
    assert record.output_throughput == (11 + 21 + 31 + 1) / 2.0
    assert record.goodput == 2 / 2.0  # requests 0 and 4
    assert record.slo_attainment == 2 / 5
    assert record.error_rate == 1 / 5
    assert record.errors == {"http_503": 1}
    assert [r.good for r in record.requests] == [True, False, False, False, True]
    assert record.requests[1].slo_misses == ["ttft_ms 300.0 > 200"]
    assert record.requests[2].slo_misses == ["tpot_ms 30.0 > 20"]
    assert record.stats["ttft_ms"].n == 4


def test_goodput_counts_only_fast_and_right_answers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_ollama_bench import assert_contains

        def test_right(ollama_bench):
            result = ollama_bench.load(
                "2+2?", concurrency=1, requests=6, warmup=0, slo={"ttft_ms": 5000},
                check=lambda text: assert_contains(text, "4"),
            )
            assert [f.answer for f in result.check_failures] == ["It is 5."] * 3
            assert all("AssertionError" in f.error for f in result.check_failures)
            print("GOODPUT", result.goodput, result.slo_attainment)
        """
    )
    with FakeOllama(["llama3.2"], responses=["It is 4.", "It is 5."], ttft_ms=20) as fake:
        result = run(pytester, fake, "-s")
    result.assert_outcomes(passed=1)  # wrong answers lower goodput; they fail no test alone
    (record,) = load_runs(pytester)
    good = [q for q in record["requests"] if "4" in q["measurement"]["text"]]
    assert [q["good"] for q in record["requests"]] == [True, False] * 3
    assert record["goodput"] == pytest.approx(len(good) / record["duration_s"])
    assert record["slo_attainment"] == 0.5
    assert record["check"].endswith("<lambda>")
    assert all(q["measurement"]["pass_rate"] is not None for q in record["requests"])


def test_slo_on_a_metric_without_one_is_an_error_naming_the_valid_ones(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_bad(ollama_bench):
            ollama_bench.load("hi", concurrency=1, requests=1, slo={"ttft": 100})
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*slo= names 'ttft' (did you mean 'ttft_ms'?)*one of ttft_ms, *"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('load("hi", requests=3)', "*needs concurrency=N (a closed loop*or rate=R*"),
        ('load("hi", concurrency=2)', "*needs requests=N and/or duration_s=S*"),
        ('load("hi", concurrency=0, requests=1)', "*concurrency= must be an integer >= 1, got 0"),
        ('load("hi", rate=-1, requests=1)', "*rate= must be a number > 0, got -1"),
        ("load([], concurrency=1, requests=1)", "*the list of prompts is empty"),
        ('load("hi", concurrency=1, requests=1, tool=[])', "*unexpected keyword argument 'tool'*"),
        ('sweep("hi", requests=1)', "*sweep() takes concurrency=*or rates=*one of them"),
        ('sweep("hi", concurrency=[4, 2], requests=1)', "*levels must increase*[[]4, 2[]]"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    pytester: pytest.Pytester, call: str, message: str
) -> None:
    pytester.makepyfile(f"def test_bad(ollama_bench):\n    ollama_bench.{call}\n")
    with FakeOllama(["llama3.2"]) as fake:
        result = run(pytester, fake)
        generated = [r for r in fake.requests if r["path"] == "/api/chat"]
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([message])
    assert generated == []


# --------------------------------------------------------------------------- prompts


def test_prompts_from_a_list_a_function_and_an_iterator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_ollama_bench import LoadRequest

        @pytest.mark.llm_bench(options={"temperature": 0})
        def test_sources(ollama_bench):
            ollama_bench.load(["p0", "p1", "p2"], concurrency=1, requests=6, warmup=0)
            ollama_bench.load(
                lambda i: LoadRequest(f"f{i}", options={"num_predict": i + 1}),
                concurrency=1, requests=3, warmup=1,
            )
            ended = ollama_bench.load(iter(["i0", "i1"]), concurrency=1, requests=5, warmup=0)
            assert ended.completed == 2 and ended.stopped == "the prompts ran out"
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        result = run(pytester, fake)
        bodies = [r["body"] for r in fake.requests if r["path"] == "/api/chat"]
        contents = chat_contents(fake)
    result.assert_outcomes(passed=1)
    assert contents == ["p0", "p1", "p2", "p0", "p1", "p2", "f0", "f1", "f2", "f3", "i0", "i1"]
    # a workload's per-request options merge over the marker's
    assert [b["options"] for b in bodies[6:10]] == [
        {"temperature": 0, "num_predict": n} for n in (1, 2, 3, 4)
    ]
    lists, function, iterator = load_runs(pytester)
    assert [q["prompt"] for q in lists["requests"]] == [0, 1, 2, 0, 1, 2]
    assert lists["prompts"] == ["p0", "p1", "p2"]
    assert lists["prompt_source"] == "list"
    assert (function["prompt_source"], function["prompts"]) == ("function", [])
    assert iterator["stopped"] == "the prompts ran out"


# --------------------------------------------------------------------------- gates


GATED = """
import pytest

@pytest.mark.llm_bench(gates={gates})
def test_gated(ollama_bench):
    ollama_bench.load("hi", concurrency=2, requests=6, warmup=0, slo={{"ttft_ms": 5000}})

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_plain_call(ollama_bench):
    ollama_bench.chat("hi")
"""


def test_a_gate_on_ttft_p99_fails_the_load_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(GATED.format(gates={"ttft_ms.p99": 30, "slo_attainment": ">= 0.9"}))
    with FakeOllama(["llama3.2"], parallel=2, **SLOW) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["FAILED *test_gated*benchmark gate(s) missed: ttft_ms p99 *.* > 30 "
         "(llama3.2, concurrency 2, 6 requests)"]
    )  # fmt: skip
    data = json.loads((pytester.path / "run.json").read_text())
    gated = next(c for c in data["cases"] if "test_gated" in c["nodeid"])
    gates = {g["metric"]: g for g in gated["gates"]}
    assert gates["ttft_ms"]["passed"] is False
    assert gates["ttft_ms"]["load_run"] == 0
    assert gates["slo_attainment"]["passed"] is True
    assert gates["slo_attainment"]["stat"] == "value"
    result.stdout.fnmatch_lines(["*  2 *✘*"])  # the run's row shows its verdict


def test_run_level_gates_from_the_command_line_apply_to_load_runs_only(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(GATED.format(gates={}))
    with FakeOllama(["llama3.2"], parallel=2, **SLOW) as fake:
        result = run(pytester, fake, "--ollama-gate=request_throughput>=1000")
    result.assert_outcomes(passed=1, failed=1)  # the plain call has no throughput to gate
    result.stdout.fnmatch_lines(
        ["FAILED *test_gated*request_throughput *.* < 1000 (llama3.2, concurrency 2, 6 "
         "requests) from --ollama-gate"]
    )  # fmt: skip
    with FakeOllama(["llama3.2"], parallel=2, **SLOW) as fake:
        result = run(pytester, fake, "--ollama-gate=request_throughput>=1", "-k", "gated")
    result.assert_outcomes(passed=1)


def test_a_run_level_gate_with_a_statistic_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(GATED.format(gates={}))
    result = pytester.runpytest("--ollama-gate=goodput.p99>=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*goodput is one number per load run, it has no statistic; write goodput>=N*"]
    )


def test_a_marker_gate_on_a_run_metric_without_a_load_run_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0, gates={"goodput": 1})
        def test_no_load(ollama_bench):
            ollama_bench.chat("hi")
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*goodput has no value: the test ran no load()*"])


# --------------------------------------------------------------------------- sweeps


def test_sweep_finds_the_saturation_of_two_slots(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_sweep(ollama_bench):
            sweep = ollama_bench.sweep("hi", concurrency=[1, 2, 4], requests=8, warmup=1)
            assert [r.level for r in sweep] == [1, 2, 4] and sweep.axis == "concurrency"
            assert sweep.level(4).max_in_flight == 4
            print("SATURATION", sweep.saturation)
        """
    )
    with FakeOllama(["llama3.2"], parallel=2, max_queue=None, **SLOW) as fake:
        result = pytester.runpytest_subprocess(  # exports are written by a process of its own
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json",
            "--ollama-no-save", "-s", "--ollama-export=csv=rows.csv",
        )  # fmt: skip
    result.assert_outcomes(passed=1)
    runs = load_runs(pytester)
    assert [r["concurrency"] for r in runs] == [1, 2, 4]
    assert [r["warmup"] for r in runs] == [1, 0, 0]  # warmup once, before the first level
    assert {r["sweep"] for r in runs} == {1}
    one, two, four = (r["request_throughput"] for r in runs)
    assert two > 1.5 * one  # a second slot doubles the throughput...
    assert four < 1.1 * two  # ...a third request in flight adds nothing
    assert [r["saturation"] for r in runs] == [2, 2, 2]
    result.stdout.fnmatch_lines(
        [
            "*SATURATION 2.0",
            "llm_bench load: *test_sweep [[]llama3.2[]] (3 runs)",
            "*",
            "*",
            "*  1 *",
            "*  2 < *",
            "*  4 *",
            "  saturation at concurrency 2 (<): the next level added under 10 % throughput "
            "while p99 TTFT grew",
        ]
    )
    with open(pytester.path / "rows.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["load_run"]]
    assert len(rows) == 1 + 8 * 3  # every request, the warmup marked
    assert [r["load_level"] for r in rows if r["warmup"] == "false"] == ["1"] * 8 + ["2"] * 8 + [
        "4"
    ] * 8
    assert {r["request_throughput"] for r in rows if r["load_level"] == "2"} == {str(two)}
    report = Report.model_validate_json((pytester.path / "run.json").read_text())
    (series,) = load_series(report)  # the HTML report's load section draws this
    assert (series.axis, series.saturation) == ("concurrency", 2)
    assert [lv.level for lv in series.levels] == [1, 2, 4]
    assert [lv.request_throughput for lv in series.levels] == [one, two, four]


GROUPED = """
def test_mixed(ollama_bench):
    ollama_bench.load("hi", concurrency=2, requests=4)
    ollama_bench.sweep("hi", concurrency=[1, 2], requests=4)

def test_open_and_closed(ollama_bench):
    ollama_bench.load("hi", rate=40, requests=4)
    ollama_bench.load("hi", concurrency=2, requests=4)
    ollama_bench.load("hi", rate=20, concurrency=1, requests=2)
"""


def test_each_sweep_and_each_kind_of_single_run_has_a_table_of_its_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary.md"))
    pytester.makepyfile(GROUPED)
    with FakeOllama(["llama3.2"], parallel=2) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    summary = out[out.index("ollama-bench summary") :].splitlines()[1:]
    assert all(len(line) <= 80 for line in summary), [x for x in summary if len(x) > 80]
    # the load() run and the sweep's two levels are told apart, each under its label
    result.stdout.fnmatch_lines(
        [
            "llm_bench load: *::test_mixed [[]llama3.2[]] (3 runs)",
            "load(), closed loop:",
            "  concurrency *",
            "---*",
            "            2 *",
            "",
            "sweep 1, closed loop:",
            "  concurrency *",
            "---*",
            "*  1 *",  # '1 <' when the emulator's noise makes it the saturation
            "*  2 *",
            "  *saturation *",
        ]
    )
    # a rate and a concurrency never share a column; an open loop's cap is said
    result.stdout.fnmatch_lines(
        [
            "llm_bench load: *::test_open_and_closed [[]llama3.2[]] (3 runs)",
            "load(), open loop:",
            "  rate (req/s) *",
            "---*",
            "            40 *",
            "",
            "load(), closed loop:",
            "  concurrency *",
            "---*",
            "            2 *",
            "",
            "load(), open loop at most 1 in flight:",
            "  rate (req/s) *",
            "---*",
            "            20 *",
        ]
    )
    assert "  level " not in out
    markdown = (pytester.path / "summary.md").read_text()
    assert "**load(), closed loop**" in markdown
    assert "**sweep 1, closed loop**" in markdown
    # the HTML report's load section draws the same groups, each card named
    report = Report.model_validate_json((pytester.path / "run.json").read_text())
    assert [(s.label, s.axis, s.sweep, [lv.level for lv in s.levels])
            for s in load_series(report)] == [
        ("load(), closed loop", "concurrency", False, [2]),
        ("sweep 1, closed loop", "concurrency", True, [1, 2]),
        ("load(), open loop", "rate", False, [40]),
        ("load(), closed loop", "concurrency", False, [2]),
        ("load(), open loop at most 1 in flight", "rate", False, [20]),
    ]  # fmt: skip


def test_smoke_run_sends_one_request_per_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_sweep(ollama_bench):
            sweep = ollama_bench.sweep("hi", concurrency=[1, 2], requests=50, warmup=3)
            assert [r.completed for r in sweep] == [1, 1]
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        result = run(pytester, fake, "--ollama-smoke")
        sent = chat_contents(fake)
    result.assert_outcomes(passed=1)
    assert sent == ["hi", "hi"]


def test_the_html_report_draws_a_sweep_from_the_record() -> None:
    # not under pytester: pygal, imported while a pytester test runs, would be dropped from
    # sys.modules with that test's modules
    runs = [
        summarize(
            LoadRecord(nodeid="t", model="m", mode="concurrency", concurrency=n, sweep=1,
                       slo={"ttft_ms": 500}, saturation=2),
            [_r(i, 0, 1000 * n, _m(ttft=100 * n, tpot=5, tokens=3)) for i in range(4)],
        )
        for n in (1, 2, 4)
    ]  # fmt: skip
    case = CaseRecord(nodeid="t.py::test_s[m]", test="t.py::test_s", model="m", load=runs)
    report = Report(
        plugin_version="0", created_at=datetime.now(timezone.utc), host="h", settings=Settings(),
        cases=[case],
    )  # fmt: skip
    (series,) = load_series(report)
    assert (series.slo_ttft_ms, series.saturation) == (500, 2)
    page = render_html(report)
    assert "Load tests" in page
    assert "saturation at concurrency 2" in page
    assert page.count('data-kind="load"') == 2  # throughput and p99 TTFT
    # the x axis is marked at the levels run, not at fractions of a request in flight
    for chart in page.split('data-kind="load"')[1:]:
        x_axis = chart[chart.index('class="axis x') :].split('class="series')[0]
        assert re.findall(r"<text [^>]*>([^<]*)</text>", x_axis) == ["1", "2", "4"]


def test_every_load_card_has_its_own_id_when_a_test_ran_several_kinds() -> None:
    """A sweep, a closed-loop run and an open-loop run in one test: three cards, three ids."""
    sweep = [
        summarize(
            LoadRecord(nodeid="t", model="m", mode="concurrency", concurrency=n, sweep=1),
            [_r(i, 0, 1000, _m(ttft=100, tpot=5, tokens=3)) for i in range(2)],
        )
        for n in (1, 2)
    ]
    single = summarize(
        LoadRecord(nodeid="t", model="m", mode="concurrency", concurrency=3),
        [_r(0, 0, 1000, _m(ttft=100, tpot=5, tokens=3))],
    )
    rate = summarize(
        LoadRecord(nodeid="t", model="m", mode="rate", rate=2.0),
        [_r(0, 0, 1000, _m(ttft=100, tpot=5, tokens=3))],
    )
    case = CaseRecord(
        nodeid="t.py::test_s[m]", test="t.py::test_s", model="m", load=[*sweep, single, rate]
    )
    report = Report(
        plugin_version="0", created_at=datetime.now(timezone.utc), host="h", settings=Settings(),
        cases=[case],
    )  # fmt: skip
    assert len(load_series(report)) == 3
    ids = re.findall(r'<article class="card load" id="([^"]+)"', render_html(report))
    assert len(ids) == 3
    assert len(set(ids)) == 3


def test_a_load_card_names_its_group_when_a_test_ran_several() -> None:
    sweep = [
        summarize(
            LoadRecord(nodeid="t", model="m", mode="concurrency", concurrency=n, sweep=1),
            [_r(i, 0, 1000, _m(ttft=100, tpot=5, tokens=3)) for i in range(2)],
        )
        for n in (1, 2)
    ]
    single = summarize(
        LoadRecord(nodeid="t", model="m", mode="concurrency", concurrency=2),
        [_r(0, 0, 1000, _m(ttft=100, tpot=5, tokens=3))],
    )
    case = CaseRecord(
        nodeid="t.py::test_s[m]", test="t.py::test_s", model="m", load=[single, *sweep]
    )
    report = Report(
        plugin_version="0", created_at=datetime.now(timezone.utc), host="h", settings=Settings(),
        cases=[case],
    )  # fmt: skip
    titles = re.findall(r'<article class="card load"[^>]*><h3>(.*?)</h3>', render_html(report))
    assert titles == [
        "t.py::test_s <code>m</code> · load(), closed loop",
        "t.py::test_s <code>m</code> · sweep 1, closed loop",
    ]
    page = render_html(report)
    assert "single load() runs, not a sweep: no saturation is read across them" in page
    assert page.count("no saturation within the levels run") == 1


def test_arrival_times_are_seeded_and_end_where_the_rate_says() -> None:
    first = list(arrival_times(10, 3, requests=500))
    assert first == list(arrival_times(10, 3, requests=500))  # the seed repeats the schedule
    assert first != list(arrival_times(10, 4, requests=500))
    assert first[-1] == pytest.approx(50.0)  # 500 requests at 10/s: the last at 50 s
    gaps = [b - a for a, b in itertools.pairwise([0.0, *first])]
    assert sum(g > 0.1 for g in gaps) / 500 == pytest.approx(math.exp(-1), abs=0.06)  # P(>mean)
    # with a duration: plain exponential gaps, nothing sent after it
    timed = list(arrival_times(10, 3, duration_s=20))
    assert max(timed) < 20
    assert 140 <= len(timed) <= 260  # Poisson(200)
    assert len(list(arrival_times(10, 3, requests=5, duration_s=20))) == 5


def test_load_result_repr_and_views() -> None:
    base = LoadRecord(nodeid="t", model="m", mode="rate", rate=2.0)
    record = summarize(base, [_r(0, 100, 600, _m(ttft=50, tpot=5, tokens=3, text="x"))])
    result = LoadResult(record)
    assert repr(result) == "<LoadResult m rate 2: 1 completed, 0 failed, 2.00 req/s>"
    assert result.achieved_rate == 1 / 0.1  # one request sent 100 ms after the start
    assert result.goodput is None
    assert result.slo_attainment is None


def test_load_tables_fit_a_narrow_terminal() -> None:
    runs = [
        summarize(
            LoadRecord(nodeid="t", model="hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
                       mode="rate", rate=r, slo={"ttft_ms": 500}, sweep=1, saturation=2),
            [_r(i, 10 * i, 1000 + 10 * i, _m(ttft=100 * r, tpot=5, tokens=3)) for i in range(4)],
            slos=parse_slo({"ttft_ms": 500}),
        )
        for r in (1.0, 2.0, 4.0)
    ]  # fmt: skip
    case = CaseRecord(
        nodeid="tests/benchmarks/test_capacity_of_the_fleet.py::test_rate_sweep[m]",
        test="tests/benchmarks/test_capacity_of_the_fleet.py::test_rate_sweep",
        model=runs[0].model,
        load=runs,
    )
    report = Report(
        plugin_version="0", created_at=datetime.now(timezone.utc), host="h", settings=Settings(),
        cases=[case],
    )  # fmt: skip
    for width in (60, 80):
        lines = render_summary(report, width=width)
        assert all(len(line) <= width for line in lines), [x for x in lines if len(x) > width]
        text = "\n".join(lines)
        assert "rate (req/s)" in text
        assert "req/s" in text
        assert "left out of the load tables to fit" in text
    wide = render_summary(report, width=None)
    header = next(line for line in wide if "rate (req/s)" in line)
    for column in ("sent/s", "out tok/s", "ttft p50 (ms)", "ttft p99 (ms)", "tpot p99 (ms)",
                   "errors", "goodput", "slo met"):  # fmt: skip
        assert column in header
    assert any(line.lstrip().startswith("2 <") for line in wide)


def test_the_collector_is_paused_while_requests_are_measured(pytester: pytest.Pytester) -> None:
    # a full collection with many streams in flight stops the event loop: tokens timed late
    pytester.makepyfile(
        """
        import gc

        def test_gc(ollama_bench):
            seen = []

            def prompt(i):
                seen.append(gc.isenabled())
                return f"p{i}"

            ollama_bench.load(prompt, concurrency=2, requests=4, warmup=2)
            assert seen == [True, True, False, False, False, False]  # warmup, then measured
            assert gc.isenabled()
            assert gc.get_freeze_count() == 0
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        result = run(pytester, fake)
    result.assert_outcomes(passed=1)


PROMPT_SET = (
    '"Why is the sky blue?"\n'
    '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a tree."}]\n'
    '{"prompt": "What is a river?"}\n'
    "\n"
    '"Count to three."\n'
)

#: A text prompt set: a prompt per line, blank lines skipped, spaces and braces kept.
PROMPT_LINES = (
    "Why is the sky blue?\r\n"
    "\r\n"
    "  Name a tree, in one word.  \r\n"
    '{"prompt": "a line of text, not JSON"}\r\n'
    "Count to three.\r\n"
)


def test_prompt_sets_from_jsonl_and_text_files_feed_load_runs_the_same_way_twice(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from pytest_ollama_bench.workload import PromptSet, Workload

        def test_from_file(ollama_bench):
            prompts = PromptSet.from_file("prompts.jsonl", order="sample")
            workload = Workload(prompts=prompts, output_tokens=5, seed=21)
            result = ollama_bench.load(workload, concurrency=3, requests=12, warmup=0)
            assert result.completed == 12

        def test_from_text(ollama_bench):
            workload = Workload(prompts=PromptSet.from_file("prompts.txt"), output_tokens=3)
            result = ollama_bench.load(workload, concurrency=1, requests=6, warmup=0)
            assert result.completed == 6
        """
    )
    (pytester.path / "prompts.jsonl").write_text(PROMPT_SET)
    # a text file as an editor on Windows saves it: a byte order mark, CRLF line ends
    (pytester.path / "prompts.txt").write_bytes(PROMPT_LINES.encode("utf-8-sig"))
    runs = []
    for _ in range(2):
        with FakeOllama(["llama3.2"]) as fake:
            result = run(pytester, fake)
            sent = [r["body"] for r in fake.requests if r["path"] == "/api/chat"]
        result.assert_outcomes(passed=2)
        record, text_record = load_runs(pytester)
        runs.append((sent, record, text_record))
    (all1, record1, text1), (all2, record2, text2) = runs
    sent1 = [body for body in all1 if body["options"]["num_predict"] == 5]
    sent2 = [body for body in all2 if body["options"]["num_predict"] == 5]
    contents = [body["messages"][-1]["content"] for body in sent1]
    assert len(contents) == 12
    # every request is one of the file's four prompts, drawn (not in file order)
    assert set(contents) <= {"Why is the sky blue?", "Name a tree.", "What is a river?",
                             "Count to three."}  # fmt: skip
    assert len(set(contents)) > 1
    assert contents != ["Why is the sky blue?", "Name a tree.", "What is a river?",
                        "Count to three."] * 3  # fmt: skip
    tree = [body for body in sent1 if body["messages"][-1]["content"] == "Name a tree."]
    assert all(body["messages"][0] == {"role": "system", "content": "Be brief."} for body in tree)
    assert all(body["options"] == {"num_predict": 5, "ignore_eos": True} for body in sent1)
    # the same seed draws the same prompts (arrival order may interleave under concurrency)
    assert sorted(map(json.dumps, sent1)) == sorted(map(json.dumps, sent2))
    described = record1["workload"]
    assert described == record2["workload"]
    assert described["seed"] == 21
    assert described["prompts"]["source"] == "prompts.jsonl"
    assert described["prompts"]["count"] == 4
    assert described["prompts"]["order"] == "sample"
    assert len(described["prompts"]["sha256"]) == 64
    measured = [q["measurement"] for q in record1["requests"]]
    assert all(m["eval_count"] == 5 and m["output_reached"] for m in measured)
    # the text file: a prompt per line, as written (no JSON read into it), in file order, as
    # the only message of each request
    lines = ["Why is the sky blue?", "  Name a tree, in one word.  ",
             '{"prompt": "a line of text, not JSON"}', "Count to three."]  # fmt: skip
    from_text = [body for body in all1 if body["options"]["num_predict"] == 3]
    assert [body["messages"] for body in from_text] == [
        [{"role": "user", "content": line}] for line in lines + lines[:2]
    ]
    assert [body for body in all2 if body["options"]["num_predict"] == 3] == from_text
    assert [q["measurement"]["eval_count"] for q in text1["requests"]] == [3] * 6
    text_workload = text1["workload"]
    assert text_workload == text2["workload"]
    assert text_workload["prompts"]["source"] == "prompts.txt"
    assert text_workload["prompts"]["count"] == 4
    assert text_workload["prompts"]["order"] == "sequential"
    assert text_workload["prompts"]["sha256"] != described["prompts"]["sha256"]
    # the description makes the same requests again from the file
    again = Workload.from_description(text_workload)
    assert [again.item(i).prompt for i in range(6)] == lines + lines[:2]


def test_a_workload_feeds_a_load_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        # from the modules: pytester's inner runs import them afresh
        from pytest_ollama_bench.workload import Uniform, Workload

        def test_sized(ollama_bench):
            workload = Workload(input_tokens=Uniform(80, 160), output_tokens=Uniform(4, 12), seed=9)
            result = ollama_bench.load(workload, concurrency=3, requests=9, warmup=1)
            assert result.completed == 9

        def test_output_tokens(ollama_bench):
            result = ollama_bench.load("hi", concurrency=2, requests=4, warmup=0, output_tokens=6)
            assert all(m.output_reached for m in result.measurements)
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        result = run(pytester, fake)
        bodies = [r["body"] for r in fake.requests if r["path"] == "/api/chat"]
    result.assert_outcomes(passed=2)
    sized, sixes = load_runs(pytester)
    assert sized["workload"]["seed"] == 9
    assert sized["workload"]["input_tokens"] == {"dist": "uniform", "low": 80, "high": 160}
    measured = [q["measurement"] for q in sized["requests"] if not q["warmup"]]
    assert len({m["input_tokens_asked"] for m in measured}) > 3  # drawn per request
    for m in measured:  # the emulator counts prompts as the calibration expects
        assert abs(m["prompt_eval_count"] - m["input_tokens_asked"]) <= 2
        assert m["eval_count"] == m["output_tokens_asked"]
        assert m["output_reached"] is True
    # the calibration's two requests, the warmup and the 9 measured, then the second test's 4
    asked = [b for b in bodies if b.get("options", {}).get("ignore_eos")]
    assert len(asked) == 2 + 10 + 4
    assert sixes["workload"] == {"output_tokens": 6}
    assert sixes["options"] == {"num_predict": 6, "ignore_eos": True}
