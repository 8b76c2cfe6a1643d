"""ScienceQA: multiple-choice questions on shape scenes (and a few without an image, which
ScienceQA-IMG leaves out), in the official format."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from vlm_eval.demo.mini_data._scenes import (
    COLORS,
    SHAPE_VARIANTS,
    Scene,
    new_scene,
    scene_image,
    write_json,
)

_QUESTIONS = {"train": (9, 1), "val": (2, 1), "test": (8, 2)}
"""Questions per split (with ``--sizes mini`` and ``demo`` alike): with and without an image."""
_SUBJECTS = {"NAT": "natural science", "SOC": "social science", "LAN": "language science"}
_WORDS = ("apple", "river", "candle", "mountain", "window")


def _image_question(rng: random.Random, scene: Scene) -> tuple[str, str, list[str], str]:
    """A question about `scene`: its subject (paper group), question, options and answer."""
    shape = rng.choice(scene.shapes)
    kind = rng.randrange(3)
    if kind == 0:
        others = [color for color in sorted(COLORS) if color != shape.color]
        options = [shape.color, *rng.sample(others, rng.randint(1, 3))]
        return "NAT", f"Which colour is the {shape.kind}?", options, shape.color
    if kind == 1:
        count = len(scene.shapes)
        options = [str(count), *[str(n) for n in (1, 2, 3) if n != count]]
        return "SOC", "How many shapes are on the map?", options, str(count)
    options = sorted(SHAPE_VARIANTS)
    return "LAN", f"Which word names the {shape.color} shape?", options, shape.kind


def _text_question(rng: random.Random) -> tuple[str, str, list[str], str]:
    """A question without an image (alphabetical order of two words)."""
    first, second = sorted(rng.sample(_WORDS, 2))
    question = f"Which word comes first in alphabetical order: {second} or {first}?"
    return "LAN", question, [second, first], first


def write_scienceqa(root: Path, rng: random.Random) -> None:
    """``problems.json``, ``pid_splits.json`` and ``images/{split}/{id}/image.png``; options
    shuffled, two to four per question; some hints empty; no scene repeats across splits."""
    seen: set[Scene] = set()
    problems: dict[str, dict[str, Any]] = {}
    splits: dict[str, list[str]] = {}
    pid = 100
    for split, (with_image, without) in _QUESTIONS.items():
        kinds = [True] * with_image + [False] * without
        rng.shuffle(kinds)
        for has_image in kinds:
            scene = new_scene(rng, seen) if has_image else None
            subject, question, options, answer = (
                _text_question(rng) if scene is None else _image_question(rng, scene)
            )
            rng.shuffle(options)
            hint = f"The picture has a {scene.background} background." if scene else ""
            problems[str(pid)] = {
                "answer": options.index(answer),
                "category": "Shapes",
                "choices": options,
                "grade": f"grade{rng.randint(1, 12)}",
                "hint": hint if rng.random() < 0.5 else "",
                "image": None if scene is None else "image.png",
                "lecture": "Shapes have a colour and a number of sides.",
                "question": question,
                "skill": "Identify shapes",
                "solution": f"The answer is {answer}.",
                "split": split,
                "subject": _SUBJECTS[subject],
                "task": "closed choice",
                "topic": "shapes",
            }
            if scene is not None:
                path = root / "images" / split / str(pid) / "image.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                scene_image(scene).save(path, "PNG")
            splits.setdefault(split, []).append(str(pid))
            pid += 1
    write_json(root / "problems.json", problems)
    write_json(root / "pid_splits.json", splits)
