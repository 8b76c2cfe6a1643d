"""Scoring official results files without a model (``vlm-eval score``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlm_eval.data import DataFormatError, Sample, load_coco_captions, load_vqa, read_predictions
from vlm_eval.metrics._caption import score_captions
from vlm_eval.metrics._stemming import OKVQA_STEMMING, stem_okvqa_answer
from vlm_eval.metrics._vqa import VQA_METRIC_REVISION, VQAMode, summarize_vqa, vqa_accuracy

VQA_BREAKDOWNS = ("answer_type", "question_type")


def summarize_vqa_samples(
    samples: Sequence[Sample], accuracies: Sequence[float]
) -> tuple[float, dict[str, dict[str, float]]]:
    """``summarize_vqa`` with the official breakdowns read from the samples' metadata."""
    groups = {key: [sample.metadata.get(key) for sample in samples] for key in VQA_BREAKDOWNS}
    return summarize_vqa(accuracies, groups)


def match_predictions(
    samples: Sequence[Sample], predictions: Mapping[str, str], file: Path, id_field: str
) -> None:
    """Every annotated id is predicted, and nothing else (as the official tools demand).

    Raises:
        DataFormatError: Naming ``file``, the first id missing or not annotated, and ``id_field``.
    """
    annotated = {sample.id for sample in samples}
    missing = [sample.id for sample in samples if sample.id not in predictions]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        problem = f"no prediction for {len(missing)} annotated id(s): {shown}"
        raise DataFormatError(file, missing[0], id_field, problem)
    unknown = [key for key in predictions if key not in annotated]
    if unknown:
        problem = f"{len(unknown)} predicted id(s) are not in the annotations"
        raise DataFormatError(file, unknown[0], id_field, problem)


def score_vqa_samples(
    samples: Sequence[Sample],
    predictions: Mapping[str, str],
    *,
    mode: VQAMode,
    stem_answers: bool = False,
) -> dict[str, Any]:
    """VQA accuracy of one predicted answer per sample, with the official breakdowns.

    Args:
        samples: Questions with their human answers (``references``) and, in the metadata,
            ``answer_type`` / ``question_type`` for the breakdowns.
        predictions: The predicted answer of every sample, by sample id.
        mode: How answers are normalized (see ``vqa_accuracy``).
        stem_answers: Stem each predicted answer first (OK-VQA; see ``stem_okvqa_answer``).

    Returns:
        ``metrics`` (``accuracy``, percent), ``breakdowns`` (per ``answer_type`` and
        ``question_type``), ``per_question`` (sample id -> percent, unrounded), the question
        count and the settings used.
    """
    answers = [predictions[s.id] for s in samples]
    if stem_answers:
        answers = [stem_okvqa_answer(answer) for answer in answers]
    accuracies = [
        vqa_accuracy(answer, s.references, mode=mode)
        for answer, s in zip(answers, samples, strict=True)
    ]
    overall, breakdowns = summarize_vqa_samples(samples, accuracies)
    return {
        "metrics": {"accuracy": overall},
        "breakdowns": breakdowns,
        "per_question": {s.id: 100.0 * a for s, a in zip(samples, accuracies, strict=True)},
        "questions": len(samples),
        "mode": mode,
        "vqa_metric": VQA_METRIC_REVISION,
        **({"answer_stemming": OKVQA_STEMMING} if stem_answers else {}),
    }


def score_vqa_predictions(
    questions_file: Path,
    annotations_file: Path,
    predictions_file: Path,
    *,
    mode: VQAMode,
    stem_answers: bool = False,
    answer_field: str = "answer",
) -> dict[str, Any]:
    """VQA accuracy of an official results file ``[{"question_id", "answer"}]`` against the
    ``answer_field`` of each human answer (OK-VQA v1.1: ``answer``, stemmed, or ``raw_answer``).

    The files are validated first (`DataFormatError` naming the file, question id and field),
    then scored by `score_vqa_samples`, whose result this is.
    """
    samples = load_vqa(
        questions_file, annotations_file, Path(), "{image_id}", answer_field=answer_field
    )
    predictions = read_predictions(predictions_file, "question_id", "answer")
    match_predictions(samples, predictions, predictions_file, "question_id")
    return score_vqa_samples(samples, predictions, mode=mode, stem_answers=stem_answers)


def score_caption_predictions(annotations_file: Path, predictions_file: Path) -> dict[str, Any]:
    """COCO caption metrics (x100) of an official results file ``[{"image_id", "caption"}]``
    against a ``captions_*.json`` annotations file."""
    samples = load_coco_captions(annotations_file, Path())
    predictions = read_predictions(predictions_file, "image_id", "caption")
    match_predictions(samples, predictions, predictions_file, "image_id")
    result = score_captions(predictions, {sample.id: sample.references for sample in samples})
    return {
        "metrics": {name: 100.0 * value for name, value in result.metrics.items()},
        "breakdowns": {},
        "images": len(samples),
        "skipped": result.skipped,
    }
