"""Exports for CI tools (CSV, github-action-benchmark) and pytest-benchmark's conveniences."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest

from pytest_ollama_bench.exports import CSV_COLUMNS
from pytest_ollama_bench.exports import parse_export
from pytest_ollama_bench.metrics import METRICS
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.storage import GITIGNORE
from pytest_ollama_bench.testing import FakeOllama

BENCH = """
import pytest

@pytest.mark.llm_bench(rounds=3, warmup=1)
def test_arithmetic(ollama_bench):
    assert "4" in ollama_bench.chat("What is 2+2?").text

def test_compare(ollama_bench):
    ollama_bench.compare("Name a colour.", rounds=2, warmup=0)
"""


def run(pytester: pytest.Pytester, fake: FakeOllama, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        f"--ollama-host={fake.url}", "--ollama-models=llama3.2,qwen2.5:0.5b", *args
    )


def check_github_action_benchmark(data: Any) -> None:
    """The shape github-action-benchmark reads for customSmallerIsBetter and
    customBiggerIsBetter (benchmark-action/github-action-benchmark, src/extract.ts: a zod
    ``z.array(z.object({name: string, value: number, range: string?, unit: string,
    extra: string?}))``, and ``No benchmark result was found`` for an empty array; the README
    shows ``range`` and ``extra`` as strings). Strict: no coercion is relied on."""
    assert isinstance(data, list)
    assert data, "the action rejects an empty array"
    names = set()
    for entry in data:
        assert isinstance(entry, dict)
        assert (
            {"name", "unit", "value"} <= set(entry) <= {"name", "unit", "value", "range", "extra"}
        )
        assert isinstance(entry["name"], str)
        assert entry["name"]
        assert isinstance(entry["unit"], str)
        assert entry["unit"]
        value = entry["value"]
        assert isinstance(value, (int, float))
        assert not isinstance(value, bool)
        assert math.isfinite(value)
        for optional in ("range", "extra"):
            if optional in entry:
                assert isinstance(entry[optional], str)
        names.add(entry["name"])
    assert len(names) == len(data), "one chart per name: names must be unique"


def test_exports_at_session_end_csv_and_github_action_benchmark(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.profile("qwen2.5:0.5b").response = "It is 4, of course."
    pytester.makepyfile(BENCH)
    result = run(
        pytester,
        fake_ollama,
        "--ollama-export=csv=out/rounds.csv",
        "--ollama-export",
        "github-smaller=gh/smaller.json",
        "--ollama-export=github-bigger=gh/bigger.json",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "ollama-bench: csv export written to out*rounds.csv",
            "ollama-bench: github-smaller export written to gh*smaller.json",
            "ollama-bench: github-bigger export written to gh*bigger.json",
        ]
    )
    report = Report.model_validate_json(
        (pytester.path / ".ollama-bench" / "latest.json").read_text()
    )

    # CSV: read back with the csv module, one row per round of every call
    with open(pytester.path / "out" / "rounds.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    for metric in METRICS:  # every metric of the registry has its column(s)
        assert metric.name in CSV_COLUMNS or f"{metric.name}_median" in CSV_COLUMNS
    assert (
        len(rows)
        == sum(len(call.rounds) for c in report.cases for call in c.calls)
        == 2 * 4 + 2 * 2
    )
    qwen = [r for r in rows if r["model"] == "qwen2.5:0.5b" and r["test"].endswith("arithmetic")]
    assert [(r["round"], r["warmup"]) for r in qwen] == [
        ("1", "true"), ("2", "false"), ("3", "false"), ("4", "false"),
    ]  # fmt: skip
    assert all(r["text"] == "It is 4, of course." for r in qwen)
    assert qwen[0]["prompt"] == "What is 2+2?"
    assert float(qwen[1]["ttft_ms"]) > 0
    assert int(qwen[1]["eval_count"]) > 0
    assert qwen[1]["outcome"] == "passed"
    compare_rows = [r for r in rows if r["test"].endswith("::test_compare")]
    assert {r["model"] for r in compare_rows} == {"llama3.2", "qwen2.5:0.5b"}

    # github-action-benchmark: the documented shape, times in one file, rates in the other
    smaller = json.loads((pytester.path / "gh" / "smaller.json").read_text())
    bigger = json.loads((pytester.path / "gh" / "bigger.json").read_text())
    check_github_action_benchmark(smaller)
    check_github_action_benchmark(bigger)
    assert {e["unit"] for e in smaller} == {"ms"}
    assert {e["unit"] for e in bigger} == {"tok/s"}
    ttft = next(e for e in smaller if e["name"].endswith("test_arithmetic (llama3.2) ttft_ms"))
    case = next(c for c in report.cases if c.model == "llama3.2" and c.test.endswith("arithmetic"))
    assert ttft["value"] == case.stats["ttft_ms"].median
    assert ttft["range"].startswith("± ")
    assert "median of 3 measured rounds" in ttft["extra"]
    names = {e["name"] for e in bigger}
    assert any(n.endswith("::test_compare (qwen2.5:0.5b) tokens_per_s") for n in names)


def test_export_command_writes_a_saved_run(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama).assert_outcomes(passed=3)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "export", "1", "--format", "csv"],
        cwd=pytester.path, env=env, capture_output=True, text=True, encoding="utf-8", check=True,
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
    assert len(rows) == 12
    assert {r["model"] for r in rows} == {"llama3.2", "qwen2.5:0.5b"}
    subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "export", "--format", "github-bigger",
         "-o", "bigger.json"],
        cwd=pytester.path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    check_github_action_benchmark(json.loads((pytester.path / "bigger.json").read_text()))
    bad = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "export", "--format", "xml"],
        cwd=pytester.path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "invalid choice: 'xml'" in bad.stderr


def test_export_command_says_what_it_wrote_to_a_file_and_nothing_else_on_stdout(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama).assert_outcomes(passed=3)
    (saved,) = (pytester.path / ".ollama-bench" / "runs").glob("0001_*.json")

    def export(*args: str, columns: str = "200") -> str:
        env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": columns}
        done = subprocess.run(
            [sys.executable, "-m", "pytest_ollama_bench", "export", *args],
            cwd=pytester.path, env=env, capture_output=True, text=True, encoding="utf-8",
            check=True,
        )  # fmt: skip
        assert done.stderr == ""
        return done.stdout

    said = export("1", "--format", "csv", "-o", "rounds.csv")
    size = (pytester.path / "rounds.csv").stat().st_size / 1024
    assert said == (
        f"csv export of .ollama-bench/runs/{saved.name} written to rounds.csv ({size:.0f} KiB)\n"
    )
    said = export("--format", "github-bigger", "-o", "out/bigger.json", columns="60")
    lines = said.splitlines()
    assert len(lines) > 1
    assert all(len(line) <= 60 for line in lines)
    assert " ".join(line.strip() for line in lines).startswith(
        f"github-bigger export of .ollama-bench/runs/{saved.name} written to out/bigger.json"
    )
    check_github_action_benchmark(json.loads((pytester.path / "out" / "bigger.json").read_text()))
    # to stdout: the export alone, nothing to spoil it
    assert export("latest", "--format", "csv").startswith(",".join(CSV_COLUMNS[:3]))


def test_a_bad_export_is_a_usage_error_naming_the_formats(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--ollama-export=html=report.html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --ollama-export: unknown export format 'html' in 'html=report.html'; FORMAT "
         "one of csv, github-smaller, github-bigger"]
    )  # fmt: skip
    with pytest.raises(ValueError, match="expected FORMAT=PATH"):
        parse_export("csv")
    assert parse_export(" CSV = a b.csv ") == ("csv", "a b.csv")


def test_smoke_runs_one_round_without_gates_and_records_nothing(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=5, warmup=2, max_ttft_ms=0.001)
        def test_gated(ollama_bench):
            result = ollama_bench.chat("2+2?")
            assert len(result.rounds) == 1
            assert not result.warmup_rounds
        """
    )
    result = run(pytester, fake_ollama, "--ollama-smoke", "--ollama-export=csv=out.csv")
    result.assert_outcomes(passed=2)
    assert len([r for r in fake_ollama.requests if r["path"] == "/api/chat"]) == 2
    result.stdout.fnmatch_lines(
        [
            "ollama-bench: *smoke test (one round, no warmup, no gates, no record)",
            "ollama-bench: smoke run (--ollama-smoke): one round, no warmup, no gates; nothing*",
        ]
    )
    assert not (pytester.path / ".ollama-bench").exists()
    assert not (pytester.path / "out.csv").exists()
    # switched on by the environment, off on the command line
    os.environ["PYTEST_OLLAMA_SMOKE"] = "1"
    try:
        off = run(pytester, fake_ollama, "--ollama-no-smoke")
    finally:
        del os.environ["PYTEST_OLLAMA_SMOKE"]
    off.assert_outcomes(failed=2)  # the gate is back


def test_json_path_is_written_besides_the_history_which_gets_a_gitignore(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(BENCH)
    run(pytester, fake_ollama, "--ollama-json=run.json").assert_outcomes(passed=3)
    history = pytester.path / ".ollama-bench"
    assert len(list((history / "runs").glob("0001_*.json"))) == 1
    assert Report.model_validate_json((pytester.path / "run.json").read_text()).cases
    assert (history / ".gitignore").read_text() == GITIGNORE
    assert GITIGNORE.splitlines()[-1] == "*"
    (history / ".gitignore").unlink()  # removed on purpose (to commit baselines): stays so
    run(pytester, fake_ollama).assert_outcomes(passed=3)
    assert not (history / ".gitignore").exists()


def test_flags_the_environment_turns_on_turn_off_on_the_command_line(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(BENCH)
    monkeypatch.setenv("PYTEST_OLLAMA_REQUIRE", "1")
    monkeypatch.setenv("PYTEST_OLLAMA_NO_SAVE", "yes")
    args = ["--ollama-models=llama3.2,nope"]
    required = pytester.runpytest(f"--ollama-host={fake_ollama.url}", *args)
    required.assert_outcomes(passed=1, errors=1, failed=1)
    assert not (pytester.path / ".ollama-bench").exists()
    relaxed = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", *args, "--ollama-no-require", "--ollama-save"
    )
    relaxed.assert_outcomes(passed=2, skipped=1)
    assert (pytester.path / ".ollama-bench" / "latest.json").exists()
    helped = pytester.runpytest("--help")
    helped.stdout.fnmatch_lines(
        ["*--ollama-no-require*Turn --ollama-require off, e.g. when PYTEST_OLLAMA_REQUIRE*"]
    )
