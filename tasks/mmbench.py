"""MMBench (Liu et al., 2023): multiple-choice perception and reasoning questions, circular
accuracy."""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from vlm_eval.data import DatasetRow, Sample, load_mmbench_tsv, mmbench_sample
from vlm_eval.data._mmbench import mmbench_submission_xlsx
from vlm_eval.metrics import OPTION_LETTERS
from vlm_eval.tasks import MultipleChoiceTask, register_task
from vlm_eval.tasks._choice import sample_options

COPY_OFFSET = 1_000_000
"""Official files hold circularly shifted copies of questions as rows ``index + k * 10**6``."""


@register_task
class MMBench(MultipleChoiceTask):
    """Reads the official ``MMBench_{split}.tsv`` (splits ``DEV_EN``, ``TEST_EN``; images
    base64 in the file), or rows of lmms-lab/MMBench, configuration ``en`` (splits ``dev``,
    ``test``). The test split has no answers: the run writes the ``.xlsx`` workbook the
    official server takes instead of scores (``submission_file``).

    ``circular`` is on by default, as MMBench's official protocol (CircularEval): each question
    once per rotation of its options, right only if every rotation is; the headline metric is
    ``circular_accuracy``, ``accuracy`` the per-sample ("vanilla") one. Rows at or past
    ``COPY_OFFSET`` (the official files' shifted copies) are dropped: ``circular`` asks the same
    rotations itself, and without it only the original questions count, as VLMEvalKit's
    vanilla score. There is no train split: few-shot demonstrations come from ``dev``.
    Breakdowns: ``category`` and ``l2-category``.
    """

    name = "mmbench"
    version = "1.0"
    eval_split = "DEV_EN"
    fewshot_split = "DEV_EN"
    hub_dataset = "lmms-lab/MMBench"
    hub_config = "en"
    hub_eval_split = "dev"
    hub_fewshot_split = "dev"
    row_id_field = "index"
    breakdown_fields = ("category", "l2-category")

    def __init__(self, *, circular: bool = True, protocol: str = "chat") -> None:
        super().__init__(circular=circular, protocol=protocol)

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_mmbench_tsv(data_dir / f"MMBench_{split}.tsv")

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row of lmms-lab/MMBench: the TSV's columns, the image decoded (``L2-category``)."""
        return mmbench_sample(row, row.image(row.id))

    submission_suffix = ".xlsx"

    def expand(self, samples: list[Sample]) -> list[Sample]:
        """The questions as asked; metadata ``question`` keeps the bare question (for the
        submission file)."""
        kept = [replace(s, metadata=s.metadata | {"question": s.question or ""}) for s in samples]
        return super().expand([s for s in kept if int(s.id) < COPY_OFFSET])

    def submission_file(self, samples: Sequence[Sample], predictions: Sequence[str]) -> bytes:
        """The official server's workbook (``mmbench_submission_xlsx``): a row per question as
        asked, with the options in the order asked; the rotations of ``circular`` at the rows
        of the official shifted copies, ``index + rotation * COPY_OFFSET``."""
        rows = []
        for sample, prediction in zip(samples, predictions, strict=True):
            metadata = sample.metadata
            letters = OPTION_LETTERS[: len(sample_options(sample))]
            rows.append(
                {
                    "index": int(metadata["question_id"]) + int(metadata["rotation"]) * COPY_OFFSET,
                    "question": metadata["question"],
                    "hint": metadata.get("hint", ""),
                    **{letter: metadata[letter] for letter in letters},
                    "prediction": prediction,
                    "category": metadata.get("category", ""),
                    "l2-category": metadata.get("l2-category", ""),
                }
            )
        return mmbench_submission_xlsx(rows)
