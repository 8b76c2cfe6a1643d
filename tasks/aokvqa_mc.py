"""A-OKVQA (Schwenk et al., 2022), multiple choice: questions needing outside knowledge."""

import json
from collections.abc import Sequence
from pathlib import Path

from vlm_eval.data import DatasetRow, Sample, aokvqa_sample, load_aokvqa
from vlm_eval.data._aokvqa import read_aokvqa_predictions
from vlm_eval.metrics import OPTION_LETTERS, extract_choice
from vlm_eval.tasks import MultipleChoiceTask, register_task
from vlm_eval.tasks._choice import sample_options


@register_task
class AOKVQAMultipleChoice(MultipleChoiceTask):
    """Reads the official ``aokvqa_v1p0_{split}.json`` (splits ``train``, ``val``, ``test``)
    with COCO 2017 images in ``{split}2017/`` (``{image_id:012d}.jpg``), or rows of
    HuggingFaceM4/A-OKVQA (``train``, ``validation``, ``test``). Four options per question;
    accuracy of the answer letter (the paper's multiple-choice setting). The test split has
    no answers: the run writes the leaderboard's predictions file instead of scores,
    ``{question_id: {"multiple_choice": the text of the option the answer names}}`` (the
    answer as generated where it names none); ``vlm-eval score`` reads that format back."""

    name = "aokvqa_mc"
    version = "1.0"
    eval_split = "val"
    fewshot_split = "train"
    hub_dataset = "HuggingFaceM4/A-OKVQA"
    hub_eval_split = "validation"
    hub_fewshot_split = "train"
    row_id_field = "question_id"
    breakdown_fields = ()
    prediction_fields = ("question_id", "multiple_choice")

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        images = data_dir / f"{split}2017"
        annotated = not split.startswith("test")
        return load_aokvqa(data_dir / f"aokvqa_v1p0_{split}.json", images, annotated=annotated)

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row of HuggingFaceM4/A-OKVQA: the official fields, ``image`` decoded; a row
        without ``correct_choice_idx`` (the test split) has no answer."""
        annotated = "correct_choice_idx" in row.data
        return aokvqa_sample(row, row.image(row.id), annotated=annotated)

    def submission_file(self, samples: Sequence[Sample], predictions: Sequence[str]) -> bytes:
        chosen = {}
        for sample, prediction in zip(samples, predictions, strict=True):
            options = sample_options(sample)
            letter = extract_choice(prediction, options)
            text = prediction if letter is None else options[OPTION_LETTERS.index(letter)]
            chosen[sample.id] = {"multiple_choice": text}
        return (json.dumps(chosen) + "\n").encode()

    def read_predictions(self, path: Path) -> dict[str, str]:
        return read_aokvqa_predictions(path)
