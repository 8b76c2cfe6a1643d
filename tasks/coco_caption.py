"""COCO captioning on the Karpathy split: BLEU-1..4, METEOR, ROUGE-L and CIDEr."""

from pathlib import Path

from vlm_eval.data import Sample, load_coco_captions, load_karpathy_captions
from vlm_eval.tasks import CaptionTask, register_task

KARPATHY_SPLITS = ("train", "restval", "val", "test")


@register_task
class COCOCaption(CaptionTask):
    """Official files: the Karpathy splits (``train``, ``val``, ``test``) from
    ``dataset_coco.json``, images ``{filepath}/{filename}``; any other split ``S`` (``val2014``)
    from COCO's ``captions_S.json``, images in ``S/``.

    The hub default, lmms-lab/COCO-Caption, has no Karpathy split: its ``val`` split, read by
    default from it, is all of COCO 2014 val (40,504 images), and results record it as split
    ``val`` of that dataset. Its ``test`` split has no captions.
    """

    name = "coco_caption"
    version = "1.0"
    eval_split = "test"
    fewshot_split = "train"
    hub_dataset = "lmms-lab/COCO-Caption"
    hub_eval_split = "val"

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        if split in KARPATHY_SPLITS:
            return load_karpathy_captions(
                json_file=data_dir / "dataset_coco.json", image_root=data_dir, split=split
            )
        return load_coco_captions(data_dir / f"captions_{split}.json", data_dir / split)
