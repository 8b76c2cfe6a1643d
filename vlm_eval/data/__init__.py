"""Evaluation data: samples and their image sources, loaders of the official file formats,
``datasets`` sources (hub, ``save_to_disk`` folders, parquet), official results files."""

from vlm_eval.data._aokvqa import aokvqa_sample, load_aokvqa
from vlm_eval.data._chartqa import CHARTQA_SETS, chartqa_sample, load_chartqa
from vlm_eval.data._docvqa import QUESTION_TYPES_SEPARATOR, docvqa_sample, load_docvqa
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._gqa import GQA_TYPES, load_gqa
from vlm_eval.data._images import (
    DatasetImage,
    EncodedImage,
    ImageError,
    ImageFile,
    ImageSource,
    StitchedImage,
)
from vlm_eval.data._mathvista import (
    MULTI_VALUE_SEPARATOR,
    lmms_eval_query,
    load_mathvista,
    mathvista_query,
    mathvista_sample,
)
from vlm_eval.data._mmbench import load_mmbench_tsv, mmbench_sample
from vlm_eval.data._official import (
    load_coco_captions,
    load_karpathy_captions,
    load_textvqa,
    load_vqa,
    read_id_list,
    read_predictions,
)
from vlm_eval.data._sample import Sample
from vlm_eval.data._scienceqa import SCIENCEQA_SUBJECTS, load_scienceqa, scienceqa_sample
from vlm_eval.data._sources import (
    DatasetRow,
    DataSource,
    SourceKind,
    detect_source_kind,
    holds_splits,
    load_split,
    samples_from_rows,
)
from vlm_eval.data._vizwiz import load_vizwiz, vizwiz_row_sample

__all__ = [
    "CHARTQA_SETS",
    "GQA_TYPES",
    "MULTI_VALUE_SEPARATOR",
    "QUESTION_TYPES_SEPARATOR",
    "SCIENCEQA_SUBJECTS",
    "DataFormatError",
    "DataSource",
    "DatasetImage",
    "DatasetRow",
    "EncodedImage",
    "ImageError",
    "ImageFile",
    "ImageSource",
    "Sample",
    "SourceKind",
    "StitchedImage",
    "aokvqa_sample",
    "chartqa_sample",
    "detect_source_kind",
    "docvqa_sample",
    "holds_splits",
    "lmms_eval_query",
    "load_aokvqa",
    "load_chartqa",
    "load_coco_captions",
    "load_docvqa",
    "load_gqa",
    "load_karpathy_captions",
    "load_mathvista",
    "load_mmbench_tsv",
    "load_scienceqa",
    "load_split",
    "load_textvqa",
    "load_vizwiz",
    "load_vqa",
    "mathvista_query",
    "mathvista_sample",
    "mmbench_sample",
    "read_id_list",
    "read_predictions",
    "samples_from_rows",
    "scienceqa_sample",
    "vizwiz_row_sample",
]
