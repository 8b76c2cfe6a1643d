"""Model adapters: the ``ModelAdapter`` contract, the registry and the Hugging Face adapter."""

from vlm_eval.models._adapter import Generation, ModelAdapter, ModelInput
from vlm_eval.models._family import (
    ModelFamily,
    ProcessorOptions,
    PromptError,
    family_for,
    image_only,
    register_family,
    to_chat_messages,
)
from vlm_eval.models._hf import HuggingFaceAdapter, ModelLoadError
from vlm_eval.models._registry import (
    MODELS,
    create_model,
    parse_model_args,
    register_model,
)

__all__ = [
    "MODELS",
    "Generation",
    "HuggingFaceAdapter",
    "ModelAdapter",
    "ModelFamily",
    "ModelInput",
    "ModelLoadError",
    "ProcessorOptions",
    "PromptError",
    "create_model",
    "family_for",
    "image_only",
    "parse_model_args",
    "register_family",
    "register_model",
    "to_chat_messages",
]
