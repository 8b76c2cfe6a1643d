"""The document and chart QA family: short answers read off a page or a chart, scored with ANLS
or relaxed accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval.data import (
    QUESTION_TYPES_SEPARATOR,
    DatasetRow,
    Sample,
    docvqa_sample,
    read_predictions,
)
from vlm_eval.metrics import (
    DOCUMENT_METRIC_SOURCES,
    DocumentMetric,
    anls,
    relaxed_accuracy,
    summarize_vqa,
)
from vlm_eval.tasks._prompt import GenerationSettings
from vlm_eval.tasks._protocol_task import ProtocolTask
from vlm_eval.tasks._task import TaskScores

if TYPE_CHECKING:  # protocols build prompts from vlm_eval.tasks: imported when first used
    from vlm_eval.protocols import Protocol, TaskKind


class DocumentQATask(ProtocolTask):
    """A document or chart QA task (DocVQA, InfographicVQA, ChartQA): subclasses say how to load
    data.

    Asked as VQA tasks are, through the protocol's VQA prompt (``chat``: the lmms-eval style
    short-answer instruction, as lmms-eval's DocVQA config asks), answers cut as VQA answers.
    Every sample is scored with ANLS and with relaxed accuracy (``vlm_eval.metrics``: ``anls``,
    ``relaxed_accuracy``), both reported on the 0-100 scale; option ``metric`` (``anls`` by
    default, ``relaxed_accuracy`` for charts) says which is the main metric, broken down as
    ``breakdown_fields`` say (DocVQA: by ``question_types``). Test splits without answers are
    written as the official results file, ``[{"questionId": int, "answer": str}]``.

    ``datasets`` rows follow the lmms-lab/DocVQA schema: see ``sample_from_row``.
    """

    main_metric: ClassVar[str] = "anls"
    sample_score_scale: ClassVar[float | None] = 100.0
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=32, stop=("\n",))
    """32 new tokens: page answers (names, addresses) run longer than VQAv2's (lmms-eval's
    DocVQA config allows 128)."""
    question_template: ClassVar[str] = (
        "{question}\nAnswer the question using a single word or phrase."
    )
    breakdown_fields: ClassVar[dict[str, str]] = {"question_type": "question_types"}
    """Breakdown name -> the metadata key of a sample's groups in it (several joined with
    ``QUESTION_TYPES_SEPARATOR``: the sample counts in each); each gives the main metric per
    group."""
    row_id_field: ClassVar[str | None] = "questionId"
    prediction_fields: ClassVar[tuple[str, str]] = ("questionId", "answer")
    kind: ClassVar[TaskKind] = "vqa"
    prompting: Protocol

    def __init__(self, *, metric: DocumentMetric = "anls", protocol: str = "chat") -> None:
        self.metric = metric
        self.main_metric = metric  # the option chooses it for this run
        self.use_protocol(protocol)

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row with ``questionId``, ``question``, ``image``, ``answers`` (strings; absent,
        null or empty on test splits: no references) and optional ``docId`` (questions on one
        page share its image) and ``question_types``."""
        page = f"doc {row.get('docId', int, str)}" if "docId" in row.data else f"q {row.id}"
        return docvqa_sample(row, row.image(page), annotated=bool(row.data.get("answers")))

    def read_predictions(self, path: Path) -> dict[str, str]:
        """A DocVQA results file, ``[{"questionId": int, "answer": str}]``."""
        return read_predictions(path, *self.prediction_fields)

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        return {
            "anls": anls(prediction, sample.references),
            "relaxed_accuracy": relaxed_accuracy(prediction, sample.references),
        }

    def aggregate(
        self,
        samples: Sequence[Sample],
        predictions: Sequence[str],
        scores: Sequence[dict[str, float]],
    ) -> TaskScores:
        metrics = {
            name: 100.0 * sum(score[name] for score in scores) / len(scores)
            for name in DOCUMENT_METRIC_SOURCES
        }
        breakdowns: dict[str, dict[str, float]] = {}
        for breakdown, key in self.breakdown_fields.items():
            # A question counts in the group of each of its values.
            grouped = [
                (group, score[self.main_metric])
                for sample, score in zip(samples, scores, strict=True)
                for group in sample.metadata.get(key, "").split(QUESTION_TYPES_SEPARATOR)
                if group
            ]
            breakdowns |= summarize_vqa(
                [value for _, value in grouped], {breakdown: [group for group, _ in grouped]}
            )[1]
        return TaskScores(metrics=metrics, breakdowns=breakdowns)

    def scoring_protocol(self) -> dict[str, Any]:
        return {"metric": self.metric, "metric_code": DOCUMENT_METRIC_SOURCES}
