"""Document and chart QA metrics: ANLS (DocVQA, InfographicVQA) and relaxed accuracy (ChartQA).

ANLS re-implements the official DocVQA / InfographicVQA evaluation script (docvqa.org and the
Robust Reading Competition, ch. 17: ``infographicsvqa_eval.py``); relaxed accuracy re-implements
``relaxed_correctness`` of google-research/pix2struct (``pix2struct/metrics.py``), with which
ChartQA results are reported (lmms-eval scores ChartQA with the same rule). Their quirks are kept
and documented, so that scores stand beside the published ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

DocumentMetric = Literal["anls", "relaxed_accuracy"]
"""The metrics of document and chart QA tasks (``DocumentQATask``'s ``metric`` option)."""

ANLS_THRESHOLD = 0.5
"""Similarities below this score 0 (the DocVQA and InfographicVQA challenges' value)."""

DOCUMENT_METRIC_SOURCES = {
    "anls": "docvqa.org / RRC infographicsvqa_eval.py (ANLS, threshold 0.5)",
    "relaxed_accuracy": "google-research/pix2struct metrics.relaxed_correctness (5% tolerance)",
}
"""The official code each metric reproduces; recorded in results."""


def _check(prediction: object, answers: object, metric: str) -> None:
    if not isinstance(prediction, str):
        raise ValueError(f"the prediction must be a string, got {prediction!r}")
    if isinstance(answers, str) or not isinstance(answers, Sequence) or not answers:
        raise ValueError(f"{metric} needs a non-empty sequence of answers, got {answers!r}")
    for i, answer in enumerate(answers):
        if not isinstance(answer, str):
            raise ValueError(f"answers[{i}] must be a string, got {answer!r}")


def _levenshtein(a: str, b: str) -> int:
    """The fewest insertions, deletions and substitutions of code points turning ``a`` into
    ``b`` (Wagner-Fischer, one row at a time)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            substitution = previous[j - 1] + (char_a != char_b)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1]


def _normalized_distance(prediction: str, answer: str) -> float:
    """The official normalized Levenshtein distance: the distance between the texts lower-cased
    with runs of whitespace made one space and the ends stripped, over the length of the longer
    text as given, upper-cased (0 for two empty texts)."""
    length = max(len(answer.upper()), len(prediction.upper()))
    if length == 0:
        return 0.0
    distance = _levenshtein(" ".join(answer.lower().split()), " ".join(prediction.lower().split()))
    return distance / length


def anls(prediction: str, answers: Sequence[str], *, threshold: float = ANLS_THRESHOLD) -> float:
    """Normalized Levenshtein similarity of one prediction to the answers of one question, the
    per-question term of ANLS (Biten et al., 2019; averaged over questions it is ANLS).

    As the official script: ``1 - NL`` for the closest answer, where ``NL`` is the Levenshtein
    distance between the two texts, each lower-cased, stripped and with every run of whitespace
    made one space, divided by the length of the longer of the two texts *as given* (not
    normalized, upper-cased: extra whitespace lengthens it, and ``"ß"`` counts 2, as ``"SS"``);
    then 0 if that similarity is below ``threshold``. A similarity of exactly ``threshold``
    (``NL == 0.5``) is kept, as the script's ``if question_result < threshold`` keeps it (the
    paper's equation zeroes ``NL >= 0.5``). Two empty texts are equal (similarity 1).

    Args:
        prediction: The model's answer.
        answers: The question's ground-truth answers (at least one).
        threshold: Similarities below it count 0.

    Returns:
        The similarity in [0, 1].

    Raises:
        ValueError: If ``answers`` is empty or a bare string, or a text is not a string.
    """
    _check(prediction, answers, "ANLS")
    similarity = 1.0 - min(_normalized_distance(prediction, answer) for answer in answers)
    return similarity if similarity >= threshold else 0.0


def _number(text: str) -> float | None:
    """``text`` as Python's ``float`` reads it (``"1e3"``, ``" 7 "``, ``"1_000"``, not
    ``"1,000"``), ``"12%"`` as 0.12; ``None`` if it is no number."""
    try:
        return float(text.rstrip("%")) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        return None


def _relaxed_match(prediction: str, target: str, max_relative_change: float) -> bool:
    predicted, expected = _number(prediction), _number(target)
    if predicted is not None and expected:  # a target of 0 has no relative change
        return abs(predicted - expected) / abs(expected) <= max_relative_change
    return prediction.lower() == target.lower()


def relaxed_accuracy(
    prediction: str, answers: Sequence[str], *, max_relative_change: float = 0.05
) -> float:
    """Relaxed accuracy of one prediction (ChartQA; Methani et al., 2020): 1.0 if it matches any
    of the answers, else 0.0.

    As Pix2Struct's ``relaxed_correctness``: where the prediction and the answer both read as
    numbers (Python's ``float``, a trailing ``%`` dividing by 100, so ``"96%"`` equals
    ``"0.96"`` and ``"5"`` does not match ``"5%"``) and the answer is not 0, they match if
    ``|prediction - answer| / |answer| <= max_relative_change``, computed in floating point
    (``"105"`` matches ``"100"``, ``"1.05"`` does not match ``"1"``: 0.05000000000000004).
    Otherwise (text, thousands separators as ``"1,000"``, an answer of 0) they must be equal
    after lower-casing; nothing is stripped (the runner strips predictions).

    Args:
        prediction: The model's answer.
        answers: The accepted answers (ChartQA has one).
        max_relative_change: The tolerance of numeric answers.

    Raises:
        ValueError: If ``answers`` is empty or a bare string, or a text is not a string.
    """
    _check(prediction, answers, "relaxed accuracy")
    return float(any(_relaxed_match(prediction, a, max_relative_change) for a in answers))
