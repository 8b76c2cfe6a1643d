"""Document and chart QA: ANLS and relaxed accuracy on hand-computed cases and the official
implementations' examples, the DocVQA format and its errors, and DocVQA end to end."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import datasets
import pytest
from click.testing import CliRunner

import vlm_eval.demo
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, Sample, load_docvqa
from vlm_eval.metrics import anls, relaxed_accuracy
from vlm_eval.tasks import ImagePart, get_task, load_tasks, resolve_task_data

DOCVQA = Path(vlm_eval.demo.__file__).parent / "data" / "docvqa"


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


@pytest.mark.parametrize(
    ("prediction", "answers", "expected"),
    [
        ("Denver Broncos", ["Denver Broncos", "Denver R. Broncos"], 1.0),
        ("Dear dr. Lobo", ["Dear Dr. Lobo", "Dr. Lobo"], 1.0),  # case
        ("12/15/89", ["12/15/88"], 1 - 1 / 8),
        ("abc", ["xyz", "abd"], 1 - 1 / 3),  # the closest answer
        ("", ["abc"], 0.0),  # empty prediction
        ("", [""], 1.0),  # two empty texts are equal
        ("  New \t York ", ["new york"], 1.0),  # whitespace runs and ends
        # The denominator is the longer text as given: the double space lengthens it (9, not 8).
        ("new  yorx", ["New York"], 1 - 1 / 9),
        ("abcd", ["abxy"], 0.5),  # NL exactly 0.5 is kept (the script zeroes only < 0.5)
        ("abcde", ["abxyz"], 0.0),  # NL 0.6
        # Unicode: lower-cased "straße" is 2 edits from "strasse"; "ß".upper() is "SS" (7).
        ("straße", ["STRASSE"], 1 - 2 / 7),
        ("café", ["cafe"], 0.75),
        ("cafe\u0301", ["café"], 1 - 2 / 5),  # code points, no Unicode normalization
    ],
)
def test_anls_hand_computed(prediction: str, answers: list[str], expected: float) -> None:
    assert anls(prediction, answers) == pytest.approx(expected)


def test_anls_threshold_option() -> None:
    assert anls("abcd", ["abxy"], threshold=0.6) == 0.0
    assert anls("abcde", ["abxyz"], threshold=0.3) == pytest.approx(0.4)


# google-research/pix2struct, pix2struct/metrics_test.py: anls 47.5, relaxed_accuracy 62.5.
PIX2STRUCT_PREDICTIONS = ["abc", "abc", "Abc", "100%", "100%", "100%", "100%", "Don't"]
PIX2STRUCT_TARGETS = [["abc"], ["Abc"], ["abc"], ["96%"], ["94%"], ["0.96"], ["0.94"], ["Won't"]]


def test_pix2struct_published_example() -> None:
    pairs = list(zip(PIX2STRUCT_PREDICTIONS, PIX2STRUCT_TARGETS, strict=True))
    assert 100 * sum(anls(p, t) for p, t in pairs) / len(pairs) == pytest.approx(47.5)
    assert 100 * sum(relaxed_accuracy(p, t) for p, t in pairs) / len(pairs) == 62.5


@pytest.mark.parametrize(
    ("prediction", "target", "expected"),
    [
        ("105", "100", 1.0),  # exactly 5%: within
        ("95", "100", 1.0),
        ("105.1", "100", 0.0),
        ("1.05", "1", 0.0),  # 0.05000000000000004 in floating point, as the official code
        ("96%", "0.96", 1.0),  # a trailing % divides by 100
        ("5", "5%", 0.0),
        ("5%", "5%", 1.0),
        ("-5.2", "-5", 1.0),  # negative numbers: relative to |target|
        ("5", "-5", 0.0),
        ("0", "0", 1.0),  # a target of 0: exact match
        ("0.0", "0", 0.0),
        ("0.001", "0", 0.0),
        (" 7 ", "7", 1.0),  # float() reads surrounding whitespace
        ("1,000", "1000", 0.0),  # not a number to float(): exact match
        ("Yes", "yes", 1.0),  # text: lower-cased
        (" yes", "yes", 0.0),  # ... and not stripped
        ("", "yes", 0.0),
    ],
)
def test_relaxed_accuracy_hand_computed(prediction: str, target: str, expected: float) -> None:
    assert relaxed_accuracy(prediction, [target]) == expected


def test_relaxed_accuracy_any_answer_and_tolerance() -> None:
    assert relaxed_accuracy("12", ["ten", "12.5"]) == 1.0
    assert relaxed_accuracy("110", ["100"], max_relative_change=0.1) == 1.0


@pytest.mark.parametrize("metric", [anls, relaxed_accuracy])
@pytest.mark.parametrize(
    ("prediction", "answers", "message"),
    [
        ("a", [], "non-empty sequence"),
        ("a", "abc", "non-empty sequence"),
        ("a", ["b", 3], r"answers\[1\] must be a string"),
        (None, ["a"], "prediction must be a string"),
    ],
)
def test_metrics_refuse_bad_arguments(metric: Any, prediction: Any, answers: Any, message: str):
    with pytest.raises(ValueError, match=message):
        metric(prediction, answers)


def test_bundled_docvqa_splits() -> None:
    val = load_docvqa(DOCVQA / "val" / "val_v1.0_withQT.json", DOCVQA / "val", annotated=True)
    assert len(val) == 12 and all(len(sample.references) == 2 for sample in val)
    first = val[0]
    assert first.question == "What is the date?"
    assert first.metadata == {"doc_id": "1005", "question_types": "form|layout"}
    assert Path(first.image.key).relative_to(DOCVQA / "val" / "documents")
    test = load_docvqa(DOCVQA / "test" / "test_v1.0.json", DOCVQA / "test", annotated=False)
    assert len(test) == 4 and all(sample.references == () for sample in test)


def _record(**fields: Any) -> dict[str, Any]:
    record = {"questionId": 7, "question": "What is the date?", "image": "documents/a.png"}
    return record | {"docId": 1, "answers": ["1/2/1990"], "question_types": ["form"]} | fields


@pytest.mark.parametrize(
    ("data", "record", "field", "problem"),
    [
        ([_record(answers=None)], "7", "answers", "expected a list"),
        ([{k: v for k, v in _record().items() if k != "answers"}], "7", "answers", "missing"),
        ([_record(answers=["a", 3])], "7", "answers[1]", "expected a string"),
        ([_record(answers=[])], "7", "answers", "empty list"),
        ([_record(image="../../etc/passwd.png")], "7", "image", "leaves the image folder"),
        ([_record(image="/abs/a.png")], "7", "image", "leaves the image folder"),
        ([_record(), _record()], "7", "questionId", "duplicate id"),
        ([_record(questionId="7")], "0", "questionId", "expected an integer"),
        ([_record(question_types=["a|b"])], "7", "question_types[0]", "joins the types"),
        ([_record(question=None)], "7", "question", "expected a string"),
    ],
)
def test_docvqa_format_errors_name_file_record_and_field(
    tmp_path: Path, data: list[dict[str, Any]], record: str, field: str, problem: str
) -> None:
    path = tmp_path / "val_v1.0_withQT.json"
    path.write_text(json.dumps({"dataset_name": "docvqa", "dataset_split": "val", "data": data}))
    with pytest.raises(DataFormatError, match=problem) as raised:
        load_docvqa(path, tmp_path, annotated=True)
    assert (raised.value.path, str(raised.value.record), raised.value.field) == (
        path,
        record,
        field,
    )


def _hub_rows(split: str) -> datasets.Dataset:
    """The bundled split as lmms-lab/DocVQA rows: string ids, image bytes, test answers empty."""
    name = "test_v1.0.json" if split == "test" else f"{split}_v1.0_withQT.json"
    rows = []
    for record in json.loads((DOCVQA / split / name).read_text())["data"]:
        image = DOCVQA / split / record["image"]
        rows.append(
            {"answers": [], "question_types": None}
            | record
            | {"questionId": str(record["questionId"])}
            | {"image": {"bytes": image.read_bytes(), "path": image.name}}
        )
    features = datasets.Features(
        questionId=datasets.Value("string"),
        question=datasets.Value("string"),
        question_types=datasets.Sequence(datasets.Value("string")),
        image=datasets.Image(),
        docId=datasets.Value("int64"),
        ucsf_document_id=datasets.Value("string"),
        ucsf_document_page_no=datasets.Value("string"),
        answers=datasets.Sequence(datasets.Value("string")),
        data_split=datasets.Value("string"),
    )
    return datasets.Dataset.from_list(rows, features=features)


def test_the_hub_rows_give_the_official_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def load_dataset(path: str, **kwargs: Any) -> datasets.Dataset:
        calls.append((path, kwargs))
        return _hub_rows({"validation": "val", "test": "test"}[kwargs["split"]])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    task = get_task("docvqa")
    data = resolve_task_data(task, None, {}, fewshot=False)
    assert data.describe()["config"] == "DocVQA"
    rows = data.load(task, data.split)
    assert calls == [
        ("lmms-lab/DocVQA", {"name": "DocVQA", "split": "validation", "revision": None,
                             "cache_dir": None})
    ]  # fmt: skip
    official = task.load(DOCVQA, "val")
    fields = [[(s.id, s.question, s.references, s.metadata) for s in x] for x in (rows, official)]
    assert fields[0] == fields[1]
    assert rows[0].image.key == "lmms-lab/DocVQA:validation:doc 1005"
    assert rows[0].image.open().size == official[0].image.open().size
    test = data.load(task, "test")
    assert len(test) == 4 and all(sample.references == () for sample in test)
    assert task.submission_entry(test[0], "x") == {"questionId": 122, "answer": "x"}


def test_docvqa_task_prompt_scores_and_submission() -> None:
    task = get_task("docvqa")
    assert (task.main_metric, task.hub_dataset, task.hub_config) == (
        "anls",
        "lmms-lab/DocVQA",
        "DocVQA",
    )
    sample = Sample("12", DOCVQA / "val" / "documents" / "a.png", ("$12.50", "12.50"), "Total?")
    ((message,),) = [task.prompt(sample, [])]
    assert message.role == "user" and isinstance(message.parts[0], ImagePart)
    assert message.parts[1] == "Total?\nAnswer the question using a single word or phrase."
    assert task.postprocess(" $12.5 \nmore") == "$12.5"
    assert task.score(sample, "$12.5") == {
        "anls": pytest.approx(1 - 1 / 6),
        "relaxed_accuracy": 0.0,
    }
    assert task.score(sample, "12.5") == {"anls": pytest.approx(0.8), "relaxed_accuracy": 1.0}
    assert task.submission_entry(sample, "12.5") == {"questionId": 12, "answer": "12.5"}
    odd = replace(sample, id="\u00b2")  # "²".isdigit(), but no integer: kept as it is
    assert task.submission_entry(odd, "x") == {"questionId": "\u00b2", "answer": "x"}
    charts = get_task("docvqa", {"metric": "relaxed_accuracy"})
    assert charts.main_metric == "relaxed_accuracy"
    assert charts.scoring_protocol()["metric"] == "relaxed_accuracy"


def test_docvqa_breakdown_counts_a_question_in_each_of_its_types() -> None:
    task = get_task("docvqa")
    samples = [
        Sample("1", "a.png", ("x",), "q", {"question_types": "form|layout"}),
        Sample("2", "a.png", ("x",), "q", {"question_types": "form"}),
        Sample("3", "a.png", ("x",), "q"),
    ]
    scores = [task.score(sample, p) for sample, p in zip(samples, ["x", "y", "x"], strict=True)]
    result = task.aggregate(samples, ["x", "y", "x"], scores)
    assert result.metrics == {
        "anls": pytest.approx(200 / 3),
        "relaxed_accuracy": pytest.approx(200 / 3),
    }
    assert result.breakdowns == {"question_type": {"form": 50.0, "layout": 100.0}}


def test_docvqa_runs_end_to_end_and_writes_the_test_submission(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    common = [
        "run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
        "--tasks", "docvqa", "--data-dir", str(mini_data), "--num-workers", "0",
    ]  # fmt: skip
    result = CliRunner().invoke(main, [*common, "--output", str(tmp_path / "val")])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "val" / "results.json").read_text())["tasks"]["docvqa"]
    assert entry["task"]["main_metric"] == "anls"
    assert entry["data"]["scored_samples"] == 12
    assert 0.0 <= entry["scores"]["metrics"]["anls"] <= 100.0
    assert set(entry["scores"]["metrics"]) == {"anls", "relaxed_accuracy"}
    assert set(entry["scores"]["breakdowns"]["question_type"]) <= {"form", "layout", "table/list"}

    test = tmp_path / "test"
    result = CliRunner().invoke(main, [*common, "--data-args", "split=test", "--output", str(test)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (test / "samples_docvqa.jsonl").open()]
    predictions = {int(record["sample_id"]): record["prediction"] for record in records}
    submitted = json.loads((test / "submission_docvqa_test.json").read_text())
    assert submitted == [{"questionId": key, "answer": predictions[key]} for key in range(122, 126)]
