"""COCO caption metrics as a local ``evaluate`` metric: ``load_metric("coco_caption")``.

A thin wrapper over ``vlm_eval.metrics.score_captions`` (pycocoevalcap; needs Java). evaluate
copies this script into its modules cache and imports it from there, so it imports the installed
package (no relative imports).
"""

from __future__ import annotations

from typing import Any

# The base class is reached through its module: evaluate takes the first metric class in this
# namespace as the metric, which would then be the base.
from vlm_eval.metrics import _evaluate_base, score_captions

_DESCRIPTION = """The COCO caption evaluation (pycocoevalcap): BLEU-1..4, METEOR, ROUGE-L, CIDEr-D.

Captions are PTB-tokenized (Java), then scored at corpus level. CIDEr-D takes its document
frequencies from the references of the scored captions only, so score a whole set at once.
Scores are on the 0-1 scale, unrounded; metrics not computed are listed under "skipped".
"""

_CITATION = """@article{chen2015microsoft,
  title = {Microsoft {COCO} Captions: Data Collection and Evaluation Server},
  author = {Chen, Xinlei and Fang, Hao and Lin, Tsung-Yi and Vedantam, Ramakrishna and
            Gupta, Saurabh and Doll{\\'a}r, Piotr and Zitnick, C. Lawrence},
  journal = {arXiv preprint arXiv:1504.00325},
  year = {2015}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (list of str): One predicted caption per image.
    references (list of list of str): The reference captions of each image (at least one).
    return_per_sample (bool, optional): Also return each image's scores. Default False.
Returns:
    BLEU-1, BLEU-2, BLEU-3, BLEU-4, METEOR, ROUGE-L, CIDEr (float): Corpus scores, 0-1.
    skipped (dict of str): Metrics not computed, with the reason.
    per_sample (list of dict): With return_per_sample, each image's score under each metric.
Examples:
    >>> captions = vlm_eval.metrics.load_metric("coco_caption")
    >>> scores = captions.compute(predictions=["a cat"], references=[["a cat sits"]])
"""


class CocoCaption(_evaluate_base.TextMetric):
    """The COCO caption metrics; samples are identified by their position."""

    metric_description = _DESCRIPTION
    metric_citation = _CITATION
    metric_inputs = _KWARGS_DESCRIPTION
    metric_codebase_urls = ("https://github.com/salaniz/pycocoevalcap",)
    metric_reference_urls = ("https://arxiv.org/abs/1504.00325",)

    def _compute(
        self, predictions: list[str], references: list[list[str]], return_per_sample: bool = False
    ) -> dict[str, Any]:
        ids = [str(i) for i in range(len(predictions))]
        scores = score_captions(
            dict(zip(ids, predictions, strict=True)), dict(zip(ids, references, strict=True))
        )
        result: dict[str, Any] = {**scores.metrics, "skipped": scores.skipped}
        if return_per_sample:
            result["per_sample"] = [scores.per_image[i] for i in ids]
        return result
