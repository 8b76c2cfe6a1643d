"""MMBench (Liu et al., 2023): multiple-choice perception and reasoning questions, circular
accuracy."""

from pathlib import Path

from vlm_eval.data import DatasetRow, Sample, load_mmbench_tsv, mmbench_sample
from vlm_eval.tasks import MultipleChoiceTask, register_task

COPY_OFFSET = 1_000_000
"""Official files hold circularly shifted copies of questions as rows ``index + k * 10**6``."""


@register_task
class MMBench(MultipleChoiceTask):
    """Reads the official ``MMBench_{split}.tsv`` (splits ``DEV_EN``, ``TEST_EN``; images
    base64 in the file), or rows of lmms-lab/MMBench, configuration ``en`` (splits ``dev``,
    ``test``). The test split has no answers: the run writes ``{"index", "prediction"}``
    entries (ids ``<index>@<rotation>`` with ``circular``) instead of scores; the official
    server takes an ``.xlsx`` of the TSV's rows with a ``prediction`` column, which this file
    does not write.

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

    def expand(self, samples: list[Sample]) -> list[Sample]:
        return super().expand([s for s in samples if int(s.id) < COPY_OFFSET])
