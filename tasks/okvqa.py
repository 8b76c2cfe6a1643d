"""OK-VQA (Marino et al., 2019): questions needing outside knowledge, VQA accuracy."""

from pathlib import Path
from typing import Any

from vlm_eval.data import Sample, load_vqa
from vlm_eval.metrics import OKVQA_STEMMING, VQAMode, stem_okvqa_answer
from vlm_eval.tasks import VQATask, register_task


@register_task
class OKVQA(VQATask):
    """Reads ``OpenEnded_mscoco_{split}_questions.json``, ``mscoco_{split}_annotations.json`` and
    ``{split}/COCO_{split}_{image_id:012d}.jpg``, or lmms-lab/OK-VQA rows (split ``val2014``
    only). The v1.1 answers are stemmed; predictions are stemmed too with
    ``--task-args okvqa:stem_answers=true`` (off by default)."""

    name = "okvqa"
    version = "1.0"
    eval_split = "val2014"
    fewshot_split = "train2014"
    hub_dataset = "lmms-lab/OK-VQA"
    hub_eval_split = "val2014"

    def __init__(self, *, vqa_mode: VQAMode = "normalized", stem_answers: bool = False) -> None:
        super().__init__(vqa_mode=vqa_mode)
        self.stem_answers = stem_answers

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_vqa(
            questions_file=data_dir / f"OpenEnded_mscoco_{split}_questions.json",
            annotations_file=data_dir / f"mscoco_{split}_annotations.json",
            image_dir=data_dir / split,
            image_name=f"COCO_{split}_{{image_id:012d}}.jpg",
        )

    def postprocess(self, text: str) -> str:
        answer = super().postprocess(text)
        return stem_okvqa_answer(answer) if self.stem_answers else answer

    def scoring_protocol(self) -> dict[str, Any]:
        stemming = {"answer_stemming": OKVQA_STEMMING} if self.stem_answers else {}
        return super().scoring_protocol() | stemming
