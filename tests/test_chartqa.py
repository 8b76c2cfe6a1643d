"""ChartQA: the official files and the hub rows, relaxed accuracy per question set on
hand-computed cases, its prompts, errors naming file, record and field, and a run end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, Sample
from vlm_eval.tasks import DocumentQATask, get_task, load_tasks, resolve_task_data


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _split(folder: Path, human: Any, augmented: Any) -> Path:
    """A ``test`` split of ChartQA's official layout under ``folder``, one 4x4 chart."""
    (folder / "test" / "png").mkdir(parents=True)
    Image.new("RGB", (4, 4), (255, 255, 255)).save(folder / "test" / "png" / "a.png")
    for name, records in (("human", human), ("augmented", augmented)):
        (folder / "test" / f"test_{name}.json").write_text(json.dumps(records))
    return folder


def _question(**fields: Any) -> dict[str, Any]:
    return {"imgname": "a.png", "query": "How many?", "label": "12"} | fields


def test_official_files_give_both_question_sets_in_order(tmp_path: Path) -> None:
    human = [_question(label="62"), _question(query="Which is largest?", label="Spain")]
    _split(tmp_path, human, [_question(label="0.5")])
    task = get_task("chartqa")
    samples = task.load(tmp_path, "test")
    assert [(s.id, s.question, s.references, s.metadata) for s in samples] == [
        ("human_0", "How many?", ("62",), {"question_set": "human"}),
        ("human_1", "Which is largest?", ("Spain",), {"question_set": "human"}),
        ("augmented_0", "How many?", ("0.5",), {"question_set": "augmented"}),
    ]
    assert samples[0].image.path == tmp_path / "test" / "png" / "a.png"
    assert samples[0].image is samples[2].image  # one chart, read once


@pytest.mark.parametrize(
    ("human", "file", "record", "field", "problem"),
    [
        ([_question(label=12)], "test_human.json", "human_0", "label", "expected a string"),
        ([{"imgname": "a.png", "label": "1"}], "test_human.json", "human_0", "query", "missing"),
        ([_question(imgname="../a.png")], "test_human.json", "human_0", "imgname", "leaves"),
        ([_question(), "x"], "test_human.json", "human_1", None, "expected an object"),
        ({"data": []}, "test_human.json", None, None, "expected a list of questions"),
    ],
)
def test_malformed_files_name_file_record_and_field(
    tmp_path: Path, human: Any, file: str, record: str | None, field: str | None, problem: str
) -> None:
    _split(tmp_path, human, [])
    with pytest.raises(DataFormatError, match=problem) as raised:
        get_task("chartqa").load(tmp_path, "test")
    error = raised.value
    assert (error.path, error.record, error.field) == (tmp_path / "test" / file, record, field)


def test_a_missing_augmented_file_is_named(tmp_path: Path) -> None:
    _split(tmp_path, [_question()], [])
    (tmp_path / "test" / "test_augmented.json").unlink()
    with pytest.raises(DataFormatError, match="file not found") as raised:
        get_task("chartqa").load(tmp_path, "test")
    assert raised.value.path == tmp_path / "test" / "test_augmented.json"


def test_relaxed_accuracy_per_question_set_hand_computed() -> None:
    task = get_task("chartqa")
    assert isinstance(task, DocumentQATask) and task.main_metric == "relaxed_accuracy"
    cases = [  # (question set, answer, prediction, relaxed accuracy)
        ("human", "62", "65", 1.0),  # |65 - 62| / 62 = 4.8%
        ("human", "62", "66", 0.0),  # 6.5%
        ("human", "-12.5", "-13", 1.0),  # 0.5 / 12.5 = 4%, relative to |answer|
        ("human", "-12.5", "12.5", 0.0),
        ("augmented", "0", "0.0", 0.0),  # an answer of 0 must be matched as text
        ("augmented", "0", "0", 1.0),
        ("augmented", "5%", "5", 0.0),  # "5%" reads as 0.05
        ("augmented", "5%", "0.0502", 1.0),
        ("augmented", "Yes", "yes", 1.0),  # text: case aside, nothing else
        ("augmented", "Yes", "yes.", 0.0),
    ]
    samples = [
        Sample(str(i), Path("a.png"), (answer,), "q", {"question_set": question_set})
        for i, (question_set, answer, _, _) in enumerate(cases)
    ]
    predictions = [prediction for _, _, prediction, _ in cases]
    scores = [task.score(s, p) for s, p in zip(samples, predictions, strict=True)]
    assert [score["relaxed_accuracy"] for score in scores] == [case[3] for case in cases]
    result = task.aggregate(samples, predictions, scores)
    assert result.metrics["relaxed_accuracy"] == pytest.approx(50.0)
    assert result.breakdowns == {"question_set": {"augmented": 50.0, "human": 50.0}}


def test_prompts_follow_lmms_eval() -> None:
    sample = Sample("1", Path("a.png"), ("3",), "How many bars are there?")
    instruction = "How many bars are there?\nAnswer the question with a single word."
    for protocol in ("chat", "lmms-eval"):
        (turn,) = get_task("chartqa", {"protocol": protocol}).prompt(sample, [])
        assert turn.parts[1] == instruction, protocol
    described = get_task("chartqa", {"protocol": "lmms-eval"}).protocol()["protocol"]
    assert described["text"] == "{question}\nAnswer the question with a single word."
    (turn,) = get_task("docvqa", {"protocol": "lmms-eval"}).prompt(sample, [])
    assert turn.parts[1].endswith("\nAnswer the question using a single word or phrase.")


def test_hub_rows_name_their_question_set(tmp_path: Path) -> None:
    import datasets

    _split(tmp_path / "png", [], [])
    image = {"bytes": (tmp_path / "png" / "test" / "png" / "a.png").read_bytes(), "path": None}
    rows = {
        "type": ["human_test", "augmented_test"],
        "question": ["How many?", "Which?"],
        "answer": ["3", "Spain"],
        "image": [image, image],
    }
    features = datasets.Features(
        {name: datasets.Value("string") for name in rows} | {"image": datasets.Image()}
    )
    dataset = datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=features)})
    dataset.save_to_disk(tmp_path / "chartqa")
    task = get_task("chartqa")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    samples = data.load(task, data.split)
    assert [(s.id, s.question, s.references, s.metadata) for s in samples] == [
        ("0", "How many?", ("3",), {"question_set": "human"}),
        ("1", "Which?", ("Spain",), {"question_set": "augmented"}),
    ]
    assert samples[0].image.open().size == (4, 4)

    rows["type"] = ["human_test", "synthetic"]
    dataset = datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=features)})
    dataset.save_to_disk(tmp_path / "bad" / "chartqa")
    data = resolve_task_data(task, tmp_path / "bad", {}, fewshot=False)
    with pytest.raises(DataFormatError, match="expected human_\\* or augmented_\\*") as raised:
        data.load(task, data.split)
    assert (raised.value.record, raised.value.field, raised.value.split) == (1, "type", "test")


def test_the_hub_is_the_default_source() -> None:
    task = get_task("chartqa")
    data = resolve_task_data(task, None, {}, fewshot=False)
    assert data.describe()["location"] == "lmms-lab/ChartQA" and data.split == "test"


def test_the_bundled_split_runs_end_to_end(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    samples = get_task("chartqa").load(mini_data / "chartqa", "test")
    assert [s.metadata["question_set"] for s in samples] == ["human"] * 6 + ["augmented"] * 6
    assert len(get_task("chartqa").load(mini_data / "chartqa", "train")) == 10
    output = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
         "--tasks", "chartqa", "--data-dir", str(mini_data), "--output", str(output),
         "--num-workers", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = json.loads((output / "results.json").read_text())["tasks"]["chartqa"]
    assert entry["task"]["main_metric"] == "relaxed_accuracy"
    assert entry["data"]["scored_samples"] == 12
    records = [json.loads(line) for line in (output / "samples_chartqa.jsonl").open()]
    expected = 100 * sum(record["scores"]["relaxed_accuracy"] for record in records) / 12
    assert entry["scores"]["metrics"]["relaxed_accuracy"] == pytest.approx(expected)
    assert set(entry["scores"]["breakdowns"]["question_set"]) == {"human", "augmented"}
