"""VQAv2 and OK-VQA questions about shape scenes, in the official questions and annotations
format."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from vlm_eval.demo.mini_data._scenes import (
    COLOR_VARIANTS,
    COLORS,
    LICENSE,
    NUMBER_WORDS,
    SHAPE_VARIANTS,
    Scene,
    draw_scene,
    human_answers,
    indefinite_article,
    new_scene,
    write_json,
)
from vlm_eval.demo.mini_data._sizes import SplitSizes

# OK-VQA categories (annotations' "question_types") and knowledge used by its questions.
_OKVQA_QUESTION_TYPES = {
    "one": "Vehicles and Transportation",
    "two": "Brands, Companies and Products",
    "three": "Objects, Material and Clothing",
    "four": "Sports and Recreation",
    "five": "Cooking and Food",
    "six": "Geography, History, Language and Culture",
    "seven": "People and Everyday life",
    "eight": "Plants and Animals",
    "nine": "Science and Technology",
    "ten": "Weather and Climate",
    "other": "Other",
}
_FRUITS = {
    "red": ("apple", "strawberry", "cherries", "apples"),
    "blue": ("blueberry", "blueberries", "plum"),
    "green": ("lime", "pear", "limes", "green apple"),
    "yellow": ("banana", "lemon", "bananas"),
    "orange": ("orange", "tangerine", "oranges", "peach"),
    "purple": ("grape", "plum", "grapes", "eggplant"),
}
_TRAFFIC_LIGHT = {
    "red": ("stop", "stop sign", "halt"),
    "green": ("go", "drive", "go ahead"),
    "yellow": ("slow down", "caution", "yield"),
    "orange": ("slow down", "caution", "prepare to stop"),
}
_SIDES = {"square": ("4", "four", "4 sides"), "triangle": ("3", "three", "3 sides")}

_VQA_INFO = {
    "contributor": "vlm-eval",
    "date_created": "2024-01-01 00:00:00",
    "description": "Synthetic mini split in the official format (vlm-eval demo).",
    "url": "https://github.com/vlm-eval/vlm-eval",
    "version": "2.0",
    "year": 2024,
}


class _QA(NamedTuple):
    question: str
    question_type: str
    answer_type: str
    answers: list[str]


_Template = Callable[[random.Random, Scene], _QA | None]


# VQAv2: perception questions, with the official question_type prefixes.


def _vqa_color(rng: random.Random, scene: Scene) -> _QA:
    shape = rng.choice(scene.shapes)
    answers = human_answers(rng, shape.color, COLOR_VARIANTS[shape.color])
    return _QA(f"What color is the {shape.kind}?", "what color is the", "other", answers)


def _vqa_count(rng: random.Random, scene: Scene) -> _QA:
    n = len(scene.shapes)
    question = rng.choice(("How many shapes are there?", "How many shapes are in the picture?"))
    answers = human_answers(rng, str(n), (NUMBER_WORDS[n], str(n + 1)))
    return _QA(question, "how many", "number", answers)


def _vqa_is_there(rng: random.Random, scene: Scene) -> _QA:
    if rng.random() < 0.5:
        color = rng.choice(sorted(COLORS))
        question = f"Is there {indefinite_article(color)} {color} shape?"
        present = color in {shape.color for shape in scene.shapes}
    else:
        kind = rng.choice(sorted(SHAPE_VARIANTS))
        question = f"Is there a {kind} in the picture?"
        present = kind in {shape.kind for shape in scene.shapes}
    answer, other = ("yes", "no") if present else ("no", "yes")
    return _QA(question, "is there a", "yes/no", human_answers(rng, answer, (other,), 1))


def _vqa_what_shape(rng: random.Random, scene: Scene) -> _QA:
    shape = rng.choice(scene.shapes)
    answers = human_answers(rng, shape.kind, SHAPE_VARIANTS[shape.kind])
    return _QA(f"What is the {shape.color} shape?", "what is the", "other", answers)


# OK-VQA: the answer needs knowledge beyond the image; question_type is the category key.


def _okvqa_fruit(rng: random.Random, scene: Scene) -> _QA:
    shape = rng.choice(scene.shapes)
    fruits = _FRUITS[shape.color]
    question = f"What fruit has the same color as the {shape.kind}?"
    return _QA(question, "five", "other", human_answers(rng, fruits[0], fruits[1:], 5))


def _okvqa_traffic_light(rng: random.Random, scene: Scene) -> _QA | None:
    shapes = [shape for shape in scene.shapes if shape.color in _TRAFFIC_LIGHT]
    if not shapes:
        return None
    shape = rng.choice(shapes)
    meanings = _TRAFFIC_LIGHT[shape.color]
    question = f"What should a driver do when a traffic light has the color of the {shape.kind}?"
    return _QA(question, "one", "other", human_answers(rng, meanings[0], meanings[1:], 4))


def _okvqa_sides(rng: random.Random, scene: Scene) -> _QA | None:
    shapes = [shape for shape in scene.shapes if shape.kind in _SIDES]
    if not shapes:
        return None
    shape = rng.choice(shapes)
    sides = _SIDES[shape.kind]
    question = f"In geometry, how many sides does the {shape.color} shape have?"
    return _QA(question, "nine", "other", human_answers(rng, sides[0], sides[1:], 4))


def _singular(answer: str) -> str:
    """OK-VQA v1.1 stores answers singularized next to the annotator's ``raw_answer``."""
    return answer[:-3] + "y" if answer.endswith("ies") else answer.removesuffix("s")


def _questions(rng: random.Random, scene: Scene, templates: Sequence[_Template]) -> list[_QA]:
    """Two questions about `scene` from different templates that apply to it."""
    questions = []
    for template in rng.sample(templates, len(templates)):
        qa = template(rng, scene)
        if qa is not None:
            questions.append(qa)
        if len(questions) == 2:
            break
    return questions


def _vqa_answers(rng: random.Random, qa: _QA, okvqa: bool) -> dict[str, Any]:
    """The annotation fields built from the 10 answers."""
    if okvqa:
        answers = [
            {
                "answer": _singular(raw),
                "answer_confidence": "yes",
                "answer_id": i,
                "raw_answer": raw,
            }
            for i, raw in enumerate(qa.answers, 1)
        ]
        return {"answers": answers}
    majority = Counter(qa.answers).most_common(1)[0][0]
    answers = [
        {
            "answer": answer,
            "answer_confidence": "yes" if answer == majority else rng.choice(("yes", "maybe")),
            "answer_id": i,
        }
        for i, answer in enumerate(qa.answers, 1)
    ]
    return {"answers": answers, "multiple_choice_answer": majority}


def write_vqa(root: Path, rng: random.Random, sizes: SplitSizes, *, okvqa: bool) -> None:
    """VQAv2 (``okvqa=False``) or OK-VQA questions, annotations and COCO-named images."""
    templates: list[_Template]
    if okvqa:
        templates = [_okvqa_fruit, _okvqa_traffic_light, _okvqa_sides]
        prefix, ids_per_image = "", 10
    else:
        templates = [_vqa_color, _vqa_count, _vqa_is_there, _vqa_what_shape]
        prefix, ids_per_image = "v2_", 1000
    n_val = sizes.vqa_val
    image_ids = rng.sample(range(1, 581930), n_val + sizes.vqa_train)
    seen: set[Scene] = set()
    for subtype, ids in (("val2014", image_ids[:n_val]), ("train2014", image_ids[n_val:])):
        questions, annotations = [], []
        for image_id in ids:
            scene = new_scene(rng, seen)
            draw_scene(scene, root / subtype / f"COCO_{subtype}_{image_id:012d}.jpg")
            for k, qa in enumerate(_questions(rng, scene, templates)):
                question_id = image_id * ids_per_image + k
                questions.append(
                    {"image_id": image_id, "question": qa.question, "question_id": question_id}
                )
                annotation = {
                    "answer_type": qa.answer_type,
                    "image_id": image_id,
                    "question_id": question_id,
                    "question_type": qa.question_type,
                }
                annotations.append(annotation | _vqa_answers(rng, qa, okvqa))
        header = {
            "data_subtype": subtype,
            "data_type": "mscoco",
            "info": _VQA_INFO,
            "license": LICENSE,
        }
        questions_doc = header | {"questions": questions, "task_type": "Open-Ended"}
        annotations_doc = header | {"annotations": annotations}
        if okvqa:
            annotations_doc["question_types"] = _OKVQA_QUESTION_TYPES
        write_json(root / f"{prefix}OpenEnded_mscoco_{subtype}_questions.json", questions_doc)
        write_json(root / f"{prefix}mscoco_{subtype}_annotations.json", annotations_doc)
