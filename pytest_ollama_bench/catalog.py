"""Which models the server has, asked once per process, and whether a test's models are there.

No pytest here: the answer is a reason string (or None), and the pytest-facing code decides
whether that skips the test or, under ``--ollama-require``, errors it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .availability import find_model
from .availability import missing_model_reason
from .availability import model_list_failure_reason
from .availability import parse_ollama_list
from .settings import Settings

if TYPE_CHECKING:
    from .models import ModelDetails

__all__ = ["ModelCatalog"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True


class ModelCatalog:
    """The server's model list, fetched on first use and kept for the process.

    :param fetch: returns the models (``/api/tags`` or ``/v1/models``); raises a client error.
    :param settings: the session's settings (host, API).
    :param display_host: the server's URL without credentials, for reasons.
    """

    def __init__(
        self,
        fetch: Callable[[], list[ModelDetails]],
        settings: Settings,
        display_host: str,
    ) -> None:
        self._fetch = fetch
        self._settings = settings
        self._display_host = display_host
        self._installed: list[ModelDetails] | None = None
        self._failure: str | None = None
        self._asked = False

    def installed(self) -> list[ModelDetails] | None:
        """The models, or None when the list could not be had (see :meth:`failure`)."""
        if not self._asked:
            from .errors import ServerError

            self._asked = True
            try:
                self._installed = self._fetch()
            except ServerError as exc:
                self._installed = self._ollama_list_fallback()
                if self._installed is None:
                    self._failure = model_list_failure_reason(exc)
        return self._installed

    def failure(self) -> str:
        """Why there is no model list (meaningful after :meth:`installed` returned None)."""
        return self._failure or f"no model list from {self._display_host}"

    def missing(self, models: Sequence[str]) -> str | None:
        """The reason the first of ``models`` cannot run here, or None when all are there."""
        installed = self.installed()
        if installed is None:
            return self.failure()
        for model in models:
            if find_model(model, installed) is None:
                return missing_model_reason(
                    model, self._display_host, installed, embedded=self._settings.embedded
                )
        return None

    def find(self, model: str) -> ModelDetails | None:
        """What the server says about ``model`` (None when unknown or not listed)."""
        if not self._installed:
            return None
        return find_model(model, self._installed)

    def _ollama_list_fallback(self) -> list[ModelDetails] | None:
        """``ollama list`` when the API failed and the CLI is installed (native API only)."""
        exe = shutil.which("ollama")
        if exe is None or self._settings.api != "native":
            return None
        env = {**os.environ, "OLLAMA_HOST": self._settings.host}
        try:
            done = subprocess.run(
                [exe, "list"], capture_output=True, text=True, timeout=30, env=env, check=False
            )
            if done.returncode != 0:
                return None
            return parse_ollama_list(done.stdout)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
