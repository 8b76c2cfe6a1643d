"""`vlm-eval score`: official results files scored without a model, on real annotations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vlm_eval.cli import main

REFERENCE = Path(__file__).parent / "data" / "reference"
VQAV2_QUESTIONS = REFERENCE / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions_first100_STUB.json"
VQAV2_ANNOTATIONS = REFERENCE / "vqav2" / "v2_mscoco_val2014_annotations_first100.json"


def _write(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content))
    return path


def _mc_predictions(transform: Any = str) -> list[dict[str, Any]]:
    annotations = json.loads(VQAV2_ANNOTATIONS.read_text())["annotations"]
    return [
        {"question_id": a["question_id"], "answer": transform(a["multiple_choice_answer"])}
        for a in annotations
    ]


def _score_vqa(predictions: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        main,
        ["score", "--task", "vqav2", "--questions", str(VQAV2_QUESTIONS),
         "--annotations", str(VQAV2_ANNOTATIONS), "--predictions", str(predictions), *extra],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("transform", "mode", "expected"),
    [
        (str, "normalized", 98.40),
        (str, "official", 98.40),
        (str.upper, "normalized", 98.40),
        (str.upper, "official", 66.40),
    ],
)
def test_real_vqav2_annotations_score_as_the_official_tool(
    tmp_path: Path, transform: Any, mode: str, expected: float
) -> None:
    predictions = _write(tmp_path / "p.json", _mc_predictions(transform))
    result = _score_vqa(predictions, "--mode", mode, "--json", str(tmp_path / "s.json"))
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert round(scores["metrics"]["accuracy"], 2) == expected
    assert f"| accuracy | {expected:.2f} |" in result.output
    assert scores["mode"] == mode and scores["questions"] == 100
    assert set(scores["breakdowns"]["answer_type"]) == {"yes/no", "number", "other"}
    assert "none of the above" in scores["breakdowns"]["question_type"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p[1:], r"record 262148000, field 'question_id': no prediction for 1 annotated"),
        (lambda p: [*p, p[0]], r"record 262148000, field 'question_id': predicted twice"),
        (lambda p: [{"qid": 1, "answer": "a"}, *p], r"record 0, field 'question_id': missing"),
        (
            lambda p: [{**p[0], "answer": 3}, *p[1:]],
            r"record 262148000, field 'answer': expected a string, got 3",
        ),
        (
            lambda p: [{**p[0], "score": 1}, *p[1:]],
            r"record 262148000, field 'score': unexpected key",
        ),
        (lambda p: {"results": p}, "expected a JSON list of predictions"),
    ],
)
def test_bad_prediction_files_name_the_file_record_and_field(
    tmp_path: Path, mutate: Any, message: str
) -> None:
    predictions = _write(tmp_path / "bad.json", mutate(_mc_predictions()))
    result = _score_vqa(predictions)
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "bad.json" in output
    assert re.search(message, output), output


def test_vqa_tasks_need_the_questions_file(tmp_path: Path) -> None:
    predictions = _write(tmp_path / "p.json", _mc_predictions())
    result = CliRunner().invoke(
        main,
        ["score", "--task", "okvqa", "--annotations", str(VQAV2_ANNOTATIONS),
         "--predictions", str(predictions)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--questions" in result.output


def test_captions_match_the_published_example(tmp_path: Path) -> None:
    refs = json.loads((REFERENCE / "captions" / "refs.json").read_text())
    good = json.loads((REFERENCE / "captions" / "good_captions.json").read_text())
    ids = {name: number for number, name in enumerate(sorted(refs), start=1)}
    annotations = _write(
        tmp_path / "captions_val.json",
        {
            "images": [{"id": ids[name], "file_name": f"{name}.jpg"} for name in refs],
            "annotations": [
                {"id": 10 * ids[name] + i, "image_id": ids[name], "caption": caption}
                for name, captions in refs.items()
                for i, caption in enumerate(captions)
            ],
        },
    )
    predictions = _write(
        tmp_path / "p.json", [{"image_id": ids[n], "caption": c} for n, c in good.items()]
    )
    result = CliRunner().invoke(
        main,
        ["score", "--task", "coco_caption", "--annotations", str(annotations),
         "--predictions", str(predictions), "--json", str(tmp_path / "s.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "SPICE skipped: " in result.output  # stderr; the reason is also in the JSON
    metrics = json.loads((tmp_path / "s.json").read_text())["metrics"]
    assert {k: round(v, 2) for k, v in metrics.items()} == {
        "BLEU-1": 66.67, "BLEU-2": 48.99, "BLEU-3": 34.69, "BLEU-4": 0.0,
        "METEOR": 34.44, "ROUGE-L": 42.80, "CIDEr": 56.37,
    }  # fmt: skip


def test_per_question_scores_add_up_to_the_overall_accuracy(tmp_path: Path) -> None:
    predictions = _write(tmp_path / "p.json", _mc_predictions(str.upper))
    result = _score_vqa(predictions, "--mode", "official", "--json", str(tmp_path / "s.json"))
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    per_question = scores["per_question"]
    assert sorted(map(int, per_question)) == sorted(p["question_id"] for p in _mc_predictions())
    assert sum(per_question.values()) / 100 == pytest.approx(scores["metrics"]["accuracy"])
    assert per_question["262148000"] == 100.0  # "DOWN": answers differ, so it is normalized
    assert per_question["393225001"] == 0.0  # "NO" against ten identical "no": it is not


def _okvqa_files(tmp_path: Path) -> tuple[Path, Path]:
    """Two OK-VQA v1.1-style questions whose answers are stemmed, with their raw answers."""
    answers = [["horse"] * 10, ["ride"] * 6 + ["riding"] * 4]
    raw_answers = [["Horses"] * 10, ["riding"] * 10]
    questions = _write(
        tmp_path / "q.json",
        {"questions": [{"image_id": 9, "question": "?", "question_id": i} for i in (1, 2)]},
    )
    annotations = _write(
        tmp_path / "a.json",
        {
            "annotations": [
                {
                    "question_id": i, "image_id": 9, "question_type": "other",
                    "answer_type": "other",
                    "answers": [
                        {"answer": a, "raw_answer": raw, "answer_id": n + 1}
                        for n, (a, raw) in enumerate(zip(texts, raws, strict=True))
                    ],
                }
                for i, texts, raws in zip((1, 2), answers, raw_answers, strict=True)
            ]
        },
    )  # fmt: skip
    return questions, annotations


@pytest.mark.parametrize(
    ("answers", "expected"), [("mixed", 50.0), ("stemmed", 100.0), (None, 100.0), ("raw", 100.0)]
)
def test_okvqa_answers_choose_the_references_and_the_stemming(
    tmp_path: Path, answers: str | None, expected: float
) -> None:
    questions, annotations = _okvqa_files(tmp_path)
    predictions = _write(
        tmp_path / "p.json",
        [{"question_id": 1, "answer": "Horses"}, {"question_id": 2, "answer": "riding"}],
    )
    result = CliRunner().invoke(
        main,
        ["score", "--task", "okvqa", "--questions", str(questions), "--annotations",
         str(annotations), "--predictions", str(predictions), "--json", str(tmp_path / "s.json"),
         *(["--answers", answers] if answers else [])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["metrics"]["accuracy"] == expected
    assert ("answer_stemming" in scores) is (answers in ("stemmed", None))


def test_stemming_is_refused_for_other_tasks(tmp_path: Path) -> None:
    predictions = _write(tmp_path / "p.json", _mc_predictions())
    result = _score_vqa(predictions, "--answers", "raw")
    assert result.exit_code == 2
    assert "only applies to --task okvqa" in result.output
