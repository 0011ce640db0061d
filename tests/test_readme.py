"""The README's reference tables are the registries' own: a test fails when they drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_ollama_bench import metrics
from pytest_ollama_bench import options

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def test_readme_metric_table_is_the_registry() -> None:
    expected = _block(metrics.markdown_table())
    assert expected in README.read_text(encoding="utf-8"), (
        "README.md's metric table differs from the registry; paste this:\n" + expected
    )


def test_readme_option_table_is_the_option_declarations() -> None:
    expected = _block(options.markdown_table())
    assert expected in README.read_text(encoding="utf-8"), (
        "README.md's option table differs from the options; paste this:\n" + expected
    )


def test_every_metric_and_option_is_in_the_readme_tables() -> None:
    text = README.read_text(encoding="utf-8")
    for metric in metrics.METRICS:
        assert f"| `{metric.name}` | `" in text
    for opt in options.OPTIONS:
        assert f"| `{opt.flag}" in text


def test_the_metrics_command_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "metrics"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout == _block(metrics.markdown_table())


def test_the_readme_shows_first_the_demo_test_that_passes_on_the_embedded_model() -> None:
    from pytest_ollama_bench.commands import DEMO_DIR

    text = README.read_text(encoding="utf-8")
    first = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert "@pytest.mark.llm_bench(" in first
    assert '"seed": 42' in first  # repeatable on a small model
    assert first in (DEMO_DIR / "test_quickstart.py").read_text(encoding="utf-8")
