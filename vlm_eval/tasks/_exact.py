"""The exact-match family: short answers with one reference each (GQA), scored 1 or 0."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval.data import Sample, read_predictions
from vlm_eval.metrics import EXACT_MATCH_SOURCES, ExactMatchMode, exact_match, summarize_vqa
from vlm_eval.tasks._prompt import GenerationSettings
from vlm_eval.tasks._protocol_task import ProtocolTask
from vlm_eval.tasks._task import Task, TaskScores

if TYPE_CHECKING:  # protocols build prompts from vlm_eval.tasks: imported when first used
    from vlm_eval.protocols import Protocol, TaskKind


class ExactMatchTask(ProtocolTask):
    """A short-answer task whose questions have one reference answer (GQA): subclasses say how
    to load data.

    Asked as VQA tasks are, through the protocol's VQA prompt (``chat``: the lmms-eval style
    short-answer instruction, as lmms-eval's GQA config asks), answers cut as VQA answers.
    Scored with exact-match accuracy (``vlm_eval.metrics.exact_match``), 0-100, overall and per
    group of each metadata field in ``breakdown_fields``. VQA accuracy would not do: with one
    reference its ``min(1, matches / 3)`` caps every question at 1/3.

    Option ``match``: ``normalized`` (default: case and ASCII punctuation ignored, as lmms-eval
    scores GQA) or ``official`` (the strings as they are, as GQA's ``eval.py``).

    Sample ids are kept as the loader names them (strings): results files name questions by
    ``prediction_fields``, ids as strings (GQA's question ids may start with ``0``).
    """

    main_metric: ClassVar[str] = "accuracy"
    sample_score_scale: ClassVar[float | None] = 100.0
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=16, stop=("\n",))
    question_template: ClassVar[str] = (
        "{question}\nAnswer the question using a single word or phrase."
    )
    prediction_fields: ClassVar[tuple[str, str]] = ("question_id", "answer")
    breakdown_fields: ClassVar[tuple[str, ...]] = ()
    """Metadata fields whose groups the accuracy is broken down by (GQA: its structural and
    semantic question types)."""
    kind: ClassVar[TaskKind] = "vqa"
    prompting: Protocol

    def __init__(self, *, match: ExactMatchMode = "normalized", protocol: str = "chat") -> None:
        self.match = match
        self.use_protocol(protocol)

    def submission_entry(self, sample: Sample, prediction: str) -> dict[str, Any]:
        """The sample's id as it is (a string, not made an integer as ``ProtocolTask`` makes
        one of digits) and the prediction, under ``prediction_fields``."""
        return Task.submission_entry(self, sample, prediction)

    def read_predictions(self, path: Path) -> dict[str, str]:
        """A results file of ``submission_entry``'s entries (ids strings)."""
        return read_predictions(path, *self.prediction_fields, id_kinds=(str,))

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        return {"accuracy": exact_match(prediction, sample.references, mode=self.match)}

    def aggregate(
        self,
        samples: Sequence[Sample],
        predictions: Sequence[str],
        scores: Sequence[dict[str, float]],
    ) -> TaskScores:
        groups = {
            field: [sample.metadata.get(field) for sample in samples]
            for field in self.breakdown_fields
        }
        overall, breakdowns = summarize_vqa([score["accuracy"] for score in scores], groups)
        return TaskScores(metrics={"accuracy": overall}, breakdowns=breakdowns)

    def scoring_protocol(self) -> dict[str, Any]:
        return {"match": self.match, "match_code": EXACT_MATCH_SOURCES[self.match]}
