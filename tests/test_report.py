from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from datetime import datetime
from datetime import timezone

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from pytest_ollama_bench.columns import COLUMNS
from pytest_ollama_bench.columns import DEFAULT_COLUMNS
from pytest_ollama_bench.columns import SORT_KEYS
from pytest_ollama_bench.columns import VERBOSE_COLUMNS
from pytest_ollama_bench.columns import parse_columns
from pytest_ollama_bench.columns import parse_sort
from pytest_ollama_bench.comparison import render_comparison
from pytest_ollama_bench.metrics import Direction
from pytest_ollama_bench.metrics import metric_direction
from pytest_ollama_bench.models import CaseRecord
from pytest_ollama_bench.models import GateResult
from pytest_ollama_bench.models import Outcome
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.models import Stats
from pytest_ollama_bench.report import render_markdown
from pytest_ollama_bench.report import render_summary
from pytest_ollama_bench.settings import Settings
from pytest_ollama_bench.table import format_change
from pytest_ollama_bench.table import percent_change

T_ARITH = "tests/test_q.py::test_arith"
T_CAPITAL = "tests/test_q.py::test_capital"
CREATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

# --------------------------------------------------------------------------- factory


def stats(median: float, n: int = 3, **other: float) -> Stats:
    """Stats whose every statistic is ``median`` unless given in ``other``."""
    fields: dict[str, float] = {
        "min": median,
        "max": median,
        "mean": median,
        "stddev": 0.0,
        "median": median,
        "p90": median,
        "p95": median,
        "p99": median,
    }
    fields.update(other)
    return Stats(n=n, **fields)


def gate(passed: bool) -> GateResult:
    return GateResult(
        metric="ttft_ms",
        stat="median",
        op="<=",
        limit=200.0,
        threshold="max_ttft_ms",
        source="marker",
        value=100.0,
        rounds=3,
        passed=passed,
        message="",
    )


def case(
    model: str,
    test: str = T_ARITH,
    *,
    ttft: float | Stats | None = None,
    total: float | Stats | None = None,
    tps: float | Stats | None = None,
    outcome: Outcome = "passed",
    error: str | None = None,
    gates: Iterable[bool] = (),
    **metrics: float | Stats,
) -> CaseRecord:
    table: dict[str, Stats] = {}
    for name, value in (("ttft_ms", ttft), ("total_ms", total), ("tokens_per_s", tps)):
        if value is not None:
            table[name] = value if isinstance(value, Stats) else stats(value)
    for name, value in metrics.items():
        table[name] = value if isinstance(value, Stats) else stats(value)
    return CaseRecord(
        nodeid=f"{test}[{model}]",
        test=test,
        model=model,
        stats=table,
        outcome=outcome,
        error=error,
        gates=[gate(p) for p in gates],
    )


def report(cases: Sequence[CaseRecord], created: datetime = CREATED) -> Report:
    return Report(
        plugin_version="0.1.0",
        created_at=created,
        host="http://127.0.0.1:11434",
        settings=Settings(),
        cases=list(cases),
    )


def two_models() -> Report:
    return report(
        [
            case("slow", ttft=150.0, total=1000.0, tps=40.0),
            case("fast", ttft=100.0, total=800.0, tps=50.0),
        ]
    )


def table_of(lines: list[str], title_prefix: str) -> list[str]:
    """The lines of the block starting with ``title_prefix`` up to the next blank line."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title_prefix))
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


# --------------------------------------------------------------------------- columns, sort


def test_parse_columns_keeps_order_and_drops_duplicates_and_model() -> None:
    assert parse_columns(" ttft , TPS,model,ttft,gate") == ("ttft", "tps", "gate")


def test_parse_columns_names_the_unknown_and_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown columns bogus, nope; valid columns: ttft, "):
        parse_columns("ttft,bogus,nope")
    with pytest.raises(ValueError, match="no columns given"):
        parse_columns(" , ")


def test_every_default_and_verbose_column_is_registered() -> None:
    assert set(DEFAULT_COLUMNS) <= set(COLUMNS)
    assert set(VERBOSE_COLUMNS) <= set(COLUMNS)
    assert {
        "ttft_mean",
        "ttft_stddev",
        "ttft_min",
        "ttft_max",
        "total_p95",
        "tpot",
        "itl_p50",
        "itl_p99",
        "itl_max",
        "chunks",
        "prompt_tokens",
        "outcome",
    } <= set(COLUMNS)


def test_column_directions_follow_the_metric_unit() -> None:
    assert COLUMNS["ttft"].direction == "lower"
    assert COLUMNS["ttft_stddev"].direction == "lower"
    assert COLUMNS["tps"].direction == "higher"
    assert COLUMNS["prompt_tps"].direction == "higher"
    for name in ("tokens", "rounds", "chunks", "gate", "outcome", "prompt_tokens"):
        assert COLUMNS[name].direction == "none"
    assert metric_direction("eval_count") == "none"


def test_sort_keys_are_ranked_columns_model_and_name() -> None:
    assert "ttft" in SORT_KEYS
    assert "tps" in SORT_KEYS
    assert "model" in SORT_KEYS
    assert "name" in SORT_KEYS
    assert "tokens" not in SORT_KEYS
    assert "gate" not in SORT_KEYS
    assert parse_sort(" TPS ") == "tps"
    with pytest.raises(ValueError, match=r"cannot sort by 'tokens'; valid sort keys: ttft, "):
        parse_sort("tokens")


def test_render_summary_rejects_an_unknown_column_or_sort_key() -> None:
    with pytest.raises(ValueError, match="unknown column nope"):
        render_summary(two_models(), columns=["nope"])
    with pytest.raises(ValueError, match="cannot sort by"):
        render_summary(two_models(), sort="rounds")


# --------------------------------------------------------------------------- summary tables


def test_empty_report_renders_nothing() -> None:
    assert render_summary(report([])) == []
    assert render_markdown(report([])) == ""


def test_table_marks_the_best_and_shows_ratios_sorted_by_ttft() -> None:
    lines = render_summary(two_models(), columns=["ttft", "total", "tps", "rounds"])
    assert table_of(lines, "llm_bench: ") == [
        "llm_bench: tests/test_q.py::test_arith (2 models)",
        "model        ttft (ms)      total (ms)         tok/s    rounds",
        "-------  -------------  --------------  ------------  --------",
        "fast     100.0* (1.00)   800.0* (1.00)  50.0* (1.00)         3",
        "slow     150.0  (1.50)  1000.0  (1.25)  40.0  (0.80)         3",
    ]


def test_default_columns_and_layout() -> None:
    lines = render_summary(
        report(
            [
                case(
                    "a",
                    ttft=stats(100.0, p95=120.0),
                    total=900.0,
                    tps=30.0,
                    prompt_tokens_per_s=300.0,
                    load_ms=5.0,
                    eval_count=stats(31.5),
                    gates=[True, True],
                ),
                case(
                    "b",
                    ttft=stats(200.0, p95=210.0),
                    total=600.0,
                    tps=60.0,
                    gates=[True, False],
                ),
            ]
        )
    )
    assert lines[:5] == [
        "llm_bench: tests/test_q.py::test_arith (2 models)",
        "model        ttft (ms)    ttft p95 (ms)     total (ms)         tok/s    prompt tok/s"
        "    load (ms)    prompt tokens    tokens    rounds   gate",
        "-------  -------------  ---------------  -------------  ------------  --------------"
        "  -----------  ---------------  --------  --------  ------",
        "a        100.0* (1.00)    120.0* (1.00)  900.0  (1.50)  30.0  (0.50)           300.0"
        "          5.0                -      31.5         3    ✔",
        "b        200.0  (2.00)    210.0  (1.75)  600.0* (1.00)  60.0* (1.00)               -"
        "            -                -         -         3    ✘",
    ]
    assert lines[-1].startswith("legend: * best, (x.xx) value / best; medians over measured")


def test_a_single_model_is_shown_without_marks_or_ratios() -> None:
    lines = render_summary(report([case("only", ttft=100.0, tps=20.0)]), columns=["ttft", "tps"])
    assert table_of(lines, "llm_bench: tests") == [
        "llm_bench: tests/test_q.py::test_arith (1 model)",
        "model      ttft (ms)    tok/s",
        "-------  -----------  -------",
        "only           100.0     20.0",
    ]


def test_ties_are_all_marked_best_and_missing_values_are_dashes() -> None:
    lines = render_summary(
        report([case("a", ttft=100.0), case("b", ttft=100.0), case("c", total=5.0)]),
        columns=["ttft"],
    )
    assert table_of(lines, "llm_bench: tests")[3:] == [
        "a        100.0* (1.00)",
        "b        100.0* (1.00)",
        "c                    -",
    ]


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        (None, ["fast", "mid", "slow"]),
        ("ttft", ["fast", "mid", "slow"]),
        ("tps", ["slow", "mid", "fast"]),  # higher is better: descending
        ("total", ["mid", "slow", "fast"]),
        ("model", ["fast", "mid", "slow"]),
        ("name", ["fast", "mid", "slow"]),
    ],
)
def test_rows_are_sorted_best_first(sort: str | None, order: list[str]) -> None:
    rep = report(
        [
            case("slow", ttft=300.0, total=200.0, tps=90.0),
            case("fast", ttft=100.0, total=900.0, tps=10.0),
            case("mid", ttft=200.0, total=100.0, tps=50.0),
        ]
    )
    lines = render_summary(rep, columns=["ttft"], sort=sort)
    rows = table_of(lines, "llm_bench: tests")[3:]
    assert [row.split()[0] for row in rows] == order


def test_explicit_columns_win_over_verbosity() -> None:
    lines = render_summary(two_models(), columns=["tps"], verbosity=2)
    assert lines[1].split() == ["model", "tok/s"]


def test_verbose_adds_the_extra_columns() -> None:
    rep = report(
        [
            case("a", ttft=stats(100.0, stddev=4.0), tpot_ms=20.0, chunks=40.0),
            case("b", ttft=stats(120.0, stddev=8.0), tpot_ms=25.0, chunks=44.0),
        ]
    )
    header = render_summary(rep, verbosity=1)[1]
    for title in ("ttft sd (ms)", "tpot (ms)", "itl p50 (ms)", "itl p99 (ms)", "chunks"):
        assert title in header
    assert "tpot" not in render_summary(rep)[1]
    row_a = render_summary(rep, verbosity=1)[3]
    assert "4.0* (1.00)" in row_a  # the smaller spread is the best
    assert "20.0* (1.00)" in row_a


def test_quiet_prints_only_a_compact_leaderboard() -> None:
    rep = report(
        [
            case("slow", ttft=150.0, tps=40.0),
            case("fast", ttft=100.0, tps=50.0),
            case("slow", T_CAPITAL, ttft=300.0, tps=30.0, outcome="failed", error="boom"),
            case("fast", T_CAPITAL, ttft=200.0, tps=60.0),
        ]
    )
    assert render_summary(rep, verbosity=-1) == [
        "llm_bench leaderboard: 2 models, 2 tests",
        "model      passed      ttft (ms)         tok/s    mean rank",
        "fast          2/2  150.0* (1.00)  55.0* (1.00)         1.00",
        "slow          1/2  225.0  (1.50)  35.0  (0.64)         2.00",
    ]


def test_the_compact_leaderboard_says_skipped_cases_apart_from_failed_ones() -> None:
    rep = report(
        [
            case("all-ran", ttft=100.0, tps=50.0),
            case("one-skipped", ttft=120.0, tps=40.0),
            case("never-ran", outcome="skipped"),
            case("all-ran", T_CAPITAL, ttft=110.0, tps=50.0),
            case("one-skipped", T_CAPITAL, outcome="skipped"),
            case("never-ran", T_CAPITAL, outcome="skipped"),
        ]
    )
    rows = render_summary(rep, verbosity=-1)[2:]
    cells = {row.split()[0]: row for row in rows}
    assert " 2/2 " in cells["all-ran"]
    assert " 1/1, 1 skipped " in cells["one-skipped"]  # a skip is not a failure
    assert " 2 skipped " in cells["never-ran"]
    assert "0/" not in "\n".join(rows)


def test_failures_are_rows_with_the_first_line_of_their_error() -> None:
    rep = report(
        [
            case("good", ttft=100.0),
            case(
                "bad",
                ttft=90.0,
                outcome="failed",
                error="\nAssertionError: expected '4'\n  more detail\n",
                gates=[False],
            ),
            case("broken", outcome="error", error="OllamaError: connection refused"),
            case("absent", outcome="skipped", error="model 'absent' is not installed"),
            case("quiet", outcome="skipped"),
        ]
    )
    assert table_of(render_summary(rep, columns=["ttft", "gate"]), "llm_bench: tests") == [
        "llm_bench: tests/test_q.py::test_arith (5 models, 2 skipped)",
        "model               ttft (ms)   gate",
        "--------------  -------------  ------",
        "bad [failed]     90.0* (1.00)    ✘",
        "good            100.0  (1.11)    -",
        "broken [error]              -    -",
        "  failed: bad: AssertionError: expected '4'",
        "  error: broken: OllamaError: connection refused",
        "  skipped: absent (model 'absent' is not installed)",
        "  skipped: quiet",
    ]


def test_a_long_error_is_cut_to_one_short_line() -> None:
    rep = report([case("bad", outcome="failed", error="x" * 500)])
    note = render_summary(rep)[4]
    assert note.startswith("  failed: bad: xxx")
    assert note.endswith("…")
    assert len(note) < 230


def test_outcome_column() -> None:
    rep = report([case("a", ttft=1.0), case("b", ttft=2.0, outcome="failed")])
    rows = table_of(render_summary(rep, columns=["outcome"]), "llm_bench: tests")[3:]
    assert rows == ["a           passed", "b [failed]  failed", "  failed: b: (no message)"]


def test_one_table_per_test_in_first_seen_order() -> None:
    rep = report(
        [
            case("a", T_CAPITAL, ttft=1.0),
            case("a", T_ARITH, ttft=1.0),
            case("b", T_CAPITAL, ttft=2.0),
        ]
    )
    titles = [line for line in render_summary(rep) if line.startswith("llm_bench: ")]
    assert titles == [
        "llm_bench: tests/test_q.py::test_capital (2 models)",
        "llm_bench: tests/test_q.py::test_arith (1 model)",
    ]


# --------------------------------------------------------------------------- leaderboard


def test_leaderboard_counts_outcomes_gates_and_ranks_models() -> None:
    rep = report(
        [
            case("m1", ttft=100.0, tps=50.0, gates=[True]),
            case("m2", ttft=200.0, tps=40.0, gates=[False, False]),
            case("m3", ttft=200.0, tps=10.0),
            case("m1", T_CAPITAL, ttft=300.0, tps=30.0, outcome="failed", error="x"),
            case("m2", T_CAPITAL, ttft=100.0, tps=70.0),
            case("m3", T_CAPITAL, outcome="skipped"),
        ]
    )
    assert table_of(render_summary(rep), "llm_bench leaderboard") == [
        "llm_bench leaderboard: 3 models, 2 tests",
        "model      cases    passed    failed    skipped    gates missed      ttft (ms)"
        "         tok/s    mean rank",
        "-------  -------  --------  --------  ---------  --------------  -------------"
        "  ------------  -----------",
        # m1: ranks 1 and 2 -> 1.5; m2: ranks 2.5 (tie with m3) and 1 -> 1.75; m3: 2.5
        "m1             2         1         1          0               0  200.0  (1.33)"
        "  40.0  (0.73)         1.50",
        "m2             2         2         0          0               2  150.0* (1.00)"
        "  55.0* (1.00)         1.75",
        "m3             2         1         0          1               0  200.0  (1.33)"
        "  10.0  (0.18)         2.50",
    ]


def test_leaderboard_puts_models_without_any_ttft_last() -> None:
    rep = report([case("none", outcome="error", error="x"), case("some", ttft=5.0)])
    rows = table_of(render_summary(rep), "llm_bench leaderboard")[3:]
    assert [r.split()[0] for r in rows] == ["some", "none"]
    assert rows[1].split()[-3:] == ["-", "-", "-"]


# --------------------------------------------------------------------------- baseline


def test_baseline_adds_the_old_value_and_the_change_marked_by_direction() -> None:
    base = report(
        [
            case("slow", ttft=100.0, total=1000.0, tps=50.0),
            case("fast", ttft=100.0, total=800.0, tps=40.0),
        ],
        created=datetime(2024, 12, 1, tzinfo=timezone.utc),
    )
    current = report(
        [
            *two_models().cases,
            case("new", ttft=120.0, total=900.0, tps=45.0),
        ]
    )
    lines = render_summary(current, columns=["ttft", "total", "tps"], baseline=base)
    assert table_of(lines, "llm_bench: tests") == [
        "llm_bench: tests/test_q.py::test_arith (3 models)",
        "model        ttft (ms)        ttft base (ms)      total (ms)    total base (ms)"
        "         tok/s            tok/s base",
        "-------  -------------  --------------------  --------------  -----------------"
        "  ------------  --------------------",
        "fast     100.0* (1.00)         100.0 (+0.0%)   800.0* (1.00)      800.0 (+0.0%)"
        "  50.0* (1.00)  40.0 (+25.0% better)",
        "new      120.0  (1.20)                   new   900.0  (1.12)                new"
        "  45.0  (0.90)                   new",
        "slow     150.0  (1.50)  100.0 (+50.0% worse)  1000.0  (1.25)     1000.0 (+0.0%)"
        "  40.0  (0.80)   50.0 (-20.0% worse)",
    ]
    assert "baseline: run of 2024-12-01T00:00:00+00:00 on http://127.0.0.1:11434 (2 cases)" in (
        lines
    )


def test_baseline_columns_only_for_selected_ttft_total_tps() -> None:
    lines = render_summary(two_models(), columns=["ttft_p95", "tokens"], baseline=two_models())
    assert "base" not in lines[1]


def test_baseline_is_matched_by_nodeid_and_model() -> None:
    other_test = report([case("fast", T_CAPITAL, ttft=1.0)])
    lines = render_summary(two_models(), columns=["ttft"], baseline=other_test)
    assert all(row.endswith("new") for row in table_of(lines, "llm_bench: tests")[3:])


@pytest.mark.parametrize(
    ("current", "base", "direction", "text"),
    [
        (112.3, 100.0, "lower", "+12.3% worse"),
        (96.0, 100.0, "lower", "-4.0% better"),
        (112.3, 100.0, "higher", "+12.3% better"),
        (96.0, 100.0, "higher", "-4.0% worse"),
        (100.0, 100.0, "lower", "+0.0%"),
        (5.0, 4.0, "none", "+25.0%"),
        (5.0, 0.0, "lower", "+inf% worse"),
        (0.0, 0.0, "lower", "+0.0%"),
        (99.99, 100.0, "lower", "+0.0%"),  # not "-0.0% better"
        (100.01, 100.0, "higher", "+0.0%"),
        (99.96, 100.0, "none", "+0.0%"),
        (99.94, 100.0, "lower", "-0.1% better"),
    ],
)
def test_format_change(current: float, base: float, direction: Direction, text: str) -> None:
    assert format_change(current, base, direction) == text


def test_percent_change_of_zero_base() -> None:
    assert percent_change(0.0, 0.0) is None
    assert percent_change(1.0, 0.0) == float("inf")


# --------------------------------------------------------------------------- markdown


def test_markdown_has_a_github_table_bold_best_and_lists() -> None:
    rep = report(
        [
            *two_models().cases,
            case("bad", outcome="failed", error="AssertionError: a|b *x*"),
            case("gone", outcome="skipped", error="not installed"),
        ]
    )
    text = render_markdown(rep)
    lines = text.splitlines()
    assert lines[0] == "## llm_bench"
    assert lines[2] == (
        "run of 2025-01-02T03:04:05+00:00, host http://127.0.0.1:11434, plugin 0.1.0, 4 cases"
    )
    assert "### `tests/test_q.py::test_arith` (4 models, 1 skipped)" in lines
    header = next(line for line in lines if line.startswith("| model "))
    assert header.split("|")[1:4] == [" model        ", "        ttft (ms) ", "    ttft p95 (ms) "]
    assert lines[lines.index(header) + 2 :][:3] == [
        "| fast         | **100.0** (1.00) | **100.0** (1.00) | **800.0** (1.00) | **50.0** (1.00) "
        "|              - |           - |               - |        - |        3 |   -    |",
        "| slow         |     150.0 (1.50) |     150.0 (1.50) |    1000.0 (1.25) |     40.0 (0.80) "
        "|              - |           - |               - |        - |        3 |   -    |",
        "| bad [failed] |                - |                - |                - |               - "
        "|              - |           - |               - |        - |        - |   -    |",
    ]
    assert "- **failed** `bad`: AssertionError: a\\|b \\*x\\*" in lines
    assert "- skipped: `gone` (not installed)" in lines
    assert "### Leaderboard" in lines
    assert lines[-1].startswith("legend: **bold** best")
    assert text.endswith("\n")


def test_markdown_with_baseline_shows_changes() -> None:
    base = report([case("slow", ttft=100.0, total=1000.0, tps=50.0)])
    text = render_markdown(two_models(), baseline=base)
    slow = next(line for line in text.splitlines() if line.startswith("| slow "))
    assert "100.0 (+50.0% worse)" in slow
    assert "baseline: run of" in text


def test_markdown_is_capped_with_a_note() -> None:
    rep = report([case(f"model-{i:04d}", ttft=float(i + 1)) for i in range(400)])
    full = render_markdown(rep)
    assert len(full.encode()) > 20_000
    cut = render_markdown(rep, limit=20_000)
    assert len(cut.encode()) <= 20_000
    assert cut.endswith("the JSON report has every case.\n")
    assert "> **Truncated:** this summary is" in cut
    assert full.startswith(cut.split("\n\n> **Truncated:**")[0])


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(min_value=300, max_value=6000), n=st.integers(min_value=1, max_value=60))
def test_markdown_never_exceeds_the_limit(limit: int, n: int) -> None:
    rep = report([case(f"m{i}", ttft=float(i + 1), error="é" * 10) for i in range(n)])
    assert len(render_markdown(rep, limit=limit).encode()) <= limit


# --------------------------------------------------------------------------- comparison


def test_comparison_rows_for_cases_in_either_run() -> None:
    a = report(
        [
            case("slow", ttft=100.0, total=1000.0, tps=50.0),
            case("gone", ttft=1.0),
        ]
    )
    b = two_models()
    lines = render_comparison(a, b)
    assert lines[0].startswith("A: run of 2025-01-02T03:04:05+00:00, host http")
    assert lines[1].endswith("plugin 0.1.0, 2 cases")
    assert lines[2] == ""
    assert lines[3].split("  ")[0] == "test"
    header = [h.strip() for h in lines[3].split("  ") if h.strip()]
    assert header == [
        "test",
        "model",
        "ttft A (ms)",
        "ttft B (ms)",
        "ttft Δ",
        "total A (ms)",
        "total B (ms)",
        "total Δ",
        "tok/s A",
        "tok/s B",
        "tok/s Δ",
        "note",
    ]
    rows = [" ".join(line.split()) for line in lines[5:]]
    assert rows == [
        f"{T_ARITH} slow 100.0 150.0 +50.0% worse 1000.0 1000.0 +0.0% 50.0 40.0 -20.0% worse",
        f"{T_ARITH} gone 1.0 - - - - - - - - only in A",
        f"{T_ARITH} fast - 100.0 - - 800.0 - - 50.0 - only in B",
    ]


def test_comparison_of_identical_runs_has_no_note_column() -> None:
    lines = render_comparison(two_models(), two_models(), labels=("old", "new"))
    assert "note" not in lines[3]
    assert "ttft old (ms)" in lines[3]
    assert "ttft new (ms)" in lines[3]
    assert lines[0].startswith("old: ")
    assert lines[1].startswith("new: ")


def test_comparison_of_empty_runs() -> None:
    assert render_comparison(report([]), report([]))[-1] == "no cases in either run"
