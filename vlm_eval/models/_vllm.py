"""The vLLM adapter: offline batched inference with ``vllm.LLM.chat`` (``vlm-eval[vllm]``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlm_eval.models._adapter import Generation, ModelAdapter, ModelInput
from vlm_eval.models._chat import to_openai_messages
from vlm_eval.models._family import PromptError, refuse_beams
from vlm_eval.models._hf import ModelLoadError, weights_sha256
from vlm_eval.models._registry import register_model
from vlm_eval.tasks import GenerationSettings, Prompt, is_raw


@register_model
class VLLMAdapter(ModelAdapter):
    """Runs a checkpoint with vLLM; prompts go through ``LLM.chat`` (the checkpoint's chat
    template) with images as data URLs, one call per batch, greedy decoding.

    vLLM is imported when the adapter is created: install it with ``pip install
    'vlm-eval[vllm]'``.

    Args:
        pretrained: Hub id or local folder of the checkpoint.
        revision: Hub revision (branch, tag or commit).
        dtype: ``auto``, ``float16``, ``bfloat16`` or ``float32`` (vLLM's ``dtype``).
        tensor_parallel_size: GPUs the model is split over.
        gpu_memory_utilization: Fraction of GPU memory vLLM may take (weights and KV cache).
        max_model_len: Context length; the checkpoint's own if not given.
        trust_remote_code: Run code shipped with the checkpoint; off unless asked.
        limit_mm_per_prompt: Most images per prompt (few-shot prompts need shots + 1); vLLM's
            default if not given.
    """

    name = "vllm"

    def __init__(
        self,
        *,
        pretrained: str,
        revision: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        trust_remote_code: bool = False,
        limit_mm_per_prompt: int | None = None,
    ):
        try:
            import vllm
        except ModuleNotFoundError as error:
            if error.name != "vllm":
                raise
            raise ModelLoadError("vLLM is not installed: pip install 'vlm-eval[vllm]'") from error
        self._vllm = vllm
        self.pretrained = pretrained
        self.revision = revision
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.trust_remote_code = trust_remote_code
        options: dict[str, Any] = {}
        if limit_mm_per_prompt is not None:
            options["limit_mm_per_prompt"] = {"image": limit_mm_per_prompt}
        self.llm = vllm.LLM(
            model=pretrained,
            revision=revision,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            trust_remote_code=trust_remote_code,
            **options,
        )

    def check_prompt(self, prompt: Prompt) -> None:
        if is_raw(prompt):
            raise PromptError(
                "the vllm adapter sends chat prompts (LLM.chat) only: run raw-template "
                "protocols with --model hf"
            )

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        refuse_beams(settings, self.name)
        sampling = self._vllm.SamplingParams(
            temperature=0, max_tokens=settings.max_new_tokens, stop=list(settings.stop)
        )
        conversations = [to_openai_messages(item) for item in inputs]
        outputs = self.llm.chat(conversations, sampling, use_tqdm=False)
        return [
            Generation(
                text=output.outputs[0].text,
                prompt_tokens=len(output.prompt_token_ids),
                generated_tokens=len(output.outputs[0].token_ids),
            )
            for output in outputs
        ]

    def describe(self) -> dict[str, Any]:
        local = Path(self.pretrained)
        return {
            "adapter": self.name,
            "pretrained": str(local.resolve()) if local.is_dir() else self.pretrained,
            "revision": self.revision,
            "weights_sha256": weights_sha256(local) if local.is_dir() else None,
            "dtype": self.dtype,
            "max_model_len": self.max_model_len,
            "trust_remote_code": self.trust_remote_code,
            "vllm_version": self._vllm.__version__,
        }
