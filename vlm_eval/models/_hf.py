"""The generic Hugging Face transformers adapter: any AutoModelForImageTextToText checkpoint."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors import SafetensorError
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    BatchFeature,
    ProcessorMixin,
    StoppingCriteriaList,
    StopStringCriteria,
)
from transformers.utils import CONFIG_NAME
from transformers.utils.hub import cached_file, extract_commit_hash

from vlm_eval._arguments import ArgumentsError, keyword_parameters
from vlm_eval.models._adapter import Generation, InputError, ModelAdapter, ModelInput
from vlm_eval.models._family import ModelFamily, PromptError, single_token_id
from vlm_eval.models._family_registry import any_family_image_options, checkpoint_family
from vlm_eval.models._registry import register_model
from vlm_eval.tasks import GenerationSettings, Prompt, is_raw

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
BLANK = (128, 128, 128)
"""The colour of every pixel of a blind model's images."""


class ModelLoadError(RuntimeError):
    """A checkpoint that cannot be used by an adapter; the message says why."""


def weights_sha256(checkpoint: Path) -> str:
    """SHA-256 over the names and bytes of every weight file of a local checkpoint folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in checkpoint.iterdir() if p.name.endswith(_WEIGHT_SUFFIXES)):
        digest.update(path.name.encode())
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 24):
                digest.update(chunk)
    return digest.hexdigest()


def hub_commit(pretrained: str, revision: str | None) -> str | None:
    """The commit of the hub snapshot a checkpoint's config was read from (``revision`` may be a
    branch or tag, which moves); ``None`` for a local folder."""
    if Path(pretrained).is_dir():
        return None
    return extract_commit_hash(cached_file(pretrained, CONFIG_NAME, revision=revision), None)


@register_model
class HuggingFaceAdapter(ModelAdapter):
    """Loads a checkpoint with its processor + ``AutoModelForImageTextToText``.

    Prompts are rendered the way the checkpoint's family was trained (its chat template, or its
    raw format for families without one, see ``vlm_eval.models.families``), batches are
    left-padded and decoded greedily, or with beam search where the settings ask for it.
    ``--model-args`` beyond those below are the family's image options.

    Args:
        pretrained: Hub id or local folder of the checkpoint.
        revision: Hub revision (branch, tag or commit).
        dtype: ``auto`` (bfloat16 on CUDA, float32 on CPU), ``float32``, ``bfloat16``, ``float16``.
        device: ``auto`` (CUDA if available), ``cpu``, ``cuda`` or ``cuda:N``.
        device_map: Passed to ``from_pretrained`` (``auto`` spreads a large model over the
            visible GPUs); inputs then go to the device of the first layer.
        attn_implementation: Passed to ``from_pretrained`` (``eager``, ``sdpa``, ...).
        trust_remote_code: Run code shipped with the checkpoint; off unless asked.
        family: The registered family to prompt with (``vlm-eval list families``), instead of
            the one claiming the checkpoint's ``config.model_type``.
        blind: Give the model a blank (mid-gray) image of the same size in place of every
            image: a baseline that answers from the text alone with the same prompts and
            visual tokens, to measure how much a score owes to the images. Recorded with the
            model, so its predictions never mix with the seeing model's.
        **image_options: The family's image options (``ModelFamily.image_options``, e.g.
            Idefics2's ``do_image_splitting``, Qwen2-VL's ``max_pixels``), typed and checked by
            the family; others are refused, naming those it takes.
    """

    name = "hf"

    def __init__(
        self,
        *,
        pretrained: str,
        revision: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        device_map: str | None = None,
        attn_implementation: str | None = None,
        trust_remote_code: bool = False,
        family: str | None = None,
        blind: bool = False,
        **image_options: object,
    ):
        refuse_unknown_options(type(self), image_options)
        if device_map is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ModelLoadError(
                f"{pretrained}: device_map={device_map} spreads one model over every GPU, but "
                "under torchrun each process has a GPU of its own: leave device_map out"
            )
        self.pretrained = pretrained
        self.revision = revision
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        )
        if dtype == "auto":
            dtype = "bfloat16" if self.device.type == "cuda" else "float32"
        if dtype not in _DTYPES:
            raise ModelLoadError(
                f"dtype must be auto or one of {', '.join(_DTYPES)}, got {dtype!r}"
            )
        self.dtype = dtype
        self.trust_remote_code = trust_remote_code
        self.blind = blind
        config = load_config(pretrained, revision, trust_remote_code)
        self.commit = hub_commit(pretrained, revision)
        self.family = checkpoint_family(config, family)
        try:
            self.options = self.family.check_options(image_options)
        except ArgumentsError as error:
            raise ModelLoadError(f"{pretrained}: {error}") from error
        self.processor = load_processor(
            pretrained, revision, trust_remote_code, self.family, self.options
        )
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        self._tokenizer_lock = threading.Lock()
        self._stop_criteria: dict[tuple[str, ...], StoppingCriteriaList] = {}
        try:
            self.model = AutoModelForImageTextToText.from_pretrained(
                pretrained,
                revision=revision,
                dtype=_DTYPES[dtype],
                device_map=device_map,
                attn_implementation=attn_implementation,
                trust_remote_code=trust_remote_code,
            )
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:
            raise ModelLoadError(f"{pretrained}: cannot load its weights: {error}") from error
        if device_map is None:
            self.model.to(self.device)
        else:
            self.device = next(self.model.parameters()).device
        self.model.eval()
        # Prompts longer than this fail their sample (``InputError``) instead of the run.
        self.context_length: int | None = getattr(
            config.get_text_config(), "max_position_embeddings", None
        )
        self.image_token_id: int | None = getattr(config, "image_token_id", None)
        if self.image_token_id is None:
            self.image_token_id = getattr(config, "image_token_index", None)
        eos = self.model.generation_config.eos_token_id
        self.eos_token_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.pad_token_id = self.tokenizer.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = min(self.eos_token_ids) if self.eos_token_ids else 0

    @classmethod
    def takes_chat_prompts(cls, args: Mapping[str, str]) -> bool:
        return takes_chat_prompts(args)

    def check_prompt(self, prompt: Prompt) -> None:
        check_family_prompt(self.pretrained, self.family, self.processor, prompt)

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        return self.generate_prepared(self.prepare(inputs), settings)

    def prepare(self, inputs: Sequence[ModelInput]) -> BatchFeature:
        """The processor's tensors of ``inputs`` (on the CPU, floats in the model's dtype)."""
        for item in inputs:
            self.family.check_prompt(item.prompt)
        with self._tokenizer_lock:
            texts = [self.family.render(self.processor, item.prompt) for item in inputs]
            try:
                encoded = self._process(texts, inputs)
            except ValueError as error:
                # An input the processor refuses (a question holding the model's image token
                # makes the images and their placeholders disagree) fails its sample only.
                problems = {}
                for index, (text, item) in enumerate(zip(texts, inputs, strict=True)):
                    try:
                        self._process([text], [item])
                    except ValueError as refused:
                        problems[index] = f"the model's processor refuses it: {refused}"
                if problems:
                    raise InputError(problems) from error
                raise
        if self.context_length is not None:
            lengths = encoded["attention_mask"].sum(dim=1).tolist()
            too_long = {
                index: f"its prompt has {length} tokens, more than the {self.context_length} "
                "the model takes (max_position_embeddings)"
                for index, length in enumerate(lengths)
                if length > self.context_length
            }
            if too_long:
                raise InputError(too_long)
        for key, value in encoded.items():
            if torch.is_floating_point(value):
                encoded[key] = value.to(_DTYPES[self.dtype])
        return encoded

    def _process(self, texts: Sequence[str], inputs: Sequence[ModelInput]) -> BatchFeature:
        """The processor's tensors of the rendered ``texts`` with their inputs' images (blank
        ones if ``blind``)."""
        images = [
            [Image.new("RGB", image.size, BLANK) for image in item.images]
            if self.blind
            else item.images
            for item in inputs
        ]
        return self.processor(
            **self.family.processor_inputs(texts, images, raw=is_raw(inputs[0].prompt)),
            return_tensors="pt",
            padding=True,
        )

    @property
    def prepares_ahead(self) -> bool:
        """On an accelerator: image processing then overlaps generation."""
        return self.device.type != "cpu"

    @property
    def prepares_in_workers(self) -> bool:
        """Yes: ``prepare`` is the processor's work (and the tokenizer lock is free when the
        workers are forked: the runner forks them at the start of a task)."""
        return True

    def generate_prepared(
        self, prepared: BatchFeature, settings: GenerationSettings
    ) -> list[Generation]:
        encoded = prepared.to(self.device)
        beams = (
            {"num_beams": settings.num_beams, "length_penalty": settings.length_penalty}
            if settings.num_beams > 1
            else {"num_beams": 1}
        )
        end_ids = self._end_token_ids(settings.end_token)
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                max_new_tokens=settings.max_new_tokens,
                do_sample=False,
                **beams,
                stopping_criteria=self._stopping_criteria(settings.stop),
                pad_token_id=self.pad_token_id,
                eos_token_id=sorted(end_ids) or None,
            )
        # A decoder-only model returns the prompt and then the answer; an encoder-decoder's
        # decoder (Flan-T5) returns its start token and then the answer.
        start = 1 if self.model.config.is_encoder_decoder else encoded["input_ids"].shape[1]
        new_tokens = output[:, start:].cpu()
        with self._tokenizer_lock:
            answers = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        prompt_tokens = encoded["attention_mask"].sum(dim=1).tolist()
        visual = (
            (encoded["input_ids"] == self.image_token_id).sum(dim=1).tolist()
            if self.image_token_id is not None
            else [0] * len(new_tokens)
        )
        return [
            Generation(
                text=answer,
                prompt_tokens=int(n_prompt),
                visual_tokens=int(n_visual),
                generated_tokens=self._generated_length(row.tolist(), end_ids),
            )
            for answer, n_prompt, n_visual, row in zip(
                answers, prompt_tokens, visual, new_tokens, strict=True
            )
        ]

    def _stopping_criteria(self, stop: tuple[str, ...]) -> StoppingCriteriaList | None:
        """Criteria stopping at ``stop``, built once per set of stop strings. Passing them
        (rather than ``stop_strings``) keeps ``generate`` off the tokenizer, which a background
        ``prepare`` may be using: the Rust tokenizer refuses concurrent use."""
        if not stop:
            return None
        if stop not in self._stop_criteria:
            with self._tokenizer_lock:
                criterion = StopStringCriteria(self.tokenizer, list(stop))
            self._stop_criteria[stop] = StoppingCriteriaList([criterion])
        return self._stop_criteria[stop]

    def _end_token_ids(self, end_token: str | None) -> set[int]:
        """The ids ending generation: the model's end-of-sequence ids, or ``end_token``'s id
        (none where the tokenizer has no such single token)."""
        if end_token is None:
            return self.eos_token_ids
        with self._tokenizer_lock:
            token_id = single_token_id(self.tokenizer, end_token)
        return set() if token_id is None else {token_id}

    def _generated_length(self, tokens: list[int], end_ids: set[int]) -> int:
        for position, token in enumerate(tokens):
            if token in end_ids:
                return position + 1
        while tokens and tokens[-1] == self.pad_token_id:
            tokens.pop()
        return len(tokens)

    def describe(self) -> dict[str, Any]:
        local = Path(self.pretrained)
        return {
            "adapter": self.name,
            "pretrained": str(local.resolve()) if local.is_dir() else self.pretrained,
            "revision": self.revision,
            "commit": self.commit,
            "weights_sha256": weights_sha256(local) if local.is_dir() else None,
            "architecture": type(self.model).__name__,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "dtype": self.dtype,
            "device": str(self.device),
            "attn_implementation": self.model.config._attn_implementation,
            "family": self.family.name,
            "processor_options": self.options,
            "trust_remote_code": self.trust_remote_code,
            **({"blind": True} if self.blind else {}),
        }


def load_config(pretrained: str, revision: str | None, trust_remote_code: bool) -> Any:
    """The checkpoint's config."""
    if pretrained.startswith(("/", ".", "~")) and not Path(pretrained).exists():
        raise ModelLoadError(f"{pretrained}: cannot load the model: no such folder")
    try:
        return AutoConfig.from_pretrained(
            pretrained, revision=revision, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{pretrained}: cannot load its config: {error}") from error


def load_processor(
    pretrained: str,
    revision: str | None,
    trust_remote_code: bool,
    family: ModelFamily,
    options: Mapping[str, Any],
) -> ProcessorMixin:
    """The checkpoint's processor, with the family's image options (checked) applied."""
    try:
        processor = family.load_processor(
            pretrained,
            revision=revision,
            trust_remote_code=trust_remote_code,
            options=options,
        )
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{pretrained}: cannot load its processor: {error}") from error
    if not isinstance(processor, ProcessorMixin) or not hasattr(processor, "image_processor"):
        raise ModelLoadError(
            f"{pretrained}: AutoProcessor returned {type(processor).__name__}, not a "
            "processor with an image processor; is this a vision-language checkpoint?"
        )
    return processor


def _chat_ready(family: ModelFamily, processor: ProcessorMixin) -> bool:
    """Whether chat prompts can be rendered: the family needs no chat template, or has one."""
    return not family.uses_chat_template or bool(getattr(processor, "chat_template", None))


def takes_chat_prompts(args: Mapping[str, str]) -> bool:
    """Whether the checkpoint that ``args`` (``--model-args`` of an adapter rendering prompts
    with the family, ``hf`` or ``vllm``) name can take chat prompts: its processor has a chat
    template, or its family needs none. Read from its config and processor only, before any
    weights load; a checkpoint that cannot be read says yes here and fails when it loads.

    Raises:
        ArgumentsError: For an unknown ``family``.
    """
    if "pretrained" not in args:
        return True
    pretrained, revision = args["pretrained"], args.get("revision")
    trust = args.get("trust_remote_code", "").lower() in ("1", "true", "yes")
    try:
        config = load_config(pretrained, revision, trust)
        family = checkpoint_family(config, args.get("family"))
        processor = load_processor(pretrained, revision, trust, family, {})
    except ModelLoadError:
        return True
    return _chat_ready(family, processor)


def refuse_unknown_options(
    adapter: type[ModelAdapter], image_options: Mapping[str, object]
) -> None:
    """Refuse, before anything loads, ``--model-args`` that are neither the ``adapter``'s own
    arguments nor an image option of any registered family (typos).

    Raises:
        ArgumentsError: Listing the adapter's arguments.
    """
    unknown = sorted(set(image_options) - any_family_image_options())
    if unknown:
        raise ArgumentsError(
            f"model {adapter.name!r} does not accept {', '.join(unknown)}; valid arguments: "
            f"{', '.join(keyword_parameters(adapter))}, and the image options of the "
            "checkpoint's family (vlm-eval list families)"
        )


def check_family_prompt(
    pretrained: str, family: ModelFamily, processor: ProcessorMixin, prompt: Prompt
) -> None:
    """Refuse a prompt that ``family`` cannot render with ``processor`` or the model take.

    Raises:
        PromptError: For a chat prompt without the chat template the family needs (a base
            checkpoint), or what ``family.check_prompt`` refuses.
    """
    if not is_raw(prompt) and not _chat_ready(family, processor):
        raise PromptError(
            f"{pretrained}: the processor has no chat template (a base checkpoint?), and "
            f"{family.name} checkpoints are prompted with it: run a raw-template protocol "
            "(--protocol idefics2-base; vlm-eval list protocols)"
        )
    family.check_prompt(prompt)
