"""The session's summary, JSON record, baselines and CI outputs, as a user sees them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_ollama_bench.models import Report
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import Fault

BENCH = """
import pytest

@pytest.mark.llm_bench(rounds=2, warmup=1)
def test_arithmetic(ollama_bench):
    assert "4" in ollama_bench.chat("What is 2+2?").text

@pytest.mark.llm_bench(rounds=2, warmup=0, max_ttft_ms=100000)
def test_generate(ollama_bench):
    assert ollama_bench.generate("2+2=").text
"""


def run(pytester: pytest.Pytester, fake: FakeOllama, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        f"--ollama-host={fake.url}", "--ollama-models=llama3.2,qwen2.5:0.5b", *args
    )


def latest(pytester: pytest.Pytester) -> Report:
    path = pytester.path / ".ollama-bench" / "latest.json"
    return Report.model_validate_json(path.read_text())


def test_summary_table_per_test_with_best_and_ratios(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    # far apart, so the order holds on a loaded machine
    fake_ollama.profile("llama3.2").ttft_ms = 300
    pytester.makepyfile(BENCH)
    result = run(pytester, fake_ollama)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*= ollama-bench summary =*",
            "llm_bench: test_summary_table_per_test_with_best_and_ratios.py::test_arithmetic"
            " (2 models)",
            "model * ttft (ms) * ttft p95 (ms) * total (ms) * tok/s *gate",
            "qwen2.5:0.5b *[*] *(1.00)*-",  # the padding follows the widths of the values
            "llama3.2 *(*)*-",
            "llm_bench: *::test_generate (2 models)",
            "llm_bench leaderboard: 2 models, 2 tests",
            "legend: * best*",
            "ollama-bench: run record written to *.ollama-bench*runs*0001_*.json",
        ]
    )


def test_json_record_loads_back_with_every_case(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama).assert_outcomes(passed=4)
    report = latest(pytester)
    runs = sorted((pytester.path / ".ollama-bench" / "runs").glob("*.json"))
    assert [p.name[:5] for p in runs] == ["0001_"]
    assert Report.model_validate_json(runs[0].read_text()) == report
    assert report.schema_version == 1
    assert report.host == fake_ollama.url
    assert report.ollama_version == "0.33.0"
    assert report.system is not None
    assert report.system.cpu_cores_logical
    assert report.settings.models == ("llama3.2", "qwen2.5:0.5b")
    assert {(c.test.split("::")[-1], c.model) for c in report.cases} == {
        ("test_arithmetic", "llama3.2"),
        ("test_arithmetic", "qwen2.5:0.5b"),
        ("test_generate", "llama3.2"),
        ("test_generate", "qwen2.5:0.5b"),
    }
    case = next(c for c in report.cases if c.model == "llama3.2" and "arith" in c.nodeid)
    assert case.nodeid.endswith("test_arithmetic[llama3.2]")
    assert case.outcome == "passed"
    assert case.model_details is not None
    assert case.model_details.digest
    assert case.model_details.quantization_level
    [call] = case.calls
    assert call.endpoint == "chat"
    assert call.prompt == "What is 2+2?"
    assert [m.warmup for m in call.rounds] == [True, False, False]
    assert case.stats["ttft_ms"].n == 2
    assert case.resources is not None
    assert case.resources.samples >= 1
    gen = next(c for c in report.cases if c.model == "llama3.2" and "generate" in c.nodeid)
    assert gen.gates[0].threshold == "max_ttft_ms"
    assert gen.gates[0].passed


def test_model_details_in_the_json_keep_their_keys(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama).assert_outcomes(passed=4)
    raw = json.loads((pytester.path / ".ollama-bench" / "latest.json").read_text())
    details = [case["model_details"] for case in raw["cases"]]
    assert len(details) == 4
    for entry in details:  # the /api/tags entry's modified_at stays out of the record
        assert set(entry) == {
            "name",
            "digest",
            "size",
            "family",
            "parameter_size",
            "quantization_level",
        }
    assert {d["name"] for d in details} == {"llama3.2:latest", "qwen2.5:0.5b"}


def test_failed_and_skipped_cases_appear_with_their_error(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_wrong(ollama_bench):
            assert "5" in ollama_bench.chat("2+2?").text
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,nope")
    result.assert_outcomes(failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "llama3.2 [[]failed[]]*",
            "*failed: llama3.2: *assert '5' in*",
            "*skipped: nope (model 'nope' not available*",
        ]
    )
    outcomes = {c.model: (c.outcome, c.error) for c in latest(pytester).cases}
    assert outcomes["llama3.2"][0] == "failed"
    assert "assert '5' in" in (outcomes["llama3.2"][1] or "")
    assert outcomes["nope"][0] == "skipped"
    assert "ollama pull nope" in (outcomes["nope"][1] or "")


def test_quiet_prints_the_leaderboard_only_and_nothing_without_benchmarks(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    result = run(pytester, fake_ollama, "-q")
    result.stdout.fnmatch_lines(["*llm_bench leaderboard*"])
    result.stdout.no_fnmatch_line("llm_bench: *::test_arithmetic*")
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = pytester.runpytest("test_plain.py")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*ollama-bench summary*")
    assert not (pytester.path / ".ollama-bench" / "runs" / "0002_").exists()
    assert len(list((pytester.path / ".ollama-bench" / "runs").glob("*.json"))) == 1


def test_verbose_adds_columns_and_columns_sort_options(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    result = run(pytester, fake_ollama, "-v")
    result.stdout.fnmatch_lines(["model * tpot (ms) * itl p50 (ms) *"])
    result = run(pytester, fake_ollama, "--ollama-columns=tps,rounds", "--ollama-sort=model")
    result.stdout.fnmatch_lines(["model * tok/s * rounds", "llama3.2 *", "qwen2.5:0.5b *"])
    result.stdout.no_fnmatch_line("model * ttft (ms) * ttft p95*")
    result = run(pytester, fake_ollama, "--ollama-columns=speed")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --ollama-columns: *speed*valid*ttft*"])


def test_credentials_in_the_host_never_reach_the_record(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    secret = fake_ollama.url.replace("http://", "http://user:s3cret@")
    result = pytester.runpytest(f"--ollama-host={secret}", "--ollama-models=llama3.2")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*s3cret*")
    text = (pytester.path / ".ollama-bench" / "latest.json").read_text()
    assert "s3cret" not in text
    assert Report.model_validate_json(text).settings.host == fake_ollama.url


def test_json_path_and_no_save(pytester: pytest.Pytester, fake_ollama: FakeOllama) -> None:
    pytester.makepyfile(BENCH)
    args = ("--ollama-json=out/run.json", "--ollama-no-save")  # the JSON file, no history
    run(pytester, fake_ollama, *args).assert_outcomes(passed=4)
    report = Report.model_validate_json((pytester.path / "out" / "run.json").read_text())
    assert len(report.cases) == 4
    assert not (pytester.path / ".ollama-bench").exists()
    (pytester.path / "out" / "run.json").unlink()
    result = run(pytester, fake_ollama, "--ollama-no-save")
    result.stdout.no_fnmatch_line("*run record written*")
    assert not (pytester.path / ".ollama-bench").exists()


def test_interrupted_session_keeps_completed_records(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_a_done(ollama_bench):
            ollama_bench.chat("2+2?")

        def test_b_ctrl_c():
            raise KeyboardInterrupt

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_c_never(ollama_bench):
            ollama_bench.chat("2+2?")
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", no_reraise_ctrlc=True
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = latest(pytester)
    assert report.interrupted
    assert [c.nodeid.split("::")[-1] for c in report.cases] == ["test_a_done[llama3.2]"]
    assert report.cases[0].calls[0].rounds


def test_xdist_writes_one_record_with_every_case(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b"
    )
    result.assert_outcomes(passed=4)
    runs = list((pytester.path / ".ollama-bench" / "runs").glob("*.json"))
    assert len(runs) == 1
    report = Report.model_validate_json(runs[0].read_text())
    assert len(report.cases) == 4
    assert all(c.calls and c.calls[0].rounds for c in report.cases)
    result.stdout.fnmatch_lines(["*llm_bench leaderboard: 2 models, 2 tests*"])


def test_regression_gate_against_the_baseline(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    # times far above what a loaded 2-core machine adds, limits far above its noise
    gate = ["--ollama-compare-fail=ttft_ms:100%", "--ollama-compare-fail=total_ms:1000ms"]
    for profile in ("llama3.2", "qwen2.5:0.5b"):
        fake_ollama.profile(profile).ttft_ms = 150
    first = run(pytester, fake_ollama, *gate)
    assert first.ret == pytest.ExitCode.OK
    first.stdout.fnmatch_lines(["*warning: no baseline to compare with*"])
    unchanged = run(pytester, fake_ollama, *gate)
    assert unchanged.ret == pytest.ExitCode.OK
    unchanged.stdout.fnmatch_lines(["model * ttft base (ms) *", "baseline: run *"])
    unchanged.stdout.no_fnmatch_line("*ollama-bench regressions*")
    fake_ollama.profile("llama3.2").ttft_ms = 1500
    slower = run(pytester, fake_ollama, *gate)
    assert slower.ret == pytest.ExitCode.TESTS_FAILED
    slower.assert_outcomes(passed=4)
    slower.stdout.fnmatch_lines(
        [
            "*= ollama-bench regressions =*",
            "*test_arithmetic[[]llama3.2[]] ttft_ms median * vs baseline *: +*% > 100%",
        ]
    )
    slower.stdout.no_fnmatch_line("*qwen2.5:0.5b[]] ttft_ms*")


def test_github_step_summary_and_junit_properties(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama, "--junitxml=junit.xml").assert_outcomes(passed=4)
    text = summary.read_text()
    assert "test_arithmetic" in text
    assert re.search(r"^\|\s*model\s*\|.*\|$", text, re.MULTILINE)  # a markdown table
    xml = (pytester.path / "junit.xml").read_text()
    assert 'name="ollama[llama3.2].ttft_ms.median"' in xml
    assert 'name="ollama[qwen2.5:0.5b].rounds" value="2"' in xml
    assert "ollama_bench_case" not in xml  # transport data stays out of the XML


def test_cli_compares_two_saved_runs(pytester: pytest.Pytester, fake_ollama: FakeOllama) -> None:
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama).assert_outcomes(passed=4)
    fake_ollama.profile("llama3.2").ttft_ms = 100
    run(pytester, fake_ollama).assert_outcomes(passed=4)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    listed = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "list"],
        cwd=pytester.path, capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert "0001" in listed.stdout
    assert "0002" in listed.stdout
    compared = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "compare", "1", "latest"],
        cwd=pytester.path, capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    line = next(
        x for x in compared.stdout.splitlines() if "test_arithmetic" in x and "llama3.2" in x
    )
    assert "worse" in line


def test_schema_command_prints_the_report_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "schema"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    schema = json.loads(done.stdout)
    assert schema["title"] == "Report"
    assert "schema_version" in schema["properties"]
    assert Path  # keep import used for type checkers


def test_records_cross_xdist_on_the_report_and_never_reach_junit_xml(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b",
        "--junitxml=junit.xml",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    report = latest(pytester)
    assert len(report.cases) == 4
    for case in report.cases:  # every record made it from the workers to the controller
        assert [len(call.rounds) for call in case.calls] == [3 if "arith" in case.test else 2]
        assert case.stats["ttft_ms"].n == 2
    xml = (pytester.path / "junit.xml").read_text()
    properties = re.findall(r'<property name="([^"]*)" value="([^"]*)"', xml)
    names = {name for name, _ in properties}
    assert "ollama[llama3.2].ttft_ms.median" in names
    assert "ollama[qwen2.5:0.5b].gates" in names
    assert all(name.startswith("ollama[") for name in names)
    assert not any("{" in value for _, value in properties)  # no raw JSON
    assert "itl_ms" not in xml


def test_each_call_records_the_rounds_it_ran(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama, "--ollama-rounds=5", "--ollama-warmup=3").assert_outcomes(passed=4)
    report = latest(pytester)
    assert report.settings.rounds == 5  # what the command line said
    for case in report.cases:  # what each call ran: the marker's rounds and warmup
        (call,) = case.calls
        expected = (2, 1) if case.test.endswith("test_arithmetic") else (2, 0)
        assert (call.round_count, call.warmup_count) == expected
        assert sum(not m.warmup for m in call.rounds) == call.round_count


def test_a_count_of_one_is_singular_in_every_output(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_one_round(ollama_bench):
            ollama_bench.chat("What is 2+2?")

        def test_one_request(ollama_bench):
            ollama_bench.load("hi", concurrency=1, requests=1, warmup=0)
        """
    )
    args = [f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2"]
    pytester.runpytest(*args, "-k", "one_round").assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess(  # pygal draws the HTML charts: a process of its own
        *args, "--ollama-compare", "--ollama-html=r.html",
        "--ollama-export=github-bigger=gh.json",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["baseline: run of * on * (1 case)"])
    html = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert "2 cases in 2 tests: 2 passed" in html
    assert "(1 round)" in html
    assert "Answers (1 round)" in html
    assert "(1 rounds)" not in html
    entries = json.loads((pytester.path / "gh.json").read_text())
    (load_entry, *_) = [e for e in entries if "request_throughput" in e["name"]]
    assert load_entry["extra"].startswith("load run at concurrency 1: 1 request sent, 1 completed")
    # a load run whose one request failed says so in the singular
    fake_ollama.set_fault("llama3.2", Fault(status=500, message="CUDA error", times=1))
    result = pytester.runpytest(*args, "-k", "one_request")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*load run on 'llama3.2' at concurrency 1: its 1 request did not complete (1 http_500): "
         "*CUDA error*"]
    )  # fmt: skip
    # and a first run of 1 case in 1 test
    pytester.runpytest_subprocess(*args, "-k", "one_round", "--ollama-html=one.html")
    assert "1 case in 1 test: 1 passed" in (pytester.path / "one.html").read_text("utf-8")
