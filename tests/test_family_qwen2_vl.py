"""The Qwen2-VL family (Qwen2-VL and Qwen2.5-VL) on its tiny checkpoints: loading without
torchvision, the rendered prompts, and the visual token count set by the image area."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from transformers import AutoProcessor, Qwen2VLImageProcessorPil

from vlm_eval.data import ImageFile, Sample
from vlm_eval.demo.tiny import qwen2_5_vl, qwen2_vl
from vlm_eval.models import HuggingFaceAdapter, ModelInput, ModelLoadError
from vlm_eval.tasks import (
    GenerationSettings,
    ImagePart,
    Message,
    Prompt,
    get_task,
    load_tasks,
)

BUILDERS = {"qwen2_vl": qwen2_vl.build, "qwen2_5_vl": qwen2_5_vl.build}
ONE_TOKEN = GenerationSettings(max_new_tokens=1)
QUESTION = "What color is the circle?\nAnswer the question using a single word or phrase."
SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
# preprocessor_config.json of Qwen/Qwen2-VL-2B-Instruct as published (Qwen2.5-VL-3B-Instruct's
# differs only in processor_class).
PUBLISHED_PREPROCESSOR_CONFIG = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2VLProcessor",
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def checkpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return BUILDERS[request.param](tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def adapter(checkpoint: Path) -> HuggingFaceAdapter:
    return HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", dtype="float32")


def _visual_tokens(adapter: HuggingFaceAdapter, size: tuple[int, int]) -> int:
    prompt: Prompt = (Message("user", (ImagePart(Path("a.jpg")), QUESTION)),)
    image = Image.new("RGB", size, "red")
    (generation,) = adapter.generate([ModelInput(prompt, [image])], ONE_TOKEN)
    return generation.visual_tokens


def test_the_processor_loads_image_only_without_torchvision(
    adapter: HuggingFaceAdapter, checkpoint: Path
) -> None:
    assert importlib.util.find_spec("torchvision") is None
    with pytest.raises(ImportError, match="Torchvision"):  # it wants a video processor
        AutoProcessor.from_pretrained(checkpoint)
    assert type(adapter.processor).__name__ == "Qwen2VLProcessor"  # also for Qwen2.5-VL
    assert not hasattr(adapter.processor, "video_processor")
    assert isinstance(adapter.processor.image_processor, Qwen2VLImageProcessorPil)
    assert adapter.processor.chat_template == qwen2_vl.CHAT_TEMPLATE
    assert adapter.describe()["family"] == "qwen2_vl"


def test_zero_and_one_shot_prompts_follow_the_chat_template(adapter: HuggingFaceAdapter) -> None:
    zero: Prompt = (Message("user", (ImagePart(Path("a.jpg")), QUESTION)),)
    one = (
        Message("user", (ImagePart(Path("b.jpg")), "Is the sky blue?")),
        Message("assistant", ("no",)),
        *zero,
    )
    assert adapter.family.render(adapter.processor, zero) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What color is the circle?\n"
        "Answer the question using a single word or phrase.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert adapter.family.render(adapter.processor, one) == (
        f"{SYSTEM}<|im_start|>user\n{IMAGE}Is the sky blue?<|im_end|>\n"
        "<|im_start|>assistant\nno<|im_end|>\n"
        f"<|im_start|>user\n{IMAGE}{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize(
    ("size", "grid", "tokens"),
    [
        # 140x84 is a multiple of 28 (patch 14 x merge 2): 10 x 6 patches, 5 x 3 merged.
        ((140, 84), [1, 6, 10], 15),
        # 100x50 rounds to 112x56 (each side to the nearest multiple of 28): 4 x 2 merged.
        ((100, 50), [1, 4, 8], 8),
        # 30x30 rounds to 28x28, below min_pixels = 56*56: scaled up to 56x56, 2 x 2 merged.
        ((30, 30), [1, 4, 4], 4),
    ],
)
def test_one_visual_token_per_28x28_pixels(
    adapter: HuggingFaceAdapter, size: tuple[int, int], grid: list[int], tokens: int
) -> None:
    encoded = adapter.processor(
        text=[f"{IMAGE}hi"], images=[[Image.new("RGB", size)]], return_tensors="pt"
    )
    assert encoded["image_grid_thw"].tolist() == [grid]  # (frames, height, width) in patches
    assert encoded["pixel_values"].shape == (grid[1] * grid[2], 3 * 2 * 14 * 14)
    assert (encoded["input_ids"] == adapter.image_token_id).sum() == tokens
    assert _visual_tokens(adapter, size) == tokens


@pytest.mark.parametrize(
    ("options", "tokens"),
    [
        # 140x84 = 11760 px > 56*56: shrunk by sqrt(11760 / 3136) = 1.94 to 72x43, then each
        # side floored to a multiple of 28: 56x28, 2 x 1 merged patches.
        ({"max_pixels": 56 * 56}, 2),
        # 11760 px < 112*112: grown by sqrt(12544 / 11760) = 1.033 to 144.6x86.8, then each
        # side rounded up to a multiple of 28: 168x112, 6 x 4.
        ({"min_pixels": 112 * 112}, 24),
    ],
)
def test_min_and_max_pixels_change_the_visual_token_count(
    checkpoint: Path, options: dict[str, int], tokens: int
) -> None:
    adapter = HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", **options)
    assert _visual_tokens(adapter, (140, 84)) == tokens
    assert adapter.describe()["processor_options"] == options


def test_image_options_are_checked(checkpoint: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"min_pixels \(60000\) must not exceed max_pixels"):
        HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", min_pixels=60000)
    with pytest.raises(
        ModelLoadError,
        match=r"do not take do_image_splitting \(image options they take: max_pixels, min_pixels\)",
    ):
        HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", do_image_splitting=True)


def test_the_published_processor_files_load(checkpoint: Path, tmp_path: Path) -> None:
    """A checkpoint with the hub's preprocessor_config.json and legacy chat_template.json."""
    folder = Path(shutil.copytree(checkpoint, tmp_path / "published"))
    (folder / "chat_template.jinja").unlink()
    (folder / "chat_template.json").write_text(
        json.dumps({"chat_template": qwen2_vl.CHAT_TEMPLATE}), encoding="utf-8"
    )
    (folder / "preprocessor_config.json").write_text(
        json.dumps(PUBLISHED_PREPROCESSOR_CONFIG), encoding="utf-8"
    )
    adapter = HuggingFaceAdapter(pretrained=str(folder), device="cpu", max_pixels=56 * 56)
    assert adapter.processor.chat_template == qwen2_vl.CHAT_TEMPLATE
    assert dict(adapter.processor.image_processor.size) == {
        "shortest_edge": 3136,
        "longest_edge": 3136,
    }
    assert _visual_tokens(adapter, (140, 84)) == 2


def test_raw_template_prompts_wrap_each_image_as_the_chat_template_does(
    adapter: HuggingFaceAdapter,
) -> None:
    load_tasks()
    query = Sample("q", ImageFile(Path("a.jpg")), ("red",) * 10, question="What color is it?")
    prompt = get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, [])
    # {bos_token} is the tokenizer's BOS text (the published Qwen tokenizers have none: empty).
    assert adapter.family.render(adapter.processor, prompt) == (
        adapter.tokenizer.bos_token or ""
    ) + (
        "Instruction: provide an answer to the question. Use the image to answer.\n"
        f"Image:{IMAGE}Question: What color is it? Answer:"
    )
    image = Image.new("RGB", (56, 56), "red")
    encoded = adapter.prepare([ModelInput(prompt, [image])])
    tokens = adapter.tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    assert tokens.count("<|image_pad|>") == _visual_tokens(adapter, (56, 56))
    assert tokens.count("<|vision_start|>") == tokens.count("<|vision_end|>") == 1


def test_openflamingo_prompts_start_with_the_tokens_the_tokenizer_adds_by_default(
    adapter: HuggingFaceAdapter,
) -> None:
    """OpenFlamingo tokenizes with the tokenizer's defaults: a Qwen tokenizer adds no special
    token before a text, so the prompt starts with the image, whatever its BOS token is."""
    load_tasks()
    assert adapter.tokenizer("x")["input_ids"] == adapter.tokenizer.encode(
        "x", add_special_tokens=False
    )
    query = Sample("q", ImageFile(Path("a.jpg")), ("red",) * 10, question="What color is it?")
    prompt = get_task("vqav2", {"protocol": "openflamingo"}).prompt(query, [], text_only=True)
    assert adapter.family.render(adapter.processor, prompt) == (
        f"{IMAGE}Question:What color is it? Short answer:"
    )
