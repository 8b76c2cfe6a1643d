"""The LLaVA family (LLaVA-1.5 and LLaVA-NeXT) on its tiny random checkpoints loaded from disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from transformers import LlavaConfig

from vlm_eval.demo.tiny import llava, llava_next
from vlm_eval.models import (
    HuggingFaceAdapter,
    ModelInput,
    ModelLoadError,
    PromptError,
    create_model,
    family_for,
)
from vlm_eval.tasks import GenerationSettings, ImagePart, Message, Prompt

SETTINGS = GenerationSettings(max_new_tokens=4)
QUESTION = "What color is the circle?"
SIZES = [(96, 64), (64, 96), (32, 32)]  # (width, height)
QUESTIONS_BY_SIZE = [QUESTION, "How many shapes are there?", "Is the sky blue? Answer: no"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("llava")
    return {"llava": llava.build(root / "llava"), "llava_next": llava_next.build(root / "next")}


@pytest.fixture(scope="module")
def adapters(checkpoints: dict[str, Path]) -> dict[str, HuggingFaceAdapter]:
    return {
        arch: HuggingFaceAdapter(pretrained=str(folder), device="cpu", dtype="float32")
        for arch, folder in checkpoints.items()
    }


def _ask(question: str = QUESTION) -> Message:
    return Message("user", (ImagePart(Path("image.jpg")), question))


def _input(size: tuple[int, int], prompt: Prompt | None = None) -> ModelInput:
    return ModelInput(prompt or (_ask(),), [Image.new("RGB", size, "navy")])


ONE_SHOT: Prompt = (_ask("Q1"), Message("assistant", ("red",)), _ask("Q2"))


@pytest.mark.parametrize(
    ("arch", "zero_shot", "one_shot"),
    [
        (
            "llava",
            "USER: <image>\nWhat color is the circle? ASSISTANT:",
            "USER: <image>\nQ1 ASSISTANT: red USER: <image>\nQ2 ASSISTANT:",
        ),
        (  # the template has no generation prompt: the user turn ends with " [/INST]"
            "llava_next",
            "[INST] <image>\nWhat color is the circle? [/INST]",
            "[INST] <image>\nQ1 [/INST] red</s> [INST] <image>\nQ2 [/INST]",
        ),
    ],
    ids=["llava", "llava_next"],
)
def test_prompts_are_rendered_with_the_llava_hf_chat_templates(
    adapters: dict[str, HuggingFaceAdapter], arch: str, zero_shot: str, one_shot: str
) -> None:
    adapter = adapters[arch]
    assert adapter.family.name == "llava"
    assert adapter.family.render(adapter.processor, (_ask(),)) == zero_shot
    assert adapter.family.render(adapter.processor, ONE_SHOT) == one_shot


@pytest.mark.parametrize("arch", ["llava", "llava_next"])
def test_prompts_with_several_images_are_refused(
    adapters: dict[str, HuggingFaceAdapter], arch: str
) -> None:
    images = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue")]
    with pytest.raises(PromptError, match=r"llava models take at most 1 image\(s\) per prompt, "):
        adapters[arch].generate([ModelInput(ONE_SHOT, images)], SETTINGS)
    # A demonstration without an image keeps the prompt at one image: it is accepted.
    text_shot = (Message("user", ("Q1",)), Message("assistant", ("red",)), _ask())
    (zero,) = adapters[arch].generate([_input((64, 64))], SETTINGS)
    (shot,) = adapters[arch].generate([_input((64, 64), text_shot)], SETTINGS)
    assert shot.visual_tokens == zero.visual_tokens
    assert shot.prompt_tokens > zero.prompt_tokens


def test_llava_takes_a_fixed_number_of_visual_tokens_per_image(
    adapters: dict[str, HuggingFaceAdapter],
) -> None:
    # Resized and center-cropped to 64 x 64, 8 px patches: (64 / 8) ** 2 = 64 patch tokens; the
    # CLS token (num_additional_image_tokens=1) is dropped by the "default" feature strategy.
    adapter = adapters["llava"]
    counts = [adapter.generate([_input(size)], SETTINGS)[0].visual_tokens for size in SIZES]
    assert counts == [64] * len(SIZES) == [llava.IMAGE_SEQ_LEN] * len(SIZES)


@pytest.mark.parametrize(
    ("size", "views", "visual_tokens"),
    [
        # Tiles of 32 px, 8 px patches: 4 x 4 patch tokens per tile. A 96 x 64 image fits best in
        # the 64 x 64 pinpoint (2 x 2 tiles: 8 x 8 tokens); unpadding keeps the rows the image
        # covers, 64 * 8 / 96 = 5.33 -> 5, padding (8 - 5) // 2 = 1 each side -> 6 rows of 8.
        # Base view 16 + 6 * 8 + 6 newlines = 70.
        ((96, 64), 1 + 4, 16 + 6 * 8 + 6),
        # Portrait: the same 2 x 2 tiles, 6 of the 8 columns kept in 8 rows, a newline per row.
        ((64, 96), 1 + 4, 16 + 8 * 6 + 8),
        # A 32 x 32 image fits the 32 x 64 (height, width) pinpoint first: 1 x 2 tiles (4 x 8
        # tokens), unpadded to 4 x 4 (padding (8 - 4) // 2 = 2 columns each side). 16 + 16 + 4.
        ((32, 32), 1 + 2, 16 + 4 * 4 + 4),
    ],
)
def test_llava_next_visual_tokens_depend_on_the_image_size(
    adapters: dict[str, HuggingFaceAdapter],
    size: tuple[int, int],
    views: int,
    visual_tokens: int,
) -> None:
    adapter = adapters["llava_next"]
    text = adapter.family.render(adapter.processor, (_ask(),))
    encoded = adapter.processor(text=[text], images=[[Image.new("RGB", size)]], return_tensors="pt")
    assert encoded["pixel_values"].shape == (1, views, 3, 32, 32)
    assert encoded["image_sizes"].tolist() == [[size[1], size[0]]]
    (generation,) = adapter.generate([_input(size)], SETTINGS)
    assert generation.visual_tokens == visual_tokens


def test_llava_next_batches_images_with_different_tile_counts(
    adapters: dict[str, HuggingFaceAdapter],
) -> None:
    # 3 and 5 views per image: the batch pads pixel_values with empty tiles, which the model
    # drops using image_sizes.
    adapter = adapters["llava_next"]
    inputs = [
        _input(size, (_ask(question),))
        for size, question in zip(SIZES, QUESTIONS_BY_SIZE, strict=True)
    ]
    batched = adapter.generate(inputs, GenerationSettings(max_new_tokens=6))
    single = [adapter.generate([item], GenerationSettings(max_new_tokens=6))[0] for item in inputs]
    assert batched == single
    assert [g.visual_tokens for g in batched] == [70, 72, 36]
    assert len({g.text for g in batched}) > 1, "answers should depend on the input"


@pytest.mark.parametrize("arch", ["llava", "llava_next"])
def test_image_options_are_refused(checkpoints: dict[str, Path], arch: str) -> None:
    for option, value in (("image_longest_edge", "96"), ("do_image_splitting", "true")):
        with pytest.raises(
            ModelLoadError,
            match=rf"llava checkpoints do not take {option} \(image options they take: none\)",
        ):
            create_model("hf", {"pretrained": str(checkpoints[arch]), option: value})


def test_checkpoints_load_as_the_real_llava_hf_classes(
    adapters: dict[str, HuggingFaceAdapter],
) -> None:
    for arch, processor_class, image_processor_class in (
        ("llava", "LlavaProcessor", "CLIPImageProcessorPil"),
        ("llava_next", "LlavaNextProcessor", "LlavaNextImageProcessorPil"),
    ):
        adapter = adapters[arch]
        config = adapter.model.config
        tokenizer = adapter.tokenizer
        assert type(adapter.processor).__name__ == processor_class
        assert type(adapter.processor.image_processor).__name__ == image_processor_class
        assert config.image_token_id == tokenizer.convert_tokens_to_ids("<image>")
        assert config.text_config.vocab_size == len(tokenizer)
        assert adapter.model.generation_config.pad_token_id == tokenizer.pad_token_id
        assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id != tokenizer.unk_token_id
        assert adapter.describe()["parameters"] < 2_000_000
    assert adapters["llava_next"].model.config.image_grid_pinpoints == (
        adapters["llava_next"].processor.image_processor.image_grid_pinpoints
    )


@pytest.mark.parametrize(
    ("vision", "family", "max_images"),
    [
        ("clip_vision_model", "llava", 1),  # llava-1.5
        ("siglip_vision_model", "llava-interleaved", None),  # llava-interleave-qwen
        ("pixtral", "llava-interleaved", None),  # pixtral-12b
    ],
)
def test_llava_architecture_checkpoints_get_the_family_of_their_training(
    vision: str, family: str, max_images: int | None
) -> None:
    config = LlavaConfig(vision_config={"model_type": vision})
    chosen = family_for("llava").for_checkpoint(config)
    assert (chosen.name, chosen.max_images) == (family, max_images)
