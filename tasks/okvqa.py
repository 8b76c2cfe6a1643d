"""OK-VQA (Marino et al., 2019): questions needing outside knowledge, VQA accuracy."""

from pathlib import Path

from vlm_eval.data import Sample, load_vqa
from vlm_eval.tasks import VQATask, register_task


@register_task
class OKVQA(VQATask):
    """Reads ``OpenEnded_mscoco_{split}_questions.json``, ``mscoco_{split}_annotations.json`` and
    ``{split}/COCO_{split}_{image_id:012d}.jpg``. Answers are not stemmed."""

    name = "okvqa"
    version = "1.0"
    eval_split = "val2014"
    fewshot_split = "train2014"
    hub_dataset = "lmms-lab/OK-VQA"

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_vqa(
            questions_file=data_dir / f"OpenEnded_mscoco_{split}_questions.json",
            annotations_file=data_dir / f"mscoco_{split}_annotations.json",
            image_dir=data_dir / split,
            image_name=f"COCO_{split}_{{image_id:012d}}.jpg",
        )
