"""Names under which the plugin's data travels in ``user_properties`` to the controller.

Reports cross process boundaries (pytest-xdist) as plain data, ``user_properties`` included, so
every record rides there as a JSON-able value under one of these names.
"""

from __future__ import annotations

__all__ = ["CASE_KEY", "DETAILS_KEY", "GATES_KEY", "INTERNAL_KEYS", "RECORD_KEY", "RESOURCES_KEY"]

#: One CallRecord (``model_dump(mode="json")``) per chat/generate call.
RECORD_KEY = "ollama_bench"
#: The GateResults of a test, each with its model.
GATES_KEY = "ollama_bench_gates"
#: Which model a fanned-out test instance ran with, and its test id without the model.
CASE_KEY = "ollama_bench_case"
#: ModelDetails per model name, from the server's model list.
DETAILS_KEY = "ollama_bench_models"
#: The ResourceUse sampled while the test body ran.
RESOURCES_KEY = "ollama_bench_resources"

INTERNAL_KEYS = frozenset({RECORD_KEY, GATES_KEY, CASE_KEY, DETAILS_KEY, RESOURCES_KEY})
