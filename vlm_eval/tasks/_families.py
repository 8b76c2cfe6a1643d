"""Shared behaviour of the two task families: visual question answering and captioning."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval.data import DatasetRow, Sample, read_predictions
from vlm_eval.metrics import (
    CORPUS_MEAN_METRICS,
    VQA_METRIC_REVISION,
    VQAMode,
    score_captions,
    summarize_vqa_samples,
    vqa_accuracy,
)
from vlm_eval.tasks._prompt import GenerationSettings
from vlm_eval.tasks._protocol_task import ProtocolTask
from vlm_eval.tasks._task import TaskScores

if TYPE_CHECKING:  # protocols build prompts from vlm_eval.tasks: imported when first used
    from vlm_eval.protocols import Protocol, TaskKind


class VQATask(ProtocolTask):
    """A VQA-accuracy task (VQAv2, OK-VQA, TextVQA): subclasses only say how to load data.

    Zero-shot prompt: the lmms-eval style instruction for instruction-tuned models. Few-shot
    demonstrations are earlier user/assistant turns answered with the most common human answer.

    Option ``vqa_mode``: ``normalized`` (default: answers always normalized) or ``official``
    (the 2021 ``vqaEval.py`` exactly); see ``vlm_eval.metrics.vqa_accuracy``.

    ``datasets`` rows follow the lmms-lab schema (VQAv2, OK-VQA, TextVQA): see
    ``sample_from_row``.
    """

    main_metric: ClassVar[str] = "accuracy"
    sample_score_scale: ClassVar[float | None] = 100.0
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=16, stop=("\n",))
    question_template: ClassVar[str] = (
        "{question}\nAnswer the question using a single word or phrase."
    )
    row_id_field: ClassVar[str | None] = "question_id"
    prediction_fields: ClassVar[tuple[str, str]] = ("question_id", "answer")
    prediction_ids: ClassVar[tuple[type, ...]] = (int,)
    """The JSON types of the ids in a results file: integers (question ids) unless the format
    names questions otherwise (VizWiz: image file names)."""
    row_metadata: ClassVar[tuple[str, ...]] = (
        "answer_type",
        "question_type",
        "multiple_choice_answer",
    )
    """String columns kept in a row's sample metadata when present, as the official loader keeps
    them."""

    kind: ClassVar[TaskKind] = "vqa"
    prompting: Protocol

    def __init__(self, *, vqa_mode: VQAMode = "normalized", protocol: str = "chat") -> None:
        self.vqa_mode = vqa_mode
        self.use_protocol(protocol)

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row with ``question_id``, ``question``, ``image``, ``answers`` (strings, or objects
        with an ``answer`` string; absent or null on test splits: no references), ``image_id``
        (optional: without it each question's image is its own) and the ``row_metadata``
        columns."""
        image_id = str(row.get("image_id", int, str)) if "image_id" in row.data else None
        metadata = {} if image_id is None else {"image_id": image_id}
        answers = row.data.get("answers")
        objects = isinstance(answers, list) and bool(answers) and isinstance(answers[0], dict)
        references = (
            () if answers is None else row.strings("answers", "answer" if objects else None)
        )
        return Sample(
            id=row.id,
            image=row.image(f"question {row.id}" if image_id is None else image_id),
            references=references,
            question=row.get("question", str),
            metadata=metadata | row.string_fields([], self.row_metadata),
        )

    def read_predictions(self, path: Path) -> dict[str, str]:
        """An EvalAI results file, ``[{"question_id": int, "answer": str}]`` (under the
        ``prediction_fields``, ids of ``prediction_ids``)."""
        return read_predictions(path, *self.prediction_fields, id_kinds=self.prediction_ids)

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        return {"accuracy": vqa_accuracy(prediction, sample.references, mode=self.vqa_mode)}

    def aggregate(
        self,
        samples: Sequence[Sample],
        predictions: Sequence[str],
        scores: Sequence[dict[str, float]],
    ) -> TaskScores:
        accuracies = [score["accuracy"] for score in scores]
        overall, breakdowns = summarize_vqa_samples(samples, accuracies)
        return TaskScores(metrics={"accuracy": overall}, breakdowns=breakdowns)

    def scoring_protocol(self) -> dict[str, Any]:
        return {"vqa_mode": self.vqa_mode, "vqa_metric": VQA_METRIC_REVISION}


class CaptionTask(ProtocolTask):
    """A COCO-style captioning task scored with BLEU, METEOR, ROUGE-L and CIDEr (main metric)."""

    main_metric: ClassVar[str] = "CIDEr"
    sample_score_scale: ClassVar[float | None] = 100.0
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=64, stop=("\n",))
    instruction: ClassVar[str] = "Provide a one-sentence caption for the provided image."
    row_id_field: ClassVar[str | None] = "id"
    caption_column: ClassVar[str] = "answer"
    """The column of a row's reference captions (lmms-lab/flickr30k: ``caption``)."""
    prediction_fields: ClassVar[tuple[str, str]] = ("image_id", "caption")
    kind: ClassVar[TaskKind] = "caption"
    prompting: Protocol

    def __init__(self, *, protocol: str = "chat") -> None:
        self.use_protocol(protocol)

    def read_predictions(self, path: Path) -> dict[str, str]:
        """A COCO caption results file, ``[{"image_id": int, "caption": str}]``."""
        return read_predictions(path, *self.prediction_fields)

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row of the lmms-lab COCO-Caption schema: ``id`` (the COCO image id; the
        ``row_id_field``), ``image`` and ``answer`` (the ``caption_column``), the image's
        captions (stripped, as the official loaders strip them)."""
        return Sample(
            id=row.id,
            image=row.image(row.id),
            references=tuple(caption.strip() for caption in row.strings(self.caption_column)),
            metadata={"image_id": row.id},
        )

    def aggregate(
        self,
        samples: Sequence[Sample],
        predictions: Sequence[str],
        scores: Sequence[dict[str, float]],
    ) -> TaskScores:
        result = score_captions(
            {
                sample.id: prediction
                for sample, prediction in zip(samples, predictions, strict=True)
            },
            {sample.id: sample.references for sample in samples},
        )
        return TaskScores(
            metrics={name: 100.0 * value for name, value in result.metrics.items()},
            notes={f"{metric} skipped": reason for metric, reason in result.skipped.items()},
            sample_scores=[
                {
                    metric: value
                    for metric, value in result.per_image[sample.id].items()
                    if metric in CORPUS_MEAN_METRICS
                }
                for sample in samples
            ],
        )

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "metric_scale": "x100 (CIDEr 116.0 = 1.160)"}
