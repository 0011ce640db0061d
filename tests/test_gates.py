"""Gates on any metric and statistic, from the marker and the command line; reasoning models'
first answer token; answers of every round and ``check=``."""

from __future__ import annotations

import json

import pytest
from conftest import printed_table

from pytest_ollama_bench.testing import FakeOllama


def run(pytester: pytest.Pytester, fake: FakeOllama, *args: str) -> pytest.RunResult:
    return pytester.runpytest(f"--ollama-host={fake.url}", "--ollama-json=run.json", *args)


def esc(pattern: str) -> str:
    """``pattern`` with fnmatch's brackets matched literally."""
    return "".join({"[": "[[]", "]": "[]]"}.get(ch, ch) for ch in pattern)


def record(pytester: pytest.Pytester) -> dict[str, object]:
    data = json.loads((pytester.path / "run.json").read_text())
    assert isinstance(data, dict)
    return data


# --------------------------------------------------------------------------- 7. any metric


def test_marker_gates_on_any_metric_and_statistic(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.profile("llama3.2").itl_ms = 30
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=2, warmup=0, gates={
            "tpot_ms": 5,                    # bare limit: lower is better -> <=
            "itl_ms.p95": "<= 1000",
            "last_token_ms.max": "< 100000",
            "eval_count": ">= 2",            # a count needs an explicit operator
        })
        def test_gated(ollama_bench):
            ollama_bench.chat("2+2?")
        """
    )
    result = run(pytester, fake_ollama, "--ollama-models=llama3.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*benchmark gate(s) missed: tpot_ms median * > 5 (llama3.2, 2 rounds)"]
    )
    gates = record(pytester)["cases"][0]["gates"]  # type: ignore[index]
    assert [(g["threshold"], g["passed"]) for g in gates] == [
        ("tpot_ms<=5", False),
        ("itl_ms.p95<=1000", True),
        ("last_token_ms.max<100000", True),
        ("eval_count>=2", True),
    ]
    assert gates[1]["stat"] == "p95"


def test_command_line_gates_tighten_a_marker_gate(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.profile("llama3.2").ttft_ms = 60
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=2, warmup=0, max_ttft_ms=100000,
                               gates={"ttft_ms.p95": 100000})
        def test_loose(ollama_bench):
            ollama_bench.chat("2+2?")
        """
    )
    result = run(
        pytester, fake_ollama, "--ollama-models=llama3.2",
        "--ollama-max-ttft-ms=20", "--ollama-gate", "ttft_ms.p95<=30",
        "--ollama-gate=total_ms>=0",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*benchmark gate(s) missed: ttft_ms median * > max_ttft_ms 20 (llama3.2, 2 rounds) "
            "from --ollama-max-ttft-ms; ttft_ms p95 * > 30 (llama3.2, 2 rounds) from --ollama-gate"
        ]
    )
    data = record(pytester)
    gates = data["cases"][0]["gates"]  # type: ignore[index]
    assert [(g["source"], g["threshold"], g["passed"]) for g in gates] == [
        ("marker", "max_ttft_ms", True),
        ("marker", "ttft_ms.p95<=100000", True),
        ("option", "max_ttft_ms", False),
        ("option", "ttft_ms.p95<=30", False),
        ("option", "total_ms>=0", True),
    ]
    assert data["settings"]["gates"] == ["ttft_ms.p95<=30", "total_ms>=0"]  # type: ignore[index]


def test_a_gate_from_the_environment_or_the_ini_file_says_so(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_ollama.profile("llama3.2").ttft_ms = 20
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"  # as tests/conftest.py
        "ollama_max_ttft_ms = 5\nollama_gate =\n    total_ms<=6\n"
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_gated(ollama_bench):
            ollama_bench.chat("2+2?")
        """
    )
    monkeypatch.setenv("PYTEST_OLLAMA_GATE", "ttft_ms.max<=4")
    result = run(pytester, fake_ollama, "--ollama-models=llama3.2")
    result.assert_outcomes(failed=1)
    # the environment wins over the ini file's gates; the ini file's shorthand still applies
    result.stdout.fnmatch_lines(
        [
            "*benchmark gate(s) missed: ttft_ms median * > max_ttft_ms 5 (llama3.2, 1 round) "
            "from ini option ollama_max_ttft_ms; ttft_ms max * > 4 (llama3.2, 1 round) from "
            "environment variable PYTEST_OLLAMA_GATE"
        ]
    )
    monkeypatch.delenv("PYTEST_OLLAMA_GATE")
    result = run(pytester, fake_ollama, "--ollama-models=llama3.2", "--ollama-max-ttft-ms=3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*benchmark gate(s) missed: ttft_ms median * > max_ttft_ms 3 (llama3.2, 1 round) "
            "from --ollama-max-ttft-ms; total_ms median * > 6 (llama3.2, 1 round) from ini "
            "option ollama_gate"
        ]
    )
    gates = record(pytester)["cases"][0]["gates"]  # type: ignore[index]
    assert [g["source"] for g in gates] == ["option", "option"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ollama-gate=ttft<=10"], "*invalid gate 'ttft<=10': unknown metric 'ttft'*ttft_ms*"),
        (["--ollama-gate=ttft_ms.p50<=10"], "*unknown statistic 'p50'*"),
        (
            ["--ollama-gate=ttft_ms=10"],
            esc("*invalid gate 'ttft_ms=10': expected METRIC[.STAT]OP*"),
        ),
        (["--ollama-gate=pass_rate>=80"], "*pass_rate is a share from 0 to 1*"),
    ],
)
def test_bad_gate_expressions_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --ollama-gate: {message}"])


def test_bad_marker_gates_fail_only_that_test(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(gates={"eval_count": 5})
        def test_no_direction(ollama_bench):
            pass

        @pytest.mark.llm_bench(gates={"tpot_ms": "about 5"})
        def test_bad_limit(ollama_bench):
            pass

        @pytest.mark.llm_bench(gates={"nope_ms": 5})
        def test_unknown(ollama_bench):
            pass
        """
    )
    result = run(pytester, fake_ollama, "--ollama-models=llama3.2")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines_random(
        [
            esc(
                "*llm_bench(gates=...): gates['eval_count']: eval_count is not better lower or "
                "higher; write the limit as '<= 5' or '>= 5'*"
            ),
            esc("*gates['tpot_ms']: 'about 5' is not a limit such as '<= 40' or '>= 20'*"),
            esc("*gates['nope_ms']: unknown metric 'nope_ms'; gates={'METRIC[.STAT]': LIMIT}*"),
        ]
    )


# --------------------------------------------------------------------------- 6. reasoning


def test_first_answer_token_is_a_column_and_a_gate_for_reasoning_models(
    pytester: pytest.Pytester,
) -> None:
    with FakeOllama(["llama3.2", "qwen3"], itl_ms=20) as fake:
        fake.profile("qwen3").thinking = "Let me add two and two, carefully, step by step."
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.llm_bench(rounds=1, warmup=0, gates={"ttft_content_ms": 120})
            def test_answer(ollama_bench):
                ollama_bench.chat("2+2?")

            @pytest.mark.llm_bench(rounds=1, warmup=0, gates={"ttft_thinking_ms": "<= 1000"})
            def test_thinking(ollama_bench):
                ollama_bench.chat("2+2?")
            """
        )
        result = run(pytester, fake, "--ollama-models=llama3.2,qwen3", "-rf")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*ttft_content_ms median * > 120 (qwen3, 1 round)*",
            "*ttft_thinking_ms has no value in any measured round (llama3.2, 1 round); cannot "
            "check 1000*",
            "model * ttft (ms) * ttft content (ms) *",
            "*ttft = first output token, thinking or answer;*",
        ]
    )
    cases = record(pytester)["cases"]
    assert isinstance(cases, list)
    (qwen,) = [c["stats"] for c in cases if c["nodeid"].endswith("test_answer[qwen3]")]
    assert qwen["ttft_content_ms"]["median"] > qwen["ttft_ms"]["median"] + 150


def test_first_thinking_token_is_a_table_column_with_the_records_value(
    pytester: pytest.Pytester,
) -> None:
    with FakeOllama(["llama3.2", "qwen3"], itl_ms=20) as fake:
        fake.profile("qwen3").thinking = "Let me add two and two, carefully, step by step."
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.llm_bench(rounds=2, warmup=0)
            def test_reasoning(ollama_bench):
                ollama_bench.chat("2+2?")
            """
        )
        result = run(
            pytester, fake, "--ollama-models=qwen3,llama3.2", "--ollama-sort=model",
            "--ollama-columns=ttft,ttft_thinking,ttft_content,ttft_thinking_max,rounds",
        )  # fmt: skip
    result.assert_outcomes(passed=2)
    cases = record(pytester)["cases"]
    assert isinstance(cases, list)
    stats = {c["model"]: c["stats"] for c in cases}
    thinking = stats["qwen3"]["ttft_thinking_ms"]
    # the reasoning model's first thinking token is its first output; the answer comes later
    assert thinking["median"] == stats["qwen3"]["ttft_ms"]["median"]
    assert stats["qwen3"]["ttft_content_ms"]["median"] > thinking["median"] + 150
    assert "ttft_thinking_ms" not in stats["llama3.2"]  # a plain model never thinks
    table = printed_table(result.stdout.lines, "::test_reasoning (2 models)")
    assert list(table["qwen3"]) == [
        "ttft (ms)", "ttft thinking (ms)", "ttft content (ms)", "ttft thinking max (ms)", "rounds"
    ]  # fmt: skip
    assert table["qwen3"]["ttft thinking (ms)"] == f"{thinking['median']:.1f}"
    assert table["qwen3"]["ttft thinking max (ms)"] == f"{thinking['max']:.1f}"
    assert table["llama3.2"]["ttft thinking (ms)"] == "-"
    assert table["llama3.2"]["ttft thinking max (ms)"] == "-"
    content = stats["qwen3"]["ttft_content_ms"]["median"]
    assert table["qwen3"]["ttft content (ms)"].startswith(f"{content:.1f} ")  # and its ratio


# --------------------------------------------------------------------------- 11. every answer


CHECKED = """
import pytest
from pytest_ollama_bench import assert_one_sentence

def four(text):
    assert "4" in text, "no 4 in the answer"

@pytest.mark.llm_bench(rounds=4, warmup=1{marker})
def test_checked(ollama_bench):
    result = ollama_bench.chat("2+2?", check=four)
    assert len(result.texts) == 4
    assert result.pass_rate == {rate}
"""


def test_check_runs_on_every_round_and_its_failures_fail_the_test(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    # warmup, then four measured rounds; the third measured answer is wrong
    fake_ollama.profile("llama3.2").responses = ["Four.", "4.", "It is 4.", "Five.", "4!"]
    pytester.makepyfile(CHECKED.format(marker="", rate=0.75))
    result = run(pytester, fake_ollama, "--ollama-models=llama3.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*pass_rate mean 0.75 < min_pass_rate 1 (llama3.2, 4 rounds) (the default gate of "
            "check=*",
            "*answers that failed check=:*",
            "*llama3.2 round 3: AssertionError: no 4 in the answer*(answer: 'Five.')*",
        ]
    )
    call = record(pytester)["cases"][0]["calls"][0]  # type: ignore[index]
    rounds = call["rounds"]
    assert [r["pass_rate"] for r in rounds] == [0.0, 1.0, 1.0, 0.0, 1.0]
    assert [r["warmup"] for r in rounds] == [True, False, False, False, False]
    assert rounds[3]["check_error"] == "AssertionError: no 4 in the answer"
    assert call["check"] == "four"
    assert call["stats"]["pass_rate"]["mean"] == 0.75


def test_min_pass_rate_allows_a_share_of_bad_answers_and_shows_in_the_table(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.profile("llama3.2").responses = ["Four.", "4.", "It is 4.", "Five.", "Six."]
    pytester.makepyfile(CHECKED.format(marker=", min_pass_rate=0.5", rate=0.5))
    result = run(
        pytester, fake_ollama, "--ollama-models=llama3.2", "--ollama-columns=ttft,pass_rate,gate"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["model * ttft (ms) * pass rate * gate", "llama3.2 * 0.50 * ✔"])
