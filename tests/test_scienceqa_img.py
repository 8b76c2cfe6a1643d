"""ScienceQA-IMG: the official problems and splits (questions without an image left out), the hub
rows, lmms-eval's prompt with its context line, accuracy by subject and grade on hand-computed
cases, errors naming file, record and field, and a run end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, Sample
from vlm_eval.tasks import MultipleChoiceTask, get_task, load_tasks, resolve_task_data

INSTRUCTION = "Answer with the option's letter from the given choices directly."


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _problem(**fields: Any) -> dict[str, Any]:
    problem = {"question": "Which colour is the circle?", "choices": ["red", "blue"], "answer": 1}
    extra = {"hint": "", "image": "image.png", "subject": "natural science", "grade": "grade3"}
    return problem | extra | {"topic": "shapes", "lecture": "", "solution": ""} | fields


def _write(folder: Path, problems: dict[str, Any], splits: Any) -> Path:
    """The official files in ``folder``, with a 4x4 image for every problem of ``test``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "problems.json").write_text(json.dumps(problems))
    (folder / "pid_splits.json").write_text(json.dumps(splits))
    ids = splits.get("test") if isinstance(splits, dict) else None
    for pid in ids if isinstance(ids, list) else []:
        (folder / "images" / "test" / pid).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(folder / "images" / "test" / pid / "image.png")
    return folder


def test_questions_with_an_image_become_samples(tmp_path: Path) -> None:
    problems = {
        "7": _problem(hint="The circle is on a table.", grade="grade7"),
        "8": _problem(image=None),  # no image: not in ScienceQA-IMG
        "9": _problem(choices=["x", "y", "z"], answer=0, subject="language science", hint=" "),
    }
    folder = _write(tmp_path, problems, {"test": ["9", "8", "7"], "train": []})
    samples = get_task("scienceqa_img").load(folder, "test")
    assert [(s.id, s.question, s.references) for s in samples] == [
        ("9", "Which colour is the circle?", ("A",)),
        ("7", "Which colour is the circle?", ("B",)),
    ]
    assert samples[0].metadata == {"A": "x", "B": "y", "C": "z", "subject": "LAN", "grade": "G1-6"}
    assert samples[1].metadata == {
        "A": "red", "B": "blue", "subject": "NAT", "grade": "G7-12",
        "hint": "The circle is on a table.",
    }  # fmt: skip
    assert samples[1].image.path == folder / "images" / "test" / "7" / "image.png"


def test_the_prompt_has_the_context_line_first() -> None:
    task = get_task("scienceqa_img")
    assert isinstance(task, MultipleChoiceTask)
    metadata = {"A": "red", "B": "blue", "hint": "The circle is on a table."}
    (sample,) = task.expand([Sample("7", Path("a.png"), ("B",), "Which colour?", metadata)])
    asked = "Context: The circle is on a table.\nWhich colour?\nA. red\nB. blue"
    for protocol in ("chat", "lmms-eval"):
        (turn,) = get_task("scienceqa_img", {"protocol": protocol}).prompt(sample, [])
        assert turn.parts[1] == f"{asked}\n{INSTRUCTION}", protocol
    (plain,) = task.expand(
        [Sample("8", Path("a.png"), ("B",), "Which colour?", {"A": "x", "B": "y"})]
    )
    assert plain.question == "Which colour?\nA. x\nB. y"


def test_accuracy_by_subject_and_grade_hand_computed() -> None:
    task = get_task("scienceqa_img")
    groups = [("NAT", "G1-6"), ("NAT", "G7-12"), ("SOC", "G1-6"), ("LAN", "G7-12")]
    metadata = [{"A": "red", "B": "blue", "subject": s, "grade": g} for s, g in groups]
    samples = task.expand(
        [Sample(str(i), Path("a.png"), ("B",), "Which?", m) for i, m in enumerate(metadata)]
    )
    answers = ["B", "The answer is blue.", "(A)", "I cannot tell"]  # right, right, wrong, none
    scores = [task.score(s, a) for s, a in zip(samples, answers, strict=True)]
    result = task.aggregate(samples, answers, scores)
    assert result.metrics == {"accuracy": 50.0, "unparseable": 1.0}
    assert result.breakdowns == {
        "subject": {"LAN": 0.0, "NAT": 100.0, "SOC": 0.0},
        "grade": {"G1-6": 50.0, "G7-12": 50.0},
    }


@pytest.mark.parametrize(
    ("problem", "record", "field", "message"),
    [
        (_problem(answer=2), "7", "answer", r"2 is not the index of an option \(0 to 1\)"),
        (_problem(answer=-1), "7", "answer", "not the index of an option"),
        (_problem(answer="B"), "7", "answer", "expected an integer"),
        (_problem(choices=["red"], answer=0), "7", "choices", "expected 2 to 26 options, got 1"),
        (_problem(choices=["red", " "]), "7", "choices[1]", "empty option"),
        (_problem(choices=["red", 3]), "7", "choices[1]", "expected a string"),
        ({k: v for k, v in _problem().items() if k != "choices"}, "7", "choices", "missing"),
        (_problem(question=None), "7", "question", "expected a string"),
        (_problem(subject="history"), "7", "subject", "expected one of"),
        (_problem(grade="grade13"), "7", "grade", "expected grade1 to grade12"),
        (_problem(image="../../image.png"), "7", "image", "leaves the image folder"),
    ],
)
def test_malformed_problems_name_file_record_and_field(
    tmp_path: Path, problem: dict[str, Any], record: str, field: str, message: str
) -> None:
    folder = _write(tmp_path, {"7": problem}, {"test": ["7"]})
    with pytest.raises(DataFormatError, match=message) as raised:
        get_task("scienceqa_img").load(folder, "test")
    error = raised.value
    assert (error.path, error.record, error.field) == (folder / "problems.json", record, field)


@pytest.mark.parametrize(
    ("splits", "file", "record", "field", "message"),
    [
        ({"train": ["7"]}, "pid_splits.json", None, "test", "unknown split; the file has"),
        ({"test": "7"}, "pid_splits.json", None, "test", "expected a list of question ids"),
        ({"test": ["7", "70"]}, "problems.json", "70", None, "lists it, but it is no problem"),
    ],
)
def test_malformed_splits_are_named(
    tmp_path: Path, splits: Any, file: str, record: str | None, field: str | None, message: str
) -> None:
    folder = _write(tmp_path, {"7": _problem()}, splits)
    with pytest.raises(DataFormatError, match=message) as raised:
        get_task("scienceqa_img").load(folder, "test")
    error = raised.value
    assert (error.path, error.record, error.field) == (folder / file, record, field)


def test_hub_rows(tmp_path: Path) -> None:
    import datasets

    buffer = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(buffer)
    image = {"bytes": buffer.read_bytes(), "path": None}
    rows = {
        "image": [image, image], "question": ["Which?", "What?"],
        "choices": [["x", "y"], ["p", "q", "r"]], "answer": [1, 2], "hint": ["Look.", ""],
        "task": ["closed choice"] * 2, "grade": ["grade2", "grade9"],
        "subject": ["natural science", "social science"], "topic": ["t", "t"],
        "category": ["c", "c"], "skill": ["s", "s"], "lecture": ["", ""], "solution": ["", ""],
    }  # fmt: skip
    features = datasets.Features(
        {name: datasets.Value("string") for name in rows}
        | {"image": datasets.Image(), "answer": datasets.Value("int8")}
        | {"choices": datasets.Sequence(datasets.Value("string"))}
    )
    dataset = datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=features)})
    dataset.save_to_disk(tmp_path / "scienceqa_img")
    task = get_task("scienceqa_img")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    samples = data.load(task, data.split)
    assert [(s.id, s.question, s.references, s.metadata) for s in samples] == [
        ("0", "Context: Look.\nWhich?\nA. x\nB. y", ("B",),
         {"A": "x", "B": "y", "hint": "Look.", "subject": "NAT", "grade": "G1-6",
          "question_id": "0", "rotation": "0"}),
        ("1", "What?\nA. p\nB. q\nC. r", ("C",),
         {"A": "p", "B": "q", "C": "r", "subject": "SOC", "grade": "G7-12",
          "question_id": "1", "rotation": "0"}),
    ]  # fmt: skip
    assert samples[0].image.open().size == (4, 4)
    hub = resolve_task_data(task, None, {}, fewshot=False).describe()
    assert (hub["location"], hub["config"], hub["split"]) == (
        "lmms-lab/ScienceQA",
        "ScienceQA-IMG",
        "test",
    )


def test_the_bundled_split_runs_end_to_end(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    task = get_task("scienceqa_img")
    assert [len(task.load(mini_data / "scienceqa_img", s)) for s in ("train", "test")] == [9, 8]
    output = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
         "--tasks", "scienceqa_img", "--data-dir", str(mini_data), "--output", str(output),
         "--num-workers", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = json.loads((output / "results.json").read_text())["tasks"]["scienceqa_img"]
    assert entry["task"]["main_metric"] == "accuracy" and entry["data"]["scored_samples"] == 8
    records = [json.loads(line) for line in (output / "samples_scienceqa_img.jsonl").open()]
    expected = 100 * sum(record["scores"]["accuracy"] for record in records) / 8
    assert entry["scores"]["metrics"]["accuracy"] == pytest.approx(expected)
    assert set(entry["scores"]["breakdowns"]) == {"subject", "grade"}
