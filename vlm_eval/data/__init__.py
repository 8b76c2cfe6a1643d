"""Evaluation data: samples and their image sources, loaders of the official file formats,
official results files."""

from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import DatasetImage, ImageError, ImageFile, ImageSource
from vlm_eval.data._official import (
    load_coco_captions,
    load_karpathy_captions,
    load_textvqa,
    load_vqa,
    read_predictions,
)
from vlm_eval.data._sample import Sample

__all__ = [
    "DataFormatError",
    "DatasetImage",
    "ImageError",
    "ImageFile",
    "ImageSource",
    "Sample",
    "load_coco_captions",
    "load_karpathy_captions",
    "load_textvqa",
    "load_vqa",
    "read_predictions",
]
