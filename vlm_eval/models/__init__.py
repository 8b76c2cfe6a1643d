"""Model adapters: the ``ModelAdapter`` contract, the registry, the Hugging Face adapter with its
model families (and their registry), and the OpenAI-compatible server and vLLM adapters.

Names are imported from their modules on first use, so that the registries and the adapter
contract come without torch and transformers (``vlm-eval list`` starts fast).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlm_eval.models._adapter import (
        Generation,
        InputError,
        ModelAdapter,
        ModelInput,
        PartialGenerationError,
    )
    from vlm_eval.models._family import ModelFamily, PromptError, image_only, to_chat_messages
    from vlm_eval.models._family_registry import (
        FAMILIES,
        checkpoint_family,
        family_for,
        register_family,
    )
    from vlm_eval.models._hf import HuggingFaceAdapter, ModelLoadError
    from vlm_eval.models._openai import OpenAIAdapter, ServerError
    from vlm_eval.models._registry import (
        MODELS,
        create_model,
        parse_model_args,
        register_model,
    )
    from vlm_eval.models._vllm import VLLMAdapter

_MODULE_OF = {
    "FAMILIES": "_family_registry",
    "MODELS": "_registry",
    "Generation": "_adapter",
    "HuggingFaceAdapter": "_hf",
    "InputError": "_adapter",
    "ModelAdapter": "_adapter",
    "ModelFamily": "_family",
    "ModelInput": "_adapter",
    "ModelLoadError": "_hf",
    "OpenAIAdapter": "_openai",
    "PartialGenerationError": "_adapter",
    "PromptError": "_family",
    "ServerError": "_openai",
    "VLLMAdapter": "_vllm",
    "checkpoint_family": "_family_registry",
    "create_model": "_registry",
    "family_for": "_family_registry",
    "image_only": "_family",
    "parse_model_args": "_registry",
    "register_family": "_family_registry",
    "register_model": "_registry",
    "to_chat_messages": "_family",
}

__all__ = [
    "FAMILIES",
    "MODELS",
    "Generation",
    "HuggingFaceAdapter",
    "InputError",
    "ModelAdapter",
    "ModelFamily",
    "ModelInput",
    "ModelLoadError",
    "OpenAIAdapter",
    "PartialGenerationError",
    "PromptError",
    "ServerError",
    "VLLMAdapter",
    "checkpoint_family",
    "create_model",
    "family_for",
    "image_only",
    "parse_model_args",
    "register_family",
    "register_model",
    "to_chat_messages",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
