"""MathVista: synthetic problems about shape scenes, in the official format (``testmini.json``
keyed by pid, ``query.json``, ``images/{pid}.jpg``)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlm_eval.data import mathvista_query
from vlm_eval.demo.mini_data._scenes import (
    BACKGROUNDS,
    COLORS,
    SHAPE_VARIANTS,
    SIZE,
    Scene,
    draw_scene,
    new_scene,
)

Problem = dict[str, Any]


def _colour(rng: random.Random, scene: Scene) -> Problem:
    shape = rng.choice(scene.shapes)
    choices = [shape.color, *rng.sample([c for c in sorted(COLORS) if c != shape.color], 3)]
    rng.shuffle(choices)
    return {
        "question": f"What colour is the {shape.kind}?",
        "choices": choices,
        "answer": shape.color,
        "question_type": "multi_choice",
        "answer_type": "text",
        "task": "visual question answering",
        "category": "general-vqa",
        "grade": "not applicable",
        "skills": ["numeric commonsense"],
    }


def _present(rng: random.Random, scene: Scene) -> Problem:
    asked = rng.choice(sorted(SHAPE_VARIANTS))
    return {
        "question": f"Is there a {asked} in the image?",
        "choices": ["Yes", "No"],
        "answer": "Yes" if asked in {s.kind for s in scene.shapes} else "No",
        "question_type": "multi_choice",
        "answer_type": "text",
        "task": "visual question answering",
        "category": "general-vqa",
        "grade": "not applicable",
        "skills": ["logical reasoning"],
    }


def _count(rng: random.Random, scene: Scene) -> Problem:
    return {
        "question": "How many shapes are in the image?",
        "answer": str(len(scene.shapes)),
        "question_type": "free_form",
        "answer_type": "integer",
        "task": "math word problem",
        "category": "math-targeted-vqa",
        "grade": "elementary school",
        "skills": ["arithmetic reasoning"],
    }


def _subtract(rng: random.Random, scene: Scene) -> Problem:
    color = rng.choice(sorted(COLORS))
    left = sum(shape.color != color for shape in scene.shapes)
    return {
        "question": f"Subtract all {color} shapes. How many shapes are left?",
        "answer": str(left),
        "question_type": "free_form",
        "answer_type": "integer",
        "task": "math word problem",
        "category": "math-targeted-vqa",
        "grade": "elementary school",
        "skills": ["arithmetic reasoning", "logical reasoning"],
    }


def _fraction(rng: random.Random, scene: Scene) -> Problem:
    kind = rng.choice(sorted(SHAPE_VARIANTS))
    share = sum(shape.kind == kind for shape in scene.shapes) / len(scene.shapes)
    return {
        "question": f"What fraction of the shapes are {kind}s?",
        "answer": str(round(share, 1)),
        "precision": 1,
        "question_type": "free_form",
        "answer_type": "float",
        "task": "figure question answering",
        "category": "math-targeted-vqa",
        "grade": "high school",
        "skills": ["arithmetic reasoning", "statistical reasoning"],
    }


def _width(rng: random.Random, scene: Scene) -> Problem:
    shape = rng.choice(scene.shapes)
    x0, _, x1, _ = shape.box
    return {
        "question": f"What share of the image's width does the {shape.kind} span?",
        "answer": str(round((x1 - x0) / SIZE, 2)),
        "precision": 2,
        "question_type": "free_form",
        "answer_type": "float",
        "task": "geometry problem solving",
        "category": "math-targeted-vqa",
        "grade": "high school",
        "skills": ["geometry reasoning", "arithmetic reasoning"],
    }


def _kinds(rng: random.Random, scene: Scene) -> Problem:
    counts = [sum(shape.kind == kind for shape in scene.shapes) for kind in sorted(SHAPE_VARIANTS)]
    return {
        "question": "How many circles, squares and triangles are in the image, in that order?",
        "answer": "[" + ", ".join(map(str, counts)) + "]",
        "question_type": "free_form",
        "answer_type": "list",
        "task": "figure question answering",
        "category": "math-targeted-vqa",
        "grade": "elementary school",
        "skills": ["arithmetic reasoning"],
    }


def _side(rng: random.Random, scene: Scene) -> Problem:
    shape = rng.choice(scene.shapes)
    x0, _, x1, _ = shape.box
    return {
        "question": f"How wide is the {shape.kind}?",
        "unit": "pixels",
        "answer": str(x1 - x0),
        "question_type": "free_form",
        "answer_type": "integer",
        "task": "geometry problem solving",
        "category": "math-targeted-vqa",
        "grade": "middle school",
        "skills": ["geometry reasoning"],
    }


def _sides(rng: random.Random, scene: Scene) -> Problem:
    sides = {"circle": 0, "square": 4, "triangle": 3}
    return {
        "question": "How many straight sides do the shapes in the image have in all?",
        "answer": str(sum(sides[shape.kind] for shape in scene.shapes)),
        "question_type": "free_form",
        "answer_type": "integer",
        "task": "math word problem",
        "category": "math-targeted-vqa",
        "grade": "elementary school",
        "skills": ["geometry reasoning", "arithmetic reasoning"],
    }


def _background(rng: random.Random, scene: Scene) -> Problem:
    choices = sorted(BACKGROUNDS)
    rng.shuffle(choices)
    return {
        "question": "What colour is the background?",
        "choices": choices,
        "answer": scene.background,
        "question_type": "multi_choice",
        "answer_type": "text",
        "task": "visual question answering",
        "category": "general-vqa",
        "grade": "not applicable",
        "skills": ["numeric commonsense"],
    }


_KINDS: tuple[Callable[[random.Random, Scene], Problem], ...] = (
    _colour,
    _count,
    _present,
    _subtract,
    _fraction,
    _kinds,
    _width,
    _side,
    _sides,
    _background,
)
"""One problem of each kind, in this order: every question type and answer type of the official
file, each question asked once (a judge sees no two the same)."""


def write_mathvista(root: Path, rng: random.Random) -> None:
    """``testmini.json`` (one problem of each of ``_KINDS``, with the metadata fields of the
    official file), ``query.json`` (the official prompts) and ``images/{pid}.jpg``, the same with
    ``--sizes mini`` and ``demo``."""
    seen: set[Scene] = set()
    problems, queries = {}, {}
    for index, kind in enumerate(_KINDS):
        pid = str(index + 1)
        scene = new_scene(rng, seen)
        asked = kind(rng, scene)
        draw_scene(scene, root / "images" / f"{pid}.jpg")
        problem = {
            "question": asked["question"],
            "image": f"images/{pid}.jpg",
            "choices": asked.get("choices"),
            "unit": asked.get("unit"),
            "precision": asked.get("precision"),
            "answer": asked["answer"],
            "question_type": asked["question_type"],
            "answer_type": asked["answer_type"],
            "pid": pid,
            "metadata": {
                "split": "testmini",
                "language": "english",
                "img_width": SIZE,
                "img_height": SIZE,
                "source": "vlm-eval synthetic scenes",
                "category": asked["category"],
                "task": asked["task"],
                "context": "synthetic scene",
                "grade": asked["grade"],
                "skills": asked["skills"],
            },
        }
        problems[pid] = problem
        queries[pid] = mathvista_query(
            problem["question"],
            problem["choices"] or (),
            problem["unit"],
            problem["question_type"],
            problem["answer_type"],
            problem["precision"],
        )
    root.mkdir(parents=True, exist_ok=True)
    for name, content in (("testmini.json", problems), ("query.json", queries)):
        text = json.dumps(content, indent=4, ensure_ascii=False) + "\n"
        (root / name).write_text(text, encoding="utf-8")
