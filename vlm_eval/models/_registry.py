"""The model adapter registry and the ``--model-args`` parser."""

from __future__ import annotations

from typing import TypeVar

from vlm_eval._arguments import build_with_arguments, parse_key_values
from vlm_eval._registry import Registry
from vlm_eval.models._adapter import ModelAdapter

MODELS: Registry[type[ModelAdapter]] = Registry("model", entry_point_group="vlm_eval.models")
MODELS.add_lazy("hf", "vlm_eval.models._hf")  # torch and transformers: imported on first get
MODELS.add_lazy("openai", "vlm_eval.models._openai")
MODELS.add_lazy("vllm", "vlm_eval.models._vllm")

AdapterClass = TypeVar("AdapterClass", bound=type[ModelAdapter])


def register_model(cls: AdapterClass) -> AdapterClass:
    """Class decorator adding a ``ModelAdapter`` subclass to the registry under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, ModelAdapter)):
        raise TypeError(f"@register_model expects a ModelAdapter subclass, got {cls!r}")
    MODELS.add(getattr(cls, "name", ""), cls)
    return cls


def parse_model_args(text: str) -> dict[str, str]:
    """``"pretrained=PATH,dtype=float32"`` -> ``{"pretrained": "PATH", "dtype": "float32"}``."""
    return parse_key_values(text, "--model-args")


def create_model(name: str, args: dict[str, str]) -> ModelAdapter:
    """Build the adapter registered as ``name`` from string arguments, checked and typed.

    Raises:
        ArgumentsError: For an unknown or missing argument, or a value of the wrong type.
    """
    return build_with_arguments(MODELS.get(name), args, f"model {name!r}", "--model-args")
