"""Test splits without answers (EvalAI submission files), reproducible random subsets
(``--sample-seed``) and curated few-shot pools (``--data-args pool=FILE``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vlm_eval import ArgumentsError
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, read_id_list
from vlm_eval.metrics import normalize_vqa_answer
from vlm_eval.models import Generation, HuggingFaceAdapter, ModelAdapter, ModelInput
from vlm_eval.report import Run, render_markdown
from vlm_eval.results import RunResults
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, load_tasks


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


def _config(data_dir: Path, output: Path, **overrides: Any) -> RunConfig:
    settings: dict[str, Any] = {"batch_size": 4, "num_workers": 0} | overrides
    return RunConfig(
        model="hf", model_args={}, tasks=("vqav2",), data_dir=data_dir, output_dir=output,
        **settings,
    )  # fmt: skip


def test_a_split_without_answers_writes_the_evalai_submission_file(
    tiny_adapter: HuggingFaceAdapter, test_dev_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    config = _config(test_dev_data, output, data_args={"vqav2": {"split": "test-dev2015"}})
    results = run_evaluation(config, tiny_adapter)
    entry = results["tasks"]["vqav2"]
    assert entry["scores"]["metrics"] == {}
    assert entry["data"]["scored_samples"] == 0 and entry["data"]["samples"] == 24
    assert entry["submission_file"] == "submission_vqav2_test-dev2015.json"
    submission = json.loads((output / entry["submission_file"]).read_text())
    records = [
        json.loads(line)
        for line in (output / "samples_vqav2.jsonl").read_text().split("\n")
        if line
    ]
    assert submission == [
        {"question_id": int(r["sample_id"]), "answer": normalize_vqa_answer(r["prediction"])}
        for r in records
    ]
    assert all(r["scores"] == {} and r["references"] == [] for r in records)
    note = entry["scores"]["notes"]["not scored"]
    assert "split test-dev2015 has no answers" in note and "subset" not in note
    report = render_markdown([Run("dev", output, RunResults.from_json(results))])
    assert "split test-dev2015 has no answers" in report
    assert "| dev | /" in report and "| - |" in report  # no main metric to show


def test_a_partial_submission_file_is_flagged(
    tiny_adapter: HuggingFaceAdapter, test_dev_data: Path, tmp_path: Path
) -> None:
    config = _config(
        test_dev_data, tmp_path / "run", limit=3, data_args={"vqav2": {"split": "test-dev2015"}}
    )
    entry = run_evaluation(config, tiny_adapter)["tasks"]["vqav2"]
    assert "which the server does not accept" in entry["scores"]["notes"]["not scored"]
    assert len(json.loads((tmp_path / "run" / entry["submission_file"]).read_text())) == 3


class ConstantAdapter(ModelAdapter):
    """Answers every prompt with the same text."""

    name = "constant"

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        return [Generation(self.answer) for _ in inputs]

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name}


@pytest.mark.parametrize(
    ("options", "submitted"),
    [
        ({}, "2"),
        ({"submission_answers": "normalized"}, "2"),
        ({"submission_answers": "raw"}, "Two."),
    ],
)
def test_submission_answers_are_normalized_as_the_server_does_not_always(
    test_dev_data: Path, tmp_path: Path, options: dict[str, str], submitted: str
) -> None:
    """The server runs the 2021 code, which skips normalization where all 10 answers agree."""
    output = tmp_path / "run"
    config = _config(
        test_dev_data, output, limit=3, data_args={"vqav2": {"split": "test-dev2015"}},
        task_args={"vqav2": options},
    )  # fmt: skip
    entry = run_evaluation(config, ConstantAdapter("Two."))["tasks"]["vqav2"]
    submission = json.loads((output / entry["submission_file"]).read_text())
    assert [item["answer"] for item in submission] == [submitted] * 3
    assert entry["task"]["scoring"]["submission_answers"] == options.get(
        "submission_answers", "normalized"
    )
    records = (output / "samples_vqav2.jsonl").read_text().splitlines()
    assert [json.loads(line)["prediction"] for line in records] == ["Two."] * 3


def _sample_ids(results: dict[str, Any], output: Path) -> list[str]:
    lines = (output / results["tasks"]["vqav2"]["samples_file"]).read_text().splitlines()
    return [json.loads(line)["sample_id"] for line in lines]


def test_sample_seed_draws_a_reproducible_subset_in_data_order(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    runs = {
        name: (tmp_path / name, _config(mini_data, tmp_path / name, limit=5, sample_seed=seed))
        for name, seed in (("a", 7), ("b", 7), ("c", 8), ("first", None))
    }
    ids = {
        name: _sample_ids(run_evaluation(config, tiny_adapter), out)
        for name, (out, config) in runs.items()
    }
    assert ids["a"] == ids["b"] != ids["c"]
    all_ids = _sample_ids(
        run_evaluation(_config(mini_data, tmp_path / "all"), tiny_adapter), tmp_path / "all"
    )
    assert ids["first"] == all_ids[:5] != ids["a"]
    assert ids["a"] == [i for i in all_ids if i in set(ids["a"])]  # the data's order
    assert len(set(ids["a"])) == 5


def test_sample_seed_needs_a_limit(mini_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give a limit"):
        _config(mini_data, tmp_path, sample_seed=1)
    result = CliRunner().invoke(
        main,
        ["run", "--tasks", "vqav2", "--model-args", "pretrained=x", "--data-dir", str(mini_data),
         "--output", str(tmp_path / "o"), "--sample-seed", "3"],
    )  # fmt: skip
    assert result.exit_code == 2 and "--limit" in result.output


def test_demonstrations_come_only_from_the_pool_file(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    train = json.loads(
        (mini_data / "vqav2" / "v2_OpenEnded_mscoco_train2014_questions.json").read_text()
    )["questions"]
    pool_ids = [q["question_id"] for q in train[:3]]
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps(pool_ids))
    output = tmp_path / "run"
    config = _config(
        mini_data, output, limit=8, num_fewshot=2, data_args={"vqav2": {"pool": str(pool)}}
    )
    results = run_evaluation(config, tiny_adapter)
    shots = {
        shot
        for line in (output / "samples_vqav2.jsonl").read_text().splitlines()
        for shot in json.loads(line)["shots"]
    }
    assert shots <= {str(i) for i in pool_ids} and len(shots) > 1
    assert results["tasks"]["vqav2"]["data"]["pool"].startswith(f"{pool} (sha256 ")


def test_a_pool_naming_unknown_ids_or_without_few_shot_is_refused(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("113875000\n999\n")
    config = _config(
        mini_data, tmp_path / "run", num_fewshot=1, data_args={"vqav2": {"pool": str(pool)}}
    )
    with pytest.raises(DataFormatError, match=r"record 999.*1 id\(s\) are not in split train2014"):
        run_evaluation(config, tiny_adapter)
    without_shots = _config(mini_data, tmp_path / "run", data_args={"vqav2": {"pool": str(pool)}})
    with pytest.raises(ArgumentsError, match="pool= lists few-shot demonstrations"):
        run_evaluation(without_shots, tiny_adapter)


@pytest.mark.parametrize(
    ("text", "expected"),
    [('[1, "a", 3]', ["1", "a", "3"]), ("7\n\n 8 \n", ["7", "8"])],
)
def test_id_lists_are_json_or_lines(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "ids"
    path.write_text(text)
    assert read_id_list(path) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("[]", "expected a JSON list"), ("[1, 1]", "record 1.*listed twice"),
     ("[true]", "record 0.*expected an id"), ("{\"a\": 1}", "expected a JSON list")],
)  # fmt: skip
def test_bad_id_lists_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ids"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_id_list(path)
