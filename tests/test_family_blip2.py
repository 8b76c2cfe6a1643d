"""BLIP-2: the paper's ``Question: ... Answer:`` prompt, the query tokens placed before a
batch's left padding, a fixed visual-token cost, answers ending at a newline, and clear
refusals (one image, one turn)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vlm_eval.data import ImageFile, Sample
from vlm_eval.demo.tiny import blip2, blip2_flan_t5
from vlm_eval.models import HuggingFaceAdapter, ModelInput, ModelLoadError, PromptError
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
    return blip2.build(tmp_path_factory.mktemp("blip2"))


@pytest.fixture(scope="module")
def adapter(checkpoint: Path) -> HuggingFaceAdapter:
    return HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu")


def test_user_text_becomes_a_question_answer_prompt(adapter: HuggingFaceAdapter) -> None:
    def render(*parts: str | ImagePart) -> str:
        return adapter.family.render(adapter.processor, (Message("user", parts),))

    assert render(*VQA_TURN.parts) == (
        "Question: Is it red? Answer the question using a single word or phrase. Answer:"
    )
    assert render(IMAGE, CaptionTask.instruction) == (
        "Question: Provide a one-sentence caption for the provided image. Answer:"
    )
    assert render("What is\n on the table?", IMAGE) == "Question: What is on the table? Answer:"
    assert render(IMAGE) == ""  # no text: BLIP-2's captioning mode


def test_few_shot_prompts_are_refused(adapter: HuggingFaceAdapter) -> None:
    demonstration = Message("assistant", ("yes",))
    with pytest.raises(PromptError, match="blip2 models take at most 1 image"):
        adapter.family.check_prompt((VQA_TURN, demonstration, VQA_TURN))
    text_only = (Message("user", ("Is it red?",)), demonstration, VQA_TURN)
    with pytest.raises(PromptError, match="single user turn, this prompt has 3 turn"):
        adapter.family.render(adapter.processor, text_only)


def test_query_tokens_come_before_the_left_padding(adapter: HuggingFaceAdapter) -> None:
    texts = ["Question: Is it red? Answer:", "Question: Is it red or blue? Answer:"]
    image = Image.new("RGB", (96, 80))
    encoded = adapter.processor(
        **adapter.family.processor_inputs(texts, [[image], [image]]),
        return_tensors="pt",
        padding=True,
    )
    rows = [adapter.tokenizer.convert_ids_to_tokens(row) for row in encoded["input_ids"]]
    queries = ["<image>"] * 8
    start = ["</s>", "▁Question:", "▁Is", "▁i", "t"]
    assert rows == [
        queries + ["<pad>"] * 2 + start + ["▁red?", "▁Answer:"],
        queries + start + ["▁red", "▁or", "▁blue?", "▁Answer:"],
    ]
    assert encoded["attention_mask"][0].tolist() == [1] * 8 + [0] * 2 + [1] * 7


@pytest.mark.parametrize("size", [(96, 80), (640, 480), (32, 300)])
def test_every_image_costs_one_token_per_query(
    adapter: HuggingFaceAdapter, size: tuple[int, int]
) -> None:
    (generation,) = adapter.generate(
        [ModelInput((VQA_TURN,), [Image.new("RGB", size)])], GenerationSettings(max_new_tokens=1)
    )
    assert generation.visual_tokens == 8 == adapter.model.config.num_query_tokens
    text = adapter.tokenizer(adapter.family.render(adapter.processor, (VQA_TURN,))).input_ids
    assert generation.prompt_tokens == 8 + len(text)  # text: </s> and the question's tokens


def test_answers_end_at_a_newline(adapter: HuggingFaceAdapter) -> None:
    newline = adapter.tokenizer.convert_tokens_to_ids("\n")
    assert adapter.eos_token_ids == {newline}
    # BLIP-2's generate() runs the language model's generate(), with its own config.
    assert adapter.model.language_model.generation_config.eos_token_id == newline


def test_image_options_are_refused(checkpoint: Path) -> None:
    with pytest.raises(ModelLoadError, match="blip2 checkpoints do not take image_longest"):
        HuggingFaceAdapter(pretrained=str(checkpoint), device="cpu", image_longest_edge=128)


@pytest.fixture(scope="module")
def flan_t5(tmp_path_factory: pytest.TempPathFactory) -> HuggingFaceAdapter:
    folder = blip2_flan_t5.build(tmp_path_factory.mktemp("blip2-flan-t5"))
    return HuggingFaceAdapter(pretrained=str(folder), device="cpu")


def test_flan_t5_checkpoints_get_the_short_answer_prompt(flan_t5: HuggingFaceAdapter) -> None:
    assert flan_t5.family.name == "blip2-flan-t5"
    assert flan_t5.family.render(flan_t5.processor, (VQA_TURN,)) == (
        "Question: Is it red? Answer the question using a single word or phrase. Short answer:"
    )
    assert flan_t5.family.render(flan_t5.processor, (Message("user", (IMAGE,)),)) == ""


def test_flan_t5_answers_are_the_decoder_output(flan_t5: HuggingFaceAdapter) -> None:
    """The encoder reads the queries and the prompt; the decoder's tokens after its start token
    are the answer (a decoder-only model would return the prompt first)."""
    inputs = [ModelInput((VQA_TURN,), [Image.new("RGB", (96, 80), "red")])]
    settings = GenerationSettings(max_new_tokens=5)
    (generation,) = flan_t5.generate(inputs, settings)
    encoded = flan_t5.prepare(inputs)
    output = flan_t5.model.generate(**encoded, max_new_tokens=5, do_sample=False)
    assert output[0, 0] == flan_t5.tokenizer.pad_token_id  # the decoder's start token
    answer = output[0, 1:]
    assert generation.text == flan_t5.tokenizer.decode(answer, skip_special_tokens=True)
    assert generation.text and "Question" not in generation.text
    assert generation.generated_tokens == len(answer) == 5  # no end-of-text within 5 tokens
    text = flan_t5.tokenizer(flan_t5.family.render(flan_t5.processor, (VQA_TURN,))).input_ids
    assert text[-1] == flan_t5.tokenizer.eos_token_id  # T5 ends the encoder's text with </s>
    assert (generation.visual_tokens, generation.prompt_tokens) == (8, 8 + len(text))


def test_a_zero_shot_raw_template_follows_the_query_tokens(adapter: HuggingFaceAdapter) -> None:
    """The m4 harness's template 9 at 0-shot: the query tokens, then the tokenizer's BOS and
    the template's text verbatim (newline kept), the image moved before it."""
    load_tasks()
    query = Sample("q", ImageFile(Path("a.jpg")), ("red",) * 10, question="Is it red?")
    prompt = get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, [])
    bos = adapter.tokenizer.bos_token
    assert adapter.family.render(adapter.processor, prompt) == (
        f"{bos}Instruction: provide an answer to the question. Use the image to answer.\n"
        "Image:Question: Is it red? Answer:"
    )
    encoded = adapter.prepare([ModelInput(prompt, [Image.new("RGB", (32, 32))])])
    ids = encoded["input_ids"][0].tolist()
    queries = adapter.processor.num_query_tokens
    assert ids[:queries] == [adapter.image_token_id] * queries
    assert ids[queries] == adapter.tokenizer.bos_token_id
    assert ids.count(adapter.tokenizer.bos_token_id) == 1
