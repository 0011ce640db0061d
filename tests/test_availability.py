from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_ollama_bench.availability import find_model
from pytest_ollama_bench.availability import missing_model_reason
from pytest_ollama_bench.availability import model_list_failure_reason
from pytest_ollama_bench.availability import parse_ollama_list
from pytest_ollama_bench.availability import parse_tags
from pytest_ollama_bench.errors import ServerUnreachableError
from pytest_ollama_bench.models import ModelDetails as InstalledModel
from pytest_ollama_bench.names import display_name
from pytest_ollama_bench.names import normalize_model_name

HOST = "http://127.0.0.1:11434"

# reference/ollama-api.md section 1.5
TAGS_EXAMPLE = """
{"models":[
 {"name":"llama3.2:latest","model":"llama3.2:latest",
  "modified_at":"2025-05-04T17:37:44.706015396-07:00",
  "size":2019393189,
  "digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
  "details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],
             "parameter_size":"3.2B","quantization_level":"Q4_K_M"}}]}
"""

# reference/ollama-api.md section 4.1, upstream cmd/cmd_test.go TestListHandler
UPSTREAM_LIST_OUTPUT = (
    "NAME      ID              SIZE      MODIFIED     \n"
    "model1    sha256:abc12    1.0 KB    24 hours ago    \n"
    "model2    sha256:def45    2.0 KB    2 days ago      \n"
)

# reference/ollama-api.md section 4.1, realistic example ("·" is a space there)
REALISTIC_LIST_OUTPUT = (
    "NAME··················ID··············SIZE······MODIFIED····\n"
    "deepseek-r1:latest····0a8c26691023····4.7·GB····5·days·ago·····\n"
    "llama3.2:latest·······a80c4f17acd5····2.0·GB····11·days·ago····\n"
).replace("·", " ")

EMPTY_LIST_OUTPUT = "NAME    ID    SIZE    MODIFIED \n"


def _list_output(rows: list[tuple[str, str, str, str]]) -> str:
    """Render like tablewriter does (section 4.1's Python model of the upstream test)."""
    table = [("NAME", "ID", "SIZE", "MODIFIED"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    header = "".join(
        cell.ljust(w) + ("    " if i < 3 else " ")
        for i, (cell, w) in enumerate(zip(table[0], widths, strict=True))
    )
    lines = [header] + [
        "".join(c.ljust(w) + "    " for c, w in zip(row, widths, strict=True)) for row in rows
    ]
    return "".join(line + "\n" for line in lines)


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("Llama3.2:latest", "llama3.2:latest"),
        ("library/llama3.2", "llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
        ("REGISTRY.OLLAMA.AI/Library/Llama3.2", "llama3.2:latest"),
        ("  llama3.2:latest \n", "llama3.2:latest"),
        ("qwen2.5:0.5b", "qwen2.5:0.5b"),
        ("Qwen2.5:0.5B", "qwen2.5:0.5b"),
        ("llama3.2:", "llama3.2:latest"),
        ("mattw/pygmalion", "mattw/pygmalion:latest"),
        ("registry.ollama.ai/mattw/pygmalion", "mattw/pygmalion:latest"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m",
        ),
        ("myhost:5000/ns/m", "myhost:5000/ns/m:latest"),
        ("myhost:5000/ns/m:v1", "myhost:5000/ns/m:v1"),
        ("myhost/library/m", "myhost/library/m:latest"),
        ("https://registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("gpt-oss:120b-cloud", "gpt-oss:120b-cloud"),
    ],
)
def test_normalize_model_name(name: str, expected: str) -> None:
    assert normalize_model_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("Llama3.2", "Llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest"),
        ("registry.ollama.ai/mattw/pygmalion", "mattw/pygmalion:latest"),
        (
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        ),
        ("myhost:5000/ns/m", "myhost:5000/ns/m:latest"),
    ],
)
def test_display_name(name: str, expected: str) -> None:
    assert display_name(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "http://"])
def test_empty_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        normalize_model_name(name)


# -- /api/tags -----------------------------------------------------------------------------


def test_parse_tags_reference_example() -> None:
    assert parse_tags(json.loads(TAGS_EXAMPLE)) == [
        InstalledModel(
            name="llama3.2:latest",
            digest="a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            size=2019393189,
            family="llama",
            parameter_size="3.2B",
            quantization_level="Q4_K_M",
            modified_at="2025-05-04T17:37:44.706015396-07:00",
        )
    ]


def test_parse_tags_null_families_and_extra_keys() -> None:
    payload: dict[str, Any] = {
        "models": [
            {
                "name": "qwen3:0.6b",
                "model": "qwen3:0.6b",
                "size": 522653767,
                "digest": "7df6b6e09427",
                "capabilities": ["completion", "tools", "thinking"],
                "details": {
                    "family": "qwen3",
                    "families": None,
                    "parameter_size": "751.63M",
                    "quantization_level": "Q4_K_M",
                    "context_length": 40960,
                },
            }
        ],
        "unexpected": True,
    }
    [model] = parse_tags(payload)
    assert model.name == "qwen3:0.6b"
    assert model.family == "qwen3"
    assert model.parameter_size == "751.63M"
    assert model.modified_at is None


def test_parse_tags_missing_details_and_nulls() -> None:
    payload = {
        "models": [
            {"name": "a:latest"},
            {"name": "b:7b", "details": None, "size": None, "digest": None},
            {"model": "c:1b", "name": None},
        ]
    }
    assert parse_tags(payload) == [
        InstalledModel(name="a:latest"),
        InstalledModel(name="b:7b"),
        InstalledModel(name="c:1b"),
    ]


def test_parse_tags_family_falls_back_to_families() -> None:
    [model] = parse_tags({"models": [{"name": "m:latest", "details": {"families": ["bert"]}}]})
    assert model.family == "bert"


def test_parse_tags_cloud_entry() -> None:
    entry = {
        "name": "gpt-oss:120b-cloud",
        "model": "gpt-oss:120b-cloud",
        "remote_model": "gpt-oss:120b",
        "remote_host": "https://ollama.com:443",
        "size": 384,
    }
    [model] = parse_tags({"models": [entry]})
    assert model.remote_host == "https://ollama.com:443"


@pytest.mark.parametrize("payload", [{"models": []}, {"models": None}, {}])
def test_parse_tags_empty(payload: dict[str, Any]) -> None:
    assert parse_tags(payload) == []


def test_parse_tags_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="must be a list"):
        parse_tags({"models": "llama3.2"})
    with pytest.raises(ValueError, match=r"models\[0\] must be an object"):
        parse_tags({"models": ["llama3.2"]})
    with pytest.raises(ValueError, match="neither 'name' nor 'model'"):
        parse_tags({"models": [{"size": 1}]})


# -- ollama list ---------------------------------------------------------------------------


def test_parse_ollama_list_upstream_test_output() -> None:
    assert parse_ollama_list(UPSTREAM_LIST_OUTPUT) == [
        InstalledModel(name="model1", digest="sha256:abc12", size=1000, modified_at="24 hours ago"),
        InstalledModel(name="model2", digest="sha256:def45", size=2000, modified_at="2 days ago"),
    ]


def test_parse_ollama_list_realistic_example() -> None:
    assert REALISTIC_LIST_OUTPUT.splitlines()[1].endswith("ago     ")
    assert parse_ollama_list(REALISTIC_LIST_OUTPUT) == [
        InstalledModel(
            name="deepseek-r1:latest",
            digest="0a8c26691023",
            size=4_700_000_000,
            modified_at="5 days ago",
        ),
        InstalledModel(
            name="llama3.2:latest",
            digest="a80c4f17acd5",
            size=2_000_000_000,
            modified_at="11 days ago",
        ),
    ]


def test_list_renderer_reproduces_upstream_output() -> None:
    rows = [
        ("model1", "sha256:abc12", "1.0 KB", "24 hours ago"),
        ("model2", "sha256:def45", "2.0 KB", "2 days ago"),
    ]
    assert _list_output(rows) == UPSTREAM_LIST_OUTPUT
    assert _list_output([]) == EMPTY_LIST_OUTPUT


def test_parse_ollama_list_sizes_and_cloud() -> None:
    output = _list_output(
        [
            ("gpt-oss:120b-cloud", "569662207105", "-", "2 weeks ago"),
            ("all-minilm:latest", "1b226e2802db", "45 MB", "About an hour ago"),
            ("tiny:latest", "0123456789ab", "274 B", "Less than a second ago"),
            ("big:latest", "ba5eba11cafe", "1.2 TB", "3 months ago"),
        ]
    )
    models = parse_ollama_list(output.replace("\n", "\r\n"))
    assert [m.size for m in models] == [None, 45_000_000, 274, 1_200_000_000_000]
    assert models[1].modified_at == "About an hour ago"


def test_parse_ollama_list_empty_store() -> None:
    assert parse_ollama_list(EMPTY_LIST_OUTPUT) == []
    assert parse_ollama_list("\n" + EMPTY_LIST_OUTPUT + "\n") == []


@pytest.mark.parametrize(
    "output",
    [
        "Error: could not connect to ollama server, run 'ollama serve' to start it\n",
        "NAME    ID    SIZE    PROCESSOR    CONTEXT    UNTIL \n",
        "",
    ],
)
def test_parse_ollama_list_rejects_unknown_header(output: str) -> None:
    with pytest.raises(ValueError, match=r"`ollama list`.*NAME  ID  SIZE  MODIFIED"):
        parse_ollama_list(output)


def test_parse_ollama_list_rejects_bad_rows() -> None:
    with pytest.raises(ValueError, match=r"unrecognised SIZE '2\.0 GiB'"):
        parse_ollama_list(EMPTY_LIST_OUTPUT + "m:latest    0123456789ab    2.0 GiB    now    \n")
    with pytest.raises(ValueError, match="expected four cells"):
        parse_ollama_list(EMPTY_LIST_OUTPUT + "m:latest\n")


# -- lookup and reasons --------------------------------------------------------------------


INSTALLED = [
    InstalledModel(name="llama3.2:latest"),
    InstalledModel(name="qwen2.5:0.5b"),
    InstalledModel(name="mattw/pygmalion:latest"),
    InstalledModel(name="hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("LLAMA3.2:latest", "llama3.2:latest"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("Qwen2.5:0.5B", "qwen2.5:0.5b"),
        ("mattw/pygmalion", "mattw/pygmalion:latest"),
        (
            "hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        ),
        ("qwen2.5", None),
        ("llama3.2:1b", None),
        ("pygmalion", None),
    ],
)
def test_find_model(wanted: str, expected: str | None) -> None:
    found = find_model(wanted, INSTALLED)
    assert (found.name if found else None) == expected


def test_find_model_in_parsed_list() -> None:
    found = find_model("deepseek-r1", parse_ollama_list(REALISTIC_LIST_OUTPUT))
    assert found is not None
    assert found.digest == "0a8c26691023"


def test_missing_model_reason() -> None:
    installed = [InstalledModel(name="a:latest"), InstalledModel(name="b:7b")]
    assert missing_model_reason("x", HOST, installed) == (
        "model 'x' not available on http://127.0.0.1:11434 (have: a:latest, b:7b); "
        "run: ollama pull x"
    )


def test_missing_model_reason_none_installed() -> None:
    assert missing_model_reason("llama3.2", HOST, []) == (
        "model 'llama3.2' not available on http://127.0.0.1:11434 (have: none); "
        "run: ollama pull llama3.2"
    )


def test_missing_model_reason_truncates_long_list() -> None:
    installed = [InstalledModel(name=f"m{i}:latest") for i in range(13)]
    first_ten = ", ".join(f"m{i}:latest" for i in range(10))
    assert missing_model_reason("x", HOST, installed) == (
        f"model 'x' not available on http://127.0.0.1:11434 (have: {first_ten}, \u2026 (+3 more)); "
        "run: ollama pull x"
    )


def test_missing_model_reason_exactly_ten_is_not_truncated() -> None:
    installed = [InstalledModel(name=f"m{i}:latest") for i in range(10)]
    assert "more" not in missing_model_reason("x", HOST, installed)


def test_unreachable_reason() -> None:
    refused = ServerUnreachableError(host=HOST, path="/api/tags", detail="connection refused")
    assert model_list_failure_reason(refused) == (
        "Ollama server at http://127.0.0.1:11434 is not reachable (connection refused); "
        "start it with 'ollama serve' or point --ollama-host / OLLAMA_HOST at a running server"
    )
    assert model_list_failure_reason(ServerUnreachableError(host="http://gpu-box:11434")) == (
        "Ollama server at http://gpu-box:11434 is not reachable; "
        "start it with 'ollama serve' or point --ollama-host / OLLAMA_HOST at a running server"
    )


def test_module_does_not_import_pytest() -> None:
    import pytest_ollama_bench.availability as module

    assert "pytest" not in vars(module)
