"""pytest-ollama-bench: benchmark LLMs served by Ollama as ordinary pytest tests.

The plugin itself is loaded by pytest through the ``pytest11`` entry point; this module only
re-exports the names a test author uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it; imported on first use (PEP 562), so that
#: pytest loading the plugin does not pay for pydantic and aiohttp in runs without benchmarks
_EXPORTS = {
    **dict.fromkeys(
        (
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
        ),
        "assertions",
    ),
    **dict.fromkeys(
        (
            "EmptyReplyError",
            "IncompleteStreamError",
            "MalformedResponseError",
            "ModelNotFoundError",
            "ServerError",
            "ServerHTTPError",
            "ServerTimeoutError",
            "ServerUnreachableError",
            "StreamError",
            # the same classes under the names of earlier releases
            "OllamaConnectionError",
            "OllamaError",
            "OllamaHTTPError",
            "OllamaIncompleteStreamError",
            "OllamaMalformedResponseError",
            "OllamaModelNotFoundError",
            "OllamaStreamError",
            "OllamaTimeoutError",
        ),
        "errors",
    ),
    "OllamaClient": "client",
    "OpenAIClient": "openai",
    "Measurement": "models",
    "Stats": "models",
    "Report": "models",
    "BenchResult": "result",
    "OllamaBench": "fixture",
    "LoadResult": "loadresult",
    "SweepResult": "loadresult",
    "LoadRequest": "loadplan",
    **dict.fromkeys(
        ("Fixed", "Normal", "PromptSet", "Uniform", "WorkItem", "Workload", "read_prompts"),
        "workload",
    ),
    "Calibration": "synthetic",
    "SizedPrompt": "synthetic",
}

__all__ = [
    "BenchResult",
    "Calibration",
    "EmptyReplyError",
    "Fixed",
    "IncompleteStreamError",
    "LoadRequest",
    "LoadResult",
    "MalformedResponseError",
    "Measurement",
    "ModelNotFoundError",
    "Normal",
    "OllamaBench",
    "OllamaClient",
    "OllamaConnectionError",
    "OllamaError",
    "OllamaHTTPError",
    "OllamaIncompleteStreamError",
    "OllamaMalformedResponseError",
    "OllamaModelNotFoundError",
    "OllamaStreamError",
    "OllamaTimeoutError",
    "OpenAIClient",
    "PromptSet",
    "Report",
    "ServerError",
    "ServerHTTPError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "SizedPrompt",
    "Stats",
    "StreamError",
    "SweepResult",
    "Uniform",
    "WorkItem",
    "Workload",
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
    "read_prompts",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .assertions import assert_contains as assert_contains
    from .assertions import assert_contains_any as assert_contains_any
    from .assertions import assert_json as assert_json
    from .assertions import assert_matches as assert_matches
    from .assertions import assert_max_sentences as assert_max_sentences
    from .assertions import assert_max_words as assert_max_words
    from .assertions import assert_min_words as assert_min_words
    from .assertions import assert_not_matches as assert_not_matches
    from .assertions import assert_one_sentence as assert_one_sentence
    from .assertions import assert_sentences as assert_sentences
    from .assertions import count_sentences as count_sentences
    from .assertions import count_words as count_words
    from .client import OllamaClient as OllamaClient
    from .errors import EmptyReplyError as EmptyReplyError
    from .errors import IncompleteStreamError as IncompleteStreamError
    from .errors import MalformedResponseError as MalformedResponseError
    from .errors import ModelNotFoundError as ModelNotFoundError
    from .errors import OllamaConnectionError as OllamaConnectionError
    from .errors import OllamaError as OllamaError
    from .errors import OllamaHTTPError as OllamaHTTPError
    from .errors import OllamaIncompleteStreamError as OllamaIncompleteStreamError
    from .errors import OllamaMalformedResponseError as OllamaMalformedResponseError
    from .errors import OllamaModelNotFoundError as OllamaModelNotFoundError
    from .errors import OllamaStreamError as OllamaStreamError
    from .errors import OllamaTimeoutError as OllamaTimeoutError
    from .errors import ServerError as ServerError
    from .errors import ServerHTTPError as ServerHTTPError
    from .errors import ServerTimeoutError as ServerTimeoutError
    from .errors import ServerUnreachableError as ServerUnreachableError
    from .errors import StreamError as StreamError
    from .fixture import OllamaBench as OllamaBench
    from .loadplan import LoadRequest as LoadRequest
    from .loadresult import LoadResult as LoadResult
    from .loadresult import SweepResult as SweepResult
    from .models import Measurement as Measurement
    from .models import Report as Report
    from .models import Stats as Stats
    from .openai import OpenAIClient as OpenAIClient
    from .result import BenchResult as BenchResult
    from .synthetic import Calibration as Calibration
    from .synthetic import SizedPrompt as SizedPrompt
    from .workload import Fixed as Fixed
    from .workload import Normal as Normal
    from .workload import PromptSet as PromptSet
    from .workload import Uniform as Uniform
    from .workload import WorkItem as WorkItem
    from .workload import Workload as Workload
    from .workload import read_prompts as read_prompts
