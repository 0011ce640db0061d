"""Workloads as data: synthetic prompts and their calibration, lengths, prompt sets, requests."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter
from pathlib import Path

import pytest

from pytest_ollama_bench.server.profile import text_tokens
from pytest_ollama_bench.synthetic import CALIBRATION_WORDS
from pytest_ollama_bench.synthetic import VOCABULARY
from pytest_ollama_bench.synthetic import Calibration
from pytest_ollama_bench.synthetic import CalibrationError
from pytest_ollama_bench.synthetic import SizedPrompt
from pytest_ollama_bench.synthetic import synthetic_text
from pytest_ollama_bench.workload import Fixed
from pytest_ollama_bench.workload import Normal
from pytest_ollama_bench.workload import PromptSet
from pytest_ollama_bench.workload import Uniform
from pytest_ollama_bench.workload import Workload
from pytest_ollama_bench.workload import length
from pytest_ollama_bench.workload import output_options
from pytest_ollama_bench.workload import read_prompts


def calibration(base: int = 30, per_word: int = 1, endpoint: str = "chat") -> Calibration:
    samples = tuple((w, base + per_word * w) for w in CALIBRATION_WORDS)
    return Calibration("llama3.2", endpoint, None, samples)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- synthetic text


def test_the_same_seed_gives_the_same_text_and_every_seed_the_same_words() -> None:
    a, b, c = synthetic_text(100, 7), synthetic_text(100, 7), synthetic_text(100, 8)
    assert a == b
    assert a != c
    assert Counter(a.split()) == Counter(c.split())
    assert len(a.split()) == 100
    assert set(a.split()) <= set(VOCABULARY)
    assert "  " not in a
    assert a == a.strip()


def test_variants_keep_the_words_and_change_the_first_one() -> None:
    base = synthetic_text(300, "s")
    variants = [synthetic_text(300, "s", variant=n) for n in range(1, 6)]
    firsts = [base.split()[0]] + [v.split()[0] for v in variants]
    assert all(a != b for a, b in itertools.pairwise(firsts))  # consecutive differ
    assert firsts[0] not in firsts[1:]
    assert all(Counter(v.split()) == Counter(base.split()) for v in variants)
    assert len({base, *variants}) == 6


def test_every_vocabulary_word_is_one_simulated_token_and_texts_count_one_per_word() -> None:
    assert len(VOCABULARY) == len(set(VOCABULARY)) == 64
    assert all(len(text_tokens(word)) == 1 == len(text_tokens(" " + word)) for word in VOCABULARY)
    assert len(text_tokens(synthetic_text(517, 3))) == 517


# --------------------------------------------------------------------------- calibration


def test_calibration_sizes_prompts_from_two_counts() -> None:
    cal = calibration(base=30)
    assert cal.per_word == 1.0
    assert cal.base == 30.0
    assert cal.words_for(1024) == 994
    assert cal.expected_tokens(994) == 1024
    two = calibration(base=20, per_word=2)
    assert two.per_word == 2.0
    assert two.words_for(120) == 50


def test_asking_for_fewer_tokens_than_the_template_says_how_many_are_possible() -> None:
    with pytest.raises(ValueError, match=r"counts 30 tokens in a chat request before the"):
        calibration(base=30).words_for(20)
    with pytest.raises(ValueError, match="at least 31 prompt tokens, got 30"):
        SizedPrompt(30, calibration=calibration(base=30))


def test_counts_that_do_not_grow_cannot_calibrate() -> None:
    with pytest.raises(CalibrationError, match="does not grow with the prompt"):
        Calibration("m", "chat", None, ((64, 40), (128, 40)))


def test_a_sized_prompt_is_a_str_that_remembers_how_it_was_made() -> None:
    prompt = SizedPrompt(256, calibration=calibration(base=30), seed=5)
    assert isinstance(prompt, str)
    assert len(prompt.split()) == prompt.words == 226
    assert prompt == SizedPrompt(256, calibration=calibration(base=30), seed=5)
    assert prompt.describe()["input_tokens"] == 256
    assert prompt.describe()["calibration"]["samples"] == [[64, 94], [128, 158]]
    again = prompt.variant(1)
    assert again != prompt
    assert again.tokens == 256
    assert again.words == prompt.words
    assert json.loads(json.dumps({"p": prompt}))["p"] == str(prompt)


# --------------------------------------------------------------------------- lengths


def test_lengths_from_ints_and_descriptions_round_trip() -> None:
    assert length(128) == Fixed(128)
    for dist in (Fixed(5), Uniform(10, 20), Normal(512, 64, low=256, high=1024)):
        assert length(dist.describe()) == dist
    with pytest.raises(ValueError, match="dist must be one of fixed, uniform, normal"):
        length({"dist": "poisson", "mean": 3})
    with pytest.raises(ValueError, match="whole number >= 1"):
        Fixed(0)
    with pytest.raises(ValueError, match="high 5 is below low 10"):
        Uniform(10, 5)


def test_a_bounded_normal_stays_in_its_bounds_and_keeps_its_centre() -> None:
    import random

    rng = random.Random(1)
    dist = Normal(200, 50, low=150, high=300)
    values = [dist.sample(rng) for _ in range(2000)]
    assert min(values) >= 150
    assert max(values) <= 300
    assert 200 <= statistics.mean(values) <= 225  # truncated below the mean more than above
    assert not Counter(values)[150] > 40  # drawn again, not piled up at the bound


def test_output_options_ask_for_the_cap_and_no_early_end() -> None:
    assert output_options(64) == {"num_predict": 64, "ignore_eos": True}
    with pytest.raises(ValueError, match="output_tokens must be a whole number >= 1"):
        output_options(0)


# --------------------------------------------------------------------------- prompt sets


def test_prompts_from_jsonl_and_text_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text(
        '"Why is the sky blue?"\n'
        "\n"
        '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]\n'
        '{"prompt": "Name a colour."}\n'
        '{"messages": [{"role": "user", "content": "2+2?"}], "id": 7}\n'
    )
    prompts = read_prompts(jsonl)
    assert prompts == [
        "Why is the sky blue?",
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "Name a colour.",
        [{"role": "user", "content": "2+2?"}],
    ]
    text = tmp_path / "set.txt"
    text.write_text("first prompt\n\n  second, with spaces  \n")
    assert read_prompts(text) == ["first prompt", "  second, with spaces  "]
    # saved with a byte order mark (Windows editors): not part of the first prompt
    jsonl.write_bytes('"Why?"\r\n{"prompt": "How?"}\r\n'.encode("utf-8-sig"))
    assert read_prompts(jsonl) == ["Why?", "How?"]
    text.write_bytes("first prompt\r\nsecond\r\n".encode("utf-8-sig"))
    assert read_prompts(text) == ["first prompt", "second"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"set\.jsonl:2: not JSON"),
        ("42", r"set\.jsonl:2: expected a prompt .* got 42"),
        ('[{"content": "no role"}]', r"set\.jsonl:2: expected a prompt"),
        ('""', r"set\.jsonl:2: expected a prompt"),
    ],
)
def test_a_bad_line_names_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(f'"fine"\n{line}\n')
    with pytest.raises(ValueError, match=message):
        read_prompts(path)


def test_an_empty_file_is_no_prompt_set(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    with pytest.raises(ValueError, match="no prompts"):
        read_prompts(path)


# --------------------------------------------------------------------------- workloads


def test_a_seeded_workload_gives_the_same_requests_in_any_order() -> None:
    workload = Workload(
        input_tokens=Normal(300, 80, low=100, high=600), output_tokens=Uniform(16, 64), seed=11
    )
    cal = calibration()
    forward = [workload.item(i, cal) for i in range(50)]
    backward = [workload.item(i, cal) for i in reversed(range(50))][::-1]
    assert forward == backward
    assert [item.index for item in forward] == list(range(50))
    assert len({item.input_tokens for item in forward}) > 20
    assert all(100 <= (item.input_tokens or 0) <= 600 for item in forward)
    assert all(16 <= (item.output_tokens or 0) <= 64 for item in forward)
    assert all(item.options == output_options(item.output_tokens or 0) for item in forward)
    assert all(isinstance(item.prompt, SizedPrompt) for item in forward)
    assert len({str(item.prompt).split()[0] for item in forward[:10]}) > 1
    other = [Workload(input_tokens=Normal(300, 80, low=100, high=600), seed=12).item(i, cal)
             for i in range(50)]  # fmt: skip
    assert [i.input_tokens for i in other] != [i.input_tokens for i in forward]


def test_prompt_sets_in_order_or_sampled() -> None:
    prompts = PromptSet(("a?", "b?", "c?"))
    in_order = Workload(prompts=prompts, output_tokens=8)
    assert [in_order.item(i).prompt for i in range(5)] == ["a?", "b?", "c?", "a?", "b?"]
    sampled = Workload(prompts=PromptSet(("a?", "b?", "c?"), order="sample"), seed=3)
    picks = [sampled.item(i).prompt for i in range(30)]
    assert picks == [sampled.item(i).prompt for i in range(30)]
    assert set(picks) == {"a?", "b?", "c?"}
    assert picks[:3] != ["a?", "b?", "c?"]


def test_a_workload_is_made_again_from_its_description(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('"one"\n"two"\n')
    workload = Workload(prompts=PromptSet.from_file(path, "sample"), output_tokens=Normal(50, 5))
    described = json.loads(json.dumps(workload.describe()))
    assert described["prompts"]["source"] == str(path)
    assert described["prompts"]["count"] == 2
    again = Workload.from_description(described)
    assert again == workload
    assert [again.item(i) for i in range(10)] == [workload.item(i) for i in range(10)]
    path.write_text('"one"\n"three"\n')
    with pytest.raises(ValueError, match="differ from the recorded set"):
        Workload.from_description(described)


def test_workload_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="input_tokens or prompts, not both"):
        Workload(input_tokens=10, prompts=["a"])
    with pytest.raises(ValueError, match="needs input_tokens, prompts or output_tokens"):
        Workload()
    with pytest.raises(ValueError, match="needs the model's calibration"):
        Workload(input_tokens=100).item(0)
