from __future__ import annotations

import pytest

pytest_plugins = ["pytest_ollama_bench.testing"]

#: What every pytester project gets unless a test writes its own ini (then include this).
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with an ini that keeps pytest-asyncio from warning in every inner run."""
    pytester.makeini(BASE_INI)
    return pytester
