"""ChartQA (Masry et al., 2022): questions about charts, relaxed accuracy."""

from pathlib import Path
from typing import ClassVar

from vlm_eval.data import CHARTQA_SETS, DatasetRow, Sample, chartqa_sample, load_chartqa
from vlm_eval.metrics import DocumentMetric
from vlm_eval.tasks import DocumentQATask, LmmsEvalPrompt, register_task


@register_task
class ChartQA(DocumentQATask):
    """Reads the official ``{split}/{split}_human.json`` and ``{split}/{split}_augmented.json``
    (charts in ``{split}/png/``; ids ``human_<i>``, ``augmented_<i>``) or rows of
    lmms-lab/ChartQA (split ``test``; ids are row indices). Scored with relaxed accuracy (5%
    tolerance on numbers, as the paper, Pix2Struct and lmms-eval), ANLS alongside; breakdown
    ``question_set``: ``human`` and ``augmented`` (lmms-eval's ``relaxed_human_split`` and
    ``relaxed_augmented_split``). Asked with lmms-eval's ChartQA instruction, ``Answer the
    question with a single word.``."""

    name = "chartqa"
    version = "1.0"
    eval_split = "test"
    fewshot_split = "train"
    hub_dataset = "lmms-lab/ChartQA"
    hub_eval_split = "test"
    row_id_field = None
    question_template = "{question}\nAnswer the question with a single word."
    lmms_eval = LmmsEvalPrompt(question_template)
    breakdown_fields: ClassVar[dict[str, str]] = {"question_set": "question_set"}

    def __init__(self, *, metric: DocumentMetric = "relaxed_accuracy", protocol: str = "chat"):
        super().__init__(metric=metric, protocol=protocol)

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_chartqa(data_dir / split, split)

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row of lmms-lab/ChartQA: ``question``, ``answer``, ``type`` (``human_test`` or
        ``augmented_test``) and ``image``."""
        kind = row.get("type", str)
        question_set = kind.split("_")[0]
        if question_set not in CHARTQA_SETS:
            raise row.error("type", f"expected human_* or augmented_*, got {kind!r}")
        return chartqa_sample(
            row, row.image(row.id), question_set, question="question", answer="answer"
        )
