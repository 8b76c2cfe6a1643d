"""Scoring official results files without a model (``vlm-eval score``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlm_eval.data import DataFormatError, Sample, load_coco_captions, load_vqa, read_predictions
from vlm_eval.metrics._caption import score_captions
from vlm_eval.metrics._vqa import VQAMode, summarize_vqa, vqa_accuracy

VQA_BREAKDOWNS = ("answer_type", "question_type")


def summarize_vqa_samples(
    samples: Sequence[Sample], accuracies: Sequence[float]
) -> tuple[float, dict[str, dict[str, float]]]:
    """``summarize_vqa`` with the official breakdowns read from the samples' metadata."""
    groups = {key: [sample.metadata.get(key) for sample in samples] for key in VQA_BREAKDOWNS}
    return summarize_vqa(accuracies, groups)


def _match(samples: list[Sample], predictions: dict[str, str], file: Path, id_field: str) -> None:
    """Every annotated id is predicted, and nothing else (as the official tools demand)."""
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


def score_vqa_predictions(
    questions_file: Path, annotations_file: Path, predictions_file: Path, *, mode: VQAMode
) -> dict[str, Any]:
    """VQA accuracy of an official results file ``[{"question_id", "answer"}]``.

    Returns:
        ``metrics`` (``accuracy``, percent), ``breakdowns`` (per ``answer_type`` and
        ``question_type``), the question count and the settings used.
    """
    samples = load_vqa(questions_file, annotations_file, Path(), "{image_id}")
    predictions = read_predictions(predictions_file, "question_id", "answer")
    _match(samples, predictions, predictions_file, "question_id")
    accuracies = [vqa_accuracy(predictions[s.id], s.references, mode=mode) for s in samples]
    groups = {
        key: [s.metadata.get(key) for s in samples] for key in ("answer_type", "question_type")
    }
    overall, breakdowns = summarize_vqa(accuracies, groups)
    return {
        "metrics": {"accuracy": overall},
        "breakdowns": breakdowns,
        "questions": len(samples),
        "mode": mode,
    }


def score_caption_predictions(annotations_file: Path, predictions_file: Path) -> dict[str, Any]:
    """COCO caption metrics (x100) of an official results file ``[{"image_id", "caption"}]``
    against a ``captions_*.json`` annotations file."""
    samples = load_coco_captions(annotations_file, Path())
    predictions = read_predictions(predictions_file, "image_id", "caption")
    _match(samples, predictions, predictions_file, "image_id")
    result = score_captions(predictions, {sample.id: sample.references for sample in samples})
    return {
        "metrics": {name: 100.0 * value for name, value in result.metrics.items()},
        "breakdowns": {},
        "images": len(samples),
        "skipped": result.skipped,
    }
