"""Exact-match accuracy of a short answer against its reference (GQA), as the official GQA
evaluation and lmms-eval compare answers.

The official GQA evaluation (``eval.py`` of gqadataset.org, 2019) scores a question 1 when
``predicted == gold`` as strings, without any normalization: its predictions are expected as
clean as the gold answers (lower-case, no punctuation). lmms-eval's ``gqa`` task scores with its
``exact_match`` metric, ``ignore_case`` and ``ignore_punctuation`` set: both texts lower-cased,
then every ASCII punctuation character (``string.punctuation``) deleted, then compared; spaces
are neither stripped nor collapsed.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Literal

ExactMatchMode = Literal["normalized", "official"]

EXACT_MATCH_SOURCES: dict[ExactMatchMode, str] = {
    "normalized": "lmms-eval exact_match (ignore_case, ignore_punctuation)",
    "official": "GQA eval.py (gqadataset.org, 2019): predicted == gold",
}
"""What each mode reproduces; recorded in results."""

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_exact_match(text: str) -> str:
    """``text`` lower-cased, every ASCII punctuation character deleted (``"Yes."`` -> ``"yes"``,
    ``"t-shirt"`` -> ``"tshirt"``), as lmms-eval's ``exact_match`` with ``ignore_case`` and
    ``ignore_punctuation``."""
    return text.lower().translate(_PUNCTUATION)


def exact_match(
    prediction: str, references: Sequence[str], *, mode: ExactMatchMode = "normalized"
) -> float:
    """1.0 if ``prediction`` equals one of ``references`` (GQA has one), else 0.0.

    Unlike VQA accuracy (``min(1, matches / 3)`` over ten human answers), one matching
    reference is enough: a single-reference dataset scored with VQA accuracy would cap every
    question at 1/3.

    Args:
        prediction: The model's answer.
        references: The accepted answers; at least one.
        mode: ``"normalized"`` (default): both sides through ``normalize_exact_match``, as
            lmms-eval scores GQA. ``"official"``: the strings as they are, as the official GQA
            ``eval.py`` (``"Yes"`` scores 0 against ``"yes"``).

    Raises:
        ValueError: For an unknown mode, no reference, or a prediction or reference that is not
            a string.
    """
    if mode not in EXACT_MATCH_SOURCES:
        raise ValueError(
            f"unknown exact-match mode {mode!r}; expected one of {list(EXACT_MATCH_SOURCES)}"
        )
    if isinstance(references, str) or not references:
        raise ValueError(f"references must be a non-empty sequence of strings, got {references!r}")
    for name, text in [("the prediction", prediction), *(("a reference", r) for r in references)]:
        if not isinstance(text, str):
            raise ValueError(f"{name} must be a string, got {type(text).__name__}: {text!r}")
    if mode == "official":
        return float(prediction in references)
    return float(normalize_exact_match(prediction) in map(normalize_exact_match, references))
