"""Synthetic VQAv2-style questions, annotations and predictions in the official file formats.

Answers mimic what makes VQA normalization work hard: case, trailing periods, articles, number
words, punctuation inside answers, contractions without apostrophes, questions whose ten answers
all agree (a third), and a long tail of rare multi-word answers so that caching cannot see every
string in advance.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

_QUESTION_TYPES = (
    ("is the", "yes/no"), ("are there", "yes/no"), ("does the", "yes/no"), ("is this", "yes/no"),
    ("how many", "number"), ("how many people are", "number"), ("what number is", "number"),
    ("what color is the", "other"), ("what is the", "other"), ("what is the man", "other"),
    ("what sport is", "other"), ("where is the", "other"), ("what kind of", "other"),
    ("what is on the", "other"), ("why", "other"), ("what time", "other"), ("which", "other"),
)  # fmt: skip
_WORDS = (
    "red", "blue", "white", "black", "green", "yellow", "brown", "gray", "orange", "pink",
    "dog", "cat", "horse", "frisbee", "tennis", "baseball", "skateboarding", "surfing", "kite",
    "pizza", "banana", "table", "kitchen", "street", "bathroom", "grass", "water", "snow", "sky",
    "man", "woman", "girl", "boy", "bus", "train", "plane", "umbrella", "phone", "laptop",
    "clock", "sign", "wood", "metal", "plastic", "left", "right", "sitting", "standing", "eating",
    "t-shirt", "hot dog", "stop sign", "fire hydrant", "teddy bear", "cell phone", "u.s.",
    "don't know", "dont know", "it's raining", "1:00", "3:30", "10:10", "1,000", "2.5", "o'clock",
    "black/white", "red, white and blue", "mr. smith", "yes, it is", "(sign)", "left-hand",
)  # fmt: skip
_NUMBERS = (*(str(n) for n in range(21)), "one", "two", "three", "four", "none", "ten")


def _surface(answer: str, rng: random.Random) -> str:
    """The same answer as another annotator might type it."""
    variant = rng.randrange(7)
    if variant == 0:
        return answer.capitalize()
    if variant == 1:
        return answer + "."
    if variant == 2:
        return "the " + answer
    if variant == 3:
        return answer.upper()
    if variant == 4:
        return f" {answer}\n"
    if variant == 5:
        return "a " + answer + "!"
    return answer


def _true_answer(answer_type: str, rng: random.Random) -> str:
    if answer_type == "yes/no":
        return rng.choice(("yes", "no"))
    if answer_type == "number":
        return rng.choice(_NUMBERS)
    if rng.random() < 0.15:  # long tail: rare two- and three-word answers
        return " ".join(rng.choice(_WORDS) for _ in range(rng.choice((2, 3))))
    return rng.choice(_WORDS)


def synthetic_vqa(
    count: int, seed: int = 0
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """``count`` questions as (questions file, annotations file, predictions file) contents."""
    rng = random.Random(seed)
    questions, annotations, predictions = [], [], []
    for question_id in range(1, count + 1):
        question_type, answer_type = rng.choice(_QUESTION_TYPES)
        truth = _true_answer(answer_type, rng)
        if rng.random() < 1 / 3:
            answers = [truth] * 10
        else:
            answers = [
                _surface(truth, rng) if rng.random() < 0.75 else _true_answer(answer_type, rng)
                for _ in range(10)
            ]
        image_id = 1 + question_id // 3
        questions.append(
            {"image_id": image_id, "question": f"{question_type} ...?", "question_id": question_id}
        )
        annotations.append(
            {
                "question_id": question_id,
                "image_id": image_id,
                "question_type": question_type,
                "answer_type": answer_type,
                "multiple_choice_answer": truth,
                "answers": [
                    {"answer": answer, "answer_confidence": "yes", "answer_id": i + 1}
                    for i, answer in enumerate(answers)
                ],
            }
        )
        draw = rng.random()
        if draw < 0.5:
            prediction = truth
        elif draw < 0.65:
            prediction = _surface(truth, rng)
        else:
            prediction = _true_answer(answer_type, rng)
        predictions.append({"question_id": question_id, "answer": prediction})
    return (
        {"questions": questions, "data_subtype": "val2014", "task_type": "OpenEnded"},
        {"annotations": annotations, "data_subtype": "val2014"},
        predictions,
    )


def write_synthetic_vqa(folder: Path, count: int, seed: int = 0) -> tuple[Path, Path, Path]:
    """Write the three official files into ``folder``; return (questions, annotations, results)."""
    paths = (folder / "questions.json", folder / "annotations.json", folder / "results.json")
    for path, content in zip(paths, synthetic_vqa(count, seed), strict=True):
        path.write_text(json.dumps(content), encoding="utf-8")
    return paths
