"""Every model family through the generic adapter, on its tiny random checkpoint saved to disk.

The checkpoints come from ``vlm_eval.demo.tiny`` (one module per architecture); each is loaded
back with ``from_pretrained`` exactly as a user's checkpoint would be.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vlm_eval.data import ImageFile, Sample
from vlm_eval.demo.tiny import tiny_builders
from vlm_eval.demo.tiny._inputs import sample_image, sample_inputs, sample_question
from vlm_eval.models import HuggingFaceAdapter, ModelInput, PromptError
from vlm_eval.tasks import GenerationSettings, Message, Prompt, get_task, load_tasks

SETTINGS = GenerationSettings(max_new_tokens=6)


@pytest.fixture(scope="module", params=sorted(tiny_builders()))
def adapter(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    folder = tiny_builders()[request.param](tmp_path_factory.mktemp(request.param))
    return HuggingFaceAdapter(pretrained=str(folder), device="cpu", dtype="float32")


def test_the_checkpoint_is_handled_by_its_family(adapter: HuggingFaceAdapter) -> None:
    info = adapter.describe()
    assert adapter.model.config.model_type in adapter.family.model_types
    assert info["family"] == adapter.family.name != "generic"
    assert info["architecture"].endswith("ForConditionalGeneration")


def test_batched_generation_equals_one_by_one(adapter: HuggingFaceAdapter) -> None:
    inputs = sample_inputs(5)
    batched = adapter.generate(inputs, SETTINGS)
    single = [adapter.generate([item], SETTINGS)[0] for item in inputs]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.generated_tokens for g in batched] == [g.generated_tokens for g in single]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in single]
    assert [g.visual_tokens for g in batched] == [g.visual_tokens for g in single]
    assert len({g.prompt_tokens for g in batched}) > 1, "prompts should differ in length"


def test_cost_counts_visual_prompt_and_generated_tokens(adapter: HuggingFaceAdapter) -> None:
    (generation,) = adapter.generate(sample_inputs(1), SETTINGS)
    assert 0 < generation.visual_tokens < generation.prompt_tokens
    assert 1 <= generation.generated_tokens <= SETTINGS.max_new_tokens


def test_few_shot_prompts_interleave_images_or_are_refused(adapter: HuggingFaceAdapter) -> None:
    size = (112, 96)
    one_shot: Prompt = (sample_question(0), Message("assistant", ("red",)), sample_question(1))
    if adapter.family.max_images is not None and adapter.family.max_images < 2:
        with pytest.raises(PromptError, match="at most 1 image"):
            adapter.generate(
                [ModelInput(one_shot, [sample_image(0, size), sample_image(1, size)])], SETTINGS
            )
        return
    (zero,) = adapter.generate(
        [ModelInput((sample_question(1),), [sample_image(1, size)])], SETTINGS
    )
    (few,) = adapter.generate(
        [ModelInput(one_shot, [sample_image(0, size), sample_image(1, size)])], SETTINGS
    )
    assert few.visual_tokens == 2 * zero.visual_tokens
    assert few.prompt_tokens > zero.prompt_tokens + zero.visual_tokens


def test_raw_template_prompts_place_each_image_or_are_refused(adapter: HuggingFaceAdapter) -> None:
    """A raw-template protocol's prompt (the m4 harness's, as text) gets the image's tokens
    where its ``<image>`` stands (single-image families: before the text, where their processor
    puts it), as many as a chat prompt gives the same image."""
    load_tasks()
    size = (112, 96)
    image = sample_image(1, size)
    query = Sample("q", ImageFile(Path("1.png")), ("red",) * 10, question="What color is it?")
    raw = get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, [])
    (chat,) = adapter.generate([ModelInput((sample_question(1),), [image])], SETTINGS)
    (generation,) = adapter.generate([ModelInput(raw, [image])], SETTINGS)
    assert generation.visual_tokens == chat.visual_tokens > 0
