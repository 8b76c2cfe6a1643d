"""Protocols: the prompts each renders for a fixed sample and fixed demonstrations, compared
byte for byte with strings typed from the protocol's description (Hugging Face's m4 harness:
VQA template 9, caption template 7, the instructed model's template), on a tiny Idefics2
checkpoint without a chat template, as every base checkpoint is; and the choice of protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval.cli import main
from vlm_eval.data import ImageFile, Sample
from vlm_eval.metrics import normalize_vqa_answer, vqa_accuracy
from vlm_eval.models import (
    HuggingFaceAdapter,
    ModelInput,
    OpenAIAdapter,
    PromptError,
)
from vlm_eval.protocols import Example, Idefics2Base, TemplateProtocol
from vlm_eval.protocols._m4 import m4_facts
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import get_task, load_tasks

INSTRUCTION = "<s>Instruction: provide an answer to the question. Use the image to answer.\n"


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


def _vqa(images: list[ImageFile]) -> tuple[Sample, list[Sample]]:
    query = Sample("q", images[0], ("a book",) * 10, question="What is on the table?")
    shots = [
        Sample("s1", images[1], ("two",) * 6 + ("2",) * 4, question="How many cats?"),
        Sample("s2", images[2], ("red",) * 7 + ("maroon",) * 3, question="What color is it?"),
    ]
    return query, shots


def _captions(images: list[ImageFile]) -> tuple[Sample, list[Sample]]:
    query = Sample("q", images[0], ("A table.",))
    shots = [Sample("s1", images[1], ("A cat.",)), Sample("s2", images[2], ("A red car.",))]
    return query, shots


def _rendered(adapter: HuggingFaceAdapter, task: str, protocol: str, samples: tuple) -> str:
    query, shots = samples
    prompt = get_task(task, {"protocol": protocol}).prompt(query, shots)
    return adapter.family.render(adapter.processor, prompt)


@pytest.mark.parametrize("shots", [0, 2])
def test_idefics2_base_vqa_prompts_are_template_9(
    shots: int, base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query, demonstrations = _vqa(images)
    text = _rendered(base_adapter, "vqav2", "idefics2-base", (query, demonstrations[:shots]))
    expected = {
        0: INSTRUCTION + "Image:<image>Question: What is on the table? Answer:",
        2: INSTRUCTION
        + "Image:<image>Question: How many cats? Answer: two\n"
        + "Image:<image>Question: What color is it? Answer: red\n"
        + "Image:<image>Question: What is on the table? Answer:",
    }[shots]
    assert text == expected


@pytest.mark.parametrize("shots", [0, 2])
def test_idefics2_base_caption_prompts_are_template_7(
    shots: int, base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query, demonstrations = _captions(images)
    text = _rendered(base_adapter, "coco_caption", "idefics2-base", (query, demonstrations[:shots]))
    expected = {
        0: "<s>Image:<image>Caption:",
        2: "<s>Image:<image>Caption: A cat.\n"
        "Image:<image>Caption: A red car.\n"
        "Image:<image>Caption:",
    }[shots]
    assert text == expected


@pytest.mark.parametrize("shots", [0, 2])
def test_idefics2_instruct_vqa_prompts_are_the_harness_text(
    shots: int, base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query, demonstrations = _vqa(images)
    text = _rendered(base_adapter, "textvqa", "idefics2-instruct", (query, demonstrations[:shots]))
    # The harness cuts the query's empty answer and its <end_of_utterance>: it ends "Assistant:".
    turn = "User:<image>{}\nGive a very brief answer.<end_of_utterance>\nAssistant:{}"
    expected = {
        0: "<s>" + turn.format("What is on the table?", ""),
        2: "<s>"
        + turn.format("How many cats?", " two<end_of_utterance>\n")
        + turn.format("What color is it?", " red<end_of_utterance>\n")
        + turn.format("What is on the table?", ""),
    }[shots]
    assert text == expected


def test_a_raw_prompt_reaches_the_model_with_one_bos_and_the_images_expanded(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query, shots = _vqa(images)
    prompt = get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, shots[:1])
    decoded = [image.open() for image in images[:2]]
    encoded = base_adapter.prepare([ModelInput(prompt, [decoded[1], decoded[0]])])
    tokenizer = base_adapter.tokenizer
    ids = encoded["input_ids"][0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert tokens.count("<image>") == 2 * 64 and tokens.count("<fake_token_around_image>") == 4
    image = "<fake_token_around_image>" + "<image>" * 64 + "<fake_token_around_image>"
    text = tokenizer.decode(ids).replace(image, "<IMAGE>")
    # Decoding puts a space after special tokens: compare without whitespace.
    assert "".join(text.split()) == "".join(
        (
            INSTRUCTION
            + "Image:<IMAGE>Question: How many cats? Answer: two\n"
            + "Image:<IMAGE>Question: What is on the table? Answer:"
        ).split()
    )


def test_questions_are_text_never_template_fields(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query = Sample("q", images[0], ("x",), question="{bos_token} {answer} {question}?")
    text = _rendered(base_adapter, "vqav2", "idefics2-base", (query, []))
    assert text.endswith("Question: {bos_token} {answer} {question}? Answer:")
    assert text.count("<s>") == 1


@pytest.mark.parametrize(
    ("protocol", "generated", "answer"),
    [
        ("idefics2-base", "  two cats\nQuestion: how many dogs?", "two cats"),
        ("idefics2-base", "blue What is it", "blue"),
        # The harness joins its stop words into a pattern unescaped: the "|" of "<|im_end|>"
        # makes "<" alone a stop.
        ("idefics2-base", "a < b", "a"),
        ("chat", "two cats\nQuestion: how many dogs?", "two cats"),
        ("chat", "blue What is it", "blue What is it"),
    ],
)
def test_answers_are_cut_as_the_protocol_says(protocol: str, generated: str, answer: str) -> None:
    assert get_task("vqav2", {"protocol": protocol}).postprocess(generated) == answer


def test_protocols_fix_generation_and_are_recorded() -> None:
    base = get_task("coco_caption", {"protocol": "idefics2-base"})
    assert base.generation.max_new_tokens == 15
    assert base.generation.stop[:2] == ("Caption", "Description")
    described = base.describe()["protocol"]
    assert described["name"] == "idefics2-base"
    assert described["template"] == {
        "prefix": "{bos_token}",
        "example": "Image:<image>Caption: {caption}\n",
    }
    assert described["support_size"] == 2048
    chat = get_task("vqav2").describe()["protocol"]
    assert chat == {
        "name": "chat",
        "question_template": "{question}\nAnswer the question using a single word or phrase.",
    }


def test_a_base_checkpoint_refuses_chat_prompts(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query, _ = _vqa(images)
    with pytest.raises(PromptError, match="no chat template"):
        base_adapter.check_prompt(get_task("vqav2").prompt(query, []))
    base_adapter.check_prompt(get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, []))


def test_the_command_line_picks_a_raw_protocol_for_a_base_checkpoint_and_refuses_chat(
    base_checkpoint: Path, mini_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vlm_eval.models._hf as hf

    loads: list[str] = []
    real = hf.AutoModelForImageTextToText.from_pretrained
    monkeypatch.setattr(
        hf.AutoModelForImageTextToText,
        "from_pretrained",
        lambda *args, **kwargs: loads.append("weights") or real(*args, **kwargs),
    )
    arguments = [
        "run", "--model-args", f"pretrained={base_checkpoint},device=cpu,dtype=float32",
        "--tasks", "vqav2", "--data-dir", str(mini_data), "--limit", "2", "--num-workers", "0",
    ]  # fmt: skip
    cli = CliRunner()
    refused = cli.invoke(main, [*arguments, "--protocol", "chat", "--output", str(tmp_path / "c")])
    assert refused.exit_code == 2 and loads == []  # a usage error, before the weights load
    assert "protocol chat needs a chat template, and the checkpoint has none" in refused.output
    result = cli.invoke(main, [*arguments, "--output", str(tmp_path / "auto")])
    assert result.exit_code == 0, result.output
    assert "idefics2-base" in (tmp_path / "auto" / "results.json").read_text()
    unknown = cli.invoke(main, [*arguments, "--protocol", "nope", "--output", str(tmp_path / "u")])
    assert unknown.exit_code == 2 and "unknown protocol 'nope'" in unknown.output


def test_list_protocols_names_their_sources() -> None:
    result = CliRunner().invoke(main, ["list", "protocols"])
    assert result.exit_code == 0
    assert "idefics2-base" in result.output and "huggingface/smollm@a041759" in result.output


def test_reports_show_the_protocol_and_compare_lists_a_different_one(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    for name, protocol in (("chat", "chat"), ("base", "idefics2-base")):
        config = RunConfig(
            model="hf", model_args={}, tasks=("vqav2",), data_dir=mini_data,
            output_dir=tmp_path / name, limit=3, num_workers=0, protocol=protocol,
        )  # fmt: skip
        run_evaluation(config, tiny_adapter)
    cli = CliRunner()
    report = cli.invoke(main, ["report", str(tmp_path / "chat"), str(tmp_path / "base")])
    assert report.exit_code == 0
    assert "protocol `chat`" in report.output and "protocol `idefics2-base`" in report.output
    compared = cli.invoke(main, ["compare", str(tmp_path / "chat"), str(tmp_path / "base")])
    assert compared.exit_code == 0
    assert "vqav2: protocol: chat vs idefics2-base" in compared.output


def test_servers_refuse_raw_prompts(images: list[ImageFile]) -> None:
    query, _ = _vqa(images)
    raw = get_task("vqav2", {"protocol": "idefics2-base"}).prompt(query, [])
    server = OpenAIAdapter(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(PromptError, match="run this server's model with --protocol chat"):
        server.check_prompt(raw)
    server.check_prompt(get_task("vqav2").prompt(query, []))


def test_demonstrations_end_with_eos_and_the_query_without(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    class Template6(TemplateProtocol):  # the harness's VQA template 6, not registered
        name = "template-6"
        template_sets: ClassVar[dict[str, dict[str, dict[str, str | None]]]] = {
            "vqa": {"6": m4_facts()["vqa"]["templates"]["6"]}
        }
        default_templates: ClassVar[dict[str, str]] = {"vqa": "6"}
        stop_words: ClassVar[dict[str, tuple[str, ...]]] = {"vqa": ("Question",)}
        default_max_new_tokens = 15

    shot = Example(images[1], "How many cats?", "two")
    prompt = Template6().prompt("vqa", Example(images[0], "What is on the table?"), [shot], None)
    assert base_adapter.family.render(base_adapter.processor, prompt) == (
        "<s><image>Question: How many cats? Answer: two</s>"
        "<s><image>Question: What is on the table? Answer:"
    )


def test_idefics2_base_scores_ok_vqa_raw_against_raw_unless_told_otherwise(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    def scoring(protocol: str, task_args: dict[str, dict[str, str]]) -> dict[str, str]:
        config = RunConfig(
            model="hf", model_args={}, tasks=("okvqa",), data_dir=mini_data, limit=2,
            output_dir=tmp_path / protocol, num_workers=0, protocol=protocol, task_args=task_args,
        )  # fmt: skip
        return run_evaluation(config, tiny_adapter)["tasks"]["okvqa"]["task"]["scoring"]

    assert scoring("idefics2-base", {})["answers"] == "raw"
    assert scoring("chat", {})["answers"] == "stemmed"
    assert scoring("idefics2-base", {"okvqa": {"answers": "stemmed"}})["answers"] == "stemmed"


def test_protocol_options_choose_the_template_and_the_token_budget(
    base_adapter: HuggingFaceAdapter, images: list[ImageFile]
) -> None:
    query, shots = _vqa(images)
    spec = "idefics2-base:vqa_template=4;max_new_tokens=40"
    task = get_task("okvqa", {"protocol": spec})
    assert task.generation.max_new_tokens == 40
    assert task.describe()["protocol"]["template_id"] == "4"
    text = base_adapter.family.render(base_adapter.processor, task.prompt(query, shots[:1]))
    assert text == (
        "<s>Image:<image>Question: How many cats? Answer: two\n"
        "Image:<image>Question: What is on the table? Answer:"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--protocol", "idefics2-base", "--protocol-args", "vqa_template=99"],
         "protocol 'idefics2-base': no vqa template '99'; it has 0, 1, 2"),
        (["--protocol", "idefics2-base", "--protocol-args", "max_new_tokens=0"],
         "max_new_tokens must be at least 1"),
        (["--protocol", "chat", "--protocol-args", "max_new_tokens=5"],
         "protocol 'chat' does not accept max_new_tokens"),
        (["--protocol", "idefics2-base", "--protocol-args", "beams"],
         "--protocol-args: expected key=value, got 'beams'"),
    ],
)  # fmt: skip
def test_bad_protocol_options_are_refused_before_the_data_is_read(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["run", "--tasks", "vqav2", "--output", str(tmp_path / "x"), *arguments]
    )
    assert result.exit_code == 2 and message in result.output


def test_idefics2_base_8_shot_runs_every_task_and_submits_normalized_test_dev_answers(
    base_checkpoint: Path, mini_data: Path, test_dev_data: Path, tmp_path: Path
) -> None:
    model = f"pretrained={base_checkpoint},device=cpu,dtype=float32"
    common = ["--model-args", model, "--protocol", "idefics2-base", "--num-fewshot", "8"]
    common += ["--limit", "2", "--batch-size", "2", "--num-workers", "0"]
    cli = CliRunner()
    output = tmp_path / "all"
    result = cli.invoke(
        main,
        ["run", *common, "--tasks", "all", "--data-dir", str(mini_data), "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((output / "results.json").read_text())
    tasks = ["coco_caption", "docvqa", "flickr30k", "mmbench", "nocaps", "okvqa", "textvqa"]
    tasks += ["vqav2", "gqa", "vizwiz_vqa"]
    tasks += ["chartqa", "infographicvqa", "scienceqa_img", "aokvqa_mc"]
    tasks += ["mathvista", "mmmu"]
    assert sorted(results["tasks"]) == sorted(tasks)
    for name, entry in results["tasks"].items():
        assert entry["task"]["protocol"]["name"] == "idefics2-base", name
        assert entry["data"]["scored_samples"] == 2, name
        visual_tokens = entry["cost"]["visual_tokens_mean"]
        if name == "mmmu":  # questions of one to three images
            assert 9 * 64 < visual_tokens <= 27 * 64
        else:
            assert visual_tokens == 9 * 64  # 8 demonstrations and the query
    test_dev = tmp_path / "test-dev"
    result = cli.invoke(
        main,
        ["run", *common, "--tasks", "vqav2", "--data-dir", str(test_dev_data),
         "--data-args", "split=test-dev2015,fewshot_split=train2014", "--output", str(test_dev)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (test_dev / "samples_vqav2.jsonl").open()]
    submitted = json.loads((test_dev / "submission_vqav2_test-dev2015.json").read_text())
    assert [entry["answer"] for entry in submitted] == [
        normalize_vqa_answer(record["prediction"]) for record in records
    ]


def test_demonstrations_come_from_a_fixed_random_support_set(
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Idefics2Base, "support_size", 3)

    def shots(seed: int) -> set[str]:
        config = RunConfig(
            model="hf", model_args={}, tasks=("vqav2",), data_dir=mini_data, num_fewshot=2,
            output_dir=tmp_path / str(seed), num_workers=0, protocol="idefics2-base", seed=seed,
        )  # fmt: skip
        run_evaluation(config, tiny_adapter)
        records = (tmp_path / str(seed) / "samples_vqav2.jsonl").open()
        return {shot for record in map(json.loads, records) for shot in record["shots"]}

    first = shots(1)
    assert len(first) == 3  # every demonstration is one of the 3 of the support set
    assert shots(1) <= first and shots(2) != first


def test_compare_lists_different_demonstrations(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    for shots in (0, 2):
        config = RunConfig(
            model="hf", model_args={}, tasks=("vqav2",), data_dir=mini_data, limit=2,
            output_dir=tmp_path / str(shots), num_workers=0, num_fewshot=shots,
        )  # fmt: skip
        run_evaluation(config, tiny_adapter)
    compared = CliRunner().invoke(main, ["compare", str(tmp_path / "0"), str(tmp_path / "2")])
    assert compared.exit_code == 0
    assert "vqav2: demonstrations: 0 vs 2" in compared.output
    assert "vqav2: demonstration seed: — vs 1234" in compared.output


def test_lmms_eval_prompts_are_its_task_configs(images: list[ImageFile]) -> None:
    query = Sample("q", images[0], ("x",) * 10, question="what does the SIGN say?")
    suffix = "\nAnswer the question using a single word or phrase."
    unanswerable = "\nWhen the provided information is insufficient, respond with 'Unanswerable'."
    expected = {
        "vqav2": "what does the SIGN say?" + suffix,
        "textvqa": "What does the sign say?" + suffix,  # str.capitalize()
        "okvqa": "what does the SIGN say?" + unanswerable + suffix,
        "coco_caption": "Provide a one-sentence caption for the provided image.",
    }
    for name, text in expected.items():
        (turn,) = get_task(name, {"protocol": "lmms-eval"}).prompt(query, [])
        assert turn.role == "user" and turn.parts[1] == text, name


@pytest.mark.parametrize(
    ("prediction", "answers", "evalai", "normalized"),
    [
        ("2,a", ["2a"] * 10, 1.0, 0.0),  # EvalAI deletes the comma; the official code spaces it
        ("Not,sure?", ["not sure"] * 3 + ["notsure"] * 7, 1.0, 0.9),
        ("Two", ["2"] * 10, 1.0, 1.0),
        ("the dog's", ["dog's"] * 10, 1.0, 1.0),
    ],
)
def test_the_evalai_mode_processes_answers_as_lmms_eval_scores_them(
    prediction: str, answers: list[str], evalai: float, normalized: float
) -> None:
    assert vqa_accuracy(prediction, answers, mode="evalai") == pytest.approx(evalai)
    assert vqa_accuracy(prediction, answers, mode="normalized") == pytest.approx(normalized)


def test_lmms_eval_scores_textvqa_and_okvqa_as_that_harness_does(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    config = RunConfig(
        model="hf", model_args={}, tasks=("vqav2", "textvqa", "okvqa"), data_dir=mini_data,
        limit=2, output_dir=tmp_path, num_workers=0, protocol="lmms-eval",
    )  # fmt: skip
    tasks = run_evaluation(config, tiny_adapter)["tasks"]
    assert tasks["vqav2"]["task"]["scoring"]["vqa_mode"] == "normalized"
    assert tasks["textvqa"]["task"]["scoring"]["vqa_mode"] == "evalai"
    assert (
        tasks["okvqa"]["task"]["scoring"] | {"vqa_mode": "evalai", "answers": "mixed"}
        == (tasks["okvqa"]["task"]["scoring"])
    )
    assert "answer_stemming" not in tasks["okvqa"]["task"]["scoring"]


def test_ok_vqa_mixed_answers_leave_predictions_unstemmed() -> None:
    assert get_task("okvqa", {"answers": "mixed"}).postprocess("horses riding") == "horses riding"
    assert get_task("okvqa", {"answers": "stemmed"}).postprocess("horses riding") == "horse ride"


def test_a_plugin_task_whose_options_leave_out_the_protocol_keeps_its_prompts(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    from vlm_eval.tasks import TASKS, register_task

    vqav2 = TASKS.get("vqav2")

    @register_task
    class OwnOptions(vqav2):  # type: ignore[misc, valid-type]
        name = "own_options"
        data_folder = "vqav2"

        def __init__(self, *, vqa_mode: str = "normalized") -> None:
            super().__init__(vqa_mode=vqa_mode)

    config = RunConfig(
        model="hf", model_args={}, tasks=("own_options",), data_dir=mini_data, limit=2,
        output_dir=tmp_path, num_workers=0, protocol="idefics2-base",
    )  # fmt: skip
    with pytest.warns(UserWarning, match="does not apply to own_options"):
        entry = run_evaluation(config, tiny_adapter)["tasks"]["own_options"]
    assert entry["task"]["protocol"]["name"] == "chat"
