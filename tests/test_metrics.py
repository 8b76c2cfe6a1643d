"""VQA accuracy and captioning metrics, checked against hand values, real annotations and
published numbers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bench.official_vqa_eval import OfficialVQAEval
from bench.synthetic_vqa import synthetic_vqa
from vlm_eval.metrics import (
    CaptionScores,
    _caption,
    clear_vqa_caches,
    normalize_vqa_answer,
    score_captions,
    vqa_accuracy,
)
from vlm_eval.metrics._vqa import _CONTRACTIONS

REFERENCE = Path(__file__).parent / "data" / "reference"
PUBLISHED_CAPTION_SCORES = json.loads((REFERENCE / "captions/published_scores.json").read_text())
# The spec's figures for predicting each question's multiple_choice_answer (upper-cased or not).
VQAV2_MULTIPLE_CHOICE_SCORES = [
    (False, "normalized", 98.40),
    (False, "official", 98.40),
    (True, "normalized", 98.40),
    (True, "official", 66.40),
]
METRIC_NAMES = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]


def _annotations(relative: str) -> list[dict[str, Any]]:
    return json.loads((REFERENCE / relative).read_text())["annotations"]


def _answers(annotation: dict[str, Any]) -> list[str]:
    return [answer["answer"] for answer in annotation["answers"]]


# --------------------------------------------------------------------------------------------
# Normalization


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"),
        ("Yes.", "yes"),  # period not followed by a digit: dropped; lower-cased
        ("what?", "what"),  # trailing "?" glued to a word: becomes a space
        ("hi, there", "hi there"),  # ", " next to a space: deleted
        ("hi,there", "hi there"),  # not next to a space: replaced by a space
        ("left - right", "left right"),
        ("left-right", "left right"),
        ("black/white", "black white"),
        ("1,000", "1000"),  # digit-comma-digit: the comma is deleted
        ("1,000-2", "10002"),  # ...and so is every other mark in that string (official quirk)
        ("well, 3-4", "well 3 4"),  # ", " only makes the comma vanish; "-" becomes a space
        ("3.5", "3.5"),  # period followed by a digit: kept
        ("5.", "5"),
        ("u.s.a.", "usa"),
        ("mr. smith", "mr smith"),
        ("don't", "don't"),  # apostrophes are kept
        ("dont", "don't"),  # contraction restored
        ("isnt it", "isn't it"),
        ("Im", "im"),  # lower-cased before the look-up, so the "Im" entry never matches
        ("Two", "2"),
        ("none", "0"),
        ("ten dogs", "10 dogs"),
        ("eleven", "eleven"),  # only none..ten are mapped
        ("the red one", "red 1"),
        ("A", ""),  # nothing but an article
        ("an apple", "apple"),
        ("(a) cat", "cat"),  # ") " deleted, "(" replaced by a space, then the article goes
        ("a dog\n", "dog"),
        ("\tcat  \n", "cat"),
        ("two\ncats", "2 cats"),
        ("it's 3:00", "it's 3:00"),  # colons are kept
        ("#1", "#1"),  # "#" is not in the official punctuation list
        ("." * 40, "." * 8),  # re.UNICODE passed as `count`: at most 32 periods go (quirk)
    ],
)
def test_normalize_vqa_answer(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


def test_contraction_table_is_the_official_one() -> None:
    items = json.dumps(sorted(_CONTRACTIONS.items()))
    assert len(_CONTRACTIONS) == 120
    assert hashlib.sha256(items.encode()).hexdigest() == (
        "3e5960526f62912d3b70896069c43c13d7c21be38d50ca28efbb9095b499454f"
    )


@pytest.mark.parametrize("bad", [3, None, ["yes"], b"yes"])
def test_normalize_rejects_non_strings(bad: Any) -> None:
    with pytest.raises(ValueError, match="must be a string"):
        normalize_vqa_answer(bad)


# --------------------------------------------------------------------------------------------
# Accuracy on hand-made answers


@pytest.mark.parametrize("mode", ["normalized", "official"])
@pytest.mark.parametrize(
    ("matches", "expected"),
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (5, 1.0), (9, 1.0), (10, 1.0)],
)
def test_leave_one_out_values(mode: str, matches: int, expected: float) -> None:
    answers = ["yes"] * matches + ["no"] * (10 - matches)
    assert vqa_accuracy("yes", answers, mode=mode) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["yes"], 0.0),  # one answer: the only subset left is empty
        (["yes", "yes", "yes"], 2 / 3),
        (["yes", "yes", "yes", "no", "no"], (3 * 2 / 3 + 2 * 1.0) / 5),
        (["yes"] * 20, 1.0),
    ],
)
def test_leave_one_out_generalises_to_any_count(answers: list[str], expected: float) -> None:
    assert vqa_accuracy("yes", answers) == pytest.approx(expected)


def test_official_mode_skips_normalization_when_answers_agree() -> None:
    assert vqa_accuracy("Yes", ["yes"] * 10, mode="official") == 0.0
    assert vqa_accuracy("Yes", ["yes"] * 10) == 1.0
    assert vqa_accuracy("yes", ["Yes"] * 10, mode="official") == 0.0
    assert vqa_accuracy(" yes\n", ["yes"] * 10, mode="official") == 1.0  # whitespace step only
    assert vqa_accuracy("Yes", ["yes"] * 9 + ["yeah"], mode="official") == 1.0
    assert vqa_accuracy("Two", ["2"] * 9 + ["two"], mode="official") == 1.0


@pytest.mark.parametrize(
    ("prediction", "answers", "message"),
    [
        ("yes", [], "at least one"),
        ("yes", "yes", "not the string"),
        (None, ["yes"], "prediction must be a string"),
        ("yes", ["yes", 3], r"answers\[1\] must be a string"),
        ("yes", ["yes", ["yes"]], r"answers\[1\] must be a string"),  # unhashable
        (["yes"], ["yes"], "prediction must be a string"),
    ],
)
def test_vqa_accuracy_validation(prediction: Any, answers: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vqa_accuracy(prediction, answers)


def test_vqa_accuracy_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown VQA accuracy mode 'strict'"):
        vqa_accuracy("yes", ["yes"], mode="strict")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Accuracy on real annotations


@pytest.mark.parametrize(("upper", "mode", "expected"), VQAV2_MULTIPLE_CHOICE_SCORES)
def test_vqav2_multiple_choice_answer_scores(upper: bool, mode: str, expected: float) -> None:
    annotations = _annotations("vqav2/v2_mscoco_val2014_annotations_first100.json")
    assert len(annotations) == 100
    scores = [
        vqa_accuracy(
            ann["multiple_choice_answer"].upper() if upper else ann["multiple_choice_answer"],
            _answers(ann),
            mode=mode,
        )
        for ann in annotations
    ]
    assert 100 * sum(scores) / len(scores) == pytest.approx(expected)


def test_official_mode_matches_the_official_port_question_by_question_on_synthetic_data() -> None:
    """The benchmark's data: case, periods, articles, number words, punctuation, contractions."""
    _, annotations, results = synthetic_vqa(3000, seed=7)
    gts = {a["question_id"]: a for a in annotations["annotations"]}
    res = {r["question_id"]: r for r in results}
    official = OfficialVQAEval(n=2)
    official.evaluate(gts, res)
    clear_vqa_caches()
    ours = {
        qid: vqa_accuracy(
            res[qid]["answer"], [a["answer"] for a in gts[qid]["answers"]], mode="official"
        )
        for qid in gts
    }
    assert {qid: round(100 * value, 2) for qid, value in ours.items()} == official.eval_qa
    assert round(100 * sum(ours.values()) / len(ours), 2) == official.accuracy["overall"]
    assert 0 < official.accuracy["overall"] < 100


def test_official_mode_matches_a_port_of_the_official_loop_on_textvqa() -> None:
    annotations = _annotations("textvqa/val_annotations_vqa_format_first500.json")
    assert len(annotations) == 500
    oracle = OfficialVQAEval()
    ours, theirs = [], []
    for i, ann in enumerate(annotations):
        answers = _answers(ann)
        prediction = [
            answers[0],
            answers[1].upper(),
            "certainly not this",
            f"The {answers[2]}!\n",
        ][i % 4]
        ours.append(vqa_accuracy(prediction, answers, mode="official"))
        official_answers = [{"answer": a, "answer_id": i + 1} for i, a in enumerate(answers)]
        theirs.append(oracle.question_accuracy(official_answers, prediction))
    assert ours == pytest.approx(theirs)
    assert 0 < sum(ours) < len(ours)  # the mix neither all hits nor all misses


# --------------------------------------------------------------------------------------------
# Captioning


def _require_java() -> None:
    if shutil.which("java") is None:
        pytest.fail(
            "java is not on PATH: the caption metrics (PTB tokenizer, METEOR) need a Java runtime; "
            "install one (e.g. apt-get install openjdk-17-jre-headless)"
        )


def _caption_json(name: str) -> Any:
    return json.loads((REFERENCE / "captions" / name).read_text())


@pytest.fixture(scope="module")
def caption_scores() -> dict[str, CaptionScores]:
    """Both prediction sets of the published example, scored once (METEOR starts in seconds)."""
    _require_java()
    refs = _caption_json("refs.json")
    return {
        kind: score_captions(_caption_json(f"{kind}_captions.json"), refs)
        for kind in ("good", "bad")
    }


@pytest.mark.parametrize(("kind", "expected"), PUBLISHED_CAPTION_SCORES.items())
def test_published_caption_scores(
    caption_scores: dict[str, CaptionScores], kind: str, expected: dict[str, float]
) -> None:
    scores = caption_scores[kind]
    assert list(scores.metrics) == METRIC_NAMES
    assert {name: round(value, 4) for name, value in scores.metrics.items()} == expected


def test_per_image_scores_and_skipped(caption_scores: dict[str, CaptionScores]) -> None:
    for scores in caption_scores.values():
        assert list(scores.per_image) == ["image1", "image2"]
        for per_metric in scores.per_image.values():
            assert list(per_metric) == METRIC_NAMES
            assert all(isinstance(value, float) for value in per_metric.values())
        # pycocoevalcap scores ROUGE-L and CIDEr-D as the mean over images.
        for name in ("ROUGE-L", "CIDEr"):
            per_image = [per_metric[name] for per_metric in scores.per_image.values()]
            assert scores.metrics[name] == pytest.approx(sum(per_image) / len(per_image))
        assert "3.6.0" in scores.skipped["SPICE"]
        assert set(scores.skipped) == {"SPICE"}


def _java_children() -> list[str]:
    """Process ids of this process's children running java, zombies included (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
        except (OSError, IndexError):
            continue
        if name == "java" and int(fields[1].split()[1]) == os.getpid():
            found.append(stat.parent.name)
    return found


def test_no_jvm_left_behind(caption_scores: dict[str, CaptionScores]) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux /proc to list child processes")
    assert caption_scores  # both sets were scored by now
    assert _java_children() == []


class _FailingMeteor:
    """Stands in for METEOR: a cheap child process, and a compute_score failing with the lock
    held, as pycocoevalcap's does when its JVM dies."""

    instance: _FailingMeteor

    def __init__(self) -> None:
        self.meteor_p = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lock = threading.Lock()
        _FailingMeteor.instance = self

    def compute_score(self, gts: object, res: object) -> None:
        self.lock.acquire()
        raise ValueError("could not convert string to float: b''")


def test_meteor_process_is_stopped_after_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    _require_java()
    monkeypatch.setattr(_caption, "Meteor", _FailingMeteor)
    with pytest.raises(ValueError, match="could not convert"):
        score_captions({"a": "a cat"}, {"a": ["a cat sits"]})
    meteor = _FailingMeteor.instance
    assert meteor.meteor_p.returncode is not None
    assert not meteor.lock.locked()


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_caption.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="java was not found on PATH"):
        score_captions({"a": "a cat"}, {"a": ["a cat sits"]})


@pytest.mark.parametrize(
    ("predictions", "references", "message"),
    [
        ({}, {}, "no predictions"),
        ({"a": "x", "b": "y"}, {"a": ["x"]}, r"predictions without references: 1 id\(s\): 'b'"),
        ({"a": "x"}, {"a": ["x"], "c": ["z"]}, r"references without predictions: 1 id\(s\): 'c'"),
        ({"a": 3}, {"a": ["x"]}, "prediction for image 'a' is not a string"),
        ({"a": "x"}, {"a": []}, "image 'a' has no reference"),
        ({"a": "x"}, {"a": "x y"}, "must be a list of strings"),
        ({"a": "x"}, {"a": ["x", None]}, "reference 1 of image 'a' is not a string"),
    ],
)
def test_caption_validation(predictions: Any, references: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_captions(predictions, references)


def test_many_missing_ids_are_summarised() -> None:
    predictions = {f"img{i}": "x" for i in range(8)}
    with pytest.raises(ValueError, match=r"8 id\(s\): 'img0', .*'img4', \.\.\.$"):
        score_captions(predictions, {})
