from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_ollama_bench.assertions import assert_contains
from pytest_ollama_bench.assertions import assert_contains_any
from pytest_ollama_bench.assertions import assert_json
from pytest_ollama_bench.assertions import assert_matches
from pytest_ollama_bench.assertions import assert_max_sentences
from pytest_ollama_bench.assertions import assert_max_words
from pytest_ollama_bench.assertions import assert_min_words
from pytest_ollama_bench.assertions import assert_not_matches
from pytest_ollama_bench.assertions import assert_one_sentence
from pytest_ollama_bench.assertions import assert_sentences
from pytest_ollama_bench.assertions import count_sentences
from pytest_ollama_bench.assertions import count_words
from pytest_ollama_bench.assertions import split_sentences
from pytest_ollama_bench.sentences import _ABBREVIATIONS

SENTENCE_CASES = [
    # empty and trivial
    pytest.param("", 0, id="empty"),
    pytest.param("   \n\t\n  ", 0, id="whitespace-only"),
    pytest.param("...", 0, id="only-ellipsis"),
    pytest.param("4", 1, id="bare-number"),
    pytest.param("The answer is 4.", 1, id="one"),
    pytest.param("The answer is 4", 1, id="no-terminal"),
    pytest.param("The answer is 4.\n\n", 1, id="trailing-newlines"),
    pytest.param("  The answer is 4.   ", 1, id="surrounding-spaces"),
    pytest.param("It is 4. It is even.", 2, id="two"),
    pytest.param("It is 4. It is even", 2, id="final-without-terminal"),
    # terminal marks
    pytest.param("Hello! How are you? Fine.", 3, id="bang-question-period"),
    pytest.param("What?! Really?!", 2, id="interrobang-run"),
    pytest.param("Wait... What happened?", 2, id="ellipsis-then-capital"),
    pytest.param("Wait... what happened?", 1, id="ellipsis-then-lowercase"),
    pytest.param("I think\u2026 maybe not.", 1, id="unicode-ellipsis-lowercase"),
    pytest.param("No way!!! Yes way.", 2, id="repeated-bang"),
    # numbers, domains, versions
    pytest.param("The value of pi is 3.14.", 1, id="decimal"),
    pytest.param("Pi is 3.14. It is irrational.", 2, id="decimal-at-end"),
    pytest.param("It costs 2.5 dollars and weighs 0.75 kg.", 1, id="decimals"),
    pytest.param("Visit example.com for details.", 1, id="domain"),
    pytest.param("See https://example.com/a.b?x=1 for more.", 1, id="url"),
    pytest.param("Visit example.com. It is great.", 2, id="domain-at-end"),
    pytest.param("Upgrade to v1.2.3 today.", 1, id="version"),
    pytest.param("Use v1.2.3. It fixes the bug.", 2, id="version-at-end"),
    pytest.param("There were 1,000.5 people.", 1, id="thousands"),
    # abbreviations
    pytest.param("Use a fruit, e.g. an apple.", 1, id="eg"),
    pytest.param("E.g. Apples are fruit.", 1, id="eg-capital"),
    pytest.param("Use a fruit, i.e. the apple.", 1, id="ie"),
    pytest.param("Apples, pears, etc. are fruit.", 1, id="etc-lowercase"),
    pytest.param("I like apples, pears, etc. But not kiwis.", 2, id="etc-then-starter"),
    pytest.param("It is cats vs. Dogs today.", 1, id="vs"),
    pytest.param("Dr. Smith met Mr. Jones.", 1, id="dr-mr"),
    pytest.param("Mrs. Brown and Ms. Green met Prof. White.", 1, id="mrs-ms-prof"),
    pytest.param("He lives on St. Paul Street.", 1, id="st"),
    pytest.param("Martin Luther King Jr. was born in 1929.", 1, id="jr"),
    pytest.param("John Smith Sr. Founded the firm.", 1, id="sr-then-capital"),
    pytest.param("Martin Luther King Jr. He was a leader.", 2, id="jr-then-starter"),
    pytest.param("We meet at 9 a.m. on Monday.", 1, id="am"),
    pytest.param("We met at 10 p.m. The sun had set.", 2, id="pm-then-starter"),
    pytest.param("The U.S. Army is large.", 1, id="us-then-noun"),
    pytest.param("I live in the U.S. It is big.", 2, id="us-then-starter"),
    pytest.param("No. 5 is my favourite.", 1, id="no-number"),
    pytest.param("See Fig. 3 for details.", 1, id="fig-number"),
    pytest.param("Say no. Then leave.", 2, id="no-as-word"),
    pytest.param("Acme Inc. Makes anvils.", 1, id="inc-then-capital"),
    # initials
    pytest.param("J. R. R. Tolkien wrote The Hobbit.", 1, id="initials"),
    pytest.param("George W. Bush was president.", 1, id="middle-initial"),
    pytest.param("I got a B. It was fine.", 2, id="letter-then-starter"),
    # labels and inline numbered lists
    pytest.param("Step 1. Open the file.", 1, id="step-label"),
    pytest.param("Step 1. Open the file. Step 2. Save it.", 2, id="two-step-labels"),
    pytest.param("Do this: 1. Open the file. 2. Save it.", 2, id="inline-numbered-list"),
    pytest.param("I counted to 5. Then I stopped.", 2, id="number-at-end"),
    # quotes and brackets
    pytest.param('He said "Hi." Then he left.', 2, id="quote-after-period"),
    pytest.param('"Really?" she asked.', 1, id="question-in-quote-lowercase"),
    pytest.param('He yelled "Stop!" and ran.', 1, id="bang-in-quote-lowercase"),
    pytest.param('"Really?" She was surprised.', 2, id="question-in-quote-capital"),
    pytest.param("He said \u201cHi.\u201d Then he left.", 2, id="curly-quotes"),
    pytest.param("He left (see above.) Then he came back.", 2, id="paren-after-period"),
    pytest.param("The answer (is it?) is 4.", 1, id="question-in-parens"),
    pytest.param("It's 'done.' Next it is.", 2, id="single-quotes"),
    # markdown
    pytest.param("The answer is **4**.", 1, id="bold"),
    pytest.param("**The answer is 4.**", 1, id="all-bold"),
    pytest.param("**Note.** It is 4.", 2, id="bold-label-sentence"),
    pytest.param("The answer is _four_.", 1, id="underscore-emphasis"),
    pytest.param("- Paris\n- Lyon", 2, id="dash-bullets"),
    pytest.param("* Paris\n* Lyon\n* Nice", 3, id="star-bullets"),
    pytest.param("+ Paris\n+ Lyon", 2, id="plus-bullets"),
    pytest.param("1. Paris\n2. Lyon", 2, id="numbered-dot"),
    pytest.param("1) Paris\n2) Lyon", 2, id="numbered-paren"),
    pytest.param("Cities:\n- Paris\n- Lyon", 3, id="intro-and-bullets"),
    pytest.param("- Paris. It is the capital.\n- Lyon", 3, id="bullet-with-two-sentences"),
    pytest.param("First paragraph\n\nSecond paragraph", 2, id="paragraphs"),
    pytest.param("# Answer\nThe answer is 4.", 2, id="heading"),
    pytest.param("```python\nprint(1)\n```\nThat prints 1.", 2, id="code-fence"),
    pytest.param("Call `os.path.join()`. It joins paths.", 2, id="inline-code-at-end"),
    pytest.param("Run `a. B` now.", 1, id="inline-code-with-period"),
    pytest.param("> Quoted text here.", 1, id="blockquote"),
    # line breaks
    pytest.param("The capital of France\nis Paris.", 1, id="soft-wrap-lowercase"),
    pytest.param("Sure\nThe answer is 4.", 2, id="line-without-terminal-then-capital"),
    pytest.param("The answer is:\nFour.", 1, id="colon-line-continues"),
    pytest.param("I met Dr.\nSmith today.", 1, id="abbreviation-across-lines"),
    # emoji, CJK, casing
    pytest.param("Great job! \U0001f389", 1, id="emoji-at-end"),
    pytest.param("Great job \U0001f389", 1, id="emoji-no-terminal"),
    pytest.param("Hello! \U0001f600 How are you?", 2, id="emoji-between"),
    pytest.param("\u6211\u559c\u6b22\u732b\u3002\u4f60\u5462\uff1f", 2, id="cjk"),
    pytest.param("\u732b\u3002", 1, id="cjk-single"),
    pytest.param("I love Apple. iPhone sales are up.", 2, id="camel-case-brand"),
    pytest.param("It is 4. the end.", 1, id="lowercase-after-period"),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES)
def test_count_sentences(text: str, expected: int) -> None:
    assert count_sentences(text) == expected, split_sentences(text)


def test_split_sentences_returns_stripped_pieces() -> None:
    text = 'He said "Hi." Then left.\n\n- one\n- two 🎉'
    assert split_sentences(text) == ['He said "Hi."', "Then left.", "one", "two 🎉"]


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10).filter(
    lambda w: w not in _ABBREVIATIONS
)


@st.composite
def _sentence(draw: st.DrawFn) -> str:
    words = draw(st.lists(_WORD, min_size=1, max_size=8))
    words[0] = words[0].capitalize()
    return " ".join(words) + draw(st.sampled_from([".", "!", "?"]))


@given(
    sentences=st.lists(_sentence(), min_size=1, max_size=12),
    separator=st.sampled_from([" ", "  ", "\n", " \n"]),
)
def test_joined_simple_sentences_count(sentences: list[str], separator: str) -> None:
    assert count_sentences(separator.join(sentences)) == len(sentences)


# -- sentence assertions -------------------------------------------------------------------


def test_assert_one_sentence_passes() -> None:
    assert_one_sentence("The answer is 4.")
    assert_one_sentence("Dr. Smith said 2 + 2 = 4.")


def test_assert_one_sentence_fails_quoting_text() -> None:
    text = "The answer is 4. Hope that helps!"
    with pytest.raises(AssertionError, match=re.escape(repr(text))) as info:
        assert_one_sentence(text)
    message = str(info.value)
    assert "expected exactly 1 sentence, found 2" in message
    assert "'The answer is 4.' | 'Hope that helps!'" in message


def test_assert_one_sentence_fails_on_empty() -> None:
    with pytest.raises(AssertionError, match=r"expected exactly 1 sentence, found 0 in '  '"):
        assert_one_sentence("  ")


def test_assert_sentences() -> None:
    assert_sentences("One. Two. Three.", 3)
    assert_sentences("", 0)
    with pytest.raises(AssertionError, match=r"expected exactly 2 sentences, found 3 in 'A b\. C"):
        assert_sentences("A b. C d. E f.", 2)


def test_assert_max_sentences() -> None:
    assert_max_sentences("One. Two.", 2)
    assert_max_sentences("One.", 2)
    with pytest.raises(
        AssertionError, match=r"expected at most 1 sentence, found 2 in '- a\\n- b'"
    ):
        assert_max_sentences("- a\n- b", 1)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_sentence_count_must_be_non_negative_int(bad: object) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        assert_sentences("x", bad)  # type: ignore[arg-type]


def test_long_text_is_truncated_in_message() -> None:
    text = "Start. " + "Word " * 500 + "End."
    with pytest.raises(AssertionError) as info:
        assert_one_sentence(text)
    message = str(info.value)
    assert "'Start. Word" in message
    assert "Word End.'" in message
    assert f"({len(text)} chars" in message
    assert len(message) < 800


def test_many_sentences_are_not_listed() -> None:
    text = " ".join(f"Sentence {i}." for i in range(12))
    with pytest.raises(AssertionError) as info:
        assert_one_sentence(text)
    assert "found 12" in str(info.value)
    assert "sentences:" not in str(info.value)


# -- words ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("   ", 0),
        ("hello", 1),
        ("Hello, world!", 2),
        ("- item one\n- item two", 4),
        ("**bold** text", 2),
        ("pi is 3.14", 3),
        ("don't state-of-the-art", 2),
        ("a - b", 2),
        ("\U0001f389 yay", 1),
    ],
)
def test_count_words(text: str, expected: int) -> None:
    assert count_words(text) == expected


def test_assert_max_words() -> None:
    assert_max_words("one two three", 3)
    with pytest.raises(
        AssertionError, match=r"expected at most 2 words, found 3 in 'one two three'"
    ):
        assert_max_words("one two three", 2)


def test_assert_min_words() -> None:
    assert_min_words("one two three", 3)
    with pytest.raises(AssertionError, match=r"expected at least 1 word, found 0 in '  '"):
        assert_min_words("  ", 1)
    with pytest.raises(AssertionError, match=r"expected at least 5 words, found 2 in 'one two'"):
        assert_min_words("one two", 5)


# -- patterns ------------------------------------------------------------------------------


def test_assert_matches() -> None:
    match = assert_matches("The answer is 42.", r"\d+")
    assert match.group() == "42"
    assert_matches("The ANSWER", "answer", re.IGNORECASE)
    assert_matches("The ANSWER", re.compile("answer", re.IGNORECASE))
    with pytest.raises(
        AssertionError,
        match=r"expected text to match pattern '\\\\d\+', found no match in 'no digits'",
    ):
        assert_matches("no digits", r"\d+")


def test_assert_matches_reports_flags() -> None:
    with pytest.raises(AssertionError, match=r"IGNORECASE.*found no match in 'xyz'"):
        assert_matches("xyz", "abc", re.IGNORECASE)


def test_assert_not_matches() -> None:
    assert_not_matches("no digits", r"\d")
    with pytest.raises(
        AssertionError,
        match=r"expected no match for pattern 'sorry', found 'sorry' at position 5 in "
        r"'I am sorry\.'",
    ):
        assert_not_matches("I am sorry.", "sorry")


def test_assert_not_matches_compiled() -> None:
    with pytest.raises(AssertionError, match=r"found 'As an AI'"):
        assert_not_matches("As an AI, I cannot.", re.compile(r"as an ai", re.I))


# -- substrings ----------------------------------------------------------------------------


def test_assert_contains() -> None:
    assert_contains("Paris is the capital of France.", "paris", "FRANCE")
    assert_contains("Paris", "Paris", case_sensitive=True)
    with pytest.raises(
        AssertionError,
        match=r"expected text to contain all of \['Paris', 'Lyon'\] \(case-insensitive\), "
        r"found it missing \['Lyon'\] in 'Paris is nice\.'",
    ):
        assert_contains("Paris is nice.", "Paris", "Lyon")


def test_assert_contains_case_sensitive_fails() -> None:
    with pytest.raises(AssertionError, match=r"\(case-sensitive\).*missing \['paris'\] in 'Paris'"):
        assert_contains("Paris", "paris", case_sensitive=True)


def test_assert_contains_any() -> None:
    assert_contains_any("The answer is four.", "4", "four")
    with pytest.raises(
        AssertionError,
        match=r"expected text to contain at least one of \['4', 'four'\] \(case-insensitive\), "
        r"found none of them in 'The answer is 5\.'",
    ):
        assert_contains_any("The answer is 5.", "4", "four")


@pytest.mark.parametrize("helper", [assert_contains, assert_contains_any])
def test_contains_needs_needles(helper: object) -> None:
    with pytest.raises(ValueError, match="at least one substring"):
        helper("text")  # type: ignore[operator]


# -- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  \n{"a": [1, 2]}\n ', {"a": [1, 2]}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```JSON\n{"a": 1}\n```\n', {"a": 1}),
        ("```\n[1, 2]\n```", [1, 2]),
        ("42", 42),
        ('"text"', "text"),
        ("null", None),
    ],
)
def test_assert_json_parses(text: str, expected: object) -> None:
    assert assert_json(text) == expected


def test_assert_json_reports_position() -> None:
    text = '{"a": 1 "b": 2}'
    with pytest.raises(
        AssertionError,
        match=r"expected JSON, found invalid JSON: Expecting ',' delimiter at line 1 column 9 "
        r"\(char 8\)",
    ) as info:
        assert_json(text)
    assert repr(text) in str(info.value)


def test_assert_json_rejects_prose() -> None:
    text = 'Here is the JSON: {"a": 1}'
    with pytest.raises(AssertionError, match=r"line 1 column 1 .*Here is the JSON"):
        assert_json(text)


def test_assert_json_rejects_empty() -> None:
    with pytest.raises(AssertionError, match=r"expected JSON, found empty text in '```json\\n```'"):
        assert_json("```json\n```")


def test_assert_json_multiline_error_line() -> None:
    # where the JSON parser puts the error differs between Python versions (3.13 points at a
    # trailing comma, earlier ones after it): the message gives the parser's own position,
    # counted in the fenced JSON's lines
    body = '{\n  "a": 1,\n}'
    with pytest.raises(json.JSONDecodeError) as parsed:
        json.loads(body)
    where = rf"at line {parsed.value.lineno} column {parsed.value.colno} "
    assert parsed.value.lineno > 1
    with pytest.raises(AssertionError, match=where):
        assert_json(f"```json\n{body}\n```")


def test_module_does_not_import_pytest() -> None:
    import pytest_ollama_bench.assertions as module

    assert "pytest" not in vars(module)
