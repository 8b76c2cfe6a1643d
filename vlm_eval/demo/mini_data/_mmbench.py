"""MMBench: multiple-choice questions on shape scenes, in the official TSV format."""

from __future__ import annotations

import base64
import csv
import io
import random
from pathlib import Path

from vlm_eval.demo.mini_data._scenes import COLORS, SHAPE_VARIANTS, Scene, new_scene, scene_image

_MMBENCH_QUESTIONS = {"DEV_EN": 8, "TEST_EN": 3}
"""Questions per split (with ``--sizes mini`` and ``demo`` alike)."""
_MMBENCH_COLUMNS = (
    "index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "image",
)  # fmt: skip
_MMBENCH_HINT = "The image shows coloured shapes on a plain background."


def _mmbench_question(rng: random.Random, scene: Scene) -> tuple[str, list[str], str, str, str]:
    """A question about `scene` with 2 to 4 options: the question, the options, the right
    option's text, the category and the l2-category."""
    shape = rng.choice(scene.shapes)
    kind = rng.randrange(3)
    if kind == 0:
        others = [color for color in sorted(COLORS) if color != shape.color]
        options = [shape.color, *rng.sample(others, 3)]
        question = f"What colour is the {shape.kind}?"
        category = ("attribute_recognition", "finegrained_perception (instance-level)")
    elif kind == 1:
        options = [str(len(scene.shapes)), *[str(n) for n in (1, 2, 3) if n != len(scene.shapes)]]
        question = "How many shapes are in the image?"
        category = ("object_counting", "coarse_perception")
    else:
        asked = rng.choice(sorted(SHAPE_VARIANTS))
        present = asked in {s.kind for s in scene.shapes}
        options = ["yes" if present else "no", "no" if present else "yes"]
        question = f"Is there a {asked} in the image?"
        category = ("object_existence", "coarse_perception")
    right = options[0]
    rng.shuffle(options)
    return question, options, right, *category


def write_mmbench(root: Path, rng: random.Random) -> None:
    """``MMBench_DEV_EN.tsv`` and ``MMBench_TEST_EN.tsv`` (no ``answer`` column), images as
    base64 JPEG cells; some questions have a hint, options beyond the question's are empty."""
    seen: set[Scene] = set()
    index = 0
    for split, count in _MMBENCH_QUESTIONS.items():
        columns = [c for c in _MMBENCH_COLUMNS if c != "answer" or split == "DEV_EN"]
        rows = []
        for _ in range(count):
            scene = new_scene(rng, seen)
            question, options, right, category, l2_category = _mmbench_question(rng, scene)
            buffer = io.BytesIO()
            scene_image(scene).save(buffer, "JPEG", quality=90)
            letters = dict(zip("ABCD", options, strict=False))
            row = {
                "index": str(index),
                "question": question,
                "hint": _MMBENCH_HINT if rng.random() < 0.5 else "",
                **{letter: letters.get(letter, "") for letter in "ABCD"},
                "answer": "ABCD"[options.index(right)],
                "category": category,
                "l2-category": l2_category,
                "image": base64.b64encode(buffer.getvalue()).decode("ascii"),
            }
            rows.append([row[column] for column in columns])
            index += 1
        root.mkdir(parents=True, exist_ok=True)
        with (root / f"MMBench_{split}.tsv").open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, delimiter="\t", lineterminator="\n")
            writer.writerows([columns, *rows])
