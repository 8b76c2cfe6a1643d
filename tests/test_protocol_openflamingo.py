"""The ``openflamingo`` protocol: prompts compared byte for byte with strings typed from
OpenFlamingo's evaluation code (``<image>Question:{q} Short answer:{a}<|endofchunk|>`` and a
newline per demonstration, ``<image>Output:{caption}<|endofchunk|>``, two text-only
demonstrations at 0-shot) on the tiny base Idefics2; its cutting, its beam search through the
``hf`` adapter, the refusals of adapters that decode greedily only, and a run end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval.cli import main
from vlm_eval.data import ImageFile, Sample
from vlm_eval.models import (
    HuggingFaceAdapter,
    ModelInput,
    OpenAIAdapter,
    PromptError,
    VLLMAdapter,
)
from vlm_eval.models._family import single_token_id
from vlm_eval.tasks import GenerationSettings, get_task, load_tasks


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


@pytest.fixture()
def images(tmp_path: Path) -> list[ImageFile]:
    paths = []
    for index in range(3):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (20, 20), (80 * index, 0, 0)).save(path)
        paths.append(ImageFile(path))
    return paths


def _rendered(
    adapter: HuggingFaceAdapter, task: str, query: Sample, shots: list[Sample], zero_shot: bool
) -> str:
    prompt = get_task(task, {"protocol": "openflamingo"}).prompt(query, shots, text_only=zero_shot)
    return adapter.family.render(adapter.processor, prompt)


@pytest.mark.parametrize("zero_shot", [True, False])
def test_vqa_prompts_are_openflamingos(
    zero_shot: bool, base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query = Sample("q", images[0], ("a book",) * 10, question="What is on the table?")
    shots = [  # a demonstration shows answers[0], not the most common answer
        Sample("s1", images[1], ("2",) + ("two",) * 9, question="How many cats?"),
        Sample("s2", images[2], ("red",) * 10, question="What color is it?"),
    ]
    text = _rendered(base_adapter, "vqav2", query, shots, zero_shot)
    image = "" if zero_shot else "<image>"
    assert text == (
        f"<s>{image}Question:How many cats? Short answer:2<|endofchunk|>\n"
        f"{image}Question:What color is it? Short answer:red<|endofchunk|>\n"
        "<image>Question:What is on the table? Short answer:"
    )


@pytest.mark.parametrize("zero_shot", [True, False])
def test_caption_prompts_are_openflamingos(
    zero_shot: bool, base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query = Sample("q", images[0], ("A table.",))
    shots = [
        Sample("s1", images[1], ("A cat.", "A small cat.")),
        Sample("s2", images[2], ("A red car.",)),
    ]
    text = _rendered(base_adapter, "coco_caption", query, shots, zero_shot)
    image = "" if zero_shot else "<image>"
    assert text == (
        f"<s>{image}Output:A cat.<|endofchunk|>\n"
        f"{image}Output:A red car.<|endofchunk|>\n"
        "<image>Output:"
    )


def test_a_zero_shot_prompt_reaches_the_model_with_one_image(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query = Sample("q", images[0], ("x",), question="What is it?")
    shots = [Sample("s1", images[1], ("y",), question="Why?")]
    prompt = get_task("okvqa", {"protocol": "openflamingo"}).prompt(query, shots, text_only=True)
    encoded = base_adapter.prepare([ModelInput(prompt, [images[0].open()])])
    tokens = base_adapter.tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    assert tokens.count("<image>") == 64 and tokens.count("<fake_token_around_image>") == 2


@pytest.mark.parametrize(
    ("task", "generated", "answer"),
    [
        ("vqav2", " two cats, a dog<|endofchunk|>Question: how many?", "two cats"),
        ("vqav2", "yes Short answer: no", "yes"),
        ("vqav2", "red\nQuestion:What is it? Answer: blue", "red"),
        ("textvqa", "stop, go", "stop"),
        # OK-VQA: cut at the pattern only (not at the comma), then stemmed
        ("okvqa", "horses, riding Answer: x", "horse, ride"),
        ("coco_caption", ' "A cat" on a mat.<|endofchunk|>Output: A dog.', "A cat on a mat."),
        ("coco_caption", "A dog Output: a cat", "A dog"),
    ],
)
def test_answers_are_cut_as_openflamingo_cuts_them(task: str, generated: str, answer: str) -> None:
    assert get_task(task, {"protocol": "openflamingo"}).postprocess(generated) == answer


def test_decoding_is_recorded() -> None:
    expected = {"vqav2": 5, "okvqa": 5, "textvqa": 10, "coco_caption": 20}
    for name, tokens in expected.items():
        described = get_task(name, {"protocol": "openflamingo"}).describe()
        assert described["generation"] == {
            "max_new_tokens": tokens,
            "stop": ("<|endofchunk|>",),
            "num_beams": 3,
            "length_penalty": 0.0,
            "end_token": "<|endofchunk|>",
        }, name
        assert described["protocol"]["name"] == "openflamingo"
        assert described["protocol"]["zero_shot_text_shots"] == 2
        assert "mlfoundations/open_flamingo" in described["protocol"]["source"]
    greedy = get_task("vqav2", {"protocol": "openflamingo:num_beams=1;max_new_tokens=8"})
    assert greedy.generation == GenerationSettings(8, ("<|endofchunk|>",), 1, 0.0, "<|endofchunk|>")
    assert get_task("vqav2").describe()["generation"]["num_beams"] == 1


def test_the_hf_adapter_searches_with_beams_and_stops_and_keeps_greedy_as_it_was(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    query = Sample("q", images[0], ("x",), question="What is it?")
    prompt = get_task("vqav2", {"protocol": "openflamingo"}).prompt(query, [])
    inputs = [ModelInput(prompt, [images[0].open()])] * 2
    calls: list[dict[str, Any]] = []
    real = base_adapter.model.generate

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(base_adapter.model, "generate", spy)
    beams = GenerationSettings(6, stop=("<|endofchunk|>", "e"), num_beams=3, length_penalty=0.0)
    searched = base_adapter.generate(inputs, beams)
    assert calls[-1]["num_beams"] == 3 and calls[-1]["length_penalty"] == 0.0
    assert len(searched) == 2 and searched[0].text == searched[1].text
    assert all(generation.generated_tokens <= 6 for generation in searched)
    base_adapter.generate(inputs, GenerationSettings(6))
    assert calls[-1]["num_beams"] == 1 and "length_penalty" not in calls[-1]


def test_generation_ends_at_the_end_token_instead_of_the_models_eos(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenFlamingo's generation ends at ``<|endofchunk|>`` only. The tiny model is random, so
    two tokens it generates stand in: one as the model's EOS, a later one as the end token."""
    query = Sample("q", images[0], ("x",), question="What is it?")
    prompt = get_task("vqav2", {"protocol": "openflamingo"}).prompt(query, [])
    inputs = [ModelInput(prompt, [images[0].open()])]
    monkeypatch.setattr(base_adapter, "eos_token_ids", set())
    (free,) = base_adapter.generate(inputs, GenerationSettings(12))
    assert free.generated_tokens == 12
    prepared = base_adapter.prepare(inputs)
    start = prepared["input_ids"].shape[1]
    tokens = base_adapter.model.generate(
        **prepared, max_new_tokens=12, do_sample=False, eos_token_id=None
    )[0, start:].tolist()
    tokenizer = base_adapter.tokenizer
    firsts = [i for i, token in enumerate(tokens) if tokens.index(token) == i and i > 0]
    spelled = [
        i for i in firsts if single_token_id(tokenizer, tokenizer.decode(tokens[i])) == tokens[i]
    ]
    end = spelled[-1]
    eos = next(i for i in firsts if i < end)
    monkeypatch.setattr(base_adapter, "eos_token_ids", {tokens[eos]})
    (stopped,) = base_adapter.generate(inputs, GenerationSettings(12))
    assert stopped.generated_tokens == eos + 1
    end_token = tokenizer.decode(tokens[end])
    (ended,) = base_adapter.generate(inputs, GenerationSettings(12, end_token=end_token))
    assert ended.generated_tokens == end + 1
    # Not one token of this tokenizer: only max_new_tokens ends generation, not the EOS.
    (unended,) = base_adapter.generate(inputs, GenerationSettings(12, end_token="<|endofchunk|>"))
    assert unended.generated_tokens == 12


def test_greedy_only_adapters_refuse_beam_search_before_generating() -> None:
    beams = GenerationSettings(5, num_beams=3)
    server = OpenAIAdapter(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(PromptError, match="the openai adapter decodes greedily only"):
        server.generate([], beams)
    with pytest.raises(PromptError, match=r"num_beams=3\): run them with --model hf"):
        VLLMAdapter.generate(object.__new__(VLLMAdapter), [], beams)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("num_beams=0", "num_beams must be at least 1"),
        ("vqa_template=9", "no vqa template '9'; it has openflamingo"),
        ("beams=3", "protocol 'openflamingo' does not accept beams"),
    ],
)
def test_bad_options_are_refused(options: str, message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--tasks", "vqav2", "--output", str(tmp_path), "--protocol", "openflamingo",
         "--protocol-args", options],
    )  # fmt: skip
    assert result.exit_code == 2 and message in result.output


def test_list_protocols_names_openflamingo_and_its_source() -> None:
    result = CliRunner().invoke(main, ["list", "protocols"])
    assert result.exit_code == 0
    assert "openflamingo" in result.output and "mlfoundations/open_flamingo" in result.output


@pytest.mark.parametrize(("shots", "images_per_prompt"), [(2, 3), (0, 1)])
def test_openflamingo_runs_end_to_end_on_a_base_checkpoint(
    shots: int, images_per_prompt: int, base_checkpoint: Path, mini_data: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={base_checkpoint},device=cpu,dtype=float32",
         "--tasks", "vqav2,okvqa,coco_caption", "--data-dir", str(mini_data),
         "--protocol", "openflamingo", "--num-fewshot", str(shots), "--limit", "2",
         "--batch-size", "2", "--num-workers", "0", "--output", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    for name, entry in results["tasks"].items():
        assert entry["task"]["protocol"]["name"] == "openflamingo", name
        assert entry["task"]["generation"]["num_beams"] == 3, name
        assert entry["data"]["scored_samples"] == 2, name
        assert entry["cost"]["visual_tokens_mean"] == images_per_prompt * 64, name
        records = [json.loads(line) for line in (tmp_path / f"samples_{name}.jsonl").open()]
        assert all(len(record["shots"]) == 2 for record in records), name  # 0-shot: as text
    scoring = results["tasks"]["okvqa"]["task"]["scoring"]
    assert scoring["answers"] == "stemmed" and scoring["vqa_mode"] == "normalized"
