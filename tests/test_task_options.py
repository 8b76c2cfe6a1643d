"""Task options (``--task-args``): parsing, VQA modes, OK-VQA answers, re-scoring cached runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vlm_eval import ArgumentsError
from vlm_eval.cli import main
from vlm_eval.data import Sample
from vlm_eval.metrics import OKVQA_STEMMING, stem_okvqa_answer
from vlm_eval.models import HuggingFaceAdapter
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import get_task, load_tasks, resolve_task_args

VQA_AND_CAPTIONS = ["vqav2", "okvqa", "coco_caption"]


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


@pytest.mark.parametrize(
    ("answer", "stemmed"),
    [
        ("horses", "horse"),
        ("riding horses", "ride horse"),
        ("mice", "mouse"),
        ("skiing", "ski"),
        ("ceiling", "ceiling"),  # -ing, but not a verb form
        ("the children", "the child"),
        ("Dogs", "dog"),  # a changed word is lower-cased
        ("New York", "New York"),  # unchanged words keep their case
        ("texas", "texas"),  # unknown to the dictionary: kept
        ("1,000 people.", "1,000 people."),  # punctuation and numbers kept
        ("", ""),
    ],
)
def test_okvqa_stemming_cases(answer: str, stemmed: str) -> None:
    assert stem_okvqa_answer(answer) == stemmed


def test_okvqa_stemming_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="must be a string, got int"):
        stem_okvqa_answer(3)  # type: ignore[arg-type]


def test_one_option_goes_to_every_selected_task_that_takes_it() -> None:
    assert resolve_task_args(["vqa_mode=official"], VQA_AND_CAPTIONS) == {
        "vqav2": {"vqa_mode": "official"},
        "okvqa": {"vqa_mode": "official"},
    }
    assert resolve_task_args(
        ["vqa_mode=official", "okvqa:answers=raw,vqa_mode=normalized"], VQA_AND_CAPTIONS
    ) == {
        "vqav2": {"vqa_mode": "official"},
        "okvqa": {"vqa_mode": "normalized", "answers": "raw"},
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("textvqa:vqa_mode=official", r"task 'textvqa' is not among --tasks"),
        ("colour=red", r"no selected task takes 'colour'"),
        ("vqa_mode=strict", r"vqa_mode must be one of normalized, official, evalai, got 'strict'"),
        ("okvqa:answers=maybe", r"answers must be one of stemmed, raw, mixed, got 'maybe'"),
        ("vqav2:answers=raw", r"task 'vqav2' does not accept answers"),
        ("okvqa:answers", r"expected key=value, got 'answers'"),
    ],
)
def test_bad_task_options_are_refused_with_the_reason(spec: str, message: str) -> None:
    with pytest.raises(ArgumentsError, match=message):
        resolve_task_args([spec], VQA_AND_CAPTIONS)


def test_the_cli_reports_bad_task_options_as_usage_errors(mini_data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["run", "--tasks", "vqav2", "--model-args", "pretrained=x", "--data-dir", str(mini_data),
         "--output", str(tmp_path), "--task-args", "vqa_mode=strict"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "vqa_mode must be one of normalized, official" in " ".join(result.output.split())
    assert not list(tmp_path.iterdir())


def test_okvqa_predictions_are_stemmed_only_against_stemmed_answers() -> None:
    sample = Sample(id="1", image=Path("x.jpg"), references=("horse",) * 10)
    stemming, raw = get_task("okvqa"), get_task("okvqa", {"answers": "raw"})
    assert stemming.postprocess("Horses\nQuestion: what") == "horse"
    assert stemming.score(sample, stemming.postprocess("Horses"))["accuracy"] == 1.0
    assert raw.postprocess("Horses\nQuestion: what") == "Horses"
    assert stemming.describe()["scoring"]["answer_stemming"] == OKVQA_STEMMING
    assert "answer_stemming" not in raw.describe()["scoring"]
    assert raw.describe()["scoring"]["answers"] == "raw"


def test_official_mode_task_scores_as_the_official_code() -> None:
    sample = Sample(id="1", image=Path("x.jpg"), references=("yes",) * 10)
    assert get_task("vqav2").score(sample, "Yes")["accuracy"] == 1.0
    official = get_task("vqav2", {"vqa_mode": "official"})
    assert official.score(sample, "Yes")["accuracy"] == 0.0
    assert official.describe()["scoring"]["vqa_mode"] == "official"


def _run(mini_data: Path, output: Path, adapter: Any, **task_args: dict[str, str]) -> Any:
    config = RunConfig(
        model="hf", model_args={}, tasks=("okvqa",), data_dir=mini_data, output_dir=output,
        limit=6, batch_size=3, task_args=task_args,
    )  # fmt: skip
    return run_evaluation(config, adapter)


def test_changing_scoring_options_rescores_cached_predictions_without_generating(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    first = _run(mini_data, tmp_path, tiny_adapter)
    assert first["tasks"]["okvqa"]["timing"]["generated_samples"] == 6
    # As if the model had answered "Blueberries" every time: the first question's answers are
    # nine "blueberry" and one "plum"; the next five are about 3, grapes, apples and 4.
    samples = tmp_path / "samples_okvqa.jsonl"
    cached = [json.loads(line) for line in samples.read_text().splitlines()]
    samples.write_text(
        "".join(json.dumps(r | {"raw_output": "Blueberries"}) + "\n" for r in cached)
    )

    options = {"vqa_mode": "official"}
    stemmed = _run(mini_data, tmp_path, tiny_adapter, okvqa=options)
    timing = stemmed["tasks"]["okvqa"]["timing"]
    assert (timing["generated_samples"], timing["reused_samples"]) == (0, 6)
    assert stemmed["tasks"]["okvqa"]["task"]["scoring"]["vqa_mode"] == "official"
    assert stemmed["config"]["task_args"] == {"okvqa": options}
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    assert [r["prediction"] for r in records] == ["blueberry"] * 6
    assert [r["scores"]["accuracy"] for r in records] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert stemmed["tasks"]["okvqa"]["scores"]["metrics"]["accuracy"] == pytest.approx(100 / 6)

    # Raw answers: the first question's are eight "blueberry", one "blueberries", one "plum".
    raw = _run(mini_data, tmp_path, tiny_adapter, okvqa={"answers": "raw"})
    assert raw["tasks"]["okvqa"]["timing"]["generated_samples"] == 0
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    assert [r["prediction"] for r in records] == ["Blueberries"] * 6
    assert [r["scores"]["accuracy"] for r in records] == pytest.approx([0.3] + [0.0] * 5)
    assert raw["tasks"]["okvqa"]["scores"]["metrics"]["accuracy"] == pytest.approx(30 / 6)
