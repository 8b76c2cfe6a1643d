"""ScienceQA-IMG (Lu et al., 2022): science questions with an image, multiple choice."""

from pathlib import Path

from vlm_eval.data import DatasetRow, Sample, load_scienceqa, scienceqa_sample
from vlm_eval.tasks import MultipleChoiceTask, register_task


@register_task
class ScienceQAIMG(MultipleChoiceTask):
    """Reads the official ``problems.json`` and ``pid_splits.json`` (images
    ``images/{split}/{id}/image.png``), keeping the questions that have an image (2,017 of the
    4,241 test questions), or rows of lmms-lab/ScienceQA, configuration ``ScienceQA-IMG``
    (split ``test``; ids are row indices). Asked as lmms-eval asks: ``Context: {hint}`` (when
    the hint is not empty), the question, the lettered options, then ``Answer with the option's
    letter from the given choices directly.``. Accuracy, broken down as the paper: by
    ``subject`` (``NAT``, ``SOC``, ``LAN``) and ``grade`` (``G1-6``, ``G7-12``)."""

    name = "scienceqa_img"
    version = "1.0"
    eval_split = "test"
    fewshot_split = "train"
    hub_dataset = "lmms-lab/ScienceQA"
    hub_config = "ScienceQA-IMG"
    hub_eval_split = "test"
    hint_template = "Context: {hint}"
    breakdown_fields = ("subject", "grade")
    prediction_fields = ("question_id", "prediction")

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_scienceqa(data_dir, split)

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row of lmms-lab/ScienceQA: ``problems.json``'s fields, ``image`` decoded."""
        return scienceqa_sample(row, row.image(row.id))
