"""Fault matrix, part 1: the regression gate and the run record under bad runs, bad baselines,
unwritable storage, crashes and races. Each test is one numbered input of the issue "A regression
gate and run record you can trust"; after each, the record on disk is validated.

Times are far apart (150 ms against 1,500 ms) and limits generous, so a loaded 2-core machine
cannot turn noise into a verdict.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from datetime import timezone
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pytest_ollama_bench.models import Report
from pytest_ollama_bench.settings import Settings
from pytest_ollama_bench.storage import RunStore
from pytest_ollama_bench.testing import FakeOllama

BENCH = """
import pytest

@pytest.mark.llm_bench(rounds=2, warmup=0)
def test_arith(ollama_bench):
    ollama_bench.chat("2+2?")

@pytest.mark.llm_bench(rounds=2, warmup=0)
def test_gen(ollama_bench):
    ollama_bench.generate("2+2=")
"""
GATE = "--ollama-compare-fail=ttft_ms:50%"
FAST, SLOW = 150.0, 600.0  # far apart: a loaded machine adds tens of ms, never 4x


def runs_dir(pytester: pytest.Pytester) -> Path:
    return pytester.path / ".ollama-bench" / "runs"


def records(pytester: pytest.Pytester) -> list[Report]:
    """Every saved run, validated, oldest first."""
    files = RunStore(pytester.path / ".ollama-bench").runs()
    return [Report.model_validate_json(p.read_text(encoding="utf-8")) for p in files]


def last(pytester: pytest.Pytester) -> Report:
    """The newest saved run, validated."""
    path = RunStore(pytester.path / ".ollama-bench").runs()[-1]
    return Report.model_validate_json(path.read_text(encoding="utf-8"))


def bench(pytester: pytest.Pytester, fake: FakeOllama, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        f"--ollama-host={fake.url}", "--ollama-models=llama3.2,qwen2.5:0.5b", *args
    )


def set_ttft(fake: FakeOllama, ms: float) -> None:
    for name in ("llama3.2", "qwen2.5:0.5b"):
        fake.profile(name).ttft_ms = ms


def keys(report: Report) -> set[tuple[str, str]]:
    return {(c.nodeid.split("::")[-1], c.model) for c in report.cases}


# --------------------------------------------------------------------------- 1. baselines


def test_1_a_failed_run_never_becomes_the_baseline(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    set_ttft(fake_ollama, FAST)
    assert bench(pytester, fake_ollama, GATE).ret == pytest.ExitCode.OK
    set_ttft(fake_ollama, SLOW)
    failed = bench(pytester, fake_ollama, GATE)
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(["*= ollama-bench regressions =*"])
    retried = bench(pytester, fake_ollama, GATE)  # a retried CI job must stay red
    assert retried.ret == pytest.ExitCode.TESTS_FAILED
    retried.stdout.fnmatch_lines(["*test_arith[[]llama3.2[]] ttft_ms median*> 50%*"])
    good, bad, again = records(pytester)
    assert len(good.cases) == len(bad.cases) == len(again.cases) == 4
    assert again.exit_status == 1  # 4. the record tells the truth
    assert again.baseline is not None
    assert again.baseline.runs == [runs_dir(pytester).glob("0001_*.json").__next__().name]
    assert {r.model for r in again.regressions} == {"llama3.2", "qwen2.5:0.5b"}
    assert all(r.baseline_run and r.baseline_run.startswith("0001_") for r in again.regressions)


def test_1_an_all_skipped_run_never_becomes_the_baseline(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    set_ttft(fake_ollama, FAST)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)
    down = pytester.runpytest("--ollama-host=127.0.0.1:9", "--ollama-models=llama3.2")
    down.assert_outcomes(skipped=2)
    assert all(c.outcome == "skipped" for c in last(pytester).cases)
    set_ttft(fake_ollama, SLOW)
    slow = bench(pytester, fake_ollama, GATE)
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    slow.stdout.no_fnmatch_line("*no baseline*")
    assert last(pytester).baseline.cases_with_baseline == 4  # type: ignore[union-attr]


def test_1_a_partial_run_does_not_hide_the_other_cases(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    set_ttft(fake_ollama, FAST)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)
    bench(pytester, fake_ollama, "-k", "test_gen").assert_outcomes(passed=2)
    set_ttft(fake_ollama, SLOW)
    slow = bench(pytester, fake_ollama, GATE)
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    report = last(pytester)
    gated = {(r.nodeid.split("::")[-1], r.model) for r in report.regressions}
    assert ("test_arith[llama3.2]", "llama3.2") in gated  # from run 1, not hidden by run 2
    assert ("test_gen[llama3.2]", "llama3.2") in gated  # from run 2, the newer
    assert report.baseline is not None
    assert report.baseline.cases_without_baseline == 0
    assert [r[:4] for r in report.baseline.runs] == ["0001", "0002"]


def test_1_an_interrupted_run_never_becomes_the_baseline(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    set_ttft(fake_ollama, FAST)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)
    set_ttft(fake_ollama, SLOW)
    stop = pytester.makepyfile(test_zz_ctrl_c="def test_ctrl_c():\n    raise KeyboardInterrupt\n")
    interrupted = pytester.runpytest(  # every case measured, then Ctrl-C
        f"--ollama-host={fake_ollama.url}",
        "--ollama-models=llama3.2,qwen2.5:0.5b",
        no_reraise_ctrlc=True,
    )
    assert interrupted.ret == pytest.ExitCode.INTERRUPTED
    cut = last(pytester)
    assert cut.interrupted
    assert cut.exit_status == pytest.ExitCode.INTERRUPTED
    assert len(cut.cases) == 4
    assert all(c.outcome == "passed" and c.stats for c in cut.cases)  # it could have been one
    stop.unlink()
    slow = bench(pytester, fake_ollama, GATE)  # as slow as the interrupted run: still red
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    report = last(pytester)
    assert len(report.regressions) == 4
    assert report.baseline is not None
    assert [r[:4] for r in report.baseline.runs] == ["0001"]
    assert (report.baseline.cases_with_baseline, report.baseline.cases_without_baseline) == (4, 0)


FAILS_ON_REQUEST = """
import os
import pytest

@pytest.mark.llm_bench(rounds=2, warmup=0)
def test_arith(ollama_bench, ollama_model):
    ollama_bench.chat("2+2?")
    assert os.environ.get("FAIL_MODEL") != ollama_model

@pytest.mark.llm_bench(rounds=2, warmup=0)
def test_gen(ollama_bench):
    ollama_bench.generate("2+2=")
"""


def test_1_a_run_stopped_by_x_does_not_hide_the_other_cases(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(FAILS_ON_REQUEST)
    set_ttft(fake_ollama, FAST)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)
    set_ttft(fake_ollama, SLOW)
    monkeypatch.setenv("FAIL_MODEL", "llama3.2")
    stopped = bench(pytester, fake_ollama, "-x")  # the first test fails, measured slow: stop
    stopped.assert_outcomes(failed=1)
    partial = last(pytester)
    assert [(c.nodeid.split("::")[-1], c.outcome) for c in partial.cases] == [
        ("test_arith[llama3.2]", "failed")
    ]
    assert partial.cases[0].stats  # measured, but failed: never a baseline value
    monkeypatch.delenv("FAIL_MODEL")
    slow = bench(pytester, fake_ollama, GATE)  # every case against run 1, none hidden
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    slow.stdout.no_fnmatch_line("*no baseline*")
    report = last(pytester)
    assert report.baseline is not None
    assert [r[:4] for r in report.baseline.runs] == ["0001"]
    assert (report.baseline.cases_with_baseline, report.baseline.cases_without_baseline) == (4, 0)
    assert {(r.nodeid.split("::")[-1], r.model) for r in report.regressions} == keys(report)


def test_1_a_run_narrowed_by_lf_does_not_hide_the_other_cases(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(FAILS_ON_REQUEST)
    set_ttft(fake_ollama, FAST)
    monkeypatch.setenv("FAIL_MODEL", "llama3.2")
    bench(pytester, fake_ollama).assert_outcomes(passed=3, failed=1)
    monkeypatch.delenv("FAIL_MODEL")
    set_ttft(fake_ollama, SLOW)
    bench(pytester, fake_ollama, "--lf").assert_outcomes(passed=1)  # the failed one, slow
    assert keys(last(pytester)) == {("test_arith[llama3.2]", "llama3.2")}
    slow = bench(pytester, fake_ollama, GATE)
    assert slow.ret == pytest.ExitCode.TESTS_FAILED
    report = last(pytester)
    assert report.baseline is not None
    assert [r[:4] for r in report.baseline.runs] == ["0001", "0002"]
    assert (report.baseline.cases_with_baseline, report.baseline.cases_without_baseline) == (4, 0)
    # the --lf run's case is compared with its own slow measurement, the others with run 1's
    assert {(r.nodeid.split("::")[-1], r.model) for r in report.regressions} == keys(report) - {
        ("test_arith[llama3.2]", "llama3.2")
    }
    assert {r.baseline_run[:4] for r in report.regressions if r.baseline_run} == {"0001"}


def test_1_cases_without_a_baseline_are_reported(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    set_ttft(fake_ollama, FAST)
    bench(pytester, fake_ollama, "-k", "test_gen").assert_outcomes(passed=2)
    result = bench(pytester, fake_ollama, GATE)
    result.stdout.fnmatch_lines(["*warning: no baseline for 2 of 4 measured case(s)*"])
    info = last(pytester).baseline
    assert info is not None
    assert (info.cases_with_baseline, info.cases_without_baseline) == (2, 2)


def test_1_named_baselines_pin_a_run(pytester: pytest.Pytester, fake_ollama: FakeOllama) -> None:
    pytester.makepyfile(BENCH)
    set_ttft(fake_ollama, FAST)
    bench(pytester, fake_ollama, "--ollama-save=main").assert_outcomes(passed=4)
    set_ttft(fake_ollama, SLOW)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)  # a slow run, no gate: a good run
    pinned = bench(pytester, fake_ollama, "--ollama-compare=main", GATE)
    assert pinned.ret == pytest.ExitCode.TESTS_FAILED  # against main, not the newer slow run
    report = last(pytester)
    named = next(runs_dir(pytester).glob("0001_*_main.json"))
    assert report.baseline is not None
    assert report.baseline.ref == "main"
    assert report.baseline.runs == [named.name]
    assert Report.model_validate_json(named.read_text()).name == "main"
    implicit = bench(pytester, fake_ollama, GATE)  # the latest good run is the slow one
    assert implicit.ret == pytest.ExitCode.OK
    bad = pytester.runpytest("--ollama-save=12")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--ollama-save*invalid run name '12'*"])


# --------------------------------------------------------------------------- 2. explicit baselines


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


@pytest.mark.parametrize(
    ("ref", "content", "why"),
    [
        ("baseline.json", None, "*no report file 'baseline.json'*"),
        ("99", None, "*no saved run number 0099*"),
        ("main", None, "*no saved run named 'main'*"),
        ("truncated.json", b'{"schema_version": 1, "cases": [', "*truncated.json is not JSON*"),
        ("binary.json", bytes(range(256)), "*binary.json is not a report: not UTF-8 text*"),
        ("newer.json", b'{"schema_version": 99, "cases": []}', "*schema_version 99, newer*"),
        ("dir", b"", "*dir is not a file*"),
    ],
)
def test_2_an_explicit_baseline_that_cannot_be_used_is_a_usage_error(
    pytester: pytest.Pytester,
    fake_ollama: FakeOllama,
    ref: str,
    content: bytes | None,
    why: str,
) -> None:
    pytester.makepyfile(BENCH)
    if ref == "dir":
        (pytester.path / "dir").mkdir()
    elif content is not None:
        _write(pytester.path / ref, content)
    result = bench(pytester, fake_ollama, f"--ollama-compare={ref}", GATE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --ollama-compare={ref}: {why}"])
    assert not runs_dir(pytester).exists()  # nothing ran, nothing was recorded


def test_2_only_no_run_saved_yet_is_a_warning(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    result = bench(pytester, fake_ollama, GATE)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*warning: no baseline to compare with*baseline of the next*"])
    assert last(pytester).baseline.cases_with_baseline == 0  # type: ignore[union-attr]


def test_2_an_unreadable_history_file_is_skipped_by_name(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    set_ttft(fake_ollama, FAST)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)
    _write(runs_dir(pytester) / "0002_20200101T000000Z.json", b"\x00\xff garbage")
    result = bench(pytester, fake_ollama, GATE)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*warning: skipped saved run 0002_20200101T000000Z.json: *"])
    assert last(pytester).baseline.runs[0].startswith("0001_")  # type: ignore[union-attr]


# --------------------------------------------------------------------------- 3. like with like


def test_3_a_baseline_from_another_server_or_version_is_named(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(BENCH)
    with FakeOllama(version="0.33.0") as old:
        bench(pytester, old).assert_outcomes(passed=4)
    with FakeOllama(version="0.34.1") as new:
        result = bench(pytester, new, "--ollama-compare")
    result.stdout.fnmatch_lines(
        ["*warning: baseline run 0001_*.json differs: host http://*server version 0.33.0 -> 0.34.1"]
    )
    assert last(pytester).ollama_version == "0.34.1"


def test_3_a_baseline_of_another_model_build_is_named(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # each warning on one line, whole digests and all
    pytester.makepyfile(BENCH)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)
    (before,) = [c for c in last(pytester).cases if c.nodeid.endswith("test_arith[llama3.2]")]
    assert before.model_details is not None
    old_digest, old_quant = before.model_details.digest, before.model_details.quantization_level
    assert old_digest
    assert old_quant == "Q4_K_M"
    rebuilt = fake_ollama.profile("llama3.2")  # `ollama pull` brought another build
    rebuilt.digest = "0123abcd" * 8
    rebuilt.quantization_level = "Q8_0"
    result = bench(pytester, fake_ollama, "--ollama-compare")
    result.assert_outcomes(passed=4)
    for test in ("test_arith", "test_gen"):
        result.stdout.fnmatch_lines(
            [
                f"*warning: model llama3.2 of *::{test}[[]llama3.2[]] differs from baseline "
                f"run 0001_*.json: digest {old_digest} -> {'0123abcd' * 8}; "
                "quantization Q4_K_M -> Q8_0*"
            ]
        )
    result.stdout.no_fnmatch_line("*model qwen2.5:0.5b * differs*")  # unchanged: not named
    result.stdout.no_fnmatch_line("*baseline run 0001_*.json differs:*")  # same machine, server
    now = {c.model: c.model_details for c in last(pytester).cases}
    assert now["llama3.2"] is not None
    assert now["llama3.2"].digest == "0123abcd" * 8
    assert now["llama3.2"].quantization_level == "Q8_0"


def test_3_a_baseline_copied_from_another_machine_is_named(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # the warning on one line, however long the names
    pytester.makepyfile(BENCH)
    bench(pytester, fake_ollama).assert_outcomes(passed=4)
    (saved,) = runs_dir(pytester).glob("0001_*.json")
    data = json.loads(saved.read_text(encoding="utf-8"))
    data["system"].update(  # a user copied the baseline from a bigger machine
        cpu_model="Baseline CPU 9000",
        cpu_cores_logical=1024,
        ram_total_mb=4096 * 1024,
        gpus=[{"name": "Baseline GPU 80GB", "memory_total_mb": 81920.0, "vendor": "NVIDIA"}],
    )
    saved.write_text(json.dumps(data, indent=2), encoding="utf-8")
    result = bench(pytester, fake_ollama, "--ollama-compare")
    result.assert_outcomes(passed=4)
    system = last(pytester).system
    assert system is not None
    ram = system.ram_total_mb
    facts = [  # what this machine knows of itself is compared
        ("CPU", "Baseline CPU 9000", system.cpu_model),
        ("logical CPUs", "1024", system.cpu_cores_logical),
        ("GPU", "Baseline GPU 80GB", ", ".join(g.name for g in system.gpus) or "none"),
        ("RAM", "4096 GiB", None if ram is None else f"{ram / 1024:.0f} GiB"),
    ]
    differs = "; ".join(f"{name} {then} -> {now}" for name, then, now in facts if now is not None)
    assert "GPU Baseline GPU 80GB -> " in differs  # always known ("none" without a GPU)
    warning = f"ollama-bench: warning: baseline run {saved.name} differs: {differs}"
    assert warning in result.stdout.lines
    result.stdout.no_fnmatch_line("*differs:*host*")
    result.stdout.no_fnmatch_line("*differs:*server version*")


# --------------------------------------------------------------------------- 4. the record


def test_4_a_crashed_xdist_worker_leaves_an_error_case(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_ok(ollama_bench):
            ollama_bench.chat("2+2?")

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_crash(ollama_bench):
            ollama_bench.chat("2+2?")
            os._exit(3)
        """
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2"
    )
    result.assert_outcomes(passed=1, failed=1)
    report = last(pytester)
    outcomes = {c.nodeid.split("::")[-1]: (c.outcome, c.error) for c in report.cases}
    assert outcomes["test_ok[llama3.2]"] == ("passed", None)
    outcome, error = outcomes["test_crash[llama3.2]"]
    assert outcome == "error"
    assert "crashed" in (error or "")
    result.stdout.fnmatch_lines(["llama3.2 * 2 * 1 * 0 * 0 *"])  # leaderboard: 2 cases, 1 passed
    assert report.exit_status == 1


# --------------------------------------------------------------------------- 5. unwritable storage


def _storage_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    (tmp / "a-file").write_text("")
    (tmp / "history").mkdir()
    (tmp / "history" / "runs").write_text("")  # the runs directory is a file
    (tmp / "out-dir").mkdir()
    read_only = ["--ollama-storage=/sys/ollama-bench-history"]  # EPERM even for root
    if os.geteuid() != 0:
        (tmp / "ro").mkdir(mode=0o555)
        read_only = [f"--ollama-storage={tmp / 'ro'}"]
    return [
        ("storage is a file", [f"--ollama-storage={tmp / 'a-file'}"]),
        ("runs is a file", [f"--ollama-storage={tmp / 'history'}"]),
        ("read-only", read_only),
        ("json names a directory", [f"--ollama-json={tmp / 'out-dir'}"]),
    ]


def test_5_unwritable_storage_is_a_warning_and_leaves_pytest_alone(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    for label, args in _storage_cases(pytester.path):
        xml = pytester.path / f"junit-{label.replace(' ', '-')}.xml"
        result = bench(pytester, fake_ollama, *args, f"--junitxml={xml}")
        assert result.ret == pytest.ExitCode.OK, label
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines(
            [
                "*= ollama-bench summary =*",
                "*warning: cannot * the run record *: *",
                "*= 4 passed in *",
            ]
        )
        result.stdout.no_fnmatch_line("*Traceback*")
        result.stdout.no_fnmatch_line("*INTERNALERROR*")
        assert "<testsuite" in xml.read_text(), label


FAILING_SUITE = """
import pytest

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_ok(ollama_bench):
    ollama_bench.chat("2+2?")

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_wrong(ollama_bench):
    result = ollama_bench.chat("2+2?")
    assert result.text == "five"
"""


def test_5_unwritable_storage_leaves_a_failing_suite_s_report_intact(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # the warning on one line, whole path and all
    pytester.makepyfile(FAILING_SUITE)
    for label, args in _storage_cases(pytester.path):
        named = args[0].split("=", 1)[1]  # the path the warning must name
        xml = pytester.path / f"junit-{label.replace(' ', '-')}.xml"
        result = bench(pytester, fake_ollama, *args, f"--junitxml={xml}")
        assert result.ret == pytest.ExitCode.TESTS_FAILED, label  # 1: the failing tests, no more
        result.assert_outcomes(passed=2, failed=2)
        result.stdout.fnmatch_lines(
            [
                "*= FAILURES =*",
                "*_ test_wrong[[]llama3.2[]] _*",
                '>*assert result.text == "five"',
                "E *AssertionError: assert * == 'five'",
                "*.py:10: AssertionError",
                "*= ollama-bench summary =*",
                "ollama-bench: warning: cannot * the run record * /*: *",
                "*= short test summary info =*",
                "FAILED *::test_wrong[[]llama3.2[]] - AssertionError: assert * == 'five'",
                "FAILED *::test_wrong[[]qwen2.5:0.5b[]] - AssertionError: assert * == 'five'",
            ]
        )
        assert re.fullmatch(r"=+ 2 failed, 2 passed in [\d.]+s.* =+", result.stdout.lines[-1])
        (warning,) = [x for x in result.stdout.lines if "warning: cannot" in x]
        assert f" {named}: " in warning, label
        result.stdout.no_fnmatch_line("*Traceback*")
        result.stdout.no_fnmatch_line("*INTERNALERROR*")
        assert not result.stderr.str().strip(), label
        suite = ElementTree.parse(xml).getroot().find("testsuite")
        assert suite is not None, label
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "0")
        failed = {
            case.get("name"): case.find("failure").get("message")  # type: ignore[union-attr]
            for case in suite.iter("testcase")
            if case.find("failure") is not None
        }
        assert sorted(failed) == ["test_wrong[llama3.2]", "test_wrong[qwen2.5:0.5b]"], label
        assert all("== 'five'" in (message or "") for message in failed.values()), label


# --------------------------------------------------------------------------- 6. numbering race


def _save_many(root: str, count: int, start: float) -> None:
    while time.time() < start:  # every process starts saving at the same moment
        time.sleep(0.001)
    store = RunStore(root)
    for _ in range(count):
        store.save(
            Report(
                plugin_version="0",
                created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
                host="http://127.0.0.1:11434",
                settings=Settings(),
            )
        )


def test_6_concurrent_saves_get_distinct_numbers(tmp_path: Path) -> None:
    procs, saves = 8, 20
    start = time.time() + 1.0
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_save_many, args=(str(tmp_path), saves, start)) for _ in range(procs)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    runs = RunStore(tmp_path).runs()
    numbers = [int(p.name[:4]) for p in runs]
    assert sorted(numbers) == list(range(1, procs * saves + 1))
    for path in runs:
        json.loads(path.read_text())  # every file whole


RACE_CONFTEST = """
import os
import time

import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    # every session reaches its finish, then all go on at once
    barrier = os.environ["RACE_DIR"]
    open(os.path.join(barrier, str(os.getpid())), "w").close()
    deadline = time.time() + 120
    while len(os.listdir(barrier)) < int(os.environ["RACE_N"]) and time.time() < deadline:
        time.sleep(0.005)
"""


def test_6_concurrent_sessions_leave_one_run_file_each(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    sessions = 6
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_one(ollama_bench):
            ollama_bench.chat("hi")
        """
    )
    pytester.makeconftest(RACE_CONFTEST)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    storage = tmp_path / "shared"
    env = {
        **os.environ,
        "RACE_DIR": str(barrier),
        "RACE_N": str(sessions),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2",
        f"--ollama-storage={storage}",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(sessions)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * sessions, outputs
    written = sorted(
        line.split("written to ")[1] for out in outputs for line in out.splitlines()
        if "run record written to" in line
    )  # fmt: skip
    assert len(set(written)) == sessions
    runs = RunStore(storage).runs()
    assert sorted(int(p.name[:4]) for p in runs) == list(range(1, sessions + 1))
    assert sorted(str(p) for p in runs) == written
    for path in runs:
        assert len(Report.model_validate_json(path.read_text()).cases) == 1
