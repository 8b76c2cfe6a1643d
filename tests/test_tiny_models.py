"""The bundled tiny Idefics2 checkpoint loads and generates like a user's checkpoint."""

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import (
    AutoModelForImageTextToText,
    AutoProcessor,
    Idefics2ForConditionalGeneration,
    Idefics2Processor,
)

from vlm_eval.demo.tiny.idefics2 import IMAGE_SEQ_LEN, build

QUESTIONS = (
    "What color is the circle?",
    "How many shapes are there? Answer the question using a single word or phrase.",
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("tiny_idefics2"), seed=0)


@pytest.fixture(scope="module")
def processor(checkpoint: Path) -> Idefics2Processor:
    processor = AutoProcessor.from_pretrained(checkpoint)
    processor.tokenizer.padding_side = "left"
    return processor


@pytest.fixture(scope="module")
def model(checkpoint: Path) -> Idefics2ForConditionalGeneration:
    return AutoModelForImageTextToText.from_pretrained(checkpoint).eval()


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    gradient = Image.linear_gradient("L").resize((96, 96)).convert("RGB")
    return [Image.new("RGB", (96, 96), (200, 30, 30)), gradient]


def _prompt(processor: Idefics2Processor, question: str) -> str:
    message = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    return processor.apply_chat_template([message], add_generation_prompt=True)


def _generate(
    processor: Idefics2Processor,
    model: Idefics2ForConditionalGeneration,
    questions: list[str],
    images: list[Image.Image],
) -> list[list[int]]:
    """Greedy-generate for a left-padded batch; return each row's new tokens up to its EOS."""
    prompts = [_prompt(processor, q) for q in questions]
    inputs = processor(
        text=prompts, images=[[im] for im in images], padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    eos = set(model.generation_config.eos_token_id)
    rows = []
    for row in output[:, inputs["input_ids"].shape[1] :].tolist():
        ends = [i for i, token in enumerate(row) if token in eos]
        rows.append(row[: ends[0] + 1] if ends else row)
    return rows


def test_checkpoint_is_small(checkpoint: Path) -> None:
    assert (checkpoint / "model.safetensors").is_file()
    assert (checkpoint / "README.md").read_text().startswith("# tiny-idefics2")
    assert sum(f.stat().st_size for f in checkpoint.iterdir()) < 10 * 2**20


def test_loads_as_real_processor_and_model(
    processor: Idefics2Processor, model: Idefics2ForConditionalGeneration
) -> None:
    assert isinstance(processor, Idefics2Processor)
    assert processor.image_processor is not None
    assert processor.image_processor.do_image_splitting is False
    assert isinstance(model, Idefics2ForConditionalGeneration)
    assert model.dtype == torch.float32
    tokenizer = processor.tokenizer
    assert model.config.text_config.vocab_size == len(tokenizer)
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<image>")
    assert model.config.perceiver_config.resampler_n_latents == processor.image_seq_len
    eou = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    assert eou != tokenizer.unk_token_id
    assert model.generation_config.eos_token_id == [eou, tokenizer.eos_token_id]
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id


def test_chat_template_renders_idefics2_format(processor: Idefics2Processor) -> None:
    assert _prompt(processor, "What is this?") == (
        "User:<image>What is this?<end_of_utterance>\nAssistant:"
    )


def test_one_image_expands_to_image_seq_len_tokens(
    processor: Idefics2Processor, images: list[Image.Image]
) -> None:
    inputs = processor(text=_prompt(processor, "What is this?"), images=images[:1])
    ids = inputs["input_ids"][0]
    tokenizer = processor.tokenizer
    assert ids[0] == tokenizer.bos_token_id
    assert ids.count(tokenizer.convert_tokens_to_ids("<image>")) == IMAGE_SEQ_LEN
    assert ids.count(tokenizer.convert_tokens_to_ids("<fake_token_around_image>")) == 2
    assert tokenizer.unk_token_id not in ids


def test_batched_greedy_generation_is_deterministic_and_matches_one_by_one(
    processor: Idefics2Processor,
    model: Idefics2ForConditionalGeneration,
    images: list[Image.Image],
) -> None:
    batched = _generate(processor, model, list(QUESTIONS), images)
    eos = set(model.generation_config.eos_token_id)
    assert all(row[0] not in eos for row in batched), "random weights should not answer empty"
    assert batched[0] != batched[1], "answers should depend on the input"
    assert _generate(processor, model, list(QUESTIONS), images) == batched
    one_by_one = [
        _generate(processor, model, [q], [im])[0] for q, im in zip(QUESTIONS, images, strict=True)
    ]
    assert one_by_one == batched


def test_same_seed_gives_identical_weights(checkpoint: Path, tmp_path: Path) -> None:
    expected = load_file(checkpoint / "model.safetensors")
    same = load_file(build(tmp_path / "same", seed=0) / "model.safetensors")
    other = load_file(build(tmp_path / "other", seed=1) / "model.safetensors")
    assert same.keys() == expected.keys()
    assert all(torch.equal(same[name], tensor) for name, tensor in expected.items())
    assert not torch.equal(other["lm_head.weight"], expected["lm_head.weight"])
    assert (tmp_path / "same" / "tokenizer.json").read_bytes() == (
        checkpoint / "tokenizer.json"
    ).read_bytes()
