"""Deterministic generator of the demo's mini splits, in the exact official file formats.

Images are 96x96 JPEG scenes of coloured shapes (or signs with a word or number for TextVQA),
or PNG pages with a title and form fields (DocVQA); every question is answerable from its image
and has 10 answers with human-like variation (DocVQA: two accepted answers). No train image is
identical to an evaluation image of its task.

Usage: ``python -m vlm_eval.demo.mini_data OUT_DIR [--seed N] [--sizes mini|demo]``.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageDraw, ImageFont

SIZE = 96
"""Width and height of every generated image, in pixels."""

_COLORS = {
    "red": (220, 40, 40),
    "blue": (40, 80, 220),
    "green": (40, 160, 70),
    "yellow": (240, 210, 40),
    "orange": (245, 140, 30),
    "purple": (140, 60, 180),
}
_COLOR_VARIANTS = {
    "red": ("dark red", "bright red", "crimson"),
    "blue": ("dark blue", "navy", "royal blue"),
    "green": ("dark green", "lime"),
    "yellow": ("gold", "light yellow"),
    "orange": ("dark orange", "orange red"),
    "purple": ("violet", "dark purple"),
}
_BACKGROUNDS = {
    "white": (250, 250, 250),
    "gray": (200, 200, 200),
    "beige": (235, 225, 200),
    "light blue": (200, 225, 245),
}
_SHAPE_VARIANTS = {
    "circle": ("a circle", "round", "dot"),
    "square": ("a square", "box", "rectangle"),
    "triangle": ("a triangle", "triangular", "pyramid"),
}
_NUMBER_WORDS = ("zero", "one", "two", "three", "four")
_SIGN_WORDS = ("stop", "open", "exit", "cafe", "sale", "taxi", "hotel", "pizza", "bank", "park")
_IMAGE_CLASSES = ("Sign", "Poster", "Billboard", "Street sign")

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
_LICENSE = {"name": "Apache License 2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}


@dataclass(frozen=True, slots=True)
class SplitSizes:
    """Images per split of each task; every VQA image (VQAv2, OK-VQA, TextVQA) has two questions.

    Attributes:
        vqa_val, vqa_train: VQAv2 and OK-VQA images each, in ``val2014`` and ``train2014``.
        textvqa_val, textvqa_train: TextVQA sign images in ``val`` and ``train``.
        caption_test, caption_train: Karpathy ``test`` (from val2014) and ``train`` images.
        docvqa_val, docvqa_train, docvqa_test: DocVQA pages (two questions each) per split.
    """

    vqa_val: int = 12
    vqa_train: int = 6
    textvqa_val: int = 12
    textvqa_train: int = 6
    caption_test: int = 16
    caption_train: int = 8
    docvqa_val: int = 6
    docvqa_train: int = 5
    docvqa_test: int = 2


MINI_SIZES = SplitSizes()
"""The bundled mini splits (``vlm_eval/demo/data``): a few samples per task."""

DEMO_SIZES = SplitSizes(
    vqa_val=256,
    vqa_train=2000,
    textvqa_val=250,
    textvqa_train=2000,
    caption_test=200,
    caption_train=2000,
    docvqa_val=100,
    docvqa_train=200,
    docvqa_test=10,
)
"""Splits that decide things: 500 questions per VQA task and 200 caption images to evaluate,
and train splits to train the demo checkpoint on (``vlm_eval.demo.train``)."""

_PRESETS = {"mini": MINI_SIZES, "demo": DEMO_SIZES}


@dataclass(frozen=True, slots=True)
class _Shape:
    kind: str
    color: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class _Scene:
    background: str
    shapes: tuple[_Shape, ...]


class _QA(NamedTuple):
    question: str
    question_type: str
    answer_type: str
    answers: list[str]


_Template = Callable[[random.Random, _Scene], _QA | None]


def _random_scene(rng: random.Random) -> _Scene:
    """One to three shapes of distinct kinds and colours, one per quadrant, so none overlap."""
    count = rng.choice((1, 2, 2, 3, 3))
    background = rng.choice(sorted(_BACKGROUNDS))
    kinds = rng.sample(sorted(_SHAPE_VARIANTS), count)
    colors = rng.sample(sorted(_COLORS), count)
    quadrants = rng.sample([(0, 0), (48, 0), (0, 48), (48, 48)], count)
    shapes = []
    for kind, color, (qx, qy) in zip(kinds, colors, quadrants, strict=True):
        side = rng.randint(26, 40)
        x, y = qx + rng.randint(3, 45 - side), qy + rng.randint(3, 45 - side)
        shapes.append(_Shape(kind, color, (x, y, x + side, y + side)))
    return _Scene(background, tuple(shapes))


def _draw_scene(scene: _Scene, path: Path) -> None:
    _save_jpeg(_scene_image(scene), path)


def _scene_image(scene: _Scene) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), _BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        fill = _COLORS[shape.color]
        x0, y0, x1, y1 = shape.box
        if shape.kind == "circle":
            draw.ellipse(shape.box, fill=fill)
        elif shape.kind == "square":
            draw.rectangle(shape.box, fill=fill)
        else:
            draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) // 2, y0)], fill=fill)
    return image


def _save_jpeg(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90)


def _human_answers(
    rng: random.Random, answer: str, variants: Sequence[str], max_odd: int = 3
) -> list[str]:
    """Ten answers: mostly `answer`, with up to `max_odd` annotators giving a variant."""
    answers = [answer] * 10
    for i in rng.sample(range(10), rng.randint(0, max_odd)):
        answers[i] = rng.choice(variants)
    return answers


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _join(words: Sequence[str]) -> str:
    """``"x"``, ``"x and y"``, ``"x, y and z"``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _listing(shapes: Sequence[_Shape]) -> str:
    """``"a red circle, a blue square and an orange triangle"``."""
    return _join([f"{_article(shape.color)} {shape.color} {shape.kind}" for shape in shapes])


# VQAv2: perception questions, with the official question_type prefixes.


def _vqa_color(rng: random.Random, scene: _Scene) -> _QA:
    shape = rng.choice(scene.shapes)
    answers = _human_answers(rng, shape.color, _COLOR_VARIANTS[shape.color])
    return _QA(f"What color is the {shape.kind}?", "what color is the", "other", answers)


def _vqa_count(rng: random.Random, scene: _Scene) -> _QA:
    n = len(scene.shapes)
    question = rng.choice(("How many shapes are there?", "How many shapes are in the picture?"))
    answers = _human_answers(rng, str(n), (_NUMBER_WORDS[n], str(n + 1)))
    return _QA(question, "how many", "number", answers)


def _vqa_is_there(rng: random.Random, scene: _Scene) -> _QA:
    if rng.random() < 0.5:
        color = rng.choice(sorted(_COLORS))
        question = f"Is there {_article(color)} {color} shape?"
        present = color in {shape.color for shape in scene.shapes}
    else:
        kind = rng.choice(sorted(_SHAPE_VARIANTS))
        question = f"Is there a {kind} in the picture?"
        present = kind in {shape.kind for shape in scene.shapes}
    answer, other = ("yes", "no") if present else ("no", "yes")
    return _QA(question, "is there a", "yes/no", _human_answers(rng, answer, (other,), 1))


def _vqa_what_shape(rng: random.Random, scene: _Scene) -> _QA:
    shape = rng.choice(scene.shapes)
    answers = _human_answers(rng, shape.kind, _SHAPE_VARIANTS[shape.kind])
    return _QA(f"What is the {shape.color} shape?", "what is the", "other", answers)


# OK-VQA: the answer needs knowledge beyond the image; question_type is the category key.


def _okvqa_fruit(rng: random.Random, scene: _Scene) -> _QA:
    shape = rng.choice(scene.shapes)
    fruits = _FRUITS[shape.color]
    question = f"What fruit has the same color as the {shape.kind}?"
    return _QA(question, "five", "other", _human_answers(rng, fruits[0], fruits[1:], 5))


def _okvqa_traffic_light(rng: random.Random, scene: _Scene) -> _QA | None:
    shapes = [shape for shape in scene.shapes if shape.color in _TRAFFIC_LIGHT]
    if not shapes:
        return None
    shape = rng.choice(shapes)
    meanings = _TRAFFIC_LIGHT[shape.color]
    question = f"What should a driver do when a traffic light has the color of the {shape.kind}?"
    return _QA(question, "one", "other", _human_answers(rng, meanings[0], meanings[1:], 4))


def _okvqa_sides(rng: random.Random, scene: _Scene) -> _QA | None:
    shapes = [shape for shape in scene.shapes if shape.kind in _SIDES]
    if not shapes:
        return None
    shape = rng.choice(shapes)
    sides = _SIDES[shape.kind]
    question = f"In geometry, how many sides does the {shape.color} shape have?"
    return _QA(question, "nine", "other", _human_answers(rng, sides[0], sides[1:], 4))


def _singular(answer: str) -> str:
    """OK-VQA v1.1 stores answers singularized next to the annotator's ``raw_answer``."""
    return answer[:-3] + "y" if answer.endswith("ies") else answer.removesuffix("s")


def _questions(rng: random.Random, scene: _Scene, templates: Sequence[_Template]) -> list[_QA]:
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


def _write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, sort_keys=True), encoding="utf-8")


def _new_scene(rng: random.Random, seen: set[_Scene]) -> _Scene:
    """A random scene not in `seen` (added to it), so that no train image repeats a val one."""
    scene = _random_scene(rng)
    while scene in seen:
        scene = _random_scene(rng)
    seen.add(scene)
    return scene


def _write_vqa(root: Path, rng: random.Random, sizes: SplitSizes, *, okvqa: bool) -> None:
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
    seen: set[_Scene] = set()
    for subtype, ids in (("val2014", image_ids[:n_val]), ("train2014", image_ids[n_val:])):
        questions, annotations = [], []
        for image_id in ids:
            scene = _new_scene(rng, seen)
            _draw_scene(scene, root / subtype / f"COCO_{subtype}_{image_id:012d}.jpg")
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
            "license": _LICENSE,
        }
        questions_doc = header | {"questions": questions, "task_type": "Open-Ended"}
        annotations_doc = header | {"annotations": annotations}
        if okvqa:
            annotations_doc["question_types"] = _OKVQA_QUESTION_TYPES
        _write_json(root / f"{prefix}OpenEnded_mscoco_{subtype}_questions.json", questions_doc)
        _write_json(root / f"{prefix}mscoco_{subtype}_annotations.json", annotations_doc)


def _draw_sign(text: str, sign: str, ink: str, background: str, path: Path) -> None:
    """A coloured sign showing `text` in PIL's default font."""
    image = Image.new("RGB", (SIZE, SIZE), _BACKGROUNDS[background])
    draw = ImageDraw.Draw(image)
    draw.rectangle((6, 24, SIZE - 7, SIZE - 25), fill=_COLORS[sign], outline=(60, 60, 60), width=2)
    font = ImageFont.load_default(size=22)
    draw.text((SIZE / 2, SIZE / 2), text, fill=ink, font=font, anchor="mm")
    _save_jpeg(image, path)


def _textvqa_questions(
    rng: random.Random, text: str, sign: str, ink: str
) -> list[tuple[str, list[str]]]:
    """Two (question, answers) pairs: read the sign, then the colour of the sign or its text."""
    if text.isdigit():
        read = "what number is on the sign?"
        variants: tuple[str, ...] = (f"#{text}", f"number {text}", "unanswerable")
    else:
        read = rng.choice(("what does the sign say?", "what word is written on the sign?"))
        variants = (f"{text} sign", "unanswerable")
    if rng.random() < 0.5:
        color, answer, color_variants = "what color is the sign?", sign, _COLOR_VARIANTS[sign]
    else:
        gray = "light gray" if ink == "white" else "dark gray"
        color, answer, color_variants = "what color is the text on the sign?", ink, (gray,)
    return [
        (read, _human_answers(rng, text, variants)),
        (color, _human_answers(rng, answer, color_variants)),
    ]


def _new_sign(rng: random.Random, seen: set[tuple[str, str, str]]) -> tuple[str, str, str]:
    """The text, sign colour and background of a sign not in `seen` (added to it), so that no
    train image repeats a val one."""
    while True:
        text = rng.choice(_SIGN_WORDS) if rng.random() < 0.6 else str(rng.randint(10, 99))
        sign = rng.choice(sorted(_COLORS))
        background = rng.choice(sorted(_BACKGROUNDS))
        if (text, sign, background) not in seen:
            seen.add((text, sign, background))
            return text, sign, background


def _write_textvqa(root: Path, rng: random.Random, sizes: SplitSizes) -> None:
    """``TextVQA_0.5.1_{val,train}.json`` and ``train_images/`` (where val images live too)."""
    question_id = {"val": 34602, "train": 0}
    seen: set[tuple[str, str, str]] = set()
    for split, n_images in (("val", sizes.textvqa_val), ("train", sizes.textvqa_train)):
        data = []
        for _ in range(n_images):
            image_id = f"{rng.getrandbits(64):016x}"
            text, sign, background = _new_sign(rng, seen)
            ink = "black" if sign in ("yellow", "orange") else "white"
            _draw_sign(text, sign, ink, background, root / "train_images" / f"{image_id}.jpg")
            classes = ["Sign", *rng.sample(_IMAGE_CLASSES[1:], rng.randint(0, 2))]
            for question, answers in _textvqa_questions(rng, text, sign, ink):
                data.append(
                    {
                        "answers": answers,
                        "flickr_300k_url": f"https://example.com/textvqa-mini/300k/{image_id}.jpg",
                        "flickr_original_url": f"https://example.com/textvqa-mini/{image_id}.jpg",
                        "image_classes": classes,
                        "image_height": SIZE,
                        "image_id": image_id,
                        "image_width": SIZE,
                        "question": question,
                        "question_id": question_id[split],
                        "question_tokens": question.rstrip("?").split(),
                        "set_name": split,
                    }
                )
                question_id[split] += 1
        document = {
            "data": data,
            "dataset_name": "textvqa",
            "dataset_type": split,
            "dataset_version": "0.5.1",
        }
        _write_json(root / f"TextVQA_0.5.1_{split}.json", document)


def _captions(rng: random.Random, scene: _Scene) -> list[str]:
    """Five human-like captions of `scene`, some with the untidiness of real annotations."""
    listing, background = _listing(scene.shapes), scene.background
    colors = _join([shape.color for shape in scene.shapes])
    count = len(scene.shapes)
    shapes = "shape" if count == 1 else "shapes"
    pool = [
        f"{listing.capitalize()} on a {background} background.",
        f"A plain {background} background with {listing}.",
        f"a drawing of {listing}",
        f"There is {listing} in this picture.",
        f"An image of {listing} .",
        f"{colors.capitalize()} {shapes} on {background}.",
        f"{_NUMBER_WORDS[count].capitalize()} simple {shapes} drawn on a {background} surface.",
        f"A computer graphic showing {listing} against a {background} backdrop.",
    ]
    return [text + " " if rng.random() < 0.2 else text for text in rng.sample(pool, 5)]


def _write_karpathy(
    root: Path, rng: random.Random, sizes: SplitSizes, *, dataset: str = "coco"
) -> None:
    """Karpathy-split ``dataset_{dataset}.json``. ``coco``: test images from val2014, train from
    train2014; ``flickr30k``: all in ``flickr30k-images/``, named by Flickr id, without
    ``cocoid`` or ``filepath`` (as the official Flickr30k file)."""
    images = []
    sentence_id = 0
    image_ids = rng.sample(range(1, 581930), sizes.caption_test + sizes.caption_train)
    seen: set[_Scene] = set()
    for index, image_id in enumerate(image_ids):
        test = index < sizes.caption_test
        split, folder = ("test", "val2014") if test else ("train", "train2014")
        if dataset == "coco":
            filename = f"COCO_{folder}_{image_id:012d}.jpg"
            location = {"cocoid": image_id, "filename": filename, "filepath": folder}
        else:
            folder, filename = "flickr30k-images", f"{1000000 + image_id}.jpg"
            location = {"filename": filename}
        scene = _new_scene(rng, seen)
        _draw_scene(scene, root / folder / filename)
        sentences = []
        for raw in _captions(rng, scene):
            tokens = re.findall(r"[a-z0-9]+", raw.lower())
            sentences.append({"imgid": index, "raw": raw, "sentid": sentence_id, "tokens": tokens})
            sentence_id += 1
        images.append(
            location
            | {
                "imgid": index,
                "sentences": sentences,
                "sentids": [sentence["sentid"] for sentence in sentences],
                "split": split,
            }
        )
    _write_json(root / f"dataset_{dataset}.json", {"dataset": dataset, "images": images})


def _write_nocaps(root: Path, rng: random.Random, sizes: SplitSizes) -> None:
    """NoCaps ``nocaps_val_4500_captions.json`` (COCO captions format: ``images`` and
    ``annotations``), ``caption_test`` images in ``val/`` named by Open Images id."""
    images, annotations = [], []
    seen: set[_Scene] = set()
    for image_id in range(sizes.caption_test):
        file_name = f"{rng.getrandbits(64):016x}.jpg"
        scene = _new_scene(rng, seen)
        _draw_scene(scene, root / "val" / file_name)
        images.append({"id": image_id, "file_name": file_name, "domain": "in-domain"})
        for caption in _captions(rng, scene):
            annotations.append({"id": len(annotations), "image_id": image_id, "caption": caption})
    content = {"licenses": [_LICENSE], "images": images, "annotations": annotations}
    _write_json(root / "nocaps_val_4500_captions.json", content)


# DocVQA: white pages with a title and form fields, in the official format.

_DOC_TITLES = ("invoice", "memo", "receipt", "report", "order form", "statement")
_DOC_SENDERS = ("J. Smith", "A. Lobo", "M. Chen", "R. Patel", "K. Novak", "L. Garcia")


def _draw_page(lines: Sequence[str], path: Path) -> None:
    """A white page showing `lines` (the first a title) in PIL's default font, saved as PNG."""
    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    title, text = ImageFont.load_default(size=13), ImageFont.load_default(size=11)
    draw.text((SIZE / 2, 12), lines[0].upper(), fill=(0, 0, 0), font=title, anchor="mm")
    draw.line((6, 22, SIZE - 7, 22), fill=(90, 90, 90))
    for row, line in enumerate(lines[1:]):
        draw.text((6, 30 + 18 * row), line, fill=(20, 20, 20), font=text)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")


_Page = tuple[str, str, str, str]
"""A page's title, sender, date and total."""


def _new_page(rng: random.Random, seen: set[_Page]) -> _Page:
    """A page not in `seen` (added to it), so that no train page repeats a val or test one."""
    while True:
        date = f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/19{rng.randint(60, 99)}"
        total = f"${rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
        page = (rng.choice(_DOC_TITLES), rng.choice(_DOC_SENDERS), date, total)
        if page not in seen:
            seen.add(page)
            return page


def _page_questions(rng: random.Random, page: _Page) -> list[tuple[str, list[str], list[str]]]:
    """Two (question, answers, question_types) triples about a page, from different fields."""
    title, sender, date, total = page
    month, day, year = date.split("/")
    pool = [
        ("What kind of document is this?", [title, f"{title} page"], ["layout"]),
        ("Who is the sender?", [sender, sender.split()[-1]], ["form"]),
        ("What is the date?", [date, f"{int(month)}/{int(day)}/{year}"], ["form", "layout"]),
        ("What is the total?", [total, total.lstrip("$")], ["table/list"]),
    ]
    return rng.sample(pool, 2)


def _write_docvqa(root: Path, rng: random.Random, sizes: SplitSizes) -> None:
    """``{split}/{split}_v1.0_withQT.json`` (``test/test_v1.0.json``: no answers nor types) and
    the pages in ``{split}/documents/``."""
    seen: set[_Page] = set()
    question_id, doc_id = 100, 1000
    splits = (("train", sizes.docvqa_train), ("val", sizes.docvqa_val))
    for split, n_pages in (*splits, ("test", sizes.docvqa_test)):
        data = []
        for _ in range(n_pages):
            page = _new_page(rng, seen)
            title, sender, date, total = page
            ucsf_id = f"{rng.choice('bcfghjk')}{rng.choice('lmnpqrst')}{rng.randint(10, 99)}0000"
            image = f"documents/{ucsf_id}_{doc_id}.png"
            lines = [title, f"From: {sender}", f"Date: {date}", f"Total: {total}"]
            _draw_page(lines, root / split / image)
            for question, answers, types in _page_questions(rng, page):
                record: dict[str, Any] = {
                    "data_split": split,
                    "docId": doc_id,
                    "image": image,
                    "question": question,
                    "questionId": question_id,
                    "ucsf_document_id": ucsf_id,
                    "ucsf_document_page_no": "1",
                }
                if split != "test":
                    record |= {"answers": answers, "question_types": types}
                data.append(record)
                question_id += 1
            doc_id += 1
        name = "test_v1.0.json" if split == "test" else f"{split}_v1.0_withQT.json"
        document = {
            "data": data,
            "dataset_name": "docvqa",
            "dataset_split": split,
            "dataset_version": "1.0",
        }
        _write_json(root / split / name, document)


# MMBench: multiple-choice questions on shape scenes, in the official TSV format.

_MMBENCH_QUESTIONS = {"DEV_EN": 8, "TEST_EN": 3}
"""Questions per split (with ``--sizes mini`` and ``demo`` alike)."""
_MMBENCH_COLUMNS = (
    "index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "image",
)  # fmt: skip
_MMBENCH_HINT = "The image shows coloured shapes on a plain background."


def _mmbench_question(rng: random.Random, scene: _Scene) -> tuple[str, list[str], str, str, str]:
    """A question about `scene` with 2 to 4 options: the question, the options, the right
    option's text, the category and the l2-category."""
    shape = rng.choice(scene.shapes)
    kind = rng.randrange(3)
    if kind == 0:
        others = [color for color in sorted(_COLORS) if color != shape.color]
        options = [shape.color, *rng.sample(others, 3)]
        question = f"What colour is the {shape.kind}?"
        category = ("attribute_recognition", "finegrained_perception (instance-level)")
    elif kind == 1:
        options = [str(len(scene.shapes)), *[str(n) for n in (1, 2, 3) if n != len(scene.shapes)]]
        question = "How many shapes are in the image?"
        category = ("object_counting", "coarse_perception")
    else:
        asked = rng.choice(sorted(_SHAPE_VARIANTS))
        present = asked in {s.kind for s in scene.shapes}
        options = ["yes" if present else "no", "no" if present else "yes"]
        question = f"Is there a {asked} in the image?"
        category = ("object_existence", "coarse_perception")
    right = options[0]
    rng.shuffle(options)
    return question, options, right, *category


def _write_mmbench(root: Path, rng: random.Random) -> None:
    """``MMBench_DEV_EN.tsv`` and ``MMBench_TEST_EN.tsv`` (no ``answer`` column), images as
    base64 JPEG cells; some questions have a hint, options beyond the question's are empty."""
    seen: set[_Scene] = set()
    index = 0
    for split, count in _MMBENCH_QUESTIONS.items():
        columns = [c for c in _MMBENCH_COLUMNS if c != "answer" or split == "DEV_EN"]
        rows = []
        for _ in range(count):
            scene = _new_scene(rng, seen)
            question, options, right, category, l2_category = _mmbench_question(rng, scene)
            buffer = io.BytesIO()
            _scene_image(scene).save(buffer, "JPEG", quality=90)
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


def write_mini_data(root: Path, *, seed: int = 0, sizes: SplitSizes = MINI_SIZES) -> None:
    """Write the splits under `root`: ``vqav2/``, ``okvqa/``, ``textvqa/``, ``coco_caption/``,
    ``flickr30k/``, ``nocaps/``, ``docvqa/``, ``mmbench/``.

    The output depends only on `seed` and `sizes` (each task draws from its own generator).

    Args:
        root: The data folder (``--data-dir``); created if missing.
        seed: The random seed.
        sizes: Images per split: ``MINI_SIZES`` (the bundled splits) or ``DEMO_SIZES``.
    """
    _write_vqa(root / "vqav2", random.Random(f"{seed}:vqav2"), sizes, okvqa=False)
    _write_vqa(root / "okvqa", random.Random(f"{seed}:okvqa"), sizes, okvqa=True)
    _write_textvqa(root / "textvqa", random.Random(f"{seed}:textvqa"), sizes)
    _write_karpathy(root / "coco_caption", random.Random(f"{seed}:coco_caption"), sizes)
    flickr_rng = random.Random(f"{seed}:flickr30k")
    _write_karpathy(root / "flickr30k", flickr_rng, sizes, dataset="flickr30k")
    _write_nocaps(root / "nocaps", random.Random(f"{seed}:nocaps"), sizes)
    _write_mmbench(root / "mmbench", random.Random(f"{seed}:mmbench"))
    _write_docvqa(root / "docvqa", random.Random(f"{seed}:docvqa"), sizes)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point: ``python -m vlm_eval.demo.mini_data OUT_DIR [--seed N]
    [--sizes mini|demo]``."""
    parser = argparse.ArgumentParser(
        description="Write the demo mini splits in the official formats."
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the task folders into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--sizes",
        choices=sorted(_PRESETS),
        default="mini",
        help="mini: the bundled splits (default); demo: 500 questions per VQA task and 200 "
        "caption images to evaluate, and train splits",
    )
    args = parser.parse_args(argv)
    write_mini_data(args.out_dir, seed=args.seed, sizes=_PRESETS[args.sizes])


if __name__ == "__main__":
    main()
