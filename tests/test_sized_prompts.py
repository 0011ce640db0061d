"""Prompts of a chosen token count (``ollama_bench.prompt``) and answers of a chosen length
(``output_tokens=``), run as a user runs them: pytest against the emulator over real sockets.

The emulator counts prompt tokens roughly as a BPE tokenizer does (its chat template adds
12 tokens, a generate template 12 or 16) and honours ``num_predict`` and ``ignore_eos``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ScriptedServer
from conftest import Step
from conftest import http_head

from pytest_ollama_bench.testing import FakeOllama

Start = Callable[[dict[str, list[Step]]], ScriptedServer]


def record(pytester: pytest.Pytester) -> dict[str, Any]:
    data = json.loads((pytester.path / "run.json").read_text())
    assert isinstance(data, dict)
    return data


def calls(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    return [call for case in record(pytester)["cases"] for call in case["calls"]]


def calibration_requests(fake: FakeOllama) -> list[dict[str, Any]]:
    return [
        r
        for r in fake.requests
        if (
            r["path"] in ("/api/chat", "/api/generate", "/v1/chat/completions")
            and ((r["body"] or {}).get("options") or {}).get("num_predict") == 1
        )
        or (r["body"] or {}).get("max_tokens") == 1
    ]


@pytest.mark.parametrize("api", ["native", "openai"])
def test_prompts_of_n_tokens_land_within_two_percent_by_the_servers_count(
    pytester: pytest.Pytester, api: str
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=2, warmup=1)
        @pytest.mark.parametrize("tokens", [40, 100, 500, 1500])
        def test_chat(ollama_bench, tokens):
            prompt = ollama_bench.prompt(tokens=tokens, seed=3)
            ollama_bench.chat(prompt)

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_with_a_system_message(ollama_bench):
            system = "You answer in one short sentence, with care."
            ollama_bench.chat(ollama_bench.prompt(tokens=200, system=system), system=system)

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_generate(ollama_bench):
            if ollama_bench._settings.api == "native":
                prompt = ollama_bench.prompt(tokens=300, endpoint="generate", system="Be brief.")
                ollama_bench.generate(prompt, system="Be brief.")
        """
    )
    with FakeOllama(["llama3.2"]) as fake:
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", f"--ollama-api={api}",
            "--ollama-json=run.json",
        )  # fmt: skip
        sent = calibration_requests(fake)
    result.assert_outcomes(passed=6)
    found = [c for c in calls(pytester) if c["workload"]]
    assert len(found) == (6 if api == "native" else 5)
    for call in found:
        asked = call["workload"]["input_tokens"]
        counts = [m["prompt_eval_count"] for m in call["rounds"]]
        assert all(abs(count - asked) <= 0.02 * asked for count in counts), (asked, counts)
        assert all(m["input_tokens_asked"] == asked for m in call["rounds"])
        assert call["workload"]["calibration"]["per_word"] == 1.0
    # calibrated once per model and request shape: chat, chat + system (+ generate + system)
    assert len(sent) == 2 * (3 if api == "native" else 2)


def test_the_same_seed_gives_the_same_prompt_and_keep_sends_it_every_round(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=3, warmup=1)
        def test_seeds(ollama_bench):
            a, b, c = (ollama_bench.prompt(tokens=120, seed=s) for s in (1, 1, 2))
            assert a == b and a != c
            assert sorted(a.split()) == sorted(c.split())
            ollama_bench.chat(a)
        """
    )
    with FakeOllama(["llama3.2"], prompt_cache=True) as fake:
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json"
        )
        sent = [r["body"]["messages"][0]["content"] for r in fake.requests
                if r["path"] == "/api/chat" and r not in calibration_requests(fake)]  # fmt: skip
    result.assert_outcomes(passed=1)
    assert len(sent) == 4
    assert len(set(sent)) == 1
    (call,) = calls(pytester)
    assert call["prompt"] == sent[0]
    assert call["workload"]["seed"] == 1
    measured = call["rounds"][1:]
    assert all(m["prompt_cached_count"] == m["prompt_eval_count"] - 1 for m in measured)


@pytest.mark.parametrize("endpoint", ["chat", "generate"])
def test_bust_sends_another_prompt_of_the_same_count_each_round(
    pytester: pytest.Pytester, endpoint: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.llm_bench(rounds=4, warmup=1, cache="bust")
        def test_bust(ollama_bench):
            prompt = ollama_bench.prompt(tokens=300, seed=9, endpoint="{endpoint}")
            ollama_bench.{endpoint}(prompt)
        """
    )
    with FakeOllama(["llama3.2"], prompt_cache=True) as fake:
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json"
        )
        bodies = [r["body"] for r in fake.requests if r["path"] == f"/api/{endpoint}"]
    result.assert_outcomes(passed=1)
    texts = [b["messages"][0]["content"] if endpoint == "chat" else b["prompt"]
             for b in bodies if (b.get("options") or {}).get("num_predict") != 1]  # fmt: skip
    assert len(texts) == 5
    assert len(set(texts)) == 5
    firsts = [t.split()[0] for t in texts]
    assert all(a != b for a, b in itertools.pairwise(firsts))
    assert all(sorted(t.split()) == sorted(texts[0].split()) for t in texts)  # the same words
    (call,) = calls(pytester)
    assert call["cache"] == "bust"
    for m in call["rounds"]:
        assert abs(m["prompt_eval_count"] - 300) <= 6
        assert m["prompt_cached_count"] <= 12  # only the template before the prompt's text


def test_a_prompt_sized_for_another_request_fails_before_any_request(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_other_system(ollama_bench):
            ollama_bench.chat(ollama_bench.prompt(tokens=100), system="Be brief.")

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_too_small(ollama_bench):
            ollama_bench.prompt(tokens=5)
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*ValueError: ollama_bench.chat(): the prompt of 100 tokens was sized for a chat "
            "request to 'llama3.2' as its only user message; this call sends chat to "
            "'llama3.2' with a system message: pass the same model=, endpoint= and system= "
            "to ollama_bench.prompt()",
            "*ValueError: 'llama3.2' counts 12 tokens in a chat request before the prompt's "
            "text (its template): ask for at least 13 prompt tokens, got 5",
        ],
        consecutive=False,
    )


def test_a_server_without_prompt_counts_fails_the_test_with_the_reason(
    pytester: pytest.Pytester, scripted: Start
) -> None:
    tags = json.dumps({"models": [{"name": "m:latest", "model": "m:latest"}]}).encode()
    lines = [
        {"model": "m", "message": {"role": "assistant", "content": "Hi"}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
         "done_reason": "length", "eval_count": 1},
    ]  # fmt: skip
    answer = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    server = scripted(
        {"/api/chat": [http_head(), answer], "/api/tags": [http_head("application/json"), tags]}
    )
    pytester.makepyfile(
        """
        def test_sized(ollama_bench):
            ollama_bench.prompt(tokens=100)
        """
    )
    result = pytester.runpytest(f"--ollama-host={server.url}", "--ollama-models=m")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*could not calibrate prompt sizes of 'm': cannot size prompts for 'm': the server "
            "reported no prompt token count (prompt_eval_count; OpenAI: usage.prompt_tokens) "
            "for a chat request of 64 words; use prompts of your own"
        ]
    )


# --------------------------------------------------------------------------- output length


OUTPUT = """
import pytest

@pytest.mark.llm_bench(rounds=2, warmup=1)
def test_output(ollama_bench):
    result = ollama_bench.chat("Tell me a story.", output_tokens=40)
    assert [m.eval_count for m in result.rounds] == {counts}
    assert [m.output_reached for m in result.rounds] == {reached}
    assert [m.done_reason for m in result.rounds] == {reasons}
"""


@pytest.mark.parametrize("api", ["native", "openai"])
def test_output_tokens_ask_for_the_cap_and_no_early_end(
    pytester: pytest.Pytester, api: str
) -> None:
    pytester.makepyfile(
        OUTPUT.format(counts=[40, 40], reached=[True, True], reasons=["length", "length"])
    )
    with FakeOllama(["llama3.2"], response="Once upon a time there was a bench.") as fake:
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", f"--ollama-api={api}",
            "--ollama-json=run.json",
        )  # fmt: skip
        bodies = [r["body"] for r in fake.requests if r["path"] != "/api/tags"
                  and r["path"] != "/v1/models" and r["body"]]  # fmt: skip
    result.assert_outcomes(passed=1)
    if api == "native":
        assert all(b["options"]["num_predict"] == 40 for b in bodies)
        assert all(b["options"]["ignore_eos"] is True for b in bodies)
    else:
        assert all(b["max_tokens"] == 40 and b["ignore_eos"] is True for b in bodies)
    (call,) = calls(pytester)
    assert call["workload"] == {"input_tokens": None, "seed": None, "output_tokens": 40}
    assert all(m["output_tokens_asked"] == 40 for m in call["rounds"])


def test_compare_asks_every_model_for_the_same_answer_length(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=2, warmup=0)
        def test_both(ollama_bench):
            results = ollama_bench.compare(
                "Tell me a story.", models=["llama3.2", "qwen2.5:0.5b"], output_tokens=12
            )
            assert {m: r.output_reached for m, r in results.items()} == {
                "llama3.2": True, "qwen2.5:0.5b": True
            }
            assert all(m.eval_count == 12 for r in results.values() for m in r.rounds)
        """
    )
    with FakeOllama(["llama3.2", "qwen2.5:0.5b"]) as fake:
        result = pytester.runpytest(f"--ollama-host={fake.url}")
    result.assert_outcomes(passed=1)


def test_a_server_that_stops_early_says_so_in_the_record(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        OUTPUT.format(counts=[8, 8], reached=[False, False], reasons=["stop", "stop"])
    )
    with FakeOllama(
        ["llama3.2"], response="Once upon a time there was a bench.", honours_ignore_eos=False
    ) as fake:
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json"
        )
    result.assert_outcomes(passed=1)
    (call,) = calls(pytester)
    assert [m["output_reached"] for m in call["rounds"]] == [False] * 3


def test_output_tokens_and_a_different_num_predict_are_an_error(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        def test_both(ollama_bench):
            ollama_bench.chat("hi", output_tokens=40, options={"num_predict": 10})
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*ValueError: ollama_bench.chat(): output_tokens=40 and options num_predict=10 "
         "disagree; give one of them"]
    )  # fmt: skip
    assert not [r for r in fake_ollama.requests if r["path"] == "/api/chat"]


# --------------------------------------------------------------------------- the table


def test_the_default_table_names_the_work_each_row_measured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=3, warmup=0)
        def test_sized(ollama_bench):
            ollama_bench.chat(ollama_bench.prompt(tokens=256), output_tokens=32)
        """
    )
    with FakeOllama(["llama3.2", "qwen2.5:0.5b"]) as fake:
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2,qwen2.5:0.5b"
        )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["model *ttft (ms)*prompt tokens*tokens*rounds*gate"])
    result.stdout.fnmatch_lines_random(
        ["llama3.2 * 256 * 32 * 3 *", "qwen2.5:0.5b * 256 * 32 * 3 *"]
    )


# --------------------------------------------------------------------------- workloads


WORKLOAD_SUITE = """
import json
import pytest
# from the module: pytester's inner runs drop the modules they imported, and the package's
# lazily exported names would keep the first run's classes
from pytest_ollama_bench.workload import Normal, PromptSet, Uniform, Workload

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_distribution(ollama_bench):
    workload = Workload(
        input_tokens=Normal(200, 60, low=60, high=400), output_tokens=Uniform(4, 24), seed=5
    )
    calibration = ollama_bench.calibration()
    for item in workload.items(calibration):
        if item.index == 6:
            break
        result = ollama_bench.chat(item.prompt, output_tokens=item.output_tokens)
        assert result.output_reached

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_prompt_file(ollama_bench):
    workload = Workload(prompts=PromptSet.from_file("prompts.jsonl"), output_tokens=8, seed=5)
    for item in (workload.item(i) for i in range(4)):
        ollama_bench.chat(item.prompt, options=item.options)
    with open("workload.json", "w") as out:
        json.dump(workload.describe(), out)
"""

PROMPTS = (
    '"Why is the sky blue?"\n'
    '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a tree."}]\n'
    '{"prompt": "What is a river?"}\n'
)


def test_a_seeded_workload_sends_the_same_requests_in_two_runs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(WORKLOAD_SUITE)
    (pytester.path / "prompts.jsonl").write_text(PROMPTS)
    runs = []
    for number in (1, 2):
        with FakeOllama(["llama3.2"]) as fake:
            result = pytester.runpytest(
                f"--ollama-host={fake.url}",
                "--ollama-models=llama3.2",
                f"--ollama-json={number}.json",
            )
            sent = [r["body"] for r in fake.requests if r["path"] == "/api/chat"]
        result.assert_outcomes(passed=2)
        data = json.loads((pytester.path / f"{number}.json").read_text())
        runs.append((sent, [c for case in data["cases"] for c in case["calls"]]))
    (sent1, calls1), (sent2, calls2) = runs
    assert sent1 == sent2  # every request, calibration included, byte for byte the same

    def facts(calls: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(c["prompt"], c["workload"], [(m["prompt_eval_count"], m["eval_count"])
                 for m in c["rounds"]]) for c in calls]  # fmt: skip

    assert facts(calls1) == facts(calls2)
    drawn = [c for c in calls1 if c["workload"] and c["workload"]["input_tokens"]]
    assert len(drawn) == 6
    asked = [(c["workload"]["input_tokens"], c["workload"]["output_tokens"]) for c in drawn]
    assert len(set(asked)) == 6  # drawn, not fixed
    for call in drawn:
        (m,) = call["rounds"]
        assert (
            abs(m["prompt_eval_count"] - m["input_tokens_asked"]) <= 0.02 * m["input_tokens_asked"]
        )
        assert m["eval_count"] == m["output_tokens_asked"]
    # the JSONL prompt set: its prompts in order, each with the workload's output options
    from_file = [b for b in sent1 if b["messages"][-1]["content"] in (
        "Why is the sky blue?", "Name a tree.", "What is a river?")]  # fmt: skip
    assert [b["messages"][-1]["content"] for b in from_file] == [
        "Why is the sky blue?",
        "Name a tree.",
        "What is a river?",
        "Why is the sky blue?",
    ]
    assert from_file[1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert all(b["options"] == {"num_predict": 8, "ignore_eos": True} for b in from_file)
    described = json.loads((pytester.path / "workload.json").read_text())
    assert described["prompts"]["source"] == "prompts.jsonl"
    assert described["prompts"]["count"] == 3
    assert described["output_tokens"] == {"dist": "fixed", "value": 8}
