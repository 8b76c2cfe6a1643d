"""The vLLM adapter without vLLM: the missing-package message, and a fake ``vllm`` module that
records what the adapter asks of ``LLM`` and answers like vLLM's ``RequestOutput``. The adapter
reads the checkpoint's config and processor (its family renders the prompts): the tests use the
tiny checkpoints."""

from __future__ import annotations

import hashlib
import shutil
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image
from transformers import AutoTokenizer

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import ImageFile, Sample
from vlm_eval.demo.tiny import paligemma
from vlm_eval.models import (
    HuggingFaceAdapter,
    ModelInput,
    ModelLoadError,
    PromptError,
    create_model,
)
from vlm_eval.models._vllm import VLLMAdapter
from vlm_eval.tasks import GenerationSettings, ImagePart, Message, get_task, load_tasks


@dataclass
class FakeCompletion:
    """``vllm.CompletionOutput``: the fields the adapter reads."""

    text: str
    token_ids: list[int]


@dataclass
class FakeRequestOutput:
    """``vllm.RequestOutput``: the fields the adapter reads."""

    prompt_token_ids: list[int]
    outputs: list[FakeCompletion]


@dataclass
class FakeSamplingParams:
    temperature: float = 1.0
    max_tokens: int | None = 16
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False


class FakeLLM:
    """``vllm.LLM``: records its arguments and its ``chat`` and ``generate`` calls; answer
    ``i`` of a call has ``10 + i`` prompt tokens and ``i + 1`` generated tokens."""

    instances: ClassVar[list[FakeLLM]] = []

    def __init__(self, model: str, **options: Any) -> None:
        self.model, self.options = model, options
        self.chats: list[dict[str, Any]] = []
        self.generations: list[dict[str, Any]] = []
        FakeLLM.instances.append(self)

    def chat(
        self, messages: list[list[dict[str, Any]]], sampling_params: Any, use_tqdm: bool = True
    ) -> list[FakeRequestOutput]:
        self.chats.append({"messages": messages, "params": sampling_params, "tqdm": use_tqdm})
        return _answers(len(messages))

    def generate(
        self,
        prompts: list[dict[str, Any]],
        sampling_params: Any,
        *,
        use_tqdm: bool = True,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[FakeRequestOutput]:
        self.generations.append(
            {"prompts": prompts, "params": sampling_params, "tokenization": tokenization_kwargs}
        )
        return _answers(len(prompts))

    def get_tokenizer(self) -> Any:
        return AutoTokenizer.from_pretrained(self.model)


def _answers(count: int) -> list[FakeRequestOutput]:
    return [
        FakeRequestOutput(list(range(10 + i)), [FakeCompletion(f"answer {i}", [7] * (i + 1))])
        for i in range(count)
    ]


@pytest.fixture()
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    module.__version__ = "0.0.fake"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(FakeLLM, "instances", [])
    return module


def test_a_missing_vllm_is_reported_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(
        ModelLoadError, match=r"^vLLM is not installed: pip install 'vlm-eval\[vllm\]'$"
    ):
        create_model("vllm", {"pretrained": "org/some-vlm"})


def test_the_engine_gets_the_model_args(
    fake_vllm: types.ModuleType, tiny_model_dir: Path, tmp_path: Path
) -> None:
    for file in tiny_model_dir.iterdir():  # the config and processor files, other weights
        if file.suffix != ".safetensors":
            shutil.copy(file, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    adapter = create_model(
        "vllm",
        {
            "pretrained": str(tmp_path),
            "dtype": "bfloat16",
            "tensor_parallel_size": "2",
            "gpu_memory_utilization": "0.5",
            "max_model_len": "4096",
            "limit_mm_per_prompt": "3",
        },
    )
    assert isinstance(adapter, VLLMAdapter)
    (llm,) = FakeLLM.instances
    assert llm.model == str(tmp_path)
    assert llm.options == {
        "revision": None,
        "dtype": "bfloat16",
        "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.5,
        "max_model_len": 4096,
        "trust_remote_code": False,
        "limit_mm_per_prompt": {"image": 3},
    }
    assert adapter.describe() == {
        "adapter": "vllm",
        "pretrained": str(tmp_path.resolve()),
        "revision": None,
        "weights_sha256": hashlib.sha256(b"model.safetensors" + b"weights").hexdigest(),
        "dtype": "bfloat16",
        "max_model_len": 4096,
        "trust_remote_code": False,
        "family": "idefics",
        "vllm_version": "0.0.fake",
    }
    create_model("vllm", {"pretrained": str(tmp_path)})
    assert "limit_mm_per_prompt" not in FakeLLM.instances[-1].options  # vLLM's default


def test_chat_prompts_are_rendered_by_the_family_as_the_hf_adapter_renders_them(
    fake_vllm: types.ModuleType, tiny_adapter: HuggingFaceAdapter, tiny_model_dir: Path
) -> None:
    """A batch is one ``LLM.generate`` call: each chat prompt rendered by the checkpoint's family
    with its processor's chat template, exactly as ``hf`` renders it, its images beside it, and
    the tokenizer's special tokens added as ``hf``'s processor adds them (Idefics2: BOS)."""
    few_shot = (
        Message("user", (ImagePart(Path("a.jpg")), "What colour?")),
        Message("assistant", ("red",)),
        Message("user", (ImagePart(Path("b.jpg")), "And this one?")),
    )
    zero_shot = (Message("user", (ImagePart(Path("c.jpg")), "Q?")),)
    images = [Image.new("RGB", (64, 48), "red"), Image.new("RGB", (50, 70), "navy")]
    inputs = [ModelInput(few_shot, images), ModelInput(zero_shot, [Image.new("RGB", (8, 8))])]
    adapter = VLLMAdapter(pretrained=str(tiny_model_dir))
    generations = adapter.generate(inputs, GenerationSettings(max_new_tokens=5, stop=("\n", "#")))

    (call,) = FakeLLM.instances[0].generations
    assert call["params"] == FakeSamplingParams(temperature=0, max_tokens=5, stop=["\n", "#"])
    assert call["prompts"] == [
        {
            "prompt": "User:<image>What colour?<end_of_utterance>\nAssistant: red<end_of_utterance>"
            "\nUser:<image>And this one?<end_of_utterance>\nAssistant:",
            "multi_modal_data": {"image": images},
        },
        {
            "prompt": "User:<image>Q?<end_of_utterance>\nAssistant:",
            "multi_modal_data": {"image": inputs[1].images},
        },
    ]
    assert [prompt["prompt"] for prompt in call["prompts"]] == [
        tiny_adapter.family.render(tiny_adapter.processor, item.prompt) for item in inputs
    ]
    assert call["tokenization"] == {"add_special_tokens": True}
    bos = tiny_adapter.tokenizer.bos_token_id
    assert tiny_adapter.prepare(inputs[1:])["input_ids"][0, 0] == bos  # the same, from hf
    assert FakeLLM.instances[0].chats == []
    assert [
        (g.text, g.prompt_tokens, g.visual_tokens, g.generated_tokens) for g in generations
    ] == [
        ("answer 0", 10, 0, 1),
        ("answer 1", 11, 0, 2),
    ]


def test_a_base_checkpoint_refuses_chat_prompts_before_generating(
    fake_vllm: types.ModuleType, base_checkpoint: Path
) -> None:
    assert not VLLMAdapter.takes_chat_prompts({"pretrained": str(base_checkpoint)})
    adapter = VLLMAdapter(pretrained=str(base_checkpoint))
    with pytest.raises(PromptError, match="the processor has no chat template"):
        adapter.check_prompt((Message("user", (ImagePart(Path("c.jpg")), "Q?")),))


def test_family_picks_the_family_by_name(fake_vllm: types.ModuleType, tiny_model_dir: Path) -> None:
    adapter = create_model("vllm", {"pretrained": str(tiny_model_dir), "family": "llava"})
    assert adapter.describe()["family"] == "llava"
    with pytest.raises(PromptError, match="llava models take at most 1 image"):
        adapter.check_prompt(
            (
                Message("user", (ImagePart(Path("a.jpg")), "Q?")),
                Message("assistant", ("red",)),
                Message("user", (ImagePart(Path("b.jpg")), "Q?")),
            )
        )
    with pytest.raises(ArgumentsError, match="unknown family 'lava'; available families: "):
        create_model("vllm", {"pretrained": str(tiny_model_dir), "family": "lava"})


def test_raw_prompts_are_rendered_by_the_family_and_generated_without_added_tokens(
    fake_vllm: types.ModuleType, base_checkpoint: Path
) -> None:
    """A base checkpoint's raw prompt reaches ``LLM.generate`` as the ``hf`` adapter renders it
    (the Idefics2 family's ``<image>``, the tokenizer's BOS as text), with its image beside it
    and no special token added; OpenFlamingo's end token replaces the model's EOS."""
    load_tasks()
    query = Sample("q", ImageFile(Path("a.jpg")), ("red",) * 10, question="What color is it?")
    image = Image.new("RGB", (16, 16), "red")
    adapter = VLLMAdapter(pretrained=str(base_checkpoint))
    m4 = get_task("vqav2", {"protocol": "idefics2-base"})
    prompt = m4.prompt(query, [])
    adapter.check_prompt(prompt)
    generations = adapter.generate([ModelInput(prompt, [image])] * 2, m4.generation)
    (call,) = FakeLLM.instances[0].generations
    assert (
        call["prompts"]
        == [
            {
                "prompt": "<s>Instruction: provide an answer to the question. Use the image to "
                "answer.\nImage:<image>Question: What color is it? Answer:",
                "multi_modal_data": {"image": [image]},
            }
        ]
        * 2
    )
    assert call["tokenization"] == {"add_special_tokens": False}
    assert call["params"] == FakeSamplingParams(
        temperature=0, max_tokens=15, stop=list(m4.generation.stop)
    )
    assert [g.text for g in generations] == ["answer 0", "answer 1"]
    assert FakeLLM.instances[0].chats == []

    flamingo = get_task("vqav2", {"protocol": "openflamingo:num_beams=1"})
    text_only = Sample("s", ImageFile(Path("b.jpg")), ("blue",), question="And this?")
    prompt = flamingo.prompt(query, [text_only], text_only=True)
    adapter.generate([ModelInput(prompt, [image])], flamingo.generation)
    last = FakeLLM.instances[0].generations[-1]
    assert last["prompts"][0]["prompt"] == (
        "<s>Question:And this? Short answer:blue<|endofchunk|>\n"
        "<image>Question:What color is it? Short answer:"
    )
    # <|endofchunk|> is not one token of this tokenizer: only max_tokens ends generation.
    assert last["params"].ignore_eos is True and last["params"].stop_token_ids == []


def test_raw_prompts_are_checked_by_the_family(fake_vllm: types.ModuleType, tmp_path: Path) -> None:
    """PaliGemma takes one image: a 2-shot raw prompt is refused before generating, a zero-shot
    one rendered with the image first, as the ``hf`` adapter renders it."""
    load_tasks()
    checkpoint = paligemma.build(tmp_path / "paligemma")
    images = [ImageFile(Path(f"{name}.jpg")) for name in "abc"]
    query = Sample("q", images[0], ("red",) * 10, question="What color is it?")
    shots = [
        Sample(f"s{i}", image, ("blue",) * 10, question="And?")
        for i, image in enumerate(images[1:])
    ]
    task = get_task("vqav2", {"protocol": "idefics2-base"})
    adapter = VLLMAdapter(pretrained=str(checkpoint))
    with pytest.raises(PromptError, match="paligemma models take at most 1 image"):
        adapter.check_prompt(task.prompt(query, shots))
    zero_shot = ModelInput(task.prompt(query, []), [Image.new("RGB", (8, 8))])
    adapter.generate([zero_shot], task.generation)
    (call,) = FakeLLM.instances[0].generations
    assert call["prompts"][0]["prompt"] == (
        "<image>Instruction: provide an answer to the question. Use the image to answer.\n"
        "Image:Question: What color is it? Answer:"
    )
