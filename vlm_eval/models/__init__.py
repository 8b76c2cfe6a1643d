"""Model adapters: the ``ModelAdapter`` contract, the registry, the Hugging Face adapter with its
model families (and their registry), and the OpenAI-compatible server and vLLM adapters."""

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
