"""Evaluation data: samples and loaders of the official file formats."""

from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._official import load_karpathy_captions, load_textvqa, load_vqa
from vlm_eval.data._sample import Sample

__all__ = ["DataFormatError", "Sample", "load_karpathy_captions", "load_textvqa", "load_vqa"]
