"""VQAv2 (Goyal et al., 2017): open-ended questions on COCO images, VQA accuracy."""

from pathlib import Path
from typing import Any, Literal

from vlm_eval.data import Sample, load_vqa
from vlm_eval.metrics import VQAMode, normalize_vqa_answer
from vlm_eval.tasks import VQATask, register_task

SubmissionAnswers = Literal["normalized", "raw"]


@register_task
class VQAv2(VQATask):
    """Reads ``v2_OpenEnded_mscoco_{split}_questions.json``, ``v2_mscoco_{split}_annotations.json``
    and ``{split}/COCO_{split}_{image_id:012d}.jpg``, or lmms-lab/VQAv2 rows: its ``validation``
    split is val2014 (``testdev`` and ``test`` have no answers; it has no train split, so
    few-shot runs name one with ``fewshot_split``).

    The test splits (``test-dev2015``, ``test2015``) have no annotations file and their images
    are in ``test2015/``: the run writes the EvalAI submission file instead of scores. Option
    ``submission_answers``: ``normalized`` (default) submits each answer normalized as
    ``vqa_mode=normalized`` scores it (the server runs the 2021 code, which does not normalize
    where all 10 human answers agree: "Yes" would score 0 against ten "yes"), or ``raw``."""

    name = "vqav2"
    version = "1.0"
    eval_split = "val2014"
    fewshot_split = "train2014"
    hub_dataset = "lmms-lab/VQAv2"
    hub_eval_split = "validation"

    def __init__(
        self,
        *,
        vqa_mode: VQAMode = "normalized",
        protocol: str = "chat",
        submission_answers: SubmissionAnswers = "normalized",
    ) -> None:
        super().__init__(vqa_mode=vqa_mode, protocol=protocol)
        self.submission_answers = submission_answers

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        test = split.startswith("test")
        images = "test2015" if test else split  # test-dev is a subset of the test images
        return load_vqa(
            questions_file=data_dir / f"v2_OpenEnded_mscoco_{split}_questions.json",
            annotations_file=None if test else data_dir / f"v2_mscoco_{split}_annotations.json",
            image_dir=data_dir / images,
            image_name=f"COCO_{images}_{{image_id:012d}}.jpg",
        )

    def submission_entry(self, sample: Sample, prediction: str) -> dict[str, Any]:
        if self.submission_answers == "normalized":
            prediction = normalize_vqa_answer(prediction)
        return super().submission_entry(sample, prediction)

    def scoring_protocol(self) -> dict[str, Any]:
        return super().scoring_protocol() | {"submission_answers": self.submission_answers}
