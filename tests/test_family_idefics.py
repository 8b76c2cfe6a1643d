"""Idefics3 and SmolVLM: their chat templates, image splitting and its visual-token cost, and
SmolVLM's processor loaded without the video processor that needs torchvision."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from vlm_eval.demo.tiny import idefics3, smolvlm
from vlm_eval.models import HuggingFaceAdapter, ModelInput
from vlm_eval.tasks import GenerationSettings, ImagePart, Message

ONE_SHOT = (
    Message("user", (ImagePart(Path("a.jpg")), "Q1")),
    Message("assistant", ("red",)),
    Message("user", (ImagePart(Path("b.jpg")), "Q2")),
)


@pytest.fixture(scope="module", params=[idefics3, smolvlm], ids=["idefics3", "smolvlm"])
def checkpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    module: ModuleType = request.param
    return module.build(tmp_path_factory.mktemp(module.__name__.rsplit(".", 1)[1]))


def _visual_tokens(checkpoint: Path, **options: object) -> int:
    adapter = HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", **options)
    prompt = (Message("user", (ImagePart(Path("x.jpg")), "What?")),)
    (generation,) = adapter.generate(
        [ModelInput(prompt, [Image.new("RGB", (96, 80))])], GenerationSettings(max_new_tokens=1)
    )
    return generation.visual_tokens


def test_prompts_follow_the_released_chat_templates(checkpoint: Path) -> None:
    adapter = HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu")
    start = "<|im_start|>" if adapter.family.name == "smolvlm" else "<|begin_of_text|>"
    assert adapter.family.render(adapter.processor, ONE_SHOT) == (
        f"{start}User:<image>Q1<end_of_utterance>\nAssistant: red<end_of_utterance>\n"
        "User:<image>Q2<end_of_utterance>\nAssistant:"
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # 96x80 -> longest edge 128 -> 128x107, padded up to 64 px crops: 2x2 crops + the image
        ({}, 5 * idefics3.IMAGE_SEQ_LEN),
        ({"do_image_splitting": False}, idefics3.IMAGE_SEQ_LEN),
        ({"image_longest_edge": 64}, idefics3.IMAGE_SEQ_LEN),  # one crop: the image alone
        ({"image_longest_edge": 192}, 10 * idefics3.IMAGE_SEQ_LEN),  # 3x3 crops + the image
    ],
)
def test_image_splitting_sets_the_visual_token_cost(
    checkpoint: Path, options: dict[str, object], expected: int
) -> None:
    assert idefics3.IMAGE_SEQ_LEN == 16  # (64 px / 8 px patches)^2 / pixel shuffle 2^2
    assert _visual_tokens(checkpoint, **options) == expected


def test_smolvlm_loads_without_torchvision(tmp_path: Path) -> None:
    assert importlib.util.find_spec("torchvision") is None
    adapter = HuggingFaceAdapter(pretrained=str(smolvlm.build(tmp_path)), device="cpu")
    assert type(adapter.processor).__name__ == "SmolVLMProcessor"
    assert not hasattr(adapter.processor, "video_processor")
    assert adapter.processor.image_seq_len == idefics3.IMAGE_SEQ_LEN
