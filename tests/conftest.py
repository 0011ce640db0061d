from __future__ import annotations

import pytest

pytest_plugins = ["pytest_ollama_bench.testing"]

#: What every pytester project gets unless a test writes its own ini (then include this).
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


#: The terminal width of inner runs unless a test sets ``COLUMNS`` itself: wide enough for
#: every column, so tests about content need not care how tables fit a narrow terminal.
WIDE = "250"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with an ini that keeps pytest-asyncio from warning in every inner run, in a
    terminal :data:`WIDE` characters wide."""
    pytester.makeini(BASE_INI)
    monkeypatch.setenv("COLUMNS", WIDE)
    return pytester
