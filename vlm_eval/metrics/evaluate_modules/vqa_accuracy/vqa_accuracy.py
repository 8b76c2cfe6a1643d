"""VQA accuracy as a local ``evaluate`` metric: ``vlm_eval.metrics.load_metric("vqa_accuracy")``.

A thin wrapper over ``vlm_eval.metrics``. evaluate copies this script into its modules cache and
imports it from there, so it imports the installed package (no relative imports).
"""

from __future__ import annotations

from typing import Any, get_args

# The base class is reached through its module: evaluate takes the first metric class in this
# namespace as the metric, which would then be the base.
from vlm_eval.metrics import (
    VQA_METRIC_REVISION,
    VQAMode,
    _evaluate_base,
    stem_okvqa_answer,
    summarize_vqa,
    vqa_accuracy,
)

_DESCRIPTION = f"""VQA accuracy (VQAv2, OK-VQA, TextVQA), as computed by {VQA_METRIC_REVISION}.

Each prediction scores min(1, matching answers / 3), averaged over the leave-one-out subsets of
its human answers: with ten answers, 0, 1, 2, 3 and 4+ matches give 0, 30, 60, 90 and 100%.
Answers are compared after the official normalization (punctuation, articles, number words,
contractions). The result is the mean over questions, in percent.
"""

_CITATION = """@inproceedings{goyal2017making,
  title = {Making the {V} in {VQA} Matter: Elevating the Role of Image Understanding in Visual
           Question Answering},
  author = {Goyal, Yash and Khot, Tejas and Summers-Stay, Douglas and Batra, Dhruv and
            Parikh, Devi},
  booktitle = {CVPR},
  year = {2017}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): One predicted answer per question.
    references (list of list of str): The human answers of each question (ten in VQAv2).
    mode (str, optional): "normalized" (every answer normalized) or "official" (the 2021
        vqaEval.py exactly: no normalization when the answers are all the identical string).
        Defaults to the value given at load time, itself "normalized" by default.
    stem_answers (bool, optional): Stem each prediction as OK-VQA v1.1 stemmed its answers
        ("horses" -> "horse"). Defaults to the value given at load time, itself False.
    return_per_sample (bool, optional): Also return each question's accuracy. Default False.
Returns:
    accuracy (float): The mean accuracy in percent (0-100).
    per_sample (list of float): With return_per_sample, each question's accuracy in percent.
Examples:
    >>> vqa = vlm_eval.metrics.load_metric("vqa_accuracy")
    >>> vqa.compute(predictions=["Two"], references=[["2"] * 10])
    {'accuracy': 100.0}
"""


class VqaAccuracy(_evaluate_base.TextMetric):
    """VQA accuracy; ``mode`` and ``stem_answers`` given at load time are the defaults."""

    metric_description = _DESCRIPTION
    metric_citation = _CITATION
    metric_inputs = _KWARGS_DESCRIPTION
    metric_codebase_urls = ("https://github.com/GT-Vision-Lab/VQA",)
    metric_reference_urls = ("https://visualqa.org/evaluation.html",)

    def __init__(
        self, *, mode: VQAMode = "normalized", stem_answers: bool = False, **kwargs: Any
    ) -> None:
        if mode not in get_args(VQAMode):
            raise ValueError(
                f"unknown VQA accuracy mode {mode!r}; expected one of {get_args(VQAMode)}"
            )
        self.mode = mode
        self.stem_answers = stem_answers
        super().__init__(**kwargs)

    def _compute(
        self,
        predictions: list[str],
        references: list[list[str]],
        mode: VQAMode | None = None,
        stem_answers: bool | None = None,
        return_per_sample: bool = False,
    ) -> dict[str, Any]:
        if not predictions:
            raise ValueError("no predictions to score")
        mode = self.mode if mode is None else mode
        stem = self.stem_answers if stem_answers is None else stem_answers
        if stem:
            predictions = [stem_okvqa_answer(prediction) for prediction in predictions]
        accuracies = [
            vqa_accuracy(prediction, answers, mode=mode)
            for prediction, answers in zip(predictions, references, strict=True)
        ]
        result: dict[str, Any] = {"accuracy": summarize_vqa(accuracies, {})[0]}
        if return_per_sample:
            result["per_sample"] = [100.0 * accuracy for accuracy in accuracies]
        return result
