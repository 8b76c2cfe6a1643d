"""The multiple-choice family: answer extraction, circular evaluation, MMBench's TSV files and a
run on the bundled mini split."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval._arguments import ArgumentsError
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, Sample, load_mmbench_tsv
from vlm_eval.metrics import circular_results, extract_choice, rotate_choices
from vlm_eval.tasks import MultipleChoiceTask, get_task, load_tasks, resolve_task_data

OPTIONS = ["red circle", "blue square", "red", "green"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("B", "B"),
        ("b", "B"),  # a lone letter may be lower case
        (" (c) ", "C"),
        ("D.", "D"),
        ("[A]", "A"),
        ("B. blue square", "B"),
        ("B) blue", "B"),
        ("(b) blue", "B"),
        ("Answer: C", "C"),
        ("The answer is (D).", "D"),
        ("the correct answer is B because it is blue", "B"),
        ("Answer: B. Option A is wrong.", "B"),  # the stated letter wins over other letters
        ("The answer is blue square.", "B"),  # a statement naming an option's text
        ("Blue Square!", "B"),  # option text, case and punctuation aside
        ("It is the red circle", "A"),  # "red" only inside "red circle": not ambiguous
        ("red", "C"),  # exact option text, though "red circle" starts with it
        ("I think B", "B"),  # "I" the pronoun
        ("A cat sits there; B", "B"),  # "A" the article
        ("\uff22", "B"),  # full-width
        ("\uff08C\uff09", "C"),  # full-width brackets
        ("**D**", "D"),
        ("Both", None),  # the B of a word is no letter
        ("Both A and B", None),  # two letters
        ("green and blue square", None),  # two options
        ("E", None),  # beyond the four options
        ("Answer: E", None),
        ("", None),
        ("  \n", None),
        ("I don't know", None),
    ],
)
def test_extract_choice(answer: str, expected: str | None) -> None:
    assert extract_choice(answer, OPTIONS) == expected


def test_extract_choice_unicode_option_texts() -> None:
    options = ["Café au lait", "\uff23\uff21\uff26\uff25"]  # full-width CAFE
    assert extract_choice("café au lait", options) == "A"
    assert extract_choice("The answer is cafe.", options) == "B"  # NFKC


def test_extract_choice_needs_two_options() -> None:
    with pytest.raises(ValueError, match="2 to 26 options"):
        extract_choice("A", ["only"])


def test_rotations_shift_the_options_and_the_answer() -> None:
    assert rotate_choices(["x", "y", "z"], "A", 0) == (("x", "y", "z"), "A")
    assert rotate_choices(["x", "y", "z"], "A", 1) == (("y", "z", "x"), "C")
    assert rotate_choices(["x", "y", "z"], "C", 2) == (("z", "x", "y"), "A")
    assert rotate_choices(["x", "y"], None, 1) == (("y", "x"), None)
    assert circular_results(["1", "1", "2", "2"], [1.0, 0.0, 1.0, 1.0]) == {"1": False, "2": True}


# MMBench's TSV files.

_COLUMNS = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category"]


def _image() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _tsv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or [*_COLUMNS, "image"]
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            full = {"hint": "nan", "C": "", "D": "", "category": "c", "l2-category": "l2"} | row
            writer.writerow([full.get(column, _image()) for column in columns])
    return path


def _row(index: str = "1", **fields: str) -> dict[str, str]:
    return {"index": index, "question": "What?", "A": "x", "B": "y", "answer": "B"} | fields


def test_tsv_rows_become_samples(tmp_path: Path) -> None:
    rows = [_row("1", hint="Look.\tTabbed", C="z"), _row("2", question="Two\nlines")]
    samples = load_mmbench_tsv(_tsv(tmp_path / "MMBench_DEV_EN.tsv", rows))
    assert [s.id for s in samples] == ["1", "2"]
    assert samples[0].metadata == {
        "A": "x", "B": "y", "C": "z", "hint": "Look.\tTabbed", "category": "c",
        "l2-category": "l2",
    }  # fmt: skip
    assert "hint" not in samples[1].metadata  # "nan"
    assert samples[1].question == "Two\nlines" and samples[1].references == ("B",)
    assert samples[0].image.key == f"{tmp_path / 'MMBench_DEV_EN.tsv'}:1"
    assert samples[0].image.open().size == (4, 4)


@pytest.mark.parametrize(
    ("rows", "columns", "record", "field", "problem"),
    [
        ([_row(A="")], None, "1", "A", "missing option"),
        ([_row(B="nan")], None, "1", "B", "missing option"),
        ([_row(D="w")], None, "1", "C", "missing option, but option D is given"),
        ([_row(answer="C")], None, "1", "answer", "not the letter of an option"),
        ([_row(image="not base64!")], None, "1", "image", "not valid base64"),
        ([_row("1"), _row("1")], None, "1", "index", "duplicate index"),
        ([_row("x")], None, "line 2", "index", "expected an integer"),
        ([_row("\u00b2")], None, "line 2", "index", "expected an integer"),  # "²".isdigit()
        ([_row()], ["index", "question", "A", "answer", "image"], None, "B", "missing column"),
    ],
)
def test_malformed_tsv_files_name_file_record_and_field(
    tmp_path: Path,
    rows: list[dict[str, str]],
    columns: list[str] | None,
    record: str | None,
    field: str,
    problem: str,
) -> None:
    path = _tsv(tmp_path / "MMBench_DEV_EN.tsv", rows, columns)
    with pytest.raises(DataFormatError, match=problem) as raised:
        load_mmbench_tsv(path)
    assert (raised.value.path, raised.value.record, raised.value.field) == (path, record, field)


def test_official_circular_copies_are_dropped(tmp_path: Path) -> None:
    load_tasks()
    task = get_task("mmbench", {"circular": "false"})
    rows = [_row("7"), _row("1000007", A="y", B="x", answer="A")]
    _tsv(tmp_path / "MMBench_DEV_EN.tsv", rows)
    assert [s.id for s in task.expand(task.load(tmp_path, "DEV_EN"))] == ["7"]


# The family.


def _sample(question_id: str, options: list[str], answer: str, category: str) -> Sample:
    metadata = dict(zip("ABCD", options, strict=False)) | {"category": category}
    return Sample(question_id, Path("x.jpg"), (answer,), "Which?", metadata)


def test_circular_expansion_and_scores() -> None:
    load_tasks()
    task = get_task("mmbench")  # circular by default
    assert isinstance(task, MultipleChoiceTask) and task.main_metric == "circular_accuracy"
    assert task.sample_score_scale is None
    samples = task.expand(
        [_sample("1", ["xx", "yy", "zz"], "B", "one"), _sample("2", ["pp", "qq"], "A", "two")]
    )
    assert [(s.id, s.references[0]) for s in samples] == [
        ("1@0", "B"), ("1@1", "A"), ("1@2", "C"), ("2@0", "A"), ("2@1", "B"),
    ]  # fmt: skip
    assert samples[1].question == "Which?\nA. yy\nB. zz\nC. xx"
    assert samples[1].metadata["question_id"] == "1" and samples[1].metadata["rotation"] == "1"
    answers = ["yy", "A", "C", "A", "nonsense"]  # question 1 always right, question 2 once
    scores = [task.score(s, a) for s, a in zip(samples, answers, strict=True)]
    result = task.aggregate(samples, answers, scores)
    assert result.metrics == {"accuracy": 80.0, "circular_accuracy": 50.0, "unparseable": 1.0}
    assert result.breakdowns == {"category": {"one": 100.0, "two": 0.0}}
    assert result.notes == {"unparseable": "1 of 5 answers name no option (scored wrong): 2@1"}


def test_vanilla_scores_and_a_capped_list_of_unparseable_answers() -> None:
    load_tasks()
    task = get_task("mmbench", {"circular": "false"})
    assert task.main_metric == "accuracy" and task.sample_score_scale == 100.0
    samples = task.expand([_sample(str(i), ["x", "y"], "A", "c") for i in range(25)])
    assert [s.id for s in samples] == [str(i) for i in range(25)]
    scores = [task.score(s, "?") for s in samples]
    result = task.aggregate(samples, ["?"] * 25, scores)
    assert result.metrics == {"accuracy": 0.0, "unparseable": 25.0}
    assert result.notes["unparseable"].endswith(", 19, ...")


def test_prompts_of_each_protocol() -> None:
    load_tasks()
    sample = get_task("mmbench").expand([_sample("1", ["x", "y"], "A", "c")])[0]
    asked = "Which?\nA. x\nB. y"
    instruction = "Answer with the option's letter from the given choices directly."
    for protocol in ("chat", "lmms-eval"):
        (turn,) = get_task("mmbench", {"protocol": protocol}).prompt(sample, [])
        assert turn.parts[1] == f"{asked}\n{instruction}", protocol
    (raw,) = get_task("mmbench", {"protocol": "idefics2-instruct"}).prompt(sample, [])
    assert raw.parts[-1] == f"{asked}\n{instruction}<end_of_utterance>\nAssistant:"
    (raw,) = get_task("mmbench", {"protocol": "idefics2-base"}).prompt(sample, [])
    assert raw.parts[-1] == f"Question: {asked}\n{instruction} Answer:"
    with pytest.raises(ArgumentsError, match="has no multiple_choice prompt"):
        get_task("mmbench", {"protocol": "openflamingo"})


def test_mmbench_runs_end_to_end_on_the_mini_split(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
         "--tasks", "mmbench", "--data-dir", str(mini_data), "--output", str(output),
         "--batch-size", "8", "--num-workers", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = json.loads((output / "results.json").read_text(encoding="utf-8"))["tasks"]["mmbench"]
    metrics = entry["scores"]["metrics"]
    assert {"accuracy", "circular_accuracy", "unparseable"} <= set(metrics)
    assert entry["task"]["main_metric"] == "circular_accuracy"
    assert set(entry["scores"]["breakdowns"]) == {"category", "l2-category"}
    lines = (output / "samples_mmbench.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    questions = {r["metadata"]["question_id"] for r in records}
    assert len(questions) == 8 and len(records) == 22  # 8 questions of 2 to 4 options
    rotations = [f"{r['metadata']['question_id']}@{r['metadata']['rotation']}" for r in records]
    assert [r["sample_id"] for r in records] == rotations
    vanilla = 100 * sum(r["scores"]["accuracy"] for r in records) / len(records)
    assert metrics["accuracy"] == pytest.approx(vanilla)


def test_rows_in_the_hub_columns(tmp_path: Path) -> None:
    import datasets

    image = {"bytes": base64.b64decode(_image()), "path": None}
    rows = {
        "index": [3, 1000003], "question": ["What?", "What?"], "hint": [None, "nan"],
        "A": ["x", "y"], "B": ["y", "x"], "C": [None, None], "D": ["nan", "nan"],
        "answer": ["B", "A"], "category": ["c", "c"], "L2-category": ["l2", "l2"],
        "image": [image, image],
    }  # fmt: skip
    features = datasets.Features(
        {name: datasets.Value("int64" if name == "index" else "string") for name in rows}
        | {"image": datasets.Image()}
    )
    dataset = datasets.DatasetDict({"dev": datasets.Dataset.from_dict(rows, features=features)})
    dataset.save_to_disk(tmp_path / "mmbench")
    load_tasks()
    task = get_task("mmbench")
    data = resolve_task_data(task, tmp_path, {"split": "dev"}, fewshot=False)
    samples = data.load(task, data.split)
    assert [(s.id, s.references) for s in samples] == [("3@0", ("B",)), ("3@1", ("A",))]
    assert samples[0].metadata["l2-category"] == "l2" and "hint" not in samples[0].metadata
    assert samples[0].image.open().size == (4, 4)
