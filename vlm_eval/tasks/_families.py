"""Shared behaviour of the two task families: visual question answering and captioning."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import DatasetRow, Sample, read_predictions
from vlm_eval.metrics import (
    CORPUS_MEAN_METRICS,
    VQA_METRIC_REVISION,
    VQAMode,
    score_captions,
    summarize_vqa_samples,
    vqa_accuracy,
)
from vlm_eval.tasks._prompt import GenerationSettings, Prompt
from vlm_eval.tasks._task import Task, TaskScores

if TYPE_CHECKING:  # protocols build prompts from vlm_eval.tasks: imported when first used
    from vlm_eval.protocols import Protocol, TaskKind
    from vlm_eval.tasks._document import DocumentQATask


class VQATask(Task):
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
        _use_protocol(self, protocol)

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

    def submission_entry(self, sample: Sample, prediction: str) -> dict[str, Any]:
        """``{"question_id", "answer"}``, the EvalAI results format of the VQA challenges."""
        return _official_entry(self, sample, prediction)

    def read_predictions(self, path: Path) -> dict[str, str]:
        """An EvalAI results file, ``[{"question_id": int, "answer": str}]``."""
        return read_predictions(path, *self.prediction_fields)

    def prompt(self, sample: Sample, shots: Sequence[Sample], *, text_only: bool = False) -> Prompt:
        """The protocol's prompt; ``text_only``: the demonstrations without their images."""
        return _protocol_prompt(self, sample, shots, text_only)

    def postprocess(self, text: str) -> str:
        return self.prompting.cut(self.kind, text, self)

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

    def protocol(self) -> dict[str, Any]:
        return {"protocol": self.prompting.describe(self.kind, self)}

    def scoring_protocol(self) -> dict[str, Any]:
        return {"vqa_mode": self.vqa_mode, "vqa_metric": VQA_METRIC_REVISION}


def _official_entry(task: Task, sample: Sample, prediction: str) -> dict[str, Any]:
    """An entry of an official results file: the sample id as the official files spell it (an
    integer where it is one) and the prediction, under ``task.prediction_fields``."""
    id_field, text_field = task.prediction_fields
    return {id_field: int(sample.id) if sample.id.isdigit() else sample.id, text_field: prediction}


def _use_protocol(task: VQATask | CaptionTask | DocumentQATask, name: str) -> None:
    """Make ``task`` ask and read answers as the protocol ``name`` says.

    Raises:
        ArgumentsError: For an unknown protocol (a bad ``--task-args`` value), or one without
            a prompt for the task's kind.
    """
    from vlm_eval.protocols import get_protocol

    try:
        task.prompting = get_protocol(name)
    except ValueError as error:
        raise ArgumentsError(f"task {task.name!r}: {error}") from None
    if not task.prompting.supports(task.kind):
        raise ArgumentsError(
            f"task {task.name!r}: protocol {task.prompting.name!r} has no {task.kind} prompt; "
            "give the task another protocol (vlm-eval list protocols)"
        )
    task.generation = task.prompting.generation(task.kind, task)
    task.fewshot_support_size = task.prompting.support_size
    task.zero_shot_text_shots = task.prompting.zero_shot_text_shots


def _protocol_prompt(
    task: VQATask | CaptionTask | DocumentQATask,
    sample: Sample,
    shots: Sequence[Sample],
    text_only: bool,
) -> Prompt:
    """``task``'s prompt for ``sample`` after ``shots`` (without their images if
    ``text_only``), as its protocol builds it."""
    from vlm_eval.protocols import Example

    protocol = task.prompting
    examples = [
        Example(
            None if text_only else shot.image,
            shot.question or "",
            protocol.demonstration(task.kind, shot),
        )
        for shot in shots
    ]
    return protocol.prompt(task.kind, Example(sample.image, sample.question or ""), examples, task)


class CaptionTask(Task):
    """A COCO-style captioning task scored with BLEU, METEOR, ROUGE-L and CIDEr (main metric)."""

    main_metric: ClassVar[str] = "CIDEr"
    sample_score_scale: ClassVar[float | None] = 100.0
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=64, stop=("\n",))
    instruction: ClassVar[str] = "Provide a one-sentence caption for the provided image."
    row_id_field: ClassVar[str | None] = "id"
    prediction_fields: ClassVar[tuple[str, str]] = ("image_id", "caption")
    kind: ClassVar[TaskKind] = "caption"
    prompting: Protocol

    def __init__(self, *, protocol: str = "chat") -> None:
        _use_protocol(self, protocol)

    def submission_entry(self, sample: Sample, prediction: str) -> dict[str, Any]:
        """``{"image_id", "caption"}``, the COCO caption evaluation server's results format."""
        return _official_entry(self, sample, prediction)

    def read_predictions(self, path: Path) -> dict[str, str]:
        """A COCO caption results file, ``[{"image_id": int, "caption": str}]``."""
        return read_predictions(path, *self.prediction_fields)

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row of the lmms-lab COCO-Caption schema: ``id`` (the COCO image id), ``image`` and
        ``answer``, the image's captions (stripped, as the official loaders strip them)."""
        return Sample(
            id=row.id,
            image=row.image(row.id),
            references=tuple(caption.strip() for caption in row.strings("answer")),
            metadata={"image_id": row.id},
        )

    def prompt(self, sample: Sample, shots: Sequence[Sample], *, text_only: bool = False) -> Prompt:
        """The protocol's prompt; ``text_only``: the demonstrations without their images."""
        return _protocol_prompt(self, sample, shots, text_only)

    def postprocess(self, text: str) -> str:
        return self.prompting.cut(self.kind, text, self)

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
        return {
            "protocol": self.prompting.describe(self.kind, self),
            "metric_scale": "x100 (CIDEr 116.0 = 1.160)",
        }
