"""The vLLM adapter: offline batched inference with ``vllm.LLM`` (``vlm-eval[vllm]``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from transformers import ProcessorMixin

from vlm_eval.models._adapter import Generation, ModelAdapter, ModelInput
from vlm_eval.models._chat import to_openai_messages
from vlm_eval.models._family import (
    ModelFamily,
    ProcessorOptions,
    family_for,
    refuse_beams,
    single_token_id,
)
from vlm_eval.models._hf import ModelLoadError, load_config, load_processor, weights_sha256
from vlm_eval.models._registry import register_model
from vlm_eval.tasks import GenerationSettings, Prompt, is_raw


@register_model
class VLLMAdapter(ModelAdapter):
    """Runs a checkpoint with vLLM, one call per batch, greedy decoding. Chat prompts go
    through ``LLM.chat`` (the checkpoint's chat template) with images as data URLs; raw-template
    prompts (base checkpoints) are rendered as the ``hf`` adapter renders them, by the
    checkpoint's model family with its processor, and go through ``LLM.generate`` with the
    images beside them and no special tokens added by the tokenizer.

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

    @cached_property
    def _raw_renderer(self) -> tuple[ModelFamily, ProcessorMixin]:
        """The checkpoint's family and processor, which render raw prompts (loaded once, on the
        first raw prompt)."""
        config = load_config(self.pretrained, self.revision, self.trust_remote_code)
        family = family_for(config.model_type).for_checkpoint(config)
        processor = load_processor(
            self.pretrained, self.revision, self.trust_remote_code, family, ProcessorOptions()
        )
        return family, processor

    def check_prompt(self, prompt: Prompt) -> None:
        if is_raw(prompt):
            self._raw_renderer[0].check_prompt(prompt)

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        refuse_beams(settings, self.name)
        sampling = self._vllm.SamplingParams(
            temperature=0,
            max_tokens=settings.max_new_tokens,
            stop=list(settings.stop),
            **self._end_of_generation(settings.end_token),
        )
        if inputs and is_raw(inputs[0].prompt):
            family, processor = self._raw_renderer
            prompts = [
                {"prompt": family.render(processor, item.prompt)}
                | ({"multi_modal_data": {"image": list(item.images)}} if item.images else {})
                for item in inputs
            ]
            outputs = self.llm.generate(
                prompts,
                sampling,
                use_tqdm=False,
                tokenization_kwargs={"add_special_tokens": False},
            )
        else:
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

    def _end_of_generation(self, end_token: str | None) -> dict[str, Any]:
        """``SamplingParams`` fields ending generation at ``end_token`` instead of the model's
        end-of-sequence token (see ``GenerationSettings.end_token``)."""
        if end_token is None:
            return {}
        token_id = single_token_id(self.llm.get_tokenizer(), end_token)
        return {"ignore_eos": True} | ({} if token_id is None else {"stop_token_ids": [token_id]})

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
