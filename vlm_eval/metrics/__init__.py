"""Metrics: pure functions over plain data, validated at the boundary.

- VQA accuracy (VQAv2, OK-VQA, TextVQA) with the official answer normalization, in a
  ``"normalized"`` mode (every answer normalized) and the ``"official"`` 2021 ``vqaEval.py`` mode.
- COCO captioning metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) through pycocoevalcap; needs Java.
- Multiple-choice answers read as option letters, rotations of options, circular accuracy.
- MMMU's published rules for open answers.
- MathVista's answers read by rules, normalized and compared as its official evaluation does.
- ANLS (DocVQA, InfographicVQA) and relaxed accuracy (ChartQA), as their official code scores.
- Exact-match accuracy of single-reference answers (GQA), as its official code or lmms-eval.
- OK-VQA answer stemming (optional), as OpenFlamingo-style harnesses do.
- Scoring of official results files (``vlm-eval score``).
- The VQA and caption metrics as local ``evaluate`` modules (``load_metric``; no Hub download).
"""

from vlm_eval.metrics._caption import CORPUS_MEAN_METRICS, CaptionScores, score_captions
from vlm_eval.metrics._choice import (
    OPTION_LETTERS,
    circular_results,
    extract_choice,
    rotate_choices,
)
from vlm_eval.metrics._document import (
    ANLS_THRESHOLD,
    DOCUMENT_METRIC_SOURCES,
    DocumentMetric,
    anls,
    relaxed_accuracy,
)
from vlm_eval.metrics._evaluate import load_metric
from vlm_eval.metrics._exact import (
    EXACT_MATCH_SOURCES,
    ExactMatchMode,
    exact_match,
    normalize_exact_match,
)
from vlm_eval.metrics._mathvista import (
    ANSWER_TYPES,
    QUESTION_TYPES,
    MathProblem,
    extract_math_answer,
    extract_number,
    math_answer_correct,
    normalize_math_answer,
)
from vlm_eval.metrics._mmmu import open_answer_candidates, open_answer_correct
from vlm_eval.metrics._prediction_files import (
    match_predictions,
    score_caption_predictions,
    score_vqa_predictions,
    score_vqa_samples,
    summarize_vqa_samples,
)
from vlm_eval.metrics._stemming import OKVQA_STEMMING, stem_okvqa_answer
from vlm_eval.metrics._vqa import (
    VQA_METRIC_REVISION,
    VQAMode,
    clear_vqa_caches,
    normalize_vqa_answer,
    summarize_vqa,
    vqa_accuracy,
)

__all__ = [
    "ANLS_THRESHOLD",
    "ANSWER_TYPES",
    "CORPUS_MEAN_METRICS",
    "DOCUMENT_METRIC_SOURCES",
    "EXACT_MATCH_SOURCES",
    "OKVQA_STEMMING",
    "OPTION_LETTERS",
    "QUESTION_TYPES",
    "VQA_METRIC_REVISION",
    "CaptionScores",
    "DocumentMetric",
    "ExactMatchMode",
    "MathProblem",
    "VQAMode",
    "anls",
    "circular_results",
    "clear_vqa_caches",
    "exact_match",
    "extract_choice",
    "extract_math_answer",
    "extract_number",
    "load_metric",
    "match_predictions",
    "math_answer_correct",
    "normalize_exact_match",
    "normalize_math_answer",
    "normalize_vqa_answer",
    "open_answer_candidates",
    "open_answer_correct",
    "relaxed_accuracy",
    "rotate_choices",
    "score_caption_predictions",
    "score_captions",
    "score_vqa_predictions",
    "score_vqa_samples",
    "stem_okvqa_answer",
    "summarize_vqa",
    "summarize_vqa_samples",
    "vqa_accuracy",
]
