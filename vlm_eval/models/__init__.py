"""Model adapters: the ``ModelAdapter`` contract, the registry, the Hugging Face adapter with its
model families, and the OpenAI-compatible server and vLLM adapters."""

from vlm_eval.models._adapter import (
    Generation,
    InputError,
    ModelAdapter,
    ModelInput,
    PartialGenerationError,
)
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
from vlm_eval.models._openai import OpenAIAdapter, ServerError
from vlm_eval.models._registry import (
    MODELS,
    create_model,
    parse_model_args,
    register_model,
)
from vlm_eval.models._vllm import VLLMAdapter

__all__ = [
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
    "ProcessorOptions",
    "PromptError",
    "ServerError",
    "VLLMAdapter",
    "create_model",
    "family_for",
    "image_only",
    "parse_model_args",
    "register_family",
    "register_model",
    "to_chat_messages",
]
