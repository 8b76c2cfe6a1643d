"""VizWiz-VQA: questions about shape scenes, some photos too blurred to answer, in the official
VizWiz format (``Annotations/{split}.json``, images ``{split}/VizWiz_{split}_%08d.jpg``)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PIL import ImageFilter

from vlm_eval.demo.mini_data._scenes import (
    COLOR_VARIANTS,
    NUMBER_WORDS,
    SHAPE_VARIANTS,
    Scene,
    human_answers,
    new_scene,
    save_jpeg,
    scene_image,
    write_json,
)

_SPLITS = (("val", 12), ("train", 10), ("test", 4))
"""Questions (one per image) per split: the same at every size."""
_UNREADABLE = ("What does this label say?", "What is written on this box?", "What is this?")


def _question(rng: random.Random, scene: Scene) -> tuple[str, str, str, tuple[str, ...]]:
    """A question about the scene: its text, answer type, answer and the variants some
    annotators give."""
    shape = rng.choice(scene.shapes)
    kind = rng.randrange(3)
    if kind == 0:
        return "What color is this?", "other", shape.color, COLOR_VARIANTS[shape.color]
    if kind == 1:
        count = len(scene.shapes)
        question = "How many shapes are in this picture?"
        return question, "number", str(count), (NUMBER_WORDS[count], "unanswerable")
    asked = rng.choice(sorted(SHAPE_VARIANTS))
    answer = "yes" if asked in {s.kind for s in scene.shapes} else "no"
    return f"Is there a {asked} here?", "yes/no", answer, ("unanswerable",)


def _record(rng: random.Random, scene: Scene, name: str, image_dir: Path) -> dict[str, Any]:
    """The record of one photo, written to ``image_dir``: one in four is blurred beyond
    reading and asked about text it does not show (unanswerable)."""
    image = scene_image(scene)
    if rng.random() < 0.25:
        image = image.filter(ImageFilter.GaussianBlur(6))
        question, answer_type, answer = rng.choice(_UNREADABLE), "unanswerable", "unanswerable"
        variants: tuple[str, ...] = ("unsuitable image", "blurry")
    else:
        question, answer_type, answer, variants = _question(rng, scene)
    save_jpeg(image, image_dir / name)
    answers = [
        {"answer": text, "answer_confidence": rng.choice(("yes", "yes", "yes", "maybe"))}
        for text in human_answers(rng, answer, variants)
    ]
    return {
        "image": name,
        "question": question,
        "answers": answers,
        "answer_type": answer_type,
        "answerable": int(answer_type != "unanswerable"),
    }


def write_vizwiz(root: Path, rng: random.Random) -> None:
    """``Annotations/{val,train,test}.json`` and the images of each split; the test file holds
    the questions only, as the official one."""
    seen: set[Scene] = set()
    for split, count in _SPLITS:
        records = []
        for index in range(count):
            name = f"VizWiz_{split}_{index:08d}.jpg"
            record = _record(rng, new_scene(rng, seen), name, root / split)
            keys = ("image", "question") if split == "test" else record
            records.append({key: record[key] for key in keys})
        write_json(root / "Annotations" / f"{split}.json", records)
