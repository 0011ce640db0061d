"""pytest-ollama-bench: benchmark LLMs served by Ollama as ordinary pytest tests.

The plugin itself is loaded by pytest through the ``pytest11`` entry point; this module only
re-exports the names a test author uses.
"""

from __future__ import annotations

from .assertions import assert_contains
from .assertions import assert_contains_any
from .assertions import assert_json
from .assertions import assert_matches
from .assertions import assert_max_sentences
from .assertions import assert_max_words
from .assertions import assert_min_words
from .assertions import assert_not_matches
from .assertions import assert_one_sentence
from .assertions import assert_sentences
from .assertions import count_sentences
from .assertions import count_words
from .client import OllamaClient
from .client import OllamaConnectionError
from .client import OllamaError
from .client import OllamaHTTPError
from .client import OllamaIncompleteStreamError
from .client import OllamaMalformedResponseError
from .client import OllamaModelNotFoundError
from .client import OllamaStreamError
from .client import OllamaTimeoutError
from .models import Measurement
from .models import Stats

__version__ = "0.1.0"

__all__ = [
    "Measurement",
    "OllamaClient",
    "OllamaConnectionError",
    "OllamaError",
    "OllamaHTTPError",
    "OllamaIncompleteStreamError",
    "OllamaMalformedResponseError",
    "OllamaModelNotFoundError",
    "OllamaStreamError",
    "OllamaTimeoutError",
    "Stats",
    "__version__",
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
]
