"""`vlm-eval score` for any registered task: the task's data read as `run` reads it, its
predictions file read by the task (``Task.read_predictions``), scored as a run scores."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vlm_eval.cli import main

PLUGIN = '''
"""Yes/no questions of the VQAv2 files, scored by exact match."""

from collections.abc import Sequence
from pathlib import Path

from vlm_eval.data import Sample, load_vqa
from vlm_eval.tasks import GenerationSettings, Prompt, Task, TaskScores, register_task


@register_task
class YesNo(Task):
    name, version, main_metric = "yesno_plugin", "1.0", "exact_match"
    generation = GenerationSettings(max_new_tokens=3)
    eval_split, fewshot_split, data_folder = "val2014", "train2014", "vqav2"

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        samples = load_vqa(
            data_dir / f"v2_OpenEnded_mscoco_{split}_questions.json",
            data_dir / f"v2_mscoco_{split}_annotations.json",
            data_dir / split,
            f"COCO_{split}_{{image_id:012d}}.jpg",
        )
        return [s for s in samples if s.metadata["answer_type"] == "yes/no"]

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        raise NotImplementedError

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        return {"exact_match": float(prediction == sample.metadata["multiple_choice_answer"])}

    def aggregate(self, samples, predictions, scores) -> TaskScores:
        matches = [s["exact_match"] for s in scores]
        return TaskScores(metrics={"exact_match": 100 * sum(matches) / len(matches)})


@register_task
class YesNoLines(YesNo):
    """Its predictions file holds one ``id<TAB>answer`` line per sample."""

    name = "yesno_lines_plugin"

    def read_predictions(self, path: Path) -> dict[str, str]:
        lines = path.read_text().splitlines()
        return dict(line.split("\\t", 1) for line in lines)
'''


@pytest.fixture()
def plugin_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "yesno.py").write_text(textwrap.dedent(PLUGIN))
    return folder


def _gold(mini_data: Path, answer_type: str | None = None) -> dict[int, str]:
    """The most common human answer of each question of the mini VQAv2 val split."""
    file = mini_data / "vqav2" / "v2_mscoco_val2014_annotations.json"
    return {
        a["question_id"]: a["multiple_choice_answer"]
        for a in json.loads(file.read_text())["annotations"]
        if answer_type in (None, a["answer_type"])
    }


def _score(*arguments: str) -> Any:
    return CliRunner().invoke(main, ["score", *arguments])


def test_a_plugin_task_scores_its_predictions_file_in_the_default_format(
    plugin_folder: Path, mini_data: Path, tmp_path: Path
) -> None:
    gold = _gold(mini_data, "yes/no")
    wrong = min(gold)
    entries = [{"id": i, "prediction": "maybe" if i == wrong else a} for i, a in gold.items()]
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps(entries))
    result = _score(
        "--task", "yesno_plugin", "--include-path", str(plugin_folder),
        "--data-dir", str(mini_data), "--predictions", str(predictions),
        "--json", str(tmp_path / "s.json"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = 100 * (len(gold) - 1) / len(gold)
    assert f"| exact_match | {expected:.2f} |" in result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["metrics"] == {"exact_match": pytest.approx(expected)}
    assert scores["samples"] == len(gold) and scores["data"]["split"] == "val2014"
    assert scores["per_sample"][str(wrong)] == {"exact_match": 0.0}


def test_a_plugin_task_reads_its_own_predictions_format(
    plugin_folder: Path, mini_data: Path, tmp_path: Path
) -> None:
    predictions = tmp_path / "p.tsv"
    gold = _gold(mini_data, "yes/no")
    predictions.write_text("".join(f"{i}\t{a}\n" for i, a in gold.items()))
    result = _score(
        "--task", "yesno_lines_plugin", "--include-path", str(plugin_folder),
        "--data-dir", str(mini_data), "--predictions", str(predictions),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| exact_match | 100.00 |" in result.output


def test_a_missing_prediction_names_the_file_and_the_sample(
    plugin_folder: Path, mini_data: Path, tmp_path: Path
) -> None:
    gold = _gold(mini_data, "yes/no")
    predictions = tmp_path / "short.json"
    predictions.write_text(json.dumps([{"id": i, "prediction": a} for i, a in gold.items()][1:]))
    result = _score(
        "--task", "yesno_plugin", "--include-path", str(plugin_folder),
        "--data-dir", str(mini_data), "--predictions", str(predictions),
    )  # fmt: skip
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "short.json" in output and f"record {min(gold)}, field 'id': no prediction" in output


def test_a_builtin_task_scores_the_same_from_its_data_as_from_the_official_files(
    mini_data: Path, tmp_path: Path
) -> None:
    predictions = tmp_path / "p.json"
    entries = [{"question_id": i, "answer": a.upper()} for i, a in _gold(mini_data).items()]
    predictions.write_text(json.dumps(entries))
    folder = mini_data / "vqav2"
    common = ["--task", "vqav2", "--predictions", str(predictions), "--mode", "official"]
    from_data = _score(*common, "--data-dir", str(mini_data), "--json", str(tmp_path / "d.json"))
    from_files = _score(
        *common,
        "--annotations", str(folder / "v2_mscoco_val2014_annotations.json"),
        "--questions", str(folder / "v2_OpenEnded_mscoco_val2014_questions.json"),
        "--json", str(tmp_path / "f.json"),
    )  # fmt: skip
    assert from_data.exit_code == 0 == from_files.exit_code, from_data.output + from_files.output
    data, files = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "df")
    assert data["metrics"] == pytest.approx(files["metrics"])
    assert data["breakdowns"] == files["breakdowns"]
    assert data["scoring"]["vqa_mode"] == "official"
    assert {k: 100 * v["accuracy"] for k, v in data["per_sample"].items()} == pytest.approx(
        files["per_question"]
    )


def test_usage_errors_name_the_option(plugin_folder: Path, mini_data: Path, tmp_path: Path) -> None:
    predictions = tmp_path / "p.json"
    predictions.write_text("[]")
    unknown = _score("--task", "yesno_plugin", "--predictions", str(predictions))
    assert unknown.exit_code == 2 and "unknown task 'yesno_plugin'" in unknown.output
    lone = _score(
        "--task", "vqav2", "--predictions", str(predictions), "--questions", str(predictions)
    )
    assert lone.exit_code == 2 and "goes with --annotations" in lone.output
    official = _score(
        "--task", "yesno_plugin", "--include-path", str(plugin_folder),
        "--predictions", str(predictions), "--annotations", str(predictions),
    )  # fmt: skip
    assert official.exit_code == 2 and "applies to VQA and caption tasks" in official.output
