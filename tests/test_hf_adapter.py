"""The generic Hugging Face adapter on a tiny random Idefics2 checkpoint loaded from disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from vlm_eval import ArgumentsError
from vlm_eval.demo.tiny._inputs import sample_inputs
from vlm_eval.models import (
    HuggingFaceAdapter,
    ModelInput,
    ModelLoadError,
    create_model,
    parse_model_args,
)
from vlm_eval.models._hf import BLANK
from vlm_eval.tasks import GenerationSettings, ImagePart, Message


def test_cost_counts_visual_prompt_and_generated_tokens(tiny_adapter: HuggingFaceAdapter) -> None:
    (generation,) = tiny_adapter.generate(sample_inputs(1), GenerationSettings(max_new_tokens=4))
    image_seq_len = tiny_adapter.processor.image_seq_len
    assert generation.visual_tokens == image_seq_len
    assert generation.prompt_tokens > image_seq_len
    assert 1 <= generation.generated_tokens <= 4


def test_prompt_is_rendered_with_the_checkpoint_chat_template(
    tiny_adapter: HuggingFaceAdapter,
) -> None:
    from vlm_eval.models import to_chat_messages

    prompt = (
        Message("user", (ImagePart(Path("a.jpg")), "Q1")),
        Message("assistant", ("red",)),
        Message("user", (ImagePart(Path("b.jpg")), "Q2")),
    )
    text = tiny_adapter.processor.apply_chat_template(
        to_chat_messages(prompt), add_generation_prompt=True, tokenize=False
    )
    assert text == (
        "User:<image>Q1<end_of_utterance>\nAssistant: red<end_of_utterance>\n"
        "User:<image>Q2<end_of_utterance>\nAssistant:"
    )


def test_describe_records_the_weights_hash_and_settings(
    tiny_adapter: HuggingFaceAdapter, tiny_model_dir: Path
) -> None:
    info = tiny_adapter.describe()
    weights = (tiny_model_dir / "model.safetensors").read_bytes()
    expected = hashlib.sha256(b"model.safetensors" + weights).hexdigest()
    assert info["weights_sha256"] == expected
    assert info["architecture"] == "Idefics2ForConditionalGeneration"
    assert (info["dtype"], info["device"]) == ("float32", "cpu")
    assert info["pretrained"] == str(tiny_model_dir.resolve())


def test_model_args_are_typed_and_checked(tiny_model_dir: Path) -> None:
    assert parse_model_args(" pretrained=/x , dtype=float32,") == {
        "pretrained": "/x",
        "dtype": "float32",
    }
    with pytest.raises(ArgumentsError, match="expected key=value, got 'dtype'"):
        parse_model_args("pretrained=/x,dtype")
    with pytest.raises(
        ArgumentsError, match=r"does not accept colour; valid arguments: pretrained"
    ):
        create_model("hf", {"pretrained": str(tiny_model_dir), "colour": "red"})
    with pytest.raises(ArgumentsError, match="needs pretrained"):
        create_model("hf", {})
    with pytest.raises(
        ArgumentsError, match="trust_remote_code must be true or false, got 'maybe'"
    ):
        create_model("hf", {"pretrained": str(tiny_model_dir), "trust_remote_code": "maybe"})


def test_a_text_only_checkpoint_is_refused_with_a_clear_error(
    tiny_adapter: HuggingFaceAdapter, tmp_path: Path
) -> None:
    # A language-model checkpoint: AutoProcessor quietly falls back to its tokenizer.
    tiny_adapter.model.config.text_config.save_pretrained(tmp_path)
    tiny_adapter.tokenizer.save_pretrained(tmp_path)
    tokenizer_config = tmp_path / "tokenizer_config.json"
    settings = json.loads(tokenizer_config.read_text())
    del settings["processor_class"]
    tokenizer_config.write_text(json.dumps(settings))
    with pytest.raises(
        ModelLoadError, match=r"returned .*Tokenizer.*not a processor with an image"
    ):
        HuggingFaceAdapter(pretrained=str(tmp_path))
    with pytest.raises(
        ModelLoadError, match="missing-checkpoint: cannot load the model: no such folder"
    ):
        HuggingFaceAdapter(pretrained=str(tmp_path / "missing-checkpoint"))


def test_an_unknown_dtype_is_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="dtype must be auto or one of float32"):
        HuggingFaceAdapter(pretrained=str(tiny_model_dir), dtype="float8")


def test_installed_packages_register_adapters_through_the_entry_point(
    install_plugin_package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vlm_eval.models import MODELS

    install_plugin_package(
        "acme_models",
        "from vlm_eval.models import ModelAdapter, register_model\n\n\n"
        "@register_model\n"
        "class Remote(ModelAdapter):\n"
        '    name = "acme-remote"\n\n'
        "    def __init__(self, *, url: str, retries: int = 3):\n"
        "        self.url, self.retries = url, retries\n\n"
        "    def generate(self, inputs, settings):\n"
        "        raise NotImplementedError\n\n"
        "    def describe(self):\n"
        '        return {"url": self.url}\n',
        "vlm_eval.models",
    )
    monkeypatch.setattr(MODELS, "_entry_points_loaded", False)
    assert MODELS.names() == ["acme-remote", "hf", "openai", "vllm"]
    adapter = create_model("acme-remote", {"url": "http://127.0.0.1:1", "retries": "5"})
    assert (adapter.url, adapter.retries) == ("http://127.0.0.1:1", 5)
    with pytest.raises(ArgumentsError, match="retries must be int, got 'many'"):
        create_model("acme-remote", {"url": "x", "retries": "many"})


def test_image_splitting_costs_five_times_the_visual_tokens_and_batches_exactly(
    tiny_model_dir: Path,
) -> None:
    split = HuggingFaceAdapter(
        pretrained=str(tiny_model_dir), device="cpu", do_image_splitting=True
    )
    settings = GenerationSettings(max_new_tokens=6)
    batched = split.generate(sample_inputs(4), settings)
    assert [g.visual_tokens for g in batched] == [5 * split.processor.image_seq_len] * 4
    assert batched == [split.generate([item], settings)[0] for item in sample_inputs(4)]
    assert split.describe()["processor_options"] == {"do_image_splitting": True}


def test_image_options_a_family_does_not_take_are_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(
        ModelLoadError,
        match=r"idefics checkpoints do not take max_pixels \(image options they take: "
        r"do_image_splitting, image_longest_edge\)",
    ):
        create_model("hf", {"pretrained": str(tiny_model_dir), "max_pixels": "1000"})
    resized = create_model("hf", {"pretrained": str(tiny_model_dir), "image_longest_edge": "96"})
    assert resized.processor.image_processor.size == {"longest_edge": 96, "shortest_edge": 64}


def test_device_map_is_refused_under_torchrun(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ModelLoadError, match="under torchrun each process has a GPU of its own"):
        create_model("hf", {"pretrained": str(tiny_model_dir), "device_map": "auto"})


def test_a_blind_model_sees_blank_images_of_the_same_size(
    tiny_adapter: HuggingFaceAdapter, tiny_model_dir: Path
) -> None:
    """``blind=true``: the same prompt tokens and visual tokens, every image a mid-gray one of
    the same size; recorded with the model, so its predictions are cached apart."""
    blind = create_model("hf", {"pretrained": str(tiny_model_dir), "blind": "true"})
    assert isinstance(blind, HuggingFaceAdapter)
    inputs = sample_inputs(3)
    seen, unseen = tiny_adapter.prepare(inputs), blind.prepare(inputs)
    assert torch.equal(seen["input_ids"], unseen["input_ids"])
    assert not torch.equal(seen["pixel_values"], unseen["pixel_values"])
    grey = [
        ModelInput(item.prompt, [Image.new("RGB", image.size, BLANK) for image in item.images])
        for item in inputs
    ]
    assert torch.equal(tiny_adapter.prepare(grey)["pixel_values"], unseen["pixel_values"])
    assert blind.describe()["blind"] is True and "blind" not in tiny_adapter.describe()
    settings = GenerationSettings(max_new_tokens=4)
    assert [g.visual_tokens for g in blind.generate(inputs, settings)] == [
        g.visual_tokens for g in tiny_adapter.generate(inputs, settings)
    ]
