"""COCO captioning on the Karpathy split: BLEU-1..4, METEOR, ROUGE-L and CIDEr."""

from pathlib import Path

from vlm_eval.data import Sample, load_karpathy_captions
from vlm_eval.tasks import CaptionTask, register_task


@register_task
class COCOCaption(CaptionTask):
    """Reads the Karpathy ``dataset_coco.json``; image paths are ``{filepath}/{filename}``."""

    name = "coco_caption"
    version = "1.0"
    eval_split = "test"
    fewshot_split = "train"
    hub_dataset = "lmms-lab/COCO-Caption"

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_karpathy_captions(
            json_file=data_dir / "dataset_coco.json", image_root=data_dir, split=split
        )
