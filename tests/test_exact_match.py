"""Exact-match accuracy (GQA): the official comparison and lmms-eval's, on hand-computed cases."""

from __future__ import annotations

from typing import Any

import pytest

from vlm_eval.metrics import exact_match, normalize_exact_match, vqa_accuracy


@pytest.mark.parametrize(
    ("prediction", "references", "normalized", "official"),
    [
        ("yes", ["yes"], 1.0, 1.0),
        ("Yes", ["yes"], 1.0, 0.0),  # case
        ("Yes.", ["yes"], 1.0, 0.0),  # a final period
        ("t-shirt", ["tshirt"], 1.0, 0.0),  # punctuation is deleted, not made a space
        ("T-Shirt", ["t shirt"], 0.0, 0.0),
        ("traffic  light", ["traffic light"], 0.0, 0.0),  # spaces are not collapsed
        ("the car", ["car"], 0.0, 0.0),  # no article dropped (VQA's normalization does)
        ("two", ["2"], 0.0, 0.0),  # no number words
        ("yes。", ["yes"], 0.0, 0.0),  # only ASCII punctuation is deleted
        ("Café", ["café"], 1.0, 0.0),
        ("red", ["blue", "Red"], 1.0, 0.0),  # any reference
        ("", ["yes"], 0.0, 0.0),
    ],
)
def test_exact_match_hand_computed(
    prediction: str, references: list[str], normalized: float, official: float
) -> None:
    assert exact_match(prediction, references) == normalized
    assert exact_match(prediction, references, mode="official") == official


def test_normalization_is_lmms_evals_case_and_punctuation() -> None:
    assert normalize_exact_match("It's a T-Shirt (left)!") == "its a tshirt left"


def test_one_reference_is_enough_where_vqa_accuracy_needs_three() -> None:
    assert exact_match("red", ["red"]) == 1.0
    assert vqa_accuracy("red", ["red"]) == 0.0  # min(1, 0 / 3): no other annotator agrees


@pytest.mark.parametrize(
    ("prediction", "references", "mode", "message"),
    [
        ("a", [], "normalized", "non-empty sequence"),
        ("a", "a", "normalized", "non-empty sequence"),
        (None, ["a"], "normalized", "the prediction must be a string"),
        ("a", ["a", 1], "normalized", "a reference must be a string"),
        ("a", ["a"], "strict", "unknown exact-match mode 'strict'"),
    ],
)
def test_exact_match_refuses_bad_arguments(
    prediction: Any, references: Any, mode: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        exact_match(prediction, references, mode=mode)
