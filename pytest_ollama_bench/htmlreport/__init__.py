"""The HTML report: one self-contained page of a run, for people to look at rather than read.

:func:`.page.render_html` turns a :class:`~pytest_ollama_bench.models.Report` (plus the saved
runs of its history, its baseline and regressions) into one HTML document: every style and
script inline, every chart an inline SVG drawn by pygal, nothing fetched from the network.
Sections, in order: the run's header, one per test, one per load test, the history, skipped
and failed cases (:data:`.page.SECTIONS`).

Nothing here is imported at pytest start-up: the plugin imports this package when
``--ollama-html`` is set, and pygal (the ``html`` extra) when the first chart is drawn.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

__all__ = ["HTML_EXTRA_HINT", "import_pygal", "missing_dependency"]

#: How to install what the HTML report needs.
HTML_EXTRA_HINT = "pip install 'pytest-ollama-bench[html]'"


def import_pygal() -> ModuleType:
    """Import pygal, without the import hook it leaves behind.

    pygal appends a ``sys.meta_path`` finder for its map plugins that has no ``find_spec``:
    on Python < 3.12 every later import of a module that does not exist then warns
    (``ImportWarning: PluginImportFixer.find_spec() not found``), an error under ``-W error``.
    The report draws no maps, so the finder is taken out again.

    :raises ImportError: pygal is not installed (or broken).
    """
    pygal = importlib.import_module("pygal")
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]
    return pygal


def missing_dependency() -> str | None:
    """Why the HTML report cannot be drawn here (pygal missing or broken), or None if it can.

    The message names the package and the command that installs it.
    """
    try:
        import_pygal()
    except ImportError as exc:
        return (
            f"the HTML report draws its charts with pygal, which cannot be imported here ({exc}); "
            f"install it with: {HTML_EXTRA_HINT}"
        )
    return None
