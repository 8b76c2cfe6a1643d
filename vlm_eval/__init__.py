"""vlm-eval: evaluate vision-language models on VQAv2, OK-VQA, TextVQA and COCO captions.

Sub-packages: ``data`` (official file formats), ``tasks`` (task plugins), ``models`` (model
adapters), ``runner``, ``metrics``, ``report`` and ``cli``.
"""

from vlm_eval._arguments import ArgumentsError

__all__ = ["ArgumentsError"]
