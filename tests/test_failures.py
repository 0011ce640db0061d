"""Failures at a glance: what a gate miss, a regression, a bad marker and a failed answer check
show where people look first (the short test summary, the summary table, the last lines)."""

from __future__ import annotations

import os

import pytest

from pytest_ollama_bench.testing import FakeOllama


def test_a_gate_miss_is_on_the_first_line_everywhere_it_is_shown(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    fake_ollama.profile("llama3.2").ttft_ms = 60
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=2, warmup=0, max_ttft_ms=10, max_total_ms=1)
        def test_fast(ollama_bench):
            ollama_bench.chat("2+2?")
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            # the summary table's note
            "  failed: llama3.2: benchmark gate(s) missed: ttft_ms median * > max_ttft_ms 10 "
            "(llama3.2, 2 rounds); total_ms median * > max_total_ms 1 (llama3.2, 2 rounds)",
            # pytest's short test summary
            "FAILED *test_fast[[]llama3.2[]] - Failed: benchmark gate(s) missed: ttft_ms median "
            "* > max_ttft_ms 10*",
        ]
    )
    assert "benchmark gate(s) missed: ttft\\_ms median " in summary.read_text()  # Markdown


def test_a_session_failed_by_regressions_says_so_in_its_last_line(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        def test_compare(ollama_bench):
            ollama_bench.compare("2+2?", rounds=2, warmup=0)
        """
    )
    args = [
        f"--ollama-host={fake_ollama.url}",
        "--ollama-models=llama3.2,qwen2.5:0.5b",
        "--ollama-compare-fail=ttft_ms:100%",
    ]
    assert pytester.runpytest(*args).ret == pytest.ExitCode.OK
    for model in ("llama3.2", "qwen2.5:0.5b"):
        fake_ollama.profile(model).ttft_ms = 300
    os.environ["COLUMNS"] = "80"  # pytester restores the environment
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.outlines[-2].startswith("=")
    assert " 1 passed in " in result.outlines[-2]
    assert result.outlines[-1] == (
        "ollama-bench: session failed: 2 regressions (ttft_ms) against the baseline"
    )
    regressions = result.outlines.index(next(x for x in result.outlines if "regressions =" in x))
    ours = result.outlines[regressions:-2] + result.outlines[-1:]
    assert all(len(line) <= 80 for line in ours), "\n".join(ours)
    # one compare() test, two models: each regression line names its model
    result.stdout.fnmatch_lines(
        [
            "*= ollama-bench regressions =*",
            "*::test_compare",
            "  (llama3.2) ttft_ms median * vs baseline *",
            "*::test_compare",
            "  (qwen2.5:0.5b) ttft_ms median * vs baseline *",
        ]
    )


def test_a_bad_marker_errors_once_per_model_with_one_message_and_a_suggestion(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(round=3)
        def test_typo(ollama_bench):
            ollama_bench.chat("hi")

        @pytest.mark.llm_bench(temperature=0)
        def test_option(ollama_bench):
            ollama_bench.chat("hi")
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b"
    )
    result.assert_outcomes(errors=4)
    out = result.stdout.str()
    assert "During handling of the above exception" not in out
    # once per model in each of: the errors, the table's notes, the short test summary
    assert (
        out.count("llm_bench got an unknown argument 'round' (did you mean 'rounds'?); valid")
        == 2 * 3
    )
    result.stdout.fnmatch_lines(
        [
            "*llm_bench got an unknown argument 'round' (did you mean 'rounds'?); valid "
            "arguments: *",
            "*llm_bench got an unknown argument 'temperature' (did you mean "
            "options={'temperature': ...}?); valid arguments: *",
            "llm_bench: *::test_typo (2 models)",
            "llama3.2 [[]error[]] *",
            "qwen2.5:0.5b [[]error[]] *",
            "  error: llama3.2: llm_bench got an unknown argument 'round' (did you mean "
            "'rounds'?)*",
        ]
    )
    # the short test summary gives the reason right after the node id, not the node id again
    result.stdout.fnmatch_lines(
        [
            "ERROR *::test_typo[[]llama3.2[]] - Failed: llm_bench got an unknown argument 'round' "
            "(did you mean 'rounds'?)*"
        ]
    )


def test_a_bad_marker_on_a_compare_test_shows_for_each_selected_model(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(warmups=0)
        def test_compare(ollama_bench):
            ollama_bench.compare("hi")
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "llm_bench: *::test_compare (2 models)",
            "llama3.2 [[]error[]] *",
            "qwen2.5:0.5b [[]error[]] *",
            "*llm_bench got an unknown argument 'warmups' (did you mean 'warmup'?); valid*",
        ]
    )


def test_answer_check_tracebacks_end_at_the_callers_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_ollama_bench import assert_contains, assert_json, assert_one_sentence

        def test_sentences():
            assert_one_sentence("One. Two.")

        def test_json():
            assert_json("{nope")

        def test_contains():
            assert_contains("abc", "x")

        def test_usage():
            assert_contains("abc")
        """
    )
    result = pytester.runpytest("-p", "no:ollama_bench")
    result.assert_outcomes(failed=4)
    out = result.stdout.str()
    assert "assertions.py" not in out
    assert "def assert_sentences" not in out
    result.stdout.fnmatch_lines(
        [
            '>       assert_one_sentence("One. Two.")',
            "E       AssertionError: expected exactly 1 sentence, found 2 in 'One. Two.'*",
            "test_answer_check_tracebacks_end_at_the_callers_line.py:4: AssertionError",
            '>       assert_json("{nope")',
            '>       assert_contains("abc")',
            "E       ValueError: give at least one substring to look for",
        ]
    )
