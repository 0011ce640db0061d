"""Assertion helpers for checking model answers: sentence and word counts, patterns, JSON.

Every failing helper raises :class:`AssertionError` whose message says what was expected, what
was found, and quotes the offending text (``repr``, shortened in the middle when very long), so a
failed benchmark shows the model's answer without re-running it. Nothing here imports pytest.

Sentence counting is heuristic (there is no exact answer for free text) and tuned for what
chat models write: markdown structure, abbreviations, decimals, quotes and emoji. See
:func:`split_sentences` for the rules.
"""

from __future__ import annotations

import json
import re
from typing import Any

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
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {n!r}")


# -- sentence splitting -------------------------------------------------------------------------

# Terminal punctuation: ASCII . ! ? and the ellipsis, interrobang and double marks; CJK full-width
# marks end a sentence without needing a following space.
_CJK_TERMINALS = "\u3002\uff01\uff1f\uff0e\uff61"
_TERMINALS = ".!?\u2026\u203c\u203d\u2047\u2048\u2049" + _CJK_TERMINALS
# Characters that may close a sentence after its terminal mark: quotes, brackets, markdown
# emphasis and code, CJK corner brackets.
_CLOSERS = "\"'\u201d\u2019\u00bb)]}*_`\u300d\u300f\uff09\u3011"
# Characters that may open the next sentence before its first word.
_OPENERS = "\"'\u201c\u2018\u00ab([{*_`\u00bf\u00a1\u300c\u300e\uff08\u3010"

_TERMINAL_RUN = re.compile(
    f"(?P<punct>[{re.escape(_TERMINALS)}]+)(?P<close>[{re.escape(_CLOSERS)}]*)",
)
_INLINE_CODE = re.compile(r"`[^`\n]+`")

# Abbreviations that never end a sentence when the next word is capitalised or a number:
# titles before names and Latin/reference abbreviations used mid-sentence.
_NEVER_FINAL_ABBREVIATIONS = frozenset(
    {
        "approx",
        "capt",
        "cf",
        "col",
        "dr",
        "e.g",
        "esp",
        "fr",
        "gen",
        "gov",
        "hon",
        "i.e",
        "incl",
        "lt",
        "messrs",
        "mr",
        "mrs",
        "ms",
        "mt",
        "mx",
        "prof",
        "resp",
        "rev",
        "sen",
        "sgt",
        "st",
        "viz",
        "vs",
    }
)
# Abbreviations that do not end a sentence when a number follows ("No. 5", "Fig. 3").
_NUMBER_ABBREVIATIONS = frozenset(
    {"art", "ch", "eq", "fig", "figs", "no", "nos", "nr", "op", "p", "para", "pp", "pt", "sec"}
    | {"vol", "vols"}
)
# Abbreviations that may or may not end a sentence; they do only when the next word is a
# common sentence starter ("..., etc. The rest" vs "Martin Luther King Jr. Day").
_AMBIGUOUS_ABBREVIATIONS = frozenset(
    {"al", "bros", "co", "corp", "etc", "inc", "jr", "ltd", "sr"},
)
_ABBREVIATIONS = _NEVER_FINAL_ABBREVIATIONS | _NUMBER_ABBREVIATIONS | _AMBIGUOUS_ABBREVIATIONS
# Dotted initialisms: U.S, a.m, p.m, Ph.D, U.S.A (the final dot is the candidate boundary).
_INITIALISM = re.compile(r"^(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}$")
# Words that commonly start a sentence; after an ambiguous abbreviation or an initial they mark
# a boundary ("in the U.S. The" splits, "the U.S. Army" does not).
_SENTENCE_STARTERS = frozenset(
    {
        "A",
        "After",
        "All",
        "Also",
        "An",
        "And",
        "As",
        "At",
        "Before",
        "But",
        "By",
        "Each",
        "Every",
        "For",
        "From",
        "He",
        "Her",
        "Here",
        "His",
        "How",
        "However",
        "I",
        "If",
        "In",
        "It",
        "Its",
        "Many",
        "Most",
        "My",
        "No",
        "Not",
        "Note",
        "Now",
        "On",
        "One",
        "Our",
        "Please",
        "She",
        "So",
        "Some",
        "That",
        "The",
        "Their",
        "Then",
        "There",
        "These",
        "They",
        "This",
        "Those",
        "To",
        "Today",
        "We",
        "What",
        "When",
        "Where",
        "Which",
        "While",
        "Who",
        "Why",
        "With",
        "Yes",
        "You",
        "Your",
    }
)
# "Step 1. Open the file." -- a number after one of these words is a label, not a sentence end.
_LABEL_WORDS = frozenset(
    {
        "case",
        "chapter",
        "day",
        "example",
        "exercise",
        "figure",
        "item",
        "lesson",
        "level",
        "method",
        "note",
        "option",
        "part",
        "phase",
        "point",
        "problem",
        "question",
        "round",
        "rule",
        "section",
        "stage",
        "step",
        "table",
        "task",
        "tip",
        "week",
    }
)
_LABEL_NUMBER = re.compile(r"^\d{1,3}$")

# Markdown block structure.
_LIST_ITEM = re.compile(r"^(?:[-*+\u2022]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^#{1,6}\s+")
_FENCE = re.compile(r"^(```|~~~)")
_BLOCKQUOTE = re.compile(r"^(?:>\s?)+")
# A line ending in one of these continues on the next line.
_CONTINUATION_END = ",;:-\u2013\u2014([{/&+=\\"


def _has_alnum(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _strip_openers(text: str) -> str:
    return text.lstrip(_OPENERS)


def _first_word(text: str) -> str:
    """The first whitespace-delimited word of ``text``, without opening or closing marks."""
    word = _strip_openers(text).split(maxsplit=1)
    if not word:
        return ""
    return word[0].rstrip(_CLOSERS + _TERMINALS + ",;:")


def _is_camel_case(word: str) -> bool:
    """``iPhone``, ``eBay``, ``macOS``: lower-case first letter, upper case later on."""
    return bool(word) and word[0].islower() and any(ch.isupper() for ch in word[1:])


def _period_ends_sentence(previous: str, sentence_so_far: str, next_text: str) -> bool:
    """Decide a single ``.`` followed by whitespace and a word that is not lower case."""
    word = _first_word(next_text)
    first = _strip_openers(next_text)[:1]
    lowered = previous.lower()
    if lowered in _NEVER_FINAL_ABBREVIATIONS:
        return False
    if lowered in _NUMBER_ABBREVIATIONS and first.isdigit():
        return False
    is_initial = len(previous) == 1 and previous.isupper()
    if lowered in _AMBIGUOUS_ABBREVIATIONS or is_initial or _INITIALISM.match(previous):
        return word in _SENTENCE_STARTERS
    if _LABEL_NUMBER.match(previous):
        label = sentence_so_far.strip()
        if not label or label.endswith(":") or _strip_openers(label).lower() in _LABEL_WORDS:
            return False
    return True


def _is_boundary(text: str, start: int, match: re.Match[str]) -> bool:
    """Whether the terminal run ``match`` inside ``text`` ends the sentence begun at ``start``."""
    punct = match.group("punct")
    after = text[match.end() :]
    if any(ch in _CJK_TERMINALS for ch in punct):
        return True
    if after and not after[0].isspace():
        # 3.14, example.com, v1.2.3, U.S (inner dots), Yahoo!'s
        return False
    next_text = after.lstrip()
    if not next_text:
        return True
    first = _strip_openers(next_text)[:1]
    before = text[start : match.start()]
    previous_start = max(before.rfind(" "), before.rfind("\n"), before.rfind("\t")) + 1
    previous = _strip_openers(before[previous_start:])
    if first.islower():
        # "e.g. this", "Wait... what", '"Really?" she asked' continue the sentence; a plain
        # period before a camel-case brand ("... Apple. iPhone sales") still ends it.
        return (
            punct == "."
            and _is_camel_case(_first_word(next_text))
            and previous.lower() not in _ABBREVIATIONS
            and not _INITIALISM.match(previous)
        )
    if punct != ".":
        return True
    return _period_ends_sentence(previous, before[:previous_start], next_text)


def _mask_inline_code(text: str) -> str:
    """Replace the inside of `code spans` so punctuation in code never splits a sentence."""
    return _INLINE_CODE.sub(lambda m: "`" + "x" * (len(m.group()) - 2) + "`", text)


def _split_segment(segment: str) -> list[str]:
    """Split one run of prose (no hard line breaks) into sentences."""
    masked = _mask_inline_code(segment)
    sentences: list[str] = []
    start = 0
    for match in _TERMINAL_RUN.finditer(masked):
        if not _is_boundary(masked, start, match):
            continue
        piece = segment[start : match.end()]
        if not _has_alnum(piece):
            # A lone "..." or emoji joins the following sentence.
            continue
        sentences.append(piece.strip())
        start = match.end()
    tail = segment[start:].strip()
    if tail:
        if _has_alnum(tail) or not sentences:
            sentences.append(tail)
        else:
            # Trailing emoji or punctuation belongs to the last sentence.
            sentences[-1] = f"{sentences[-1]} {tail}"
    return [s for s in sentences if _has_alnum(s)]


def _hard_break(previous_line: str, next_line: str) -> bool:
    """Whether a single line break between two lines of one block ends a sentence.

    Chat models do not hard-wrap prose, so a line that stops without punctuation followed by a
    line starting with a capital letter ("Sure\\nThe answer is 4.") is two units. A line ending
    in terminal punctuation is left to the normal rules (so "Dr.\\nSmith" stays one sentence);
    a line ending in a comma, colon, dash or similar continues.
    """
    last = previous_line.rstrip().rstrip(_CLOSERS)[-1:]
    if not last or last in _TERMINALS or last in _CONTINUATION_END:
        return False
    first = _strip_openers(next_line.lstrip())[:1]
    return first.isalpha() and not first.islower()


def _blocks(text: str) -> list[tuple[bool, list[str]]]:
    """Markdown blocks as ``(is_code, lines)``: paragraphs, list items, headings, code fences."""
    blocks: list[tuple[bool, list[str]]] = []
    current: list[str] = []
    fence: str | None = None

    def flush(is_code: bool = False) -> None:
        nonlocal current
        if current:
            blocks.append((is_code, current))
        current = []

    for raw in text.splitlines():
        line = raw.strip()
        if fence is not None:
            if line.startswith(fence):
                fence = None
                flush(is_code=True)
            else:
                current.append(line)
            continue
        fence_match = _FENCE.match(line)
        if fence_match:
            flush()
            fence = fence_match.group(1)
            continue
        line = _BLOCKQUOTE.sub("", line).strip()
        if not line:
            flush()
            continue
        marker = _LIST_ITEM.match(line) or _HEADING.match(line)
        if marker:
            flush()
            current.append(line[marker.end() :])
            continue
        current.append(line)
    flush(is_code=fence is not None)
    return blocks


def split_sentences(text: str) -> list[str]:
    """Split a model's answer into sentences (see :func:`count_sentences` for the rules).

    :param text: the answer, plain text or markdown.
    :returns: the sentences, stripped, in order; markdown list markers and heading ``#`` are
        removed, a fenced code block is returned whole as one unit.
    """
    sentences: list[str] = []
    for is_code, lines in _blocks(text):
        if is_code:
            if _has_alnum("".join(lines)):
                sentences.append("\n".join(lines))
            continue
        segment = lines[0]
        for line in lines[1:]:
            if _hard_break(segment, line):
                sentences.extend(_split_segment(segment))
                segment = line
            else:
                segment = f"{segment}\n{line}"
        sentences.extend(_split_segment(segment))
    return sentences


def count_sentences(text: str) -> int:
    """Count the sentences in a model's answer.

    A sentence ends at ``.``, ``!``, ``?``, ``...``/``\u2026`` (or runs such as ``?!``), possibly
    followed by closing quotes, brackets or markdown emphasis, when whitespace and a word that
    does not start in lower case follow. The CJK marks ``\u3002``, ``\uff01``, ``\uff1f`` always
    end a sentence. A final sentence needs no terminal mark; a piece of text without any letter
    or digit (a lone emoji, ``...``) is not a sentence of its own.

    Not boundaries: a ``.`` not followed by whitespace (``3.14``, ``example.com``, ``v1.2.3``);
    any mark followed by a lower-case word (``e.g. this``, ``Wait... what``,
    ``"Really?" she asked``); titles and Latin abbreviations (``Dr.``, ``Mr.``, ``e.g.``,
    ``vs.``, ``St.``); reference abbreviations before a number (``No. 5``, ``Fig. 3``);
    initials and dotted initialisms (``J. R. R. Tolkien``, ``U.S.``, ``a.m.``) and ``etc.``,
    ``Jr.``, ``Inc.`` unless the next word is a common sentence starter (``The``, ``It``, ...);
    a number label at the start of a sentence (``Step 1. Open the file.``, ``Do this: 1. ...``).

    Markdown structure: blank-line-separated paragraphs, list items (lines starting with ``-``,
    ``*``, ``+``, ``1.``, ``1)``) and headings each start at least one new sentence; a fenced
    code block counts as one; text in ```code``` spans never splits. Inside a paragraph a line
    break is a space, except that a line without terminal punctuation followed by a line
    starting with a capital letter is a boundary (models do not hard-wrap prose).

    :param text: the answer, plain text or markdown.
    :returns: the number of sentences; 0 for empty or whitespace-only text.
    """
    return len(split_sentences(text))


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
    assert_sentences(text, 1)


def assert_max_sentences(text: str, n: int) -> None:
    """Assert that ``text`` has at most ``n`` sentences.

    :param text: the answer to check.
    :param n: the largest number of sentences allowed.
    :raises AssertionError: naming the count found, the sentences and the text.
    """
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
    return sum(1 for token in text.split() if _has_alnum(token))


def assert_max_words(text: str, n: int) -> None:
    """Assert that ``text`` has at most ``n`` words (as counted by :func:`count_words`).

    :param text: the answer to check.
    :param n: the largest number of words allowed.
    :raises AssertionError: naming the count found and the text.
    """
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
    compiled = re.compile(pattern, flags)
    match = compiled.search(text)
    if match is not None:
        raise AssertionError(
            f"expected no match for {_describe_pattern(compiled)}, found "
            f"{_quote(match.group(), _SENTENCE_QUOTE_LIMIT)} at position {match.start()} in "
            f"{_quote(text)}"
        )


def _check_needles(needles: tuple[str, ...]) -> None:
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
