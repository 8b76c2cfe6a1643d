"""The vLLM adapter: offline batched inference with ``vllm.LLM`` (``vlm-eval[vllm]``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlm_eval.models._adapter import Generation, ModelAdapter, ModelInput
from vlm_eval.models._family import refuse_beams, single_token_id
from vlm_eval.models._family_registry import checkpoint_family
from vlm_eval.models._hf import (
    ModelLoadError,
    check_family_prompt,
    load_config,
    load_processor,
    takes_chat_prompts,
    weights_sha256,
)
from vlm_eval.models._registry import register_model
from vlm_eval.tasks import GenerationSettings, Prompt, is_raw


@register_model
class VLLMAdapter(ModelAdapter):
    """Runs a checkpoint with vLLM, one ``LLM.generate`` call per batch, greedy decoding.

    Every prompt is rendered as the ``hf`` adapter renders it, by the checkpoint's model family
    with its Hugging Face processor (the chat template, or the family's own format), and goes
    with its images beside it (``multi_modal_data``); the tokenizer adds special tokens as the
    ``hf`` adapter's processor does (to chat prompts, not to raw-template ones). So both
    adapters prompt a checkpoint identically.

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
        family: The registered family to prompt with (``vlm-eval list families``), instead of
            the one claiming the checkpoint's ``config.model_type``.
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
        family: str | None = None,
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
        config = load_config(pretrained, revision, trust_remote_code)
        self.family = checkpoint_family(config, family)
        self.processor = load_processor(pretrained, revision, trust_remote_code, self.family, {})
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

    @classmethod
    def takes_chat_prompts(cls, args: Mapping[str, str]) -> bool:
        return takes_chat_prompts(args)

    def check_prompt(self, prompt: Prompt) -> None:
        check_family_prompt(self.pretrained, self.family, self.processor, prompt)

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
        for item in inputs:
            self.family.check_prompt(item.prompt)
        prompts = [
            {"prompt": self.family.render(self.processor, item.prompt)}
            | ({"multi_modal_data": {"image": list(item.images)}} if item.images else {})
            for item in inputs
        ]
        raw = bool(inputs) and is_raw(inputs[0].prompt)
        outputs = self.llm.generate(
            prompts,
            sampling,
            use_tqdm=False,
            tokenization_kwargs={"add_special_tokens": self.family.adds_special_tokens(raw)},
        )
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
            "family": self.family.name,
            "vllm_version": self._vllm.__version__,
        }
