"""Output fits the terminal: summary tables, the legend, notes, and the history commands."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from datetime import timezone
from pathlib import Path

import pytest

from pytest_ollama_bench.columns import COLUMN_PRIORITY
from pytest_ollama_bench.columns import COLUMNS
from pytest_ollama_bench.columns import DEFAULT_COLUMNS
from pytest_ollama_bench.columns import VERBOSE_COLUMNS
from pytest_ollama_bench.fit import TableColumn
from pytest_ollama_bench.fit import fit_table
from pytest_ollama_bench.fit import shorten
from pytest_ollama_bench.fit import wrap
from pytest_ollama_bench.locate import STORAGE_ENV
from pytest_ollama_bench.locate import find_storage
from pytest_ollama_bench.models import CaseRecord
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.models import Stats
from pytest_ollama_bench.options import OPTIONS
from pytest_ollama_bench.regression import parse_compare_fail
from pytest_ollama_bench.report import render_summary
from pytest_ollama_bench.settings import Settings
from pytest_ollama_bench.storage import RunStore
from pytest_ollama_bench.testing import FakeOllama

LONG = "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M"
MODELS = ["llama3.2", "qwen2.5:0.5b", "phi3:mini", LONG]

SUITE = """
import pytest

@pytest.mark.llm_bench(rounds=2, warmup=0, max_ttft_ms=100000)
def test_arithmetic(ollama_bench):
    assert ollama_bench.chat("What is 2+2?").text

@pytest.mark.llm_bench(rounds=2, warmup=0)
def test_wrong_answer(ollama_bench):
    assert "5" in ollama_bench.chat("What is 2+2? Answer with the number only, please.").text
"""


def summary_lines(output: list[str]) -> list[str]:
    """The ollama-bench summary and pytest's last line (pytest's own short test summary lines
    name node ids in full, whatever the width)."""
    start = next(i for i, line in enumerate(output) if "ollama-bench summary" in line)
    end = next(
        (i for i, line in enumerate(output) if "short test summary info" in line), len(output)
    )
    return [*output[start:end], output[-1]]


@pytest.fixture
def four_models(fake_ollama: FakeOllama) -> FakeOllama:
    fake_ollama.add_model("phi3:mini")
    fake_ollama.add_model(LONG)
    return fake_ollama


def run_suite(
    pytester: pytest.Pytester, fake: FakeOllama, columns: int, *args: str
) -> pytest.RunResult:
    """The suite on four models in a terminal ``columns`` wide (pytester's fixture restores
    ``COLUMNS``)."""
    pytester.makepyfile(SUITE)
    os.environ["COLUMNS"] = str(columns)
    models = ",".join(MODELS)
    result = pytester.runpytest(f"--ollama-host={fake.url}", f"--ollama-models={models}", *args)
    result.assert_outcomes(passed=4, failed=4)
    return result


def test_a_four_model_summary_fits_80_columns(
    pytester: pytest.Pytester, four_models: FakeOllama
) -> None:
    result = run_suite(pytester, four_models, 80)
    lines = summary_lines(result.outlines)
    too_wide = [line for line in lines if len(line) > 80]
    assert not too_wide, "\n".join(too_wide)
    text = "\n".join(lines)
    assert "ttft (ms)" in text
    assert "ttft p95 (ms)" not in text  # left out to fit
    assert "left out to fit 80 characters: ttft_p95" in text
    assert "--ollama-columns=" in text
    rows = [line for line in lines if line.startswith("hf.co")]  # shortened in the tables
    assert rows
    assert all("…" in row and LONG not in row for row in rows)
    assert "qwen2.5:0.5b [failed]" in text  # short names and the outcome stay whole
    # the failures' notes are wrapped, not cut
    assert "failed: llama3.2: AssertionError: assert '5' in" in text
    # the header line is ours too
    header = next(line for line in result.outlines if line.startswith("ollama-bench: host="))
    assert len(header) <= 80


def test_the_same_suite_at_120_columns_shows_more_columns(
    pytester: pytest.Pytester, four_models: FakeOllama
) -> None:
    narrow = summary_lines(run_suite(pytester, four_models, 80).outlines)
    wide = summary_lines(run_suite(pytester, four_models, 120).outlines)
    assert all(len(line) <= 120 for line in wide), "\n".join(wide)
    assert any(len(line) > 80 for line in wide)

    def header(lines: list[str]) -> str:
        return next(line for line in lines if line.startswith("model "))

    assert len(header(wide).split("  ")) > len(header(narrow).split("  "))
    assert "ttft p95 (ms)" in header(wide)
    assert "ttft p95 (ms)" not in header(narrow)


def test_vv_lifts_the_width_limit(pytester: pytest.Pytester, four_models: FakeOllama) -> None:
    lines = summary_lines(run_suite(pytester, four_models, 80, "-vv").outlines)
    text = "\n".join(lines)
    assert "tpot (ms)" in text
    assert "itl p99 (ms)" in text
    assert LONG in text
    assert "left out to fit" not in text


# --------------------------------------------------------------------------- pure rendering


def stats(median: float) -> Stats:
    return Stats(
        n=3, min=median, max=median, mean=median, stddev=0.0, median=median, p90=median,
        p95=median, p99=median,
    )  # fmt: skip


def report(models: list[str]) -> Report:
    cases = [
        CaseRecord(
            nodeid=f"tests/benchmarks/test_quality_of_answers.py::test_long_name[{m}]",
            test="tests/benchmarks/test_quality_of_answers.py::test_long_name",
            model=m,
            stats={name: stats(10.0 + i) for name in ("ttft_ms", "total_ms", "tokens_per_s")},
        )
        for i, m in enumerate(models)
    ]
    return Report(
        plugin_version="0.1.0",
        created_at=datetime(2025, 1, 2, tzinfo=timezone.utc),
        host="http://127.0.0.1:11434",
        settings=Settings(),
        cases=cases,
    )


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120])
def test_every_summary_line_fits_the_width(width: int) -> None:
    for verbosity in (-1, 0, 1):
        lines = render_summary(report(MODELS), verbosity=verbosity, width=width)
        assert all(len(line) <= width for line in lines), "\n".join(lines)


def test_the_sort_column_stays_whatever_its_priority() -> None:
    lines = render_summary(report(MODELS), sort="total", width=60)
    header = next(line for line in lines if line.startswith("model "))
    assert "total (ms)" in header


@pytest.mark.parametrize(("rule", "header"), [("total_ms:200ms", "total"), ("ttft_ms:10%", "ttft")])
def test_the_columns_a_regression_rule_compares_stay_with_their_baseline(
    rule: str, header: str
) -> None:
    """At 80 columns with a baseline, the column of the metric the rule compares and its
    baseline column are the last to go, whatever their priority."""
    current = report(MODELS).model_copy(
        update={"settings": Settings(compare_fail=(parse_compare_fail(rule),))}
    )
    lines = render_summary(current, baseline=report(MODELS), width=80)
    table_header = next(line for line in lines if line.startswith("model "))
    assert f"{header} (ms)" in table_header
    assert f"{header} base (ms)" in table_header
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)


def test_priority_is_registry_data_covering_the_default_columns() -> None:
    assert set(DEFAULT_COLUMNS) <= set(COLUMN_PRIORITY)
    assert set(VERBOSE_COLUMNS) <= set(COLUMN_PRIORITY)
    assert set(COLUMN_PRIORITY) <= set(COLUMNS)
    assert COLUMN_PRIORITY[0] == "ttft"


def test_shorten_keeps_the_ends_it_is_asked_to() -> None:
    assert shorten(LONG, 20) == "hf.co/bar…GUF:Q4_K_M"
    assert shorten("tests/a/b/test_x.py::test_y", 12, "left") == "….py::test_y"
    assert shorten("tests/a/b/test_x.py::test_y", 12, "right") == "tests/a/b/t…"
    assert shorten("short", 10) == "short"
    assert shorten("abc", 0) == "…"


def test_wrap_indents_continuations_and_keeps_short_text() -> None:
    assert wrap("one two", 80) == ["one two"]
    assert wrap("one two", None) == ["one two"]
    assert wrap("  failed: m: one two three four", 16) == [
        "  failed: m: one",
        "    two three",
        "    four",
    ]


def test_fit_table_leaves_out_the_lowest_priority_first_and_never_the_unranked() -> None:
    columns = [
        TableColumn("model", ["a-very-long-model-name"], "left", cut="middle", min_width=8),
        TableColumn("first", ["1" * 10], priority=0, name="first"),
        TableColumn("second", ["2" * 10], priority=1, name="second"),
        TableColumn("third", ["3" * 10], priority=2, name="third"),
    ]
    full = fit_table(columns, None)
    assert full.dropped == []
    fitted = fit_table(columns, 30)
    assert [c.name for c in fitted.dropped] == ["second", "third"]
    assert all(len(line) <= 30 for line in fitted.lines)
    assert "a-v…name" in fitted.lines[2]
    tiny = fit_table(columns, 5)  # cannot fit: as narrow as it gets, model kept
    assert [c.name for c in tiny.dropped] == ["first", "second", "third"]
    assert tiny.lines[0].startswith("model")


# --------------------------------------------------------------------------- history commands


def cli(cwd: Path, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": str(columns)}
    env.pop(STORAGE_ENV, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", *args],
        cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=60,
        check=False,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a pytest.ini at its root, two saved runs, and a sub-directory."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    store = RunStore(tmp_path / ".ollama-bench")
    store.save(report(MODELS))
    slower = report(MODELS).model_copy(
        update={"created_at": datetime(2025, 1, 3, tzinfo=timezone.utc)}
    )
    store.save(slower)
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["show"],
        ["show", "-v"],
        ["show", "-q"],
        ["show", "--baseline", "1"],
        ["compare", "1", "2"],
    ],
    ids=" ".join,
)
def test_history_commands_fit_80_columns(project: Path, command: list[str]) -> None:
    done = cli(project, *command)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines
    assert all(len(line) <= 80 for line in lines), done.stdout
    wide = cli(project, *command, "--width", "0").stdout.splitlines()
    assert max(map(len, wide)) > 80 or command == ["show", "-q"]


def test_command_errors_and_confirmations_fit_80_columns(project: Path) -> None:
    missing = cli(project, "show", "9")
    assert missing.returncode == 2
    error = missing.stderr.splitlines()
    assert error[0].startswith("python -m pytest_ollama_bench: error: no saved run number 0009")
    assert "0002_" in missing.stderr  # the saved runs are listed
    assert all(len(line) <= 80 for line in error), missing.stderr
    pytest.importorskip("pygal")
    deep = "reports/of/the/nightly/benchmark/run/on/the/gpu/box/report.html"
    done = cli(project, "html", "-o", str(project / deep))
    assert done.returncode == 0, done.stderr
    assert (project / deep).is_file()
    said = done.stdout.splitlines()
    assert said[0].startswith("HTML report of ")
    assert len(said) > 1
    assert all(len(line) <= 80 for line in said), done.stdout


def test_list_shows_the_models_and_finds_the_rootdir_storage_from_a_sub_directory(
    project: Path,
) -> None:
    done = cli(project / "tests" / "unit", "list", columns=200)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["run", "created_at", "host", "models"]
    assert lines[1].startswith("0001 ")
    assert "llama3.2, qwen2.5:0.5b, phi3:mini" in lines[1]
    assert len(lines) == 3


def test_storage_is_found_as_pytest_finds_the_rootdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "tox.ini").write_text("[tox]\n", encoding="utf-8")  # no [pytest]: not it
    (tmp_path / "a" / "setup.cfg").write_text("[tool:pytest]\nollama_storage = runs\n")
    assert find_storage(deep) == (tmp_path / "a" / "runs").resolve()
    (tmp_path / "a" / "b" / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\naddopts = '-q'\n"
    )
    assert find_storage(deep) == (deep / ".ollama-bench").resolve()
    monkeypatch.setenv(STORAGE_ENV, "/abs/elsewhere")
    assert find_storage(deep) == Path("/abs/elsewhere")
    # the plugin's option reads the same variable
    assert next(o.env for o in OPTIONS if o.name == "storage_dir") == STORAGE_ENV


def test_show_names_the_run_host_and_date(project: Path) -> None:
    done = cli(project, "show", "1", columns=200)
    first = done.stdout.splitlines()[0]
    assert first.startswith("run 0001 (.ollama-bench/runs/0001_20250102T000000Z.json): run of ")
    assert "2025-01-02T00:00:00+00:00" in first
    assert "host http://127.0.0.1:11434" in first
