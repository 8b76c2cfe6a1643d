"""PaliGemma: the task text as a one-line prefix after the image, the prefix-LM layout of a
left-padded batch, a fixed visual-token cost, and clear refusals (one image, one turn)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vlm_eval.data import ImageFile, Sample
from vlm_eval.demo.tiny import paligemma
from vlm_eval.models import HuggingFaceAdapter, ModelInput, ModelLoadError, PromptError
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import (
    CaptionTask,
    GenerationSettings,
    ImagePart,
    Message,
    VQATask,
    get_task,
    load_tasks,
)

IMAGE = ImagePart(Path("a.jpg"))
VQA_TURN = Message("user", (IMAGE, VQATask.question_template.format(question="Is it red?")))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return paligemma.build(tmp_path_factory.mktemp("paligemma"))


@pytest.fixture(scope="module")
def adapter(checkpoint: Path) -> HuggingFaceAdapter:
    return HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu")


def test_task_text_is_a_one_line_prefix_after_the_image(adapter: HuggingFaceAdapter) -> None:
    def render(*parts: str | ImagePart) -> str:
        return adapter.family.render(adapter.processor, (Message("user", parts),))

    assert render(*VQA_TURN.parts) == (
        "<image>Is it red? Answer the question using a single word or phrase."
    )
    assert render(IMAGE, CaptionTask.instruction) == (
        "<image>Provide a one-sentence caption for the provided image."
    )
    assert render(IMAGE, "answer en  where is\n\nthe cow?") == "<image>answer en where is the cow?"
    assert render(IMAGE) == "<image>"  # no prefix: PaliGemma captions


def test_few_shot_prompts_are_refused(adapter: HuggingFaceAdapter) -> None:
    demonstration = Message("assistant", ("yes",))
    with pytest.raises(PromptError, match="paligemma models take at most 1 image"):
        adapter.family.check_prompt((VQA_TURN, demonstration, VQA_TURN))
    text_only = (Message("user", ("Is it red?",)), demonstration, VQA_TURN)
    with pytest.raises(PromptError, match="single user turn, this prompt has 3 turn"):
        adapter.family.render(adapter.processor, text_only)


def test_a_left_padded_batch_is_one_bidirectional_prefix_per_row(
    adapter: HuggingFaceAdapter,
) -> None:
    texts = ["<image>Is it red?", "<image>Is it red or blue?"]
    image = Image.new("RGB", (96, 80))
    encoded = adapter.processor(
        **adapter.family.processor_inputs(texts, [[image], [image]]),
        return_tensors="pt",
        padding=True,
    )
    rows = [adapter.tokenizer.convert_ids_to_tokens(row) for row in encoded["input_ids"]]
    images = ["<image>"] * 16
    assert rows == [
        ["<pad>", "<pad>", *images, "<bos>", "Is", "▁i", "t", "▁red?", "\n"],
        [*images, "<bos>", "Is", "▁i", "t", "▁red", "▁or", "▁blue?", "\n"],
    ]
    assert encoded["attention_mask"][0].tolist() == [0] * 2 + [1] * 22
    # The adapter passes token_type_ids on to generate: 0 marks the prefix the model attends to
    # bidirectionally; generated tokens get 1 (causal suffix).
    assert encoded["token_type_ids"].eq(0).all()


@pytest.mark.parametrize("size", [(96, 80), (640, 480), (32, 300)])
def test_every_image_costs_one_token_per_siglip_patch(
    adapter: HuggingFaceAdapter, size: tuple[int, int]
) -> None:
    (generation,) = adapter.generate(
        [ModelInput((VQA_TURN,), [Image.new("RGB", size)])], GenerationSettings(max_new_tokens=1)
    )
    assert generation.visual_tokens == 16  # resized to 64x64 px, 16 px patches: (64 / 16)^2
    assert adapter.model.config.text_config.num_image_tokens == 16


def test_image_options_are_refused(checkpoint: Path) -> None:
    with pytest.raises(ModelLoadError, match="paligemma checkpoints do not take image_longest"):
        HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", image_longest_edge=128)


def test_a_few_shot_run_on_a_single_image_family_fails_before_generating(
    adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    load_tasks()
    config = RunConfig(
        model="hf", model_args={}, tasks=("vqav2", "okvqa"), data_dir=mini_data,
        output_dir=tmp_path, limit=2, num_fewshot=1,
    )  # fmt: skip
    with pytest.raises(PromptError, match="paligemma models take at most 1 image"):
        run_evaluation(config, adapter)
    assert not list(tmp_path.iterdir())  # nothing generated, nothing written


def test_a_zero_shot_raw_template_is_the_prefix_after_the_image(
    adapter: HuggingFaceAdapter,
) -> None:
    """The m4 harness's template 9 at 0-shot: its text verbatim (newline kept) as the prefix,
    the image moved first, and one BOS, placed by the processor between image and prefix."""
    load_tasks()
    query = Sample("q", ImageFile(Path("a.jpg")), ("red",) * 10, question="Is it red?")
    prompt = get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, [])
    text = adapter.family.render(adapter.processor, prompt)
    assert text == (
        "<image>Instruction: provide an answer to the question. Use the image to answer.\n"
        "Image:Question: Is it red? Answer:"
    )
    encoded = adapter.prepare([ModelInput(prompt, [Image.new("RGB", (32, 32))])])
    ids = encoded["input_ids"][0].tolist()
    image_tokens = adapter.processor.image_seq_length
    assert ids[:image_tokens] == [adapter.processor.image_token_id] * image_tokens
    assert ids[image_tokens] == adapter.tokenizer.bos_token_id
    assert ids.count(adapter.tokenizer.bos_token_id) == 1
    assert adapter.tokenizer.decode(ids[image_tokens + 1 :]) == (
        "Instruction: provide an answer to the question. Use the image to answer.\n"
        "Image:Question: Is it red? Answer:\n"
    )


def test_a_few_shot_raw_template_is_refused(adapter: HuggingFaceAdapter) -> None:
    load_tasks()
    images = [ImageFile(Path(f"{name}.jpg")) for name in "ab"]
    query = Sample("q", images[0], ("red",) * 10, question="Is it red?")
    shot = Sample("s", images[1], ("no",) * 10, question="Is it blue?")
    prompt = get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, [shot])
    with pytest.raises(PromptError, match=r"at most 1 image\(s\) per prompt.*--num-fewshot 0"):
        adapter.family.check_prompt(prompt)
