"""Several servers at once: ``--ollama-host`` repeated or comma-separated fans every benchmark
out over server x model; under pytest-xdist each server has its own lock."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from pytest_ollama_bench.hosts import host_label
from pytest_ollama_bench.hosts import host_labels
from pytest_ollama_bench.testing import FakeOllama

TESTS = """
import pytest

@pytest.mark.llm_bench(rounds=3, warmup=0)
def test_chat(ollama_bench, request):
    ollama_bench.chat(f"chat {request.node.name}")

def test_load(ollama_bench, request):
    ollama_bench.load(f"load {request.node.name}", concurrency=3, requests=9, warmup=0)
"""

#: each stream takes ~ 100 + 19 * 12 ms: a benchmark holds its server for a second or more
SLOW = {"ttft_ms": 100, "itl_ms": 12, "tokens": [f"t{i} " for i in range(20)], "parallel": 4}


def benchmark_spans(fake: FakeOllama) -> dict[str, tuple[int, int]]:
    """Per benchmark (its prompt names the test), its first and last stream line written."""
    owner = {
        seq: r["body"]["messages"][-1]["content"]
        for seq, r in enumerate(fake.requests)
        if r["path"] == "/api/chat"
    }
    spans: dict[str, tuple[int, int]] = {}
    for seq, _line, t in fake.chunk_log:
        name = owner[seq]
        first, last = spans.get(name, (t, t))
        spans[name] = (min(first, t), max(last, t))
    return spans


def test_two_hosts_under_xdist_run_at_once_each_seeing_one_benchmark_at_a_time(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(TESTS)
    with FakeOllama(["llama3.2"], **SLOW) as a, FakeOllama(["llama3.2"], **SLOW) as b:
        a.record_timings = b.record_timings = True
        result = pytester.runpytest_subprocess(
            "-n", "2", f"--ollama-host={a.url}", f"--ollama-host={b.url}",
            "--ollama-models=llama3.2", "--ollama-json=run.json", "--ollama-no-save",
        )  # fmt: skip
        spans = {"a": benchmark_spans(a), "b": benchmark_spans(b)}
        urls = {"a": a.url, "b": b.url}
    result.assert_outcomes(passed=4)
    for host, url in urls.items():
        label = host_label(url)
        assert sorted(spans[host]) == [
            f"chat test_chat[{label}-llama3.2]", f"load test_load[{label}-llama3.2]"
        ]  # fmt: skip
        ordered = sorted(spans[host].values())
        for (_, end), (start, _) in itertools.pairwise(ordered):
            assert start > end, f"host {host} served two benchmarks at the same time"
    # ... while the two servers were benchmarked at the same time
    overlaps = [
        (x, y)
        for x, y in itertools.product(spans["a"].values(), spans["b"].values())
        if x[0] < y[1] and y[0] < x[1]
    ]
    assert overlaps, "the two servers were benchmarked one after the other"
    data = json.loads((pytester.path / "run.json").read_text())
    assert data["hosts"] == [urls["a"], urls["b"]]
    assert {(c["host"], c["test"].split("::")[-1]) for c in data["cases"]} == {
        (url, name) for url in urls.values() for name in ("test_chat", "test_load")
    }


def _case(data: dict[str, Any], test: str, host: str) -> dict[str, Any]:
    return next(c for c in data["cases"] if c["test"].endswith(test) and c["host"] == host)


def test_ids_tables_and_skips_per_host(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    with (
        FakeOllama(["llama3.2"], ttft_ms=5) as a,
        FakeOllama(["llama3.2", "qwen2.5:0.5b"], ttft_ms=5) as b,
    ):
        result = pytester.runpytest(
            f"--ollama-host={a.url},{b.url}", "--ollama-models=llama3.2,qwen2.5:0.5b", "-v",
            "--ollama-json=run.json", "--ollama-no-save",
        )  # fmt: skip
        served = {"a": len(a.requests), "b": len(b.requests)}
        url_a, url_b = a.url, b.url
    result.assert_outcomes(passed=6, skipped=2)  # qwen is only on b
    la, lb = host_label(url_a), host_label(url_b)
    result.stdout.fnmatch_lines(
        [
            f"ollama-bench: hosts={url_a}, {url_b}, api=native, *",
            f"*::test_chat[[]{la}-llama3.2[]] PASSED*",
            f"*::test_chat[[]{la}-qwen2.5:0.5b[]] SKIPPED (model 'qwen2.5:0.5b' not available on "
            f"{url_a}*",
            f"*::test_chat[[]{lb}-qwen2.5:0.5b[]] PASSED*",
        ]
    )
    # one server's tables, then the other's; the skip listed under its own server's table
    result.stdout.fnmatch_lines(
        [
            f"llm_bench: *::test_chat on {url_a} (2 models, 1 skipped)",
            "*",
            "*",
            "llama3.2 *",
            "  skipped: qwen2.5:0.5b (model 'qwen2.5:0.5b' not available on *",
            "*",
            f"llm_bench: *::test_load on {url_a} (1 model, 1 skipped)",
            "*",
            f"llm_bench load: *::test_load [[]llama3.2[]] on {url_a} (1 run)",
            "*",
            f"llm_bench: *::test_chat on {url_b} (2 models)",
        ]
    )
    for row in (f"llama3.2 @ {la} *", f"qwen2.5:0.5b @ {lb} *"):  # the leaderboard's rows
        result.stdout.fnmatch_lines([row])
    data = json.loads((pytester.path / "run.json").read_text())
    assert _case(data, "test_chat", url_a)["outcome"] == "passed"
    assert {c["host"] for c in data["cases"] if c["outcome"] == "skipped"} == {url_a}
    assert _case(data, "test_load", url_b)["load"][0]["completed"] == 9
    assert served["a"] > 0
    assert served["b"] > served["a"]


def test_host_labels_are_short_and_safe_in_node_ids() -> None:
    assert host_label("http://127.0.0.1:11434") == "127.0.0.1:11434"
    assert host_label("https://user:secret@gpu1:443/ollama") == "gpu1:443/ollama"
    assert host_label("http://[::1]:11434") == "[0:0:0:0:0:0:0:1]:11434"  # no '::' in ids
    labels = host_labels(("http://h:1", "https://h:1"))
    assert labels == {"http://h:1": "http://h:1", "https://h:1": "https://h:1"}


def test_several_hosts_from_the_environment_and_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(ollama_bench):\n    ollama_bench.chat('hi', rounds=1)\n")
    with FakeOllama(["llama3.2"]) as a, FakeOllama(["llama3.2"]) as b:
        pytester.makeini(
            f"[pytest]\nasyncio_default_fixture_loop_scope = function\n"
            f"ollama_host =\n    {a.url}\n    {b.url}\n"
        )
        result = pytester.runpytest("--ollama-models=llama3.2", "--ollama-no-save")
        result.assert_outcomes(passed=2)
        pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OLLAMA_HOST", f"{a.url}, {b.url}")
            result = pytester.runpytest("--ollama-models=llama3.2", "--ollama-no-save")
        result.assert_outcomes(passed=2)


def test_credentials_of_every_host_stay_out_of_the_record(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(ollama_bench):\n    ollama_bench.chat('hi', rounds=1)\n")
    with FakeOllama(["llama3.2"]) as a, FakeOllama(["llama3.2"]) as b:
        secret_b = b.url.replace("http://", "http://me:s3cret@")
        result = pytester.runpytest(
            f"--ollama-host={a.url},{secret_b}", "--ollama-models=llama3.2",
            "--ollama-json=run.json", "--ollama-no-save",
        )  # fmt: skip
        urls = [a.url, b.url]
    result.assert_outcomes(passed=2)
    text = (pytester.path / "run.json").read_text()
    assert "s3cret" not in text
    assert "s3cret" not in result.stdout.str()
    assert json.loads(text)["settings"]["hosts"] == urls
