"""Sentence splitting for model answers: the heuristics behind :func:`count_sentences`.

Pure, standard library only. There is no exact answer for free text; the rules are tuned for
what chat models write: markdown structure, abbreviations, decimals, quotes and emoji (see
:func:`count_sentences`).
"""

from __future__ import annotations

import re

__all__ = ["count_sentences", "has_alnum", "split_sentences"]

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


def has_alnum(text: str) -> bool:
    """Whether ``text`` has a letter or digit (a word, not punctuation or emoji)."""
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
        if not has_alnum(piece):
            # A lone "..." or emoji joins the following sentence.
            continue
        sentences.append(piece.strip())
        start = match.end()
    tail = segment[start:].strip()
    if tail:
        if has_alnum(tail) or not sentences:
            sentences.append(tail)
        else:
            # Trailing emoji or punctuation belongs to the last sentence.
            sentences[-1] = f"{sentences[-1]} {tail}"
    return [s for s in sentences if has_alnum(s)]


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
            if has_alnum("".join(lines)):
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
