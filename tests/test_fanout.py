"""Which tests run once per model: every benchmark, marked or not, except compare() tests."""

from __future__ import annotations

import pytest

from pytest_ollama_bench.models import Report
from pytest_ollama_bench.runtest import calls_compare
from pytest_ollama_bench.testing import FakeOllama


def latest(pytester: pytest.Pytester) -> Report:
    return Report.model_validate_json((pytester.path / ".ollama-bench" / "latest.json").read_text())


def test_the_fixture_alone_makes_a_benchmark_run_once_per_model(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        def test_unmarked(ollama_bench):
            result = ollama_bench.chat("2+2?", rounds=1, warmup=0)
            assert result.model == ollama_bench.model

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b", "-v"
    )
    result.assert_outcomes(passed=3)
    missing = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,nope", "-rs"
    )
    missing.assert_outcomes(passed=2, skipped=1)  # skipped as a marked test's would be
    missing.stdout.fnmatch_lines(["SKIPPED *model 'nope' not available on*ollama pull nope*"])
    result.stdout.fnmatch_lines(
        [
            "*::test_unmarked[[]llama3.2[]] PASSED*",
            "*::test_unmarked[[]qwen2.5:0.5b[]] PASSED*",
            "*::test_plain PASSED*",
            "llm_bench: test_the_fixture_alone_makes_a_benchmark_run_once_per_model.py::"
            "test_unmarked (2 models)",
        ]
    )
    assert {c.test.split("::")[-1] for c in latest(pytester).cases} == {"test_unmarked"}


def test_the_fixture_alone_without_models_skips_with_how_to_select_them(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        def test_unmarked(ollama_bench):
            ollama_bench.chat("2+2?")

        def test_named(ollama_bench):
            assert ollama_bench.chat("2+2?", model="llama3.2", rounds=1, warmup=0).text
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED *no model selected for this benchmark: run pytest --ollama-models=*"]
    )


def test_compare_with_a_missing_model_compares_the_others_and_records_it_skipped(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        def test_compare(ollama_bench):
            results = ollama_bench.compare("2+2?", models=["llama3.2", "nope"], rounds=1,
                                           warmup=0)
            assert list(results) == ["llama3.2"]
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "llm_bench: *::test_compare (2 models, 1 skipped)",
            "llama3.2 *",
            "  skipped: nope (model 'nope' not available on *; run: ollama pull nope)",
        ]
    )
    outcomes = {c.model: (c.outcome, c.error) for c in latest(pytester).cases}
    assert outcomes["llama3.2"] == ("passed", None)
    assert outcomes["nope"][0] == "skipped"
    assert "run: ollama pull nope" in (outcomes["nope"][1] or "")
    # --ollama-require: a missing model is an error, as for any other benchmark
    required = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-require")
    required.assert_outcomes(failed=1)
    required.stdout.fnmatch_lines(["*model 'nope' not available on*(--ollama-require is set)*"])


def test_compare_tests_run_once_even_when_marked(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(models=["llama3.2", "qwen2.5:0.5b"], rounds=1, warmup=0)
        def test_marked_compare(ollama_bench):
            assert set(ollama_bench.compare("2+2?")) == {"llama3.2", "qwen2.5:0.5b"}

        def test_nested_compare(ollama_bench):
            def run():
                return ollama_bench.compare("2+2?", rounds=1, warmup=0)
            assert len(run()) == 2

        def test_chat_in_a_compare_test(ollama_bench):
            ollama_bench.compare("2+2?", rounds=1, warmup=0)
            ollama_bench.chat("2+2?")
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b"
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*test_chat_in_a_compare_test - Failed: ollama_bench has no model of its own here*"]
    )


def test_compare_through_a_helper_in_a_per_model_test_says_what_to_do(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        def helper(bench):
            return bench.compare("2+2?")

        def test_hidden(ollama_bench):
            helper(ollama_bench)
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b"
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*ollama_bench.compare() without models= in *test_hidden[[]llama3.2[]], which runs once*"]
    )


def test_calls_compare_reads_the_code_and_nested_code() -> None:
    def direct(bench: object) -> None:
        bench.compare("x")  # type: ignore[attr-defined]

    def nested(bench: object) -> None:
        def inner() -> None:
            bench.compare("x")  # type: ignore[attr-defined]

        inner()

    def chat(bench: object) -> None:
        bench.chat("x")  # type: ignore[attr-defined]

    assert calls_compare(direct)
    assert calls_compare(nested)
    assert not calls_compare(chat)
    assert not calls_compare(None)
