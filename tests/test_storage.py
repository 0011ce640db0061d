from __future__ import annotations

import json
import os
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path

import pytest

from pytest_ollama_bench.models import SCHEMA_VERSION
from pytest_ollama_bench.models import CaseRecord
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.models import Stats
from pytest_ollama_bench.regression import CompareFail
from pytest_ollama_bench.regression import find_regressions
from pytest_ollama_bench.regression import parse_compare_fail
from pytest_ollama_bench.settings import Settings
from pytest_ollama_bench.storage import BaselineNotFound
from pytest_ollama_bench.storage import InvalidReport
from pytest_ollama_bench.storage import RunStore
from pytest_ollama_bench.storage import load_report
from pytest_ollama_bench.storage import write_json_atomic

T = "tests/test_q.py::test_arith"
START = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def stats(median: float, **other: float) -> Stats:
    fields = dict.fromkeys(("min", "max", "mean", "median", "p90", "p95", "p99"), median)
    fields["stddev"] = 0.0
    fields.update(other)
    return Stats(n=3, **fields)


def case(model: str, test: str = T, **metrics: float | Stats) -> CaseRecord:
    return CaseRecord(
        nodeid=f"{test}[{model}]",
        test=test,
        model=model,
        stats={k: v if isinstance(v, Stats) else stats(v) for k, v in metrics.items()},
    )


def report(*cases: CaseRecord, created: datetime = START) -> Report:
    return Report(
        plugin_version="0.1.0",
        created_at=created,
        host="http://127.0.0.1:11434",
        settings=Settings(),
        cases=list(cases),
    )


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# --------------------------------------------------------------------------- atomic writes


def test_write_json_atomic_creates_parents_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.json"
    write_json_atomic(target, '{"x": 1}')
    assert target.read_text(encoding="utf-8") == '{"x": 1}'
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_write_json_atomic_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("x" * 10_000, encoding="utf-8")
    inode_before = target.stat().st_ino
    write_json_atomic(target, "short")
    assert target.read_text(encoding="utf-8") == "short"
    assert target.stat().st_ino != inode_before  # a new file was renamed over the old one
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_json_atomic_removes_its_temp_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_json_atomic(target, "\ud800")  # a lone surrogate cannot be encoded
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_json_atomic_respects_the_umask(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("file modes are POSIX")
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "out.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------- run store


def test_save_numbers_runs_and_writes_latest(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "store")
    assert store.runs() == []
    first = store.save(report(case("a", ttft_ms=1.0)))
    second = store.save(report(created=START + timedelta(hours=1)))
    assert first == tmp_path / "store" / "runs" / "0001_20250304T050607Z.json"
    assert second.name == "0002_20250304T060607Z.json"
    assert names(store.runs()) == [first.name, second.name]
    latest = json.loads(store.latest_path.read_text(encoding="utf-8"))
    assert latest == json.loads(second.read_text(encoding="utf-8"))
    assert latest["cases"] == []
    assert Report.model_validate_json(first.read_text(encoding="utf-8")).cases[0].model == "a"
    # and a .gitignore, as pytest's cache directory has (issue: output people read, item 7)
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == [
        ".gitignore", "latest.json", "runs",
    ]  # fmt: skip


def test_save_continues_after_the_highest_number(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "0009_old.json").write_text("{}", encoding="utf-8")
    (runs / "0010_old.json").write_text("{}", encoding="utf-8")
    (runs / "notes.txt").write_text("", encoding="utf-8")
    (runs / "x_0100.json").write_text("{}", encoding="utf-8")
    assert store.save(report()).name.startswith("0011_")
    assert names(store.runs())[:2] == ["0009_old.json", "0010_old.json"]


def test_runs_are_sorted_by_number_not_by_name(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for name in ("10000_z.json", "0002_b.json", "0100_a.json"):
        (runs / name).write_text("{}", encoding="utf-8")
    assert names(RunStore(tmp_path).runs()) == ["0002_b.json", "0100_a.json", "10000_z.json"]


def test_naive_created_at_is_taken_as_utc(tmp_path: Path) -> None:
    path = RunStore(tmp_path).save(report(created=datetime(2025, 1, 1, 12, 0, 0)))
    assert path.name == "0001_20250101T120000Z.json"


def test_load_by_latest_number_and_path(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    one = store.save(report(case("one", ttft_ms=1.0)))
    store.save(report(case("two", ttft_ms=2.0)))
    assert store.load("latest").cases[0].model == "two"
    assert store.load("1").cases[0].model == "one"
    assert store.load("0001").cases[0].model == "one"
    assert store.load("2").cases[0].model == "two"
    assert store.load(str(one)).cases[0].model == "one"
    assert store.load(one.name).cases[0].model == "one"  # a file name inside runs/


def test_load_errors_say_what_was_looked_for_and_what_exists(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    with pytest.raises(BaselineNotFound, match=r"no saved run for 'latest' in .*no runs saved yet"):
        store.load("latest")
    store.save(report())
    with pytest.raises(
        BaselineNotFound,
        match=r"no saved run number 0007 in .*runs; saved runs: 0001_20250304T050607Z\.json",
    ):
        store.load("7")
    with pytest.raises(BaselineNotFound, match=r"no report file 'nope\.json' \(looked for"):
        store.load("nope.json")
    assert issubclass(BaselineNotFound, ValueError)


def test_load_lists_many_runs_briefly(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    for _ in range(12):
        store.save(report())
    with pytest.raises(BaselineNotFound) as info:
        store.load("99")
    message = str(info.value)
    assert "0001_" in message
    assert "..." in message
    assert "0012_" in message
    assert "0005_" not in message


# --------------------------------------------------------------------------- load_report


def test_load_report_round_trips(tmp_path: Path) -> None:
    original = report(case("a", ttft_ms=1.5))
    path = tmp_path / "r.json"
    path.write_text(original.model_dump_json(), encoding="utf-8")
    assert load_report(path) == original


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", r"r\.json is not JSON"),
        ("[1, 2]", r"is not a pytest-ollama-bench report \(no schema_version/cases keys\)"),
        ('{"benchmarks": []}', "is not a pytest-ollama-bench report"),
        ('{"schema_version": "1", "cases": []}', "schema_version that is not an integer"),
        (
            '{"schema_version": 99, "cases": []}',
            rf"has schema_version 99, newer than the {SCHEMA_VERSION} that pytest-ollama-bench "
            r".* reads; upgrade",
        ),
        (
            '{"schema_version": 1, "cases": [{"model": 3}]}',
            r"is not a valid report: plugin_version: Field required; created_at: Field required",
        ),
    ],
)
def test_load_report_explains_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidReport, match=message):
        load_report(path)


def test_load_report_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BaselineNotFound, match="no report file"):
        load_report(tmp_path / "missing.json")


def test_invalid_report_through_the_store_is_invalid_report(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "0001_x.json").write_text("{", encoding="utf-8")
    with pytest.raises(InvalidReport, match=r"0001_x\.json is not JSON"):
        RunStore(tmp_path).load("latest")


# --------------------------------------------------------------------------- parse_compare_fail


@pytest.mark.parametrize(
    ("expr", "metric", "stat", "amount", "unit", "limit"),
    [
        ("ttft_ms:10%", "ttft_ms", "median", 10.0, "%", "10%"),
        ("tokens_per_s:15%", "tokens_per_s", "median", 15.0, "%", "15%"),
        ("total_ms:200ms", "total_ms", "median", 200.0, "ms", "200 ms"),
        ("total_ms:1.5s", "total_ms", "median", 1500.0, "ms", "1500 ms"),
        ("ttft_ms.p95:20%", "ttft_ms", "p95", 20.0, "%", "20%"),
        ("itl_ms.p99:2.5ms", "itl_ms", "p99", 2.5, "ms", "2.5 ms"),
        ("prompt_tokens_per_s.mean:0.5%", "prompt_tokens_per_s", "mean", 0.5, "%", "0.5%"),
        ("  load_ms.max:.5s ", "load_ms", "max", 500.0, "ms", "500 ms"),
        ("tpot_ms.stddev:0%", "tpot_ms", "stddev", 0.0, "%", "0%"),
    ],
)
def test_parse_compare_fail(
    expr: str, metric: str, stat: str, amount: float, unit: str, limit: str
) -> None:
    rule = parse_compare_fail(expr)
    assert (rule.metric, rule.stat, rule.amount, rule.unit) == (metric, stat, amount, unit)
    assert rule.limit_text == limit
    assert str(rule) == expr.strip()


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("ttft_ms", "invalid compare-fail expression 'ttft_ms': expected METRIC"),
        ("ttft_ms:10", "expected METRIC"),
        ("ttft_ms:-5%", "expected METRIC"),
        ("ttft_ms:10 %", "expected METRIC"),
        ("median:10%", "unknown metric 'median'"),
        ("eval_count:10%", "unknown metric 'eval_count'"),
        ("ttft_ms.n:10%", "unknown statistic 'n'"),
        ("ttft_ms.p50:10%", "unknown statistic 'p50'"),
        ("tokens_per_s:5ms", "tokens_per_s is a rate, so only a percentage is allowed"),
        ("tokens_per_s:1s", r"e\.g\. tokens_per_s:15%"),
    ],
)
def test_parse_compare_fail_errors_show_the_valid_forms(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_compare_fail(expr)
    text = str(info.value)
    if "is a rate" not in text:
        assert "METRIC[.STAT]:N%" in text
        assert "ttft_ms, " in text
        assert "tokens_per_s" in text
        assert "STAT one of min, max, mean, stddev, median, p90, p95, p99" in text


# --------------------------------------------------------------------------- find_regressions


def rules(*exprs: str) -> list[CompareFail]:
    return [parse_compare_fail(e) for e in exprs]


def test_a_slower_time_beyond_the_percentage_is_a_regression() -> None:
    base = report(case("llama3.2", ttft_ms=100.0))
    found = find_regressions(report(case("llama3.2", ttft_ms=120.0)), base, rules("ttft_ms:10%"))
    assert [r.message for r in found] == [
        "tests/test_q.py::test_arith[llama3.2] ttft_ms median 120.0 ms vs baseline 100.0 ms: "
        "+20.0% > 10%"
    ]
    assert (found[0].current, found[0].baseline, found[0].model) == (120.0, 100.0, "llama3.2")
    assert str(found[0]) == found[0].message


@pytest.mark.parametrize(
    ("now", "regressed"),
    [(110.0, False), (110.1, True), (50.0, False), (100.0, False)],
)
def test_time_regression_threshold_is_exclusive(now: float, regressed: bool) -> None:
    base = report(case("m", ttft_ms=100.0))
    found = find_regressions(report(case("m", ttft_ms=now)), base, rules("ttft_ms:10%"))
    assert bool(found) is regressed


@pytest.mark.parametrize(
    ("now", "regressed"),
    [(85.0, False), (84.9, True), (150.0, False)],
)
def test_a_lower_rate_is_a_regression(now: float, regressed: bool) -> None:
    base = report(case("m", tokens_per_s=100.0))
    found = find_regressions(report(case("m", tokens_per_s=now)), base, rules("tokens_per_s:15%"))
    assert bool(found) is regressed
    if found:
        assert found[0].message == (
            "tests/test_q.py::test_arith[m] tokens_per_s median 84.9 tok/s vs baseline "
            "100.0 tok/s: -15.1% < -15%"
        )


def test_absolute_ms_rules() -> None:
    base = report(case("m", total_ms=1000.0))
    assert not find_regressions(report(case("m", total_ms=1200.0)), base, rules("total_ms:200ms"))
    found = find_regressions(report(case("m", total_ms=1400.0)), base, rules("total_ms:0.2s"))
    assert [r.message for r in found] == [
        "tests/test_q.py::test_arith[m] total_ms median 1400.0 ms vs baseline 1000.0 ms: "
        "+400.0 ms > 200 ms"
    ]


def test_statistic_prefix_selects_the_statistic() -> None:
    base = report(case("m", ttft_ms=stats(100.0, p95=200.0)))
    now = report(case("m", ttft_ms=stats(100.0, p95=260.0)))
    assert not find_regressions(now, base, rules("ttft_ms:20%"))
    found = find_regressions(now, base, rules("ttft_ms.p95:20%"))
    assert found[0].message.endswith("ttft_ms p95 260.0 ms vs baseline 200.0 ms: +30.0% > 20%")


def test_a_growing_spread_of_a_rate_is_a_regression() -> None:
    base = report(case("m", tokens_per_s=stats(50.0, stddev=2.0)))
    now = report(case("m", tokens_per_s=stats(50.0, stddev=4.0)))
    found = find_regressions(now, base, rules("tokens_per_s.stddev:50%"))
    assert found[0].message.endswith("4.0 tok/s vs baseline 2.0 tok/s: +100.0% > 50%")


def test_missing_cases_and_metrics_are_ignored() -> None:
    base = report(case("a", ttft_ms=100.0), case("b", ttft_ms=100.0))
    now = report(
        case("a", total_ms=1.0),  # metric missing now
        case("c", ttft_ms=900.0),  # not in the baseline
        case("b", "tests/test_q.py::test_other", ttft_ms=900.0),  # other test, same model
    )
    assert find_regressions(now, base, rules("ttft_ms:1%")) == []


def test_every_rule_and_case_is_checked() -> None:
    base = report(case("a", ttft_ms=100.0, tokens_per_s=50.0), case("b", ttft_ms=10.0))
    now = report(case("a", ttft_ms=200.0, tokens_per_s=10.0), case("b", ttft_ms=30.0))
    found = find_regressions(now, base, rules("ttft_ms:10%", "tokens_per_s:10%"))
    assert [(r.model, r.rule.metric) for r in found] == [
        ("a", "ttft_ms"),
        ("a", "tokens_per_s"),
        ("b", "ttft_ms"),
    ]


def test_a_zero_baseline_time_that_grows_is_an_infinite_regression() -> None:
    base = report(case("m", load_ms=0.0))
    found = find_regressions(report(case("m", load_ms=5.0)), base, rules("load_ms:50%"))
    assert found[0].message.endswith("5.0 ms vs baseline 0.0 ms: +inf% > 50%")
