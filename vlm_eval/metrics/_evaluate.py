"""Our metrics as local Hugging Face ``evaluate`` modules, loaded without the Hub."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import evaluate

EVALUATE_METRICS = ("coco_caption", "vqa_accuracy")
_MODULES = Path(__file__).parent / "evaluate_modules"


def load_metric(name: str, **kwargs: Any) -> evaluate.EvaluationModule:
    """Load one of our metrics as an ``evaluate`` module, from the script shipped in this package.

    ``evaluate.load("bleu")`` fetches a script from the Hugging Face Hub; this passes
    ``evaluate.load`` the path of a local script instead, which it loads without any network
    access, whether or not ``HF_HUB_OFFLINE`` is set. The script is copied into evaluate's modules
    cache (``$HF_MODULES_CACHE``, by default ``$HF_HOME/modules``) and imported from there.

    Args:
        name: ``"vqa_accuracy"`` (options ``mode``, ``stem_answers``) or ``"coco_caption"``.
        **kwargs: Passed to ``evaluate.load``: the metric's options and evaluate's own
            (``keep_in_memory``, ``cache_dir``, ``experiment_id``, ...).

    Returns:
        The metric; use its ``compute``, ``add`` and ``add_batch`` as with any evaluate module.

    Raises:
        ValueError: If ``name`` is not one of our metrics.
    """
    if name not in EVALUATE_METRICS:
        raise ValueError(f"unknown metric {name!r}; expected one of {EVALUATE_METRICS}")
    import evaluate  # imported here: it takes seconds, and only this function needs it

    return evaluate.load(str(_MODULES / name / f"{name}.py"), **kwargs)
