"""Model families: what differs, per architecture, in loading a processor and prompting a model.

The generic Hugging Face adapter (and the vLLM adapter) handles every checkpoint the same way; it
asks the checkpoint's family (the registered family claiming its ``config.model_type``, or the one
``--model-args family=NAME`` names) only for the few things that truly differ. The generic family
fits chat-template models that take any number of images per prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from vlm_eval._arguments import ArgumentsError, typed_argument
from vlm_eval.tasks import GenerationSettings, ImagePart, Prompt, SpecialToken, is_raw

if TYPE_CHECKING:  # transformers is imported where a processor is loaded, not to name families
    from transformers import PretrainedConfig, PreTrainedTokenizerBase, ProcessorMixin


class PromptError(ValueError):
    """A prompt the model family cannot take (for example several images for a single-image
    model); the message says what the family supports."""


def refuse_beams(settings: GenerationSettings, adapter: str) -> None:
    """Refuse beam search (``settings.num_beams > 1``) for an adapter that decodes greedily only,
    before anything is generated.

    Raises:
        PromptError: Naming the adapter and the way out.
    """
    if settings.num_beams > 1:
        raise PromptError(
            f"the {adapter} adapter decodes greedily only, and these prompts ask for beam search "
            f"(num_beams={settings.num_beams}): run them with --model hf, or give the protocol "
            "num_beams=1 (--protocol-args)"
        )


class ModelFamily:
    """How checkpoints of one architecture family are loaded and prompted.

    Subclass it, set ``name`` and ``model_types`` (the ``config.model_type`` values it claims)
    and override only what differs, then decorate it with ``@register_family``.

    Attributes:
        name: The registry name (``--model-args family=NAME``), recorded in results.
        model_types: ``config.model_type`` values of the family; none for a family chosen only
            by name or by another family's ``for_checkpoint``.
        max_images: Most images one prompt may hold (``None``: no limit); few-shot prompts with
            more are refused with a clear error.
        image_options: The image options a user may set with ``--model-args``, by name, with
            their types (``int``, ``bool``, a ``Literal`` of choices...); ``apply_options``
            sets them on the processor.
        uses_chat_template: Prompts are rendered with the processor's chat template.
        image_only_processor: The family's processor class, or the name of one that
            transformers exports (imported when a processor is loaded), when it must be loaded
            without its video processor (built with torchvision, which we cannot install);
            ``None`` loads with ``AutoProcessor``.
    """

    name: ClassVar[str] = "generic"
    model_types: ClassVar[tuple[str, ...]] = ()
    max_images: ClassVar[int | None] = None
    image_options: ClassVar[Mapping[str, Any]] = {}
    uses_chat_template: ClassVar[bool] = True
    image_only_processor: ClassVar[type[ProcessorMixin] | str | None] = None

    def for_checkpoint(self, config: PretrainedConfig) -> ModelFamily:
        """The family that handles this checkpoint: ``self``, unless checkpoints of one
        ``model_type`` were trained differently (the family then says which to use)."""
        return self

    def check_options(self, options: Mapping[str, object]) -> dict[str, Any]:
        """The image options given (``None`` values left out), typed: strings from the command
        line converted, other values checked.

        Raises:
            ArgumentsError: For an option the family does not take or a value of the wrong
                type, naming the option, the family and the options it takes.
        """
        given = {key: value for key, value in options.items() if value is not None}
        unknown = sorted(set(given) - set(self.image_options))
        if unknown:
            taken = ", ".join(sorted(self.image_options)) or "none"
            raise ArgumentsError(
                f"{self.name} checkpoints do not take {', '.join(unknown)} (image options they "
                f"take: {taken})"
            )
        owner = f"{self.name} image option"
        return {
            key: typed_argument(owner, key, value, self.image_options[key])
            for key, value in given.items()
        }

    def load_processor(
        self,
        pretrained: str,
        *,
        revision: str | None,
        trust_remote_code: bool,
        options: Mapping[str, Any],
    ) -> ProcessorMixin:
        """The checkpoint's processor, with ``options`` applied (see ``apply_options``)."""
        import transformers

        processor_class = self.image_only_processor
        if isinstance(processor_class, str):
            processor_class = getattr(transformers, processor_class)
        loader = (
            transformers.AutoProcessor if processor_class is None else image_only(processor_class)
        )
        processor = loader.from_pretrained(
            pretrained, revision=revision, trust_remote_code=trust_remote_code
        )
        self.apply_options(processor, options)
        return processor

    def apply_options(self, processor: ProcessorMixin, options: Mapping[str, Any]) -> None:
        """Set the user's image options (checked by ``check_options``: only those given, of
        ``image_options``) on a loaded processor."""

    def check_prompt(self, prompt: Prompt) -> None:
        """Refuse a prompt the family cannot take.

        Raises:
            PromptError: With more images than ``max_images``.
        """
        images = sum(isinstance(part, ImagePart) for message in prompt for part in message.parts)
        if self.max_images is not None and images > self.max_images:
            raise PromptError(
                f"{self.name} models take at most {self.max_images} image(s) per prompt, this "
                f"prompt has {images}: few-shot prompts with images, and questions that show "
                "several images, need a multi-image family (run zero-shot, --num-fewshot 0; "
                "show a question's images as one: --task-args mmmu:images=stitched)"
            )

    def render(self, processor: ProcessorMixin, prompt: Prompt) -> str:
        """The prompt as the model's input text: the chat template with a generation prompt, or
        for a raw prompt its text (see ``render_raw``)."""
        if is_raw(prompt):
            return self.render_raw(processor, prompt)
        return processor.apply_chat_template(
            to_chat_messages(prompt), add_generation_prompt=True, tokenize=False
        )

    def render_raw(self, processor: ProcessorMixin, prompt: Prompt) -> str:
        """A raw prompt's text: its texts verbatim, ``image_placeholder`` for each image, and
        special tokens as the tokenizer spells them."""
        texts = []
        for part in prompt[0].parts:
            if isinstance(part, ImagePart):
                texts.append(self.image_placeholder(processor))
            elif isinstance(part, SpecialToken):
                texts.append(special_token_text(processor.tokenizer, part))
            else:
                texts.append(part)
        return "".join(texts)

    def image_placeholder(self, processor: ProcessorMixin) -> str:
        """The text standing for one image in a raw prompt, which the processor expands into
        the image's tokens: the processor's ``image_token``.

        Raises:
            PromptError: If the processor has none.
        """
        token = getattr(processor, "image_token", None)
        if not isinstance(token, str) or not token:
            raise PromptError(
                f"{self.name} processors name no image token: raw-template protocols cannot "
                "place images for this family (use --protocol chat)"
            )
        return token

    def processor_inputs(
        self, texts: Sequence[str], images: Sequence[Sequence[Any]], *, raw: bool = False
    ) -> dict[str, Any]:
        """Keyword arguments of the processor call for a batch (texts and their images), the
        tokenizer adding special tokens as ``adds_special_tokens`` says."""
        inputs: dict[str, Any] = {"text": list(texts)}
        if any(images):  # a batch of text-only prompts (a template without image) has none
            inputs["images"] = [list(group) for group in images]
        return inputs if self.adds_special_tokens(raw) else inputs | {"add_special_tokens": False}

    def adds_special_tokens(self, raw: bool) -> bool:
        """Whether the tokenizer adds its special tokens (BOS) to a rendered prompt: to a chat
        prompt, as the processor does by default; not to a raw prompt, which holds its own as
        text."""
        return not raw


def special_token_text(tokenizer: PreTrainedTokenizerBase, token: SpecialToken) -> str:
    """How ``tokenizer`` spells ``token`` in a text (empty where it has no such token)."""
    if token.name == "start":
        return _start_tokens_text(tokenizer)
    special = tokenizer.bos_token if token.name == "bos" else tokenizer.eos_token
    return special or ""


@cache
def _start_tokens_text(tokenizer: PreTrainedTokenizerBase) -> str:
    """The special tokens ``tokenizer`` puts before a text by default, as text (worked out once
    per tokenizer, not per prompt)."""
    with_defaults = tokenizer("x")["input_ids"]
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    added = len(with_defaults) - len(plain)
    if added <= 0 or with_defaults[added:] != plain:
        return ""
    return tokenizer.decode(with_defaults[:added], skip_special_tokens=False)


def single_token_id(tokenizer: PreTrainedTokenizerBase, text: str) -> int | None:
    """The id of ``text`` where ``tokenizer`` has it as one known token; else ``None``."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    return ids[0] if len(ids) == 1 and ids[0] != tokenizer.unk_token_id else None


def to_chat_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """``prompt`` in the message format of transformers chat templates."""
    return [
        {
            "role": message.role,
            "content": [
                {"type": "image"} if isinstance(part, ImagePart) else {"type": "text", "text": part}
                for part in message.parts
            ],
        }
        for message in prompt
    ]


Processor = TypeVar("Processor", bound="ProcessorMixin")


def image_only(processor_class: type[Processor]) -> type[Processor]:
    """``processor_class`` without its video processor, under the same name.

    transformers builds the video processors of Qwen2-VL, SmolVLM and others with torchvision,
    which has no CPU build for our torch; evaluation only needs images. Construct the returned
    class with ``video_processor=None``; its ``from_pretrained`` does so.
    """
    from transformers import ProcessorMixin

    class ImageOnlyProcessor(processor_class):  # type: ignore[valid-type,misc]
        @classmethod
        def get_attributes(cls) -> list[str]:
            return [name for name in super().get_attributes() if name != "video_processor"]

        @classmethod
        def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any:
            return super().from_pretrained(*args, video_processor=None, **kwargs)

        def apply_chat_template(self, conversation: Any, *args: Any, **kwargs: Any) -> Any:
            # Some families' own version reads video settings (SmolVLM's frame rate).
            return ProcessorMixin.apply_chat_template(self, conversation, *args, **kwargs)

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = processor_class.__name__
    return ImageOnlyProcessor
