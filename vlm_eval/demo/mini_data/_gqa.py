"""GQA: compositional questions about shape scenes, one answer each, in the official GQA format
(``{split}_balanced_questions.json``, images ``images/{imageId}.jpg``)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, NamedTuple

from vlm_eval.demo.mini_data._scenes import (
    COLORS,
    SHAPE_VARIANTS,
    Scene,
    draw_scene,
    new_scene,
    write_json,
)

_SPLITS = (("testdev", 8), ("train", 6))
"""Images per split, two questions each: the same at every size."""


class _Question(NamedTuple):
    question: str
    answer: str
    full_answer: str
    structural: str
    semantic: str
    detailed: str


def _query_color(rng: random.Random, scene: Scene) -> _Question:
    shape = rng.choice(scene.shapes)
    return _Question(
        f"What color is the {shape.kind}?",
        shape.color,
        f"The {shape.kind} is {shape.color}.",
        "query",
        "attr",
        "color",
    )


def _verify_color(rng: random.Random, scene: Scene) -> _Question:
    shape = rng.choice(scene.shapes)
    color = rng.choice((shape.color, rng.choice(sorted(COLORS))))
    answer = "yes" if color == shape.color else "no"
    full = f"{answer.capitalize()}, the {shape.kind} is {shape.color}."
    return _Question(f"Is the {shape.kind} {color}?", answer, full, "verify", "attr", "verifyAttr")


def _choose_color(rng: random.Random, scene: Scene) -> _Question:
    shape = rng.choice(scene.shapes)
    other = rng.choice(sorted(set(COLORS) - {shape.color}))
    first, second = rng.sample((shape.color, other), 2)
    return _Question(
        f"Is the {shape.kind} {first} or {second}?",
        shape.color,
        f"The {shape.kind} is {shape.color}.",
        "choose",
        "attr",
        "chooseAttr",
    )


def _logical_exist(rng: random.Random, scene: Scene) -> _Question:
    first, second = rng.sample(sorted(SHAPE_VARIANTS), 2)
    kinds = {shape.kind for shape in scene.shapes}
    answer = "yes" if {first, second} <= kinds else "no"
    full = f"{answer.capitalize()}, there {'are' if answer == 'yes' else 'is not'} both."
    question = f"Are there both a {first} and a {second} in the picture?"
    return _Question(question, answer, full, "logical", "obj", "existAndC")


def _query_shape(rng: random.Random, scene: Scene) -> _Question:
    shape = rng.choice(scene.shapes)
    return _Question(
        f"Which shape is {shape.color}?",
        shape.kind,
        f"The {shape.kind} is {shape.color}.",
        "query",
        "cat",
        "categoryThat",
    )


_TEMPLATES = (_query_color, _verify_color, _choose_color, _logical_exist, _query_shape)


def _entry(image_id: str, asked: _Question) -> dict[str, Any]:
    return {
        "annotations": {"answer": {}, "fullAnswer": {}, "question": {}},
        "answer": asked.answer,
        "entailed": [],
        "equivalent": [],
        "fullAnswer": asked.full_answer,
        "groups": {"global": None, "local": f"{asked.detailed}-{asked.answer}"},
        "imageId": image_id,
        "isBalanced": True,
        "question": asked.question,
        "semantic": [],
        "semanticStr": "",
        "types": {
            "detailed": asked.detailed,
            "semantic": asked.semantic,
            "structural": asked.structural,
        },
    }


def _question_id(rng: random.Random, ids: set[str], *, leading_zero: bool) -> str:
    """A new 8-digit question id (added to `ids`), starting with ``0`` if `leading_zero`."""
    while True:
        question_id = f"{rng.randrange(10**7 if leading_zero else 10**8):08d}"
        if question_id not in ids:
            ids.add(question_id)
            return question_id


def write_gqa(root: Path, rng: random.Random) -> None:
    """``{testdev,train}_balanced_questions.json`` and ``images/``. Question ids are 8-digit
    strings; each split's first starts with ``0``, as some real ones do."""
    seen: set[Scene] = set()
    ids: set[str] = set()
    for split, count in _SPLITS:
        questions: dict[str, Any] = {}
        for index in range(count):
            image_id = f"n{161313 + index}" if split == "testdev" else str(2354786 + index)
            scene = new_scene(rng, seen)
            draw_scene(scene, root / "images" / f"{image_id}.jpg")
            for template in rng.sample(_TEMPLATES, 2):
                question_id = _question_id(rng, ids, leading_zero=not questions)
                questions[question_id] = _entry(image_id, template(rng, scene))
        write_json(root / f"{split}_balanced_questions.json", questions)
