"""Assertion helpers for checking model answers: sentence and word counts, patterns, JSON.

Every failing helper raises :class:`AssertionError` whose message says what was expected, what
was found, and quotes the offending text (``repr``, shortened in the middle when very long), so a
failed benchmark shows the model's answer without re-running it. Nothing here imports pytest;
each function sets ``__tracebackhide__``, so pytest's traceback ends at the caller's line.

Sentence counting is heuristic (there is no exact answer for free text) and tuned for what
chat models write: markdown structure, abbreviations, decimals, quotes and emoji. See
:mod:`.sentences` for the rules.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .sentences import count_sentences
from .sentences import has_alnum
from .sentences import split_sentences

__all__ = [
    "assert_contains",
    "assert_contains_any",
    "assert_json",
    "assert_matches",
    "assert_max_sentences",
    "assert_max_words",
    "assert_min_words",
    "assert_not_matches",
    "assert_one_sentence",
    "assert_sentences",
    "count_sentences",
    "count_words",
    "split_sentences",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

# -- quoting ------------------------------------------------------------------------------------

_QUOTE_LIMIT = 240
_SENTENCE_QUOTE_LIMIT = 80
_MAX_LISTED_SENTENCES = 10


def _quote(text: str, limit: int = _QUOTE_LIMIT) -> str:
    """``repr(text)``, keeping the head and tail of text longer than ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    head = limit * 2 // 3
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]!r} ... {text[-tail:]!r} ({len(text)} chars, {omitted} omitted)"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check_count(n: int, name: str = "n") -> None:
    __tracebackhide__ = True
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {n!r}")


def _sentence_detail(text: str) -> str:
    sentences = split_sentences(text)
    if not sentences or len(sentences) > _MAX_LISTED_SENTENCES:
        return ""
    listed = " | ".join(_quote(s, _SENTENCE_QUOTE_LIMIT) for s in sentences)
    return f" (sentences: {listed})"


def assert_sentences(text: str, n: int) -> None:
    """Assert that ``text`` has exactly ``n`` sentences (as counted by :func:`count_sentences`).

    :param text: the answer to check.
    :param n: the required number of sentences.
    :raises AssertionError: naming the count found, the sentences and the text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    _check_count(n)
    found = count_sentences(text)
    if found != n:
        raise AssertionError(
            f"expected exactly {_plural(n, 'sentence')}, found {found} in {_quote(text)}"
            f"{_sentence_detail(text)}"
        )


def assert_one_sentence(text: str) -> None:
    """Assert that ``text`` is exactly one sentence.

    :param text: the answer to check.
    :raises AssertionError: naming the count found, the sentences and the text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    assert_sentences(text, 1)


def assert_max_sentences(text: str, n: int) -> None:
    """Assert that ``text`` has at most ``n`` sentences.

    :param text: the answer to check.
    :param n: the largest number of sentences allowed.
    :raises AssertionError: naming the count found, the sentences and the text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    _check_count(n)
    found = count_sentences(text)
    if found > n:
        raise AssertionError(
            f"expected at most {_plural(n, 'sentence')}, found {found} in {_quote(text)}"
            f"{_sentence_detail(text)}"
        )


# -- words --------------------------------------------------------------------------------------


def count_words(text: str) -> int:
    """Count the words in ``text``: whitespace-separated tokens containing a letter or digit.

    Markdown markers (``-``, ``**``, ``#``) and lone punctuation are not words; ``3.14``,
    ``don't`` and ``state-of-the-art`` are one word each. Scripts written without spaces (CJK)
    count as one word per space-separated run.

    :param text: the text to count.
    :returns: the number of words.
    """
    return sum(1 for token in text.split() if has_alnum(token))


def assert_max_words(text: str, n: int) -> None:
    """Assert that ``text`` has at most ``n`` words (as counted by :func:`count_words`).

    :param text: the answer to check.
    :param n: the largest number of words allowed.
    :raises AssertionError: naming the count found and the text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    _check_count(n)
    found = count_words(text)
    if found > n:
        raise AssertionError(
            f"expected at most {_plural(n, 'word')}, found {found} in {_quote(text)}"
        )


def assert_min_words(text: str, n: int) -> None:
    """Assert that ``text`` has at least ``n`` words (as counted by :func:`count_words`).

    :param text: the answer to check.
    :param n: the smallest number of words allowed.
    :raises AssertionError: naming the count found and the text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    _check_count(n)
    found = count_words(text)
    if found < n:
        raise AssertionError(
            f"expected at least {_plural(n, 'word')}, found {found} in {_quote(text)}"
        )


# -- patterns and substrings --------------------------------------------------------------------


def _describe_pattern(pattern: re.Pattern[str]) -> str:
    implicit = re.compile("").flags  # re.UNICODE, present on every str pattern
    flags = pattern.flags & ~implicit
    if not flags:
        return f"pattern {pattern.pattern!r}"
    return f"pattern {pattern.pattern!r} (flags {re.RegexFlag(flags)!r})"


def assert_matches(text: str, pattern: str | re.Pattern[str], flags: int = 0) -> re.Match[str]:
    """Assert that ``pattern`` matches somewhere in ``text`` (:func:`re.search`).

    :param text: the answer to check.
    :param pattern: a regular expression, as a string or compiled.
    :param flags: :mod:`re` flags for a string pattern (a compiled pattern carries its own).
    :returns: the match object, for further checks on groups.
    :raises AssertionError: naming the pattern and the text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    compiled = re.compile(pattern, flags)
    match = compiled.search(text)
    if match is None:
        raise AssertionError(
            f"expected text to match {_describe_pattern(compiled)}, found no match in "
            f"{_quote(text)}"
        )
    return match


def assert_not_matches(text: str, pattern: str | re.Pattern[str], flags: int = 0) -> None:
    """Assert that ``pattern`` matches nowhere in ``text`` (:func:`re.search`).

    :param text: the answer to check.
    :param pattern: a regular expression, as a string or compiled.
    :param flags: :mod:`re` flags for a string pattern (a compiled pattern carries its own).
    :raises AssertionError: naming the pattern, what it matched and where, and the text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    compiled = re.compile(pattern, flags)
    match = compiled.search(text)
    if match is not None:
        raise AssertionError(
            f"expected no match for {_describe_pattern(compiled)}, found "
            f"{_quote(match.group(), _SENTENCE_QUOTE_LIMIT)} at position {match.start()} in "
            f"{_quote(text)}"
        )


def _check_needles(needles: tuple[str, ...]) -> None:
    __tracebackhide__ = True
    if not needles:
        raise ValueError("give at least one substring to look for")
    for needle in needles:
        if not isinstance(needle, str):
            raise TypeError(f"substrings must be str, got {needle!r}")


def _contains(text: str, needle: str, case_sensitive: bool) -> bool:
    if case_sensitive:
        return needle in text
    return needle.casefold() in text.casefold()


def _case(case_sensitive: bool) -> str:
    return "case-sensitive" if case_sensitive else "case-insensitive"


def assert_contains(text: str, *needles: str, case_sensitive: bool = False) -> None:
    """Assert that ``text`` contains every one of ``needles``.

    :param text: the answer to check.
    :param needles: the substrings that must all occur.
    :param case_sensitive: compare exactly; by default case is ignored (``str.casefold``).
    :raises AssertionError: naming the missing substrings and the text.
    :raises ValueError: when no substring is given.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    _check_needles(needles)
    missing = [n for n in needles if not _contains(text, n, case_sensitive)]
    if missing:
        raise AssertionError(
            f"expected text to contain all of {list(needles)!r} ({_case(case_sensitive)}), "
            f"found it missing {missing!r} in {_quote(text)}"
        )


def assert_contains_any(text: str, *needles: str, case_sensitive: bool = False) -> None:
    """Assert that ``text`` contains at least one of ``needles``.

    :param text: the answer to check.
    :param needles: the substrings of which one must occur.
    :param case_sensitive: compare exactly; by default case is ignored (``str.casefold``).
    :raises AssertionError: naming the substrings and the text.
    :raises ValueError: when no substring is given.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    _check_needles(needles)
    if not any(_contains(text, n, case_sensitive) for n in needles):
        raise AssertionError(
            f"expected text to contain at least one of {list(needles)!r} "
            f"({_case(case_sensitive)}), found none of them in {_quote(text)}"
        )


# -- JSON ---------------------------------------------------------------------------------------

_JSON_FENCE = re.compile(r"\A```[ \t]*(?:json)?[ \t]*\n(?P<body>.*?)\n?[ \t]*```\Z", re.I | re.S)


def assert_json(text: str) -> Any:
    """Assert that ``text`` is JSON and return the parsed value.

    Surrounding whitespace is ignored, and so is a single markdown code fence around the whole
    answer (```` ```json ```` or plain ```` ``` ````), which models often add.

    :param text: the answer to check.
    :returns: the parsed value (``dict``, ``list``, ``str``, number, ``bool`` or ``None``).
    :raises AssertionError: naming the parse error, its line, column and surroundings, and the
        text.
    """
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    document = text.strip()
    fenced = _JSON_FENCE.match(document)
    if fenced:
        document = fenced.group("body").strip()
    if not document:
        raise AssertionError(f"expected JSON, found empty text in {_quote(text)}")
    try:
        return json.loads(document)
    except json.JSONDecodeError as exc:
        near = document[max(0, exc.pos - 20) : exc.pos + 20]
        raise AssertionError(
            f"expected JSON, found invalid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno} (char {exc.pos}), near {near!r}, in {_quote(text)}"
        ) from None
