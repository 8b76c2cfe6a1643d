"""A-OKVQA: four-option questions on shape scenes, with direct answers and rationales, in the
official format."""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

from vlm_eval.demo.mini_data._scenes import (
    COLORS,
    NUMBER_WORDS,
    Scene,
    new_scene,
    save_jpeg,
    scene_image,
    write_json,
)

_QUESTIONS = {"train": 9, "val": 8, "test": 2}
"""Questions per split (with ``--sizes mini`` and ``demo`` alike), one per image."""
_USES = {"circle": "a ball", "square": "a box", "triangle": "a roof"}


def _question(rng: random.Random, scene: Scene) -> tuple[str, list[str], str, str]:
    """A question about `scene`: the question, four options, the right one and a rationale."""
    shape = rng.choice(scene.shapes)
    kind = rng.randrange(3)
    if kind == 0:
        others = [color for color in sorted(COLORS) if color != shape.color]
        options = [shape.color, *rng.sample(others, 3)]
        return (f"What colour is the {shape.kind}?", options, shape.color,
                f"The {shape.kind} is painted {shape.color}.")  # fmt: skip
    if kind == 1:
        count = NUMBER_WORDS[len(scene.shapes)]
        options = [count, *[word for word in NUMBER_WORDS[1:] if word != count][:3]]
        return ("How many shapes are there?", options, count,
                f"There are {count} shapes in the picture.")  # fmt: skip
    use = _USES[shape.kind]
    options = [use, *[other for other in sorted(_USES.values()) if other != use], "a cloud"]
    return (f"What everyday object looks like the {shape.color} shape?", options, use,
            f"The {shape.color} shape is a {shape.kind}, the shape of {use}.")  # fmt: skip


def write_aokvqa(root: Path, rng: random.Random) -> None:
    """``aokvqa_v1p0_{split}.json`` and the COCO-named images in ``{split}2017/``
    (``{image_id:012d}.jpg``); the test split without answers nor rationales."""
    seen: set[Scene] = set()
    image_id = 1000
    for split, count in _QUESTIONS.items():
        questions: list[dict[str, Any]] = []
        for _ in range(count):
            scene = new_scene(rng, seen)
            save_jpeg(scene_image(scene), root / f"{split}2017" / f"{image_id:012d}.jpg")
            question, options, answer, rationale = _question(rng, scene)
            rng.shuffle(options)
            record: dict[str, Any] = {
                "split": split,
                "image_id": image_id,
                "question_id": "".join(rng.choices(string.ascii_letters + string.digits, k=22)),
                "question": question,
                "choices": options,
                "difficult_direct_answer": False,
            }
            if split != "test":
                record |= {
                    "correct_choice_idx": options.index(answer),
                    "direct_answers": [answer] * 8 + rng.sample(options, 2),
                    "rationales": [rationale, f"It is {answer}.", f"The answer is {answer}."],
                }
            questions.append(record)
            image_id += 1
        write_json(root / f"aokvqa_v1p0_{split}.json", questions)
