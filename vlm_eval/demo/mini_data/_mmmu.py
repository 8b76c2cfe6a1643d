"""MMMU: multiple-choice and open questions over one to three shape scenes, as parquet files in
the layout of lmms-lab/MMMU (``data/{split}-00000-of-00001.parquet``)."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

from vlm_eval.demo.mini_data._scenes import (
    COLORS,
    Scene,
    indefinite_article,
    new_scene,
    scene_image,
)

_QUESTIONS = {"dev": 8, "validation": 10}
"""Questions per split (with ``--sizes mini`` and ``demo`` alike): enough dev questions for
8-shot prompts."""

_IMAGES = 7
"""Image columns of a row (``image_1`` ... ``image_7``)."""

_Question = tuple[str, str, list[str], str, str, int]
"""Subject, question type, options, answer, subfield and the number of images it shows."""


def _question(rng: random.Random, scenes: list[Scene]) -> _Question:
    """A question about ``scenes`` (as many as it shows are used, from the first)."""
    first, second = scenes[:2]
    kind = rng.randrange(5)
    if kind == 0:
        shape = rng.choice(first.shapes)
        others = rng.sample([color for color in sorted(COLORS) if color != shape.color], 3)
        options = [shape.color, *others]
        rng.shuffle(options)
        question = f"What colour is the {shape.kind} in <image 1>?"
        answer = "ABCD"[options.index(shape.color)]
        return "Art", question, options, answer, "Colour", 1
    shown = rng.randrange(2)  # the image that shows the shape asked about (kind 1)
    other = {(shape.color, shape.kind) for shape in scenes[1 - shown].shapes}
    only_one = [shape for shape in scenes[shown].shapes if (shape.color, shape.kind) not in other]
    if kind == 1 and only_one:
        shape = rng.choice(only_one)
        options = ["<image 1>", "<image 2>"]
        described = f"{indefinite_article(shape.color)} {shape.color} {shape.kind}"
        question = f"Which image shows {described}?"
        return "Design", question, options, "AB"[shown], "Graphic design", 2
    if kind <= 2:
        question = "How many shapes are in <image 1>?"
        return "Math", question, [], str(len(first.shapes)), "Counting", 1
    if kind == 3:
        total = len(first.shapes) + len(second.shapes)
        question = "How many shapes are there in <image 1> and <image 2> together?"
        return "Math", question, [], str(total), "Arithmetic", 2
    counts = [len(scene.shapes) for scene in scenes]
    if counts.count(max(counts)) > 1:
        return _question(rng, scenes)
    options = ["<image 1>", "<image 2>", "<image 3>"]
    question = "Which image has the most shapes?"
    answer = "ABC"[counts.index(max(counts))]
    return "Computer_Science", question, options, answer, "Vision", 3


def _jpeg(scene: Scene) -> dict[str, Any]:
    buffer = io.BytesIO()
    scene_image(scene).save(buffer, "JPEG", quality=90)
    return {"bytes": buffer.getvalue(), "path": None}


def write_mmmu(root: Path, rng: random.Random) -> None:
    """``data/dev-*.parquet`` and ``data/validation-*.parquet``: lmms-lab/MMMU's columns, the
    images in ``image_1`` ... (null past a question's last image)."""
    from datasets import Dataset, Features, Image, Value, disable_progress_bars

    disable_progress_bars()

    text_columns = (
        "id", "question", "options", "explanation", "img_type", "answer", "topic_difficulty",
        "question_type", "subfield",
    )  # fmt: skip
    features = Features(
        {
            **{column: Value("string") for column in text_columns},
            **{f"image_{k}": Image() for k in range(1, _IMAGES + 1)},
        }
    )
    seen: set[Scene] = set()
    for split, count in _QUESTIONS.items():
        rows: dict[str, list[Any]] = {column: [] for column in features}
        for number in range(1, count + 1):
            scenes = [new_scene(rng, seen) for _ in range(3)]
            subject, question, options, answer, subfield, shown = _question(rng, scenes)
            row = {
                "id": f"{split}_{subject}_{number}",
                "question": question,
                "options": repr(options),
                "explanation": "",
                "img_type": "['Diagrams']",
                "answer": answer,
                "topic_difficulty": rng.choice(("Easy", "Medium", "Hard")),
                "question_type": "multiple-choice" if options else "open",
                "subfield": subfield,
            }
            for k in range(1, _IMAGES + 1):
                row[f"image_{k}"] = _jpeg(scenes[k - 1]) if k <= shown else None
            for column, value in row.items():
                rows[column].append(value)
        folder = root / "data"
        folder.mkdir(parents=True, exist_ok=True)
        dataset = Dataset.from_dict(rows, features=features)
        dataset.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
