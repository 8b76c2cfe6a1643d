"""The trained demo checkpoint (``vlm_eval.demo.train``) and its data: deterministic training on
the ``idefics2-base`` protocol's own strings, a loss that falls, train splits apart from the
evaluation splits."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor

from vlm_eval.demo.mini_data import SplitSizes, write_mini_data
from vlm_eval.demo.train import (
    ModelSize,
    TrainSettings,
    build_processor,
    encode,
    protocol_task,
    train,
    training_pairs,
)
from vlm_eval.models import family_for

_FEW_STEPS = TrainSettings(steps=3, early_step=2, batch_size=4, warmup_steps=2, threads=1)


def _quiet(_: str) -> None:
    pass


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_the_first_steps_give_the_same_weights_twice(mini_data: Path, tmp_path: Path) -> None:
    first = train(tmp_path / "a", mini_data, _FEW_STEPS, log=_quiet)
    second = train(tmp_path / "b", mini_data, _FEW_STEPS, log=_quiet)
    assert first["losses"] == second["losses"]
    assert sorted(first["checkpoints"]) == ["final", "step-0", "step-2"]
    for name in first["checkpoints"]:
        a, b = _weights(tmp_path / "a" / name), _weights(tmp_path / "b" / name)
        assert a.keys() == b.keys()
        assert all(torch.equal(a[key], b[key]) for key in a), name
    start, final = _weights(tmp_path / "a" / "step-0"), _weights(tmp_path / "a" / "final")
    assert not all(torch.equal(start[key], final[key]) for key in start)


def test_checkpoints_before_the_last_are_base_ones_and_the_last_has_a_chat_template(
    mini_data: Path, tmp_path: Path
) -> None:
    settings = TrainSettings(steps=2, early_step=1, batch_size=2, threads=1)
    checkpoints = train(tmp_path, mini_data, settings, log=_quiet)["checkpoints"]
    templates = {
        name: AutoProcessor.from_pretrained(folder).chat_template
        for name, folder in checkpoints.items()
    }
    assert templates["step-0"] is None
    assert templates["step-1"] is None
    assert templates["final"] is not None and "Assistant:" in templates["final"]


def test_float16_checkpoints_hold_the_float32_weights_rounded(
    mini_data: Path, tmp_path: Path
) -> None:
    """The committed demo checkpoints' settings: float16 weights, no step-0; training itself
    stays in float32 (the same losses)."""
    full = train(tmp_path / "a", mini_data, _FEW_STEPS, log=_quiet)
    half = train(
        tmp_path / "b", mini_data, _FEW_STEPS, save_dtype=torch.float16, save_initial=False,
        log=_quiet,
    )  # fmt: skip
    assert half["losses"] == full["losses"]
    assert sorted(half["checkpoints"]) == ["final", "step-2"]
    for name in half["checkpoints"]:
        exact, rounded = _weights(tmp_path / "a" / name), _weights(tmp_path / "b" / name)
        assert all(rounded[key].dtype == torch.float16 for key in rounded), name
        assert all(torch.equal(exact[key].half(), rounded[key]) for key in exact), name


def test_the_committed_checkpoints_are_the_documented_ones() -> None:
    """``vlm_eval/demo/checkpoints``: the early (base) and final (chat template) checkpoints of
    the default settings, in float16, 5 MB at most in all."""
    folder = Path(__file__).parents[1] / "vlm_eval" / "demo" / "checkpoints"
    assert sorted(path.name for path in folder.iterdir() if path.is_dir()) == [
        "final",
        "step-150",
    ]
    assert sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) <= 5 << 20
    for name in ("final", "step-150"):
        card = (folder / name / "README.md").read_text()
        assert f'"steps": {TrainSettings().steps}' in card
        assert all(w.dtype == torch.float16 for w in _weights(folder / name).values())
    assert AutoProcessor.from_pretrained(folder / "step-150").chat_template is None
    assert AutoProcessor.from_pretrained(folder / "final").chat_template is not None


def test_a_short_training_lowers_the_loss(mini_data: Path, tmp_path: Path) -> None:
    settings = TrainSettings(steps=40, early_step=0, batch_size=8, warmup_steps=5, threads=1)
    losses = train(tmp_path, mini_data, settings, log=_quiet)["losses"]
    assert sum(losses[-5:]) / 5 < 0.5 * losses[0]


def test_training_texts_are_the_protocol_prompts_followed_by_the_answer(mini_data: Path) -> None:
    settings = TrainSettings(fewshot_share=0.0, chat_share=0.0)
    pairs = training_pairs(mini_data, settings)
    processor = build_processor(ModelSize(), pairs)
    task = protocol_task("vqav2", "idefics2-base")
    sample = task.load(task.data_path(mini_data), task.fewshot_split)[0]
    prompt = task.prompt(sample, [])  # what the runner asks at evaluation
    (pair,) = [pair for pair in pairs if pair.prompt == prompt]
    (sequence,) = encode(processor, [pair]).sequences
    rendered = family_for("idefics2").render(processor, prompt)
    assert rendered.startswith("<s>Instruction: provide an answer to the question.")
    assert rendered.endswith(f"Question: {sample.question} Answer:")
    answer = sequence.labels[sequence.labels != -100].tolist()
    text = processor.tokenizer.decode(answer)
    assert text.strip() == f"{sample.metadata['multiple_choice_answer']}\n</s>"
    with pair.images[0].open() as image:
        inputs = processor(text=[rendered], images=[[image]], add_special_tokens=False)
    prompt_ids = list(inputs["input_ids"][0])
    assert sequence.input_ids.tolist()[: len(prompt_ids)] == prompt_ids


def test_the_default_sizes_write_the_bundled_mini_splits(mini_data: Path, tmp_path: Path) -> None:
    write_mini_data(tmp_path)
    comparison = filecmp.dircmp(tmp_path, mini_data)
    assert _identical(comparison)


def _identical(comparison: filecmp.dircmp[str]) -> bool:
    if comparison.left_only or comparison.right_only or comparison.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(
        comparison.left, comparison.right, comparison.common_files, shallow=False
    )
    if mismatch or errors:
        return False
    return all(_identical(sub) for sub in comparison.subdirs.values())


def test_the_demo_splits_have_enough_questions_to_decide(demo_data: Path) -> None:
    for name in ("vqav2", "okvqa", "textvqa"):
        task = protocol_task(name, "idefics2-base")
        assert len(task.load(task.data_path(demo_data), task.eval_split)) >= 500, name
    captions = protocol_task("coco_caption", "idefics2-base")
    assert len(captions.load(captions.data_path(demo_data), "test")) >= 200


@pytest.mark.parametrize("name", ["vqav2", "okvqa", "textvqa", "coco_caption"])
def test_no_train_image_repeats_an_evaluation_image(name: str, tmp_path: Path) -> None:
    sizes = SplitSizes(
        vqa_val=60, vqa_train=300, textvqa_val=200, textvqa_train=600, caption_test=60
    )
    write_mini_data(tmp_path, sizes=sizes)
    task = protocol_task(name, "idefics2-base")
    folder = task.data_path(tmp_path)

    def pictures(split: str) -> set[bytes]:
        return {sample.image.read() for sample in task.load(folder, split)}

    assert not pictures(task.eval_split) & pictures(task.fewshot_split)
