"""Synthetic scenes shared by the mini splits: coloured shapes on plain backgrounds, drawn as
96x96 JPEGs, with the vocabulary their questions and captions use."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

SIZE = 96
"""Width and height of every generated image, in pixels."""

COLORS = {
    "red": (220, 40, 40),
    "blue": (40, 80, 220),
    "green": (40, 160, 70),
    "yellow": (240, 210, 40),
    "orange": (245, 140, 30),
    "purple": (140, 60, 180),
}
COLOR_VARIANTS = {
    "red": ("dark red", "bright red", "crimson"),
    "blue": ("dark blue", "navy", "royal blue"),
    "green": ("dark green", "lime"),
    "yellow": ("gold", "light yellow"),
    "orange": ("dark orange", "orange red"),
    "purple": ("violet", "dark purple"),
}
BACKGROUNDS = {
    "white": (250, 250, 250),
    "gray": (200, 200, 200),
    "beige": (235, 225, 200),
    "light blue": (200, 225, 245),
}
SHAPE_VARIANTS = {
    "circle": ("a circle", "round", "dot"),
    "square": ("a square", "box", "rectangle"),
    "triangle": ("a triangle", "triangular", "pyramid"),
}
NUMBER_WORDS = ("zero", "one", "two", "three", "four")

LICENSE = {"name": "Apache License 2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}


@dataclass(frozen=True, slots=True)
class Shape:
    kind: str
    color: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Scene:
    background: str
    shapes: tuple[Shape, ...]


def random_scene(rng: random.Random) -> Scene:
    """One to three shapes of distinct kinds and colours, one per quadrant, so none overlap."""
    count = rng.choice((1, 2, 2, 3, 3))
    background = rng.choice(sorted(BACKGROUNDS))
    kinds = rng.sample(sorted(SHAPE_VARIANTS), count)
    colors = rng.sample(sorted(COLORS), count)
    quadrants = rng.sample([(0, 0), (48, 0), (0, 48), (48, 48)], count)
    shapes = []
    for kind, color, (qx, qy) in zip(kinds, colors, quadrants, strict=True):
        side = rng.randint(26, 40)
        x, y = qx + rng.randint(3, 45 - side), qy + rng.randint(3, 45 - side)
        shapes.append(Shape(kind, color, (x, y, x + side, y + side)))
    return Scene(background, tuple(shapes))


def draw_scene(scene: Scene, path: Path) -> None:
    save_jpeg(scene_image(scene), path)


def scene_image(scene: Scene) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        fill = COLORS[shape.color]
        x0, y0, x1, y1 = shape.box
        if shape.kind == "circle":
            draw.ellipse(shape.box, fill=fill)
        elif shape.kind == "square":
            draw.rectangle(shape.box, fill=fill)
        else:
            draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], fill=fill)
    return image


def save_jpeg(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90)


def human_answers(
    rng: random.Random, answer: str, variants: Sequence[str], max_odd: int = 3
) -> list[str]:
    """Ten answers: mostly `answer`, with up to `max_odd` annotators giving a variant."""
    answers = [answer] * 10
    for i in rng.sample(range(10), rng.randint(0, max_odd)):
        answers[i] = rng.choice(variants)
    return answers


def indefinite_article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def join_words(words: Sequence[str]) -> str:
    """``"x"``, ``"x and y"``, ``"x, y and z"``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def shape_listing(shapes: Sequence[Shape]) -> str:
    """``"a red circle, a blue square and an orange triangle"``."""
    return join_words(
        [f"{indefinite_article(shape.color)} {shape.color} {shape.kind}" for shape in shapes]
    )


def write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, sort_keys=True), encoding="utf-8")


def new_scene(rng: random.Random, seen: set[Scene]) -> Scene:
    """A random scene not in `seen` (added to it), so that no train image repeats a val one."""
    scene = random_scene(rng)
    while scene in seen:
        scene = random_scene(rng)
    seen.add(scene)
    return scene
