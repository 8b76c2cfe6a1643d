"""The task plugin contract: data, prompt, post-processing, scoring and aggregation in one class."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from vlm_eval.data import DatasetRow, Sample, read_predictions
from vlm_eval.tasks._prompt import GenerationSettings, Prompt


@dataclass(frozen=True, slots=True)
class TaskScores:
    """A task's aggregate scores.

    Attributes:
        metrics: Metric name -> value on the scale papers report (VQA accuracy and caption
            metrics in 0-100).
        breakdowns: Breakdown name (``answer_type``, ...) -> group -> value of the main metric.
        notes: Remarks shown beside the scores (a metric skipped, and why).
        sample_scores: Per-sample scores that only the whole set can give (per-image CIDEr-D
            needs the corpus' document frequencies), in the order of ``aggregate``'s samples;
            the runner adds them to the samples' records, not to the results.
    """

    metrics: dict[str, float]
    breakdowns: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    sample_scores: list[dict[str, float]] | None = None


class Task(ABC):
    """Base class of task plugins; subclass it and decorate with ``@register_task``.

    A task reads its data (official files with ``load``; the rows of a ``datasets`` split, from
    the hub, a ``save_to_disk`` folder or parquet files, with ``sample_from_row``), builds a
    model-independent prompt for each sample (with optional few-shot demonstrations), cleans the
    generated text and scores it.

    Class attributes every task declares:
        name: Registry name used on the command line.
        version: Bumped whenever data handling, prompt or scoring changes results.
        main_metric: Key of ``TaskScores.metrics`` shown in summary tables.
        generation: Generation settings (max new tokens, stop strings); an instance may set
            its own (its protocol's).
        eval_split: Split evaluated by default (official split name).
        fewshot_split: Split few-shot demonstrations are drawn from.
        hub_dataset: Hugging Face dataset id of the benchmark: the default source of its data.
        hub_config: The configuration (subset) of ``hub_dataset`` holding the benchmark, for a
            dataset that has several (lmms-lab/DocVQA: ``DocVQA``, ``InfographicVQA``).
        hub_eval_split, hub_fewshot_split: The splits of ``hub_dataset`` (and of local copies
            of it) read by default for evaluation and for few-shot demonstrations; ``None``
            where it has no such split.
        official_files: Whether the benchmark has official files besides its ``datasets``
            dataset, which ``load`` reads; ``False`` for one published only as a dataset
            (MMMU), whose ``load`` says where its data comes from.
        row_id_field: The column of unique row ids, named in errors; ``None``: row indices.
        image_column: The column of images in a ``datasets`` split.
        more_image_columns: Further image columns, for questions that show several images
            (``DatasetRow.image`` reads them).
        data_folder: Sub-folder of the data directory holding the task's files; defaults to
            ``name`` (set it to share another task's files, as variants of a benchmark do).
        fewshot_support_size: Demonstrations are drawn from a fixed random subset of this many
            examples of the few-shot split (seeded with ``--seed``); ``None``: from all of it.
        zero_shot_text_shots: Zero-shot prompts still show this many demonstrations, as text
            only: the runner draws them and passes ``prompt(..., text_only=True)``.
        sample_score_scale: The main metric is this times the mean of the samples' scores
            under ``main_metric`` (from ``score`` or ``TaskScores.sample_scores``); reports
            then give it a bootstrap confidence interval and paired tests. ``None`` (the
            default): the main metric is not such a mean (corpus BLEU, say).
        prediction_fields: The keys of a sample's id and of its prediction in an entry of the
            task's results file (``submission_entry``, ``read_predictions``).
        submission_suffix: The file suffix of ``submission_file``'s format.

    Per-run options (``--task-args``) are keyword-only ``__init__`` parameters with type hints
    and defaults; record them in ``protocol`` or ``scoring_protocol``.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    main_metric: ClassVar[str]
    generation: GenerationSettings
    eval_split: ClassVar[str]
    fewshot_split: ClassVar[str]
    hub_dataset: ClassVar[str | None] = None
    hub_config: ClassVar[str | None] = None
    hub_eval_split: ClassVar[str | None] = None
    hub_fewshot_split: ClassVar[str | None] = None
    official_files: ClassVar[bool] = True
    row_id_field: ClassVar[str | None] = None
    image_column: ClassVar[str] = "image"
    more_image_columns: ClassVar[tuple[str, ...]] = ()
    data_folder: ClassVar[str | None] = None
    sample_score_scale: ClassVar[float | None] = None
    prediction_fields: ClassVar[tuple[str, str]] = ("id", "prediction")
    submission_suffix: ClassVar[str] = ".json"
    fewshot_support_size: int | None = None
    zero_shot_text_shots: int = 0

    def data_path(self, data_dir: Path) -> Path:
        """The folder of this task's files inside ``data_dir``."""
        return data_dir / (self.data_folder or self.name)

    @abstractmethod
    def load(self, data_dir: Path, split: str) -> list[Sample]:
        """Read ``split`` from ``data_dir``, a folder holding the official files of this task."""

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """The sample of one row of a ``datasets`` split (hub, disk and parquet sources).

        Read fields with ``row.get``, ``row.strings`` and ``row.string_fields`` (they raise
        errors naming the dataset, split, row and field) and the image with ``row.image``. A task
        that does not override this reads only official files.
        """
        raise NotImplementedError(f"task {self.name!r} reads only official files")

    def expand(self, samples: list[Sample]) -> list[Sample]:
        """The samples evaluated, from those ``load`` or ``sample_from_row`` read: the same by
        default; a family may ask each question several times (multiple choice's circular
        evaluation, one sample per rotation of the options)."""
        return samples

    @property
    def reads_rows(self) -> bool:
        """Whether the task reads ``datasets`` sources (it overrides ``sample_from_row``)."""
        return type(self).sample_from_row is not Task.sample_from_row

    @abstractmethod
    def prompt(self, sample: Sample, shots: Sequence[Sample], *, text_only: bool = False) -> Prompt:
        """The conversation asking about ``sample``, after one demonstration per shot (without
        their images if ``text_only``: only asked of tasks with ``zero_shot_text_shots``)."""

    def postprocess(self, text: str) -> str:
        """The answer inside the generated ``text``: cut at the first stop string, stripped."""
        for stop in self.generation.stop:
            text = text.split(stop, 1)[0]
        return text.strip()

    def submission_entry(self, sample: Sample, prediction: str) -> dict[str, Any]:
        """One entry of the results file an evaluation server takes, for splits without
        references (the run writes these instead of scoring): the ``prediction_fields``."""
        id_field, text_field = self.prediction_fields
        return {id_field: sample.id, text_field: prediction}

    def submission_file(self, samples: Sequence[Sample], predictions: Sequence[str]) -> bytes:
        """The results file an evaluation server takes for a split without references, which
        the run writes as ``submission_<task>_<split><submission_suffix>``: by default a JSON
        list of ``submission_entry``'s entries. Override it (and ``submission_suffix``) for
        another format."""
        entries = [
            self.submission_entry(sample, prediction)
            for sample, prediction in zip(samples, predictions, strict=True)
        ]
        return (json.dumps(entries) + "\n").encode()

    def read_predictions(self, path: Path) -> dict[str, str]:
        """The predictions of a results file in the task's format (a JSON list of
        ``submission_entry``'s entries; ids integers or strings), by sample id, for
        ``vlm-eval score``. Override it for another format.

        Raises:
            DataFormatError: Naming the file, the entry and the field of what does not fit.
        """
        return read_predictions(path, *self.prediction_fields, id_kinds=(int, str))

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        """Per-sample scores; empty for corpus-level metrics computed in ``aggregate``."""
        return {}

    @abstractmethod
    def aggregate(
        self,
        samples: Sequence[Sample],
        predictions: Sequence[str],
        scores: Sequence[dict[str, float]],
    ) -> TaskScores:
        """Task-level scores from every sample's prediction and per-sample scores."""

    def describe(self) -> dict[str, Any]:
        """Everything about the task that a result depends on, for provenance."""
        return {
            "name": self.name,
            "version": self.version,
            "main_metric": self.main_metric,
            "generation": asdict(self.generation),
            "eval_split": self.eval_split,
            "fewshot_split": self.fewshot_split,
            "hub_dataset": self.hub_dataset,
            **self.protocol(),
            "sample_score_scale": self.sample_score_scale,
            "scoring": self.scoring_protocol(),
        }

    def protocol(self) -> dict[str, Any]:
        """Task-specific choices that shape what the model is asked (prompt templates)."""
        return {}

    def scoring_protocol(self) -> dict[str, Any]:
        """Choices that only change post-processing and scoring (metric modes, stemming).

        Changing them re-scores predictions a run folder already holds instead of generating
        them again.
        """
        return {}
