"""Plausible details of a simulated model, from its name: what ``/api/tags`` says about it.

A simulated model has no weights, so its family, parameter count, quantization and file size
are made up, but as Ollama's library would report them for that name: ``qwen2.5:0.5b`` is a
``qwen2`` model of ``494.03M`` parameters in ``Q4_K_M`` of about 300 MB, ``llama3.2`` a
``llama`` model of ``3.2B`` parameters in ``Q4_K_M`` of 2.0 GB. :func:`describe` reads:

* the family and the default tag's size and quantization from :data:`LIBRARY` (the model's
  name, or the longest known name it starts with: ``llama3.3`` is a ``llama``);
* a size from the tag or the name (``0.5b``, ``135m``, ``-3B-``, ``8x7b``) and a
  quantization from the tag (``q8_0``, ``Q4_K_M``, ``fp16``), which win over the defaults;
* the parameter count of the best-known tags exactly as Ollama shows it (:data:`EXACT`),
  the others written as Ollama writes counts (``format.HumanNumber``: ``7.6B``, ``500M``);
* the file size: parameters * bits per weight of the quantization / 8 (Ollama's
  ``llama3.2:latest`` is exactly 2,019,393,189 bytes, kept as the reference has it).

A name nothing is known of is a ``llama`` of the size its tag says, else of ``3.2B``.
Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..names import read_model_name

__all__ = ["EXACT", "LIBRARY", "ModelDetails", "describe", "human_number"]


@dataclass(frozen=True)
class ModelDetails:
    """What ``details`` and ``size`` of ``/api/tags`` say about a model."""

    family: str
    parameter_size: str
    quantization_level: str
    size: int


#: Model name -> (family, parameters of its default tag, quantization of its default tag).
LIBRARY: dict[str, tuple[str, float, str]] = {
    "llama2": ("llama", 6.74e9, "Q4_0"),
    "llama3": ("llama", 8.03e9, "Q4_0"),
    "llama3.1": ("llama", 8.03e9, "Q4_K_M"),
    "llama3.2": ("llama", 3.21e9, "Q4_K_M"),
    "llama3.3": ("llama", 70.6e9, "Q4_K_M"),
    "llama": ("llama", 8.03e9, "Q4_K_M"),
    "tinyllama": ("llama", 1.1e9, "Q4_0"),
    "mistral": ("llama", 7.25e9, "Q4_K_M"),
    "mixtral": ("llama", 46.7e9, "Q4_0"),
    "codellama": ("llama", 6.74e9, "Q4_0"),
    "smollm2": ("llama", 1.71e9, "Q8_0"),
    "qwen": ("qwen2", 7.62e9, "Q4_K_M"),
    "qwen2": ("qwen2", 7.62e9, "Q4_0"),
    "qwen2.5": ("qwen2", 7.62e9, "Q4_K_M"),
    "qwen2.5-coder": ("qwen2", 7.62e9, "Q4_K_M"),
    "qwen3": ("qwen3", 8.19e9, "Q4_K_M"),
    "deepseek-r1": ("qwen3", 8.19e9, "Q4_K_M"),
    "phi3": ("phi3", 3.82e9, "Q4_0"),
    "phi4": ("phi3", 14.7e9, "Q4_K_M"),
    "gemma": ("gemma", 8.54e9, "Q4_0"),
    "gemma2": ("gemma2", 9.24e9, "Q4_0"),
    "gemma3": ("gemma3", 4.3e9, "Q4_K_M"),
    "gpt-oss": ("gptoss", 20.9e9, "MXFP4"),
    "nomic-embed-text": ("nomic-bert", 137e6, "F16"),
}

#: (model, size tag) -> parameters exactly, where Ollama's count is well known.
EXACT: dict[tuple[str, str], int] = {
    ("qwen2.5", "0.5b"): 494_032_768,
    ("qwen2.5", "1.5b"): 1_543_714_304,
    ("qwen2.5", "3b"): 3_085_938_688,
    ("qwen3", "0.6b"): 751_632_384,
    ("qwen3", "1.7b"): 2_031_739_904,
    ("llama3.2", "1b"): 1_235_814_432,
    ("mixtral", "8x7b"): 46_702_792_704,
    ("smollm2", "135m"): 134_515_008,
    ("smollm2", "360m"): 361_821_120,
}

#: Bits per weight of a quantization, on average over a model's tensors.
_BITS: dict[str, float] = {
    "F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.5, "Q6_K": 6.56, "Q5_K_M": 5.69,
    "Q5_K_S": 5.54, "Q5_0": 5.54, "Q5_1": 6.0, "Q4_K_M": 4.89, "Q4_K_S": 4.58, "Q4_0": 4.55,
    "Q4_1": 5.0, "Q3_K_M": 3.91, "Q3_K_S": 3.5, "Q3_K_L": 4.27, "Q2_K": 3.35, "MXFP4": 4.25,
    "IQ4_XS": 4.25,
}  # fmt: skip
_REFERENCE = ("llama3.2", "latest", 2_019_393_189)  # /api/tags of reference/ollama-api.md
_DEFAULT = ("llama", 3.21e9, "Q4_K_M")
_SIZE = re.compile(r"(?:^|[-_:.])(?:(\d+)x)?(\d+(?:\.\d+)?)([bm])(?=$|[-_.])", re.IGNORECASE)
_QUANT = re.compile(
    r"(?:^|[-_:])((?:i?q\d(?:_[a-z0-9]+)*)|fp16|f16|bf16|f32|mxfp4)(?=$|[-_])", re.IGNORECASE
)


def human_number(count: float) -> str:
    """A count as Ollama writes parameter sizes (``format.HumanNumber``): ``8B``, ``3.2B``,
    ``494.03M``, ``137M``, ``12K``."""
    for scale, suffix, decimals in ((1e9, "B", 1), (1e6, "M", 2), (1e3, "K", 0)):
        if count >= scale:
            number = count / scale
            if number == int(number):
                return f"{int(number)}{suffix}"
            return f"{number:.{decimals}f}{suffix}"
    return str(int(count))


def _known(model: str) -> tuple[str, float, str]:
    """The library's entry of ``model``, or of the longest known name it starts with."""
    key = model.lower()
    if key in LIBRARY:
        return LIBRARY[key]
    prefixes = [name for name in LIBRARY if key.startswith(name)]
    return LIBRARY[max(prefixes, key=len)] if prefixes else _DEFAULT


def describe(name: str) -> ModelDetails:
    """Plausible ``/api/tags`` details of the model ``name`` (module doc).

    :param name: a model name, e.g. ``qwen2.5:0.5b``, ``llama3.2``,
        ``hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M``.
    """
    parsed = read_model_name(name)
    model, tag = parsed.model.lower(), parsed.tag
    family, parameters, quantization = _known(model)
    sized = _SIZE.search(tag) or _SIZE.search(parsed.model)
    if sized is not None:
        experts = int(sized.group(1) or 1)
        unit = 1e9 if sized.group(3).lower() == "b" else 1e6
        size_tag = sized.group(0).strip("-_:.").lower()
        parameters = EXACT.get((model, size_tag), experts * float(sized.group(2)) * unit)
    quantized = _QUANT.search(tag)
    if quantized is not None:
        found = quantized.group(1).upper()
        quantization = "F16" if found == "FP16" else found
    size = round(parameters * _BITS.get(quantization, 4.89) / 8)
    if (model, tag.lower(), quantization) == (*_REFERENCE[:2], "Q4_K_M"):
        size = _REFERENCE[2]
    return ModelDetails(family, human_number(parameters), quantization, size)
