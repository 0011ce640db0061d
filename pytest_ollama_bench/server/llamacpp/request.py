"""An Ollama request as llama.cpp's server takes it: option names, defaults, messages.

Pure mapping, no ``xllamacpp`` needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import Literal

from ..engine import GenerationRequest

__all__ = ["OLLAMA_DEFAULT_OPTIONS", "build_llamacpp_request", "ollama_options_to_llamacpp"]

#: Ollama's own defaults (``api.DefaultOptions``) for the sampling options it forwards to its
#: runner. llama.cpp's defaults differ (top_p 0.95, min_p 0.05, repeat_penalty 1.0), so they
#: are sent explicitly whenever a request leaves an option out.
OLLAMA_DEFAULT_OPTIONS: Mapping[str, float | int] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.1,
    "repeat_last_n": 64,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}

# Ollama option name -> llama.cpp server request field (numeric options).
_FLOAT_OPTIONS: Mapping[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "mirostat_tau": "mirostat_tau",
    "mirostat_eta": "mirostat_eta",
}
_INT_OPTIONS: Mapping[str, str] = {
    "top_k": "top_k",
    "repeat_last_n": "repeat_last_n",
    "mirostat": "mirostat",
    "num_keep": "n_keep",
}


def ollama_options_to_llamacpp(options: Mapping[str, Any]) -> dict[str, Any]:
    """Map Ollama ``options`` to llama.cpp server request fields.

    Sampling options the request leaves out get :data:`OLLAMA_DEFAULT_OPTIONS`. ``num_predict``
    becomes ``n_predict`` (``-2``, "fill the context", becomes ``-1``: llama.cpp stops at the end
    of the context anyway); a negative ``seed`` (Ollama's "random") is left out; ``stop`` is
    always a list; ``ignore_eos`` (llama.cpp's option, not Ollama's; ``output_tokens=`` sends
    it) goes through as a boolean. Load-time options (``num_ctx``, ``num_thread``,
    ``num_gpu``...) are ignored: the model is loaded once with the engine's settings.
    """
    merged: dict[str, Any] = dict(OLLAMA_DEFAULT_OPTIONS)
    merged.update({key: value for key, value in options.items() if value is not None})
    out: dict[str, Any] = {}
    for ollama_name, llama_name in _FLOAT_OPTIONS.items():
        if ollama_name in merged:
            out[llama_name] = float(merged[ollama_name])
    for ollama_name, llama_name in _INT_OPTIONS.items():
        if ollama_name in merged:
            out[llama_name] = int(merged[ollama_name])
    if "num_predict" in merged:
        n_predict = int(merged["num_predict"])
        out["n_predict"] = -1 if n_predict < -1 else n_predict
    if "seed" in merged and int(merged["seed"]) >= 0:
        out["seed"] = int(merged["seed"]) % (1 << 32)
    if "ignore_eos" in merged:
        out["ignore_eos"] = bool(merged["ignore_eos"])
    if "stop" in merged:
        stop = merged["stop"]
        out["stop"] = [stop] if isinstance(stop, str) else [str(item) for item in stop]
    return out


def _chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    return {
        "role": str(message.get("role") or "user"),
        "content": "" if content is None else str(content),
    }


def build_llamacpp_request(
    request: GenerationRequest,
) -> tuple[Literal["chat", "completion"], dict[str, Any]]:
    """The llama.cpp request for ``request`` and which handler takes it.

    ``/api/chat`` -> chat completions with the messages; ``/api/generate`` -> chat completions
    with the system (when given) and the prompt as a user message, so the model's chat template
    applies as in Ollama; ``raw`` generate -> plain completions of the prompt as-is. Always
    streamed, and always with ``cache_prompt: false`` so every request evaluates its whole
    prompt (llama.cpp would otherwise reuse the KV cache of the previous request).
    """
    payload: dict[str, Any] = {"stream": True, "cache_prompt": False}
    payload.update(ollama_options_to_llamacpp(request.options))
    if request.endpoint == "generate" and request.raw:
        payload["prompt"] = request.prompt
        return "completion", payload
    if request.endpoint == "chat":
        messages = [_chat_message(message) for message in request.messages]
    else:
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
    payload["messages"] = messages
    return "chat", payload
