"""InfographicVQA: survey infographics (a title, coloured markers with a label and a share), in
the official format."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from vlm_eval.demo.mini_data._scenes import COLORS, SIZE, save_jpeg, write_json

_IMAGES = {"train": 5, "val": 6, "test": 2}
"""Infographics per split (with ``--sizes mini`` and ``demo`` alike), two questions each."""
_FILES = {
    "train": "infographicVQA_train_v1.0.json",
    "val": "infographicsVQA_val_v1.0_withQT.json",
    "test": "infographicsVQA_test_v1.0.json",
}
"""The official file of each split (spelled as the competition's downloads)."""
_TOPICS = {
    "pets": ("dogs", "cats", "fish", "birds"),
    "travel": ("car", "train", "bus", "bike"),
    "energy": ("solar", "wind", "coal", "gas"),
    "sports": ("soccer", "tennis", "golf", "rugby"),
}

_Infographic = tuple[str, tuple[tuple[str, str, int], ...]]
"""A title and its rows: marker colour, label and share in percent."""


def _draw(infographic: _Infographic, path: Path) -> None:
    title, rows = infographic
    image = Image.new("RGB", (SIZE, SIZE), (245, 245, 235))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    heading = ImageFont.load_default(size=13)
    draw.text((SIZE / 2, 10), title.upper(), fill=(30, 30, 30), font=heading, anchor="mm")
    for i, (color, label, share) in enumerate(rows):
        y = 26 + 22 * i
        draw.ellipse((6, y, 20, y + 14), fill=COLORS[color])
        draw.text((26, y + 7), label, fill=(30, 30, 30), font=font, anchor="lm")
        draw.text((SIZE - 6, y + 7), f"{share}%", fill=(30, 30, 30), font=font, anchor="rm")
    save_jpeg(image, path)


def _questions(rng: random.Random, infographic: _Infographic) -> list[dict[str, Any]]:
    """Two questions with their answers, answer types, evidence and operations."""
    title, rows = infographic
    _, label, share = rng.choice(rows)
    top = max(rows, key=lambda row: row[2])[1]
    pool = [
        (f"What share of people chose {label}?", [f"{share}%", str(share)],
         ["Image span"], ["Table/List"], []),
        (f"Which {title} option is the most popular?", [top, top.capitalize()],
         ["Image span"], ["Figure"], ["Comparison"]),
        ("How many options are shown?", [str(len(rows)), ("two", "three", "four")[len(rows) - 2]],
         ["Non span"], ["Visual/Layout"], ["Counting"]),
        ("What is the title of the infographic?", [title, title.upper()],
         ["Image span"], ["Text"], []),
    ]  # fmt: skip
    keys = ("question", "answers", "answer_type", "evidence", "operation/reasoning")
    return [dict(zip(keys, question, strict=True)) for question in rng.sample(pool, 2)]


def write_infographicvqa(root: Path, rng: random.Random) -> None:
    """The ``_FILES`` of the splits (the test split's without answers nor types) and the images
    in ``infographicsvqa_images/``; no infographic repeats across splits."""
    seen: set[_Infographic] = set()
    question_id, image_id = 65000, 30000
    for split, count in _IMAGES.items():
        data = []
        for _ in range(count):
            infographic: _Infographic | None = None
            while infographic is None or infographic in seen:
                title = rng.choice(sorted(_TOPICS))
                labels = rng.sample(_TOPICS[title], rng.randint(2, 3))
                colors = rng.sample(sorted(COLORS), len(labels))
                shares = rng.sample(range(5, 60), len(labels))
                infographic = (title, tuple(zip(colors, labels, shares, strict=True)))
            seen.add(infographic)
            name = f"{image_id}.jpeg"
            _draw(infographic, root / "infographicsvqa_images" / name)
            for question in _questions(rng, infographic):
                record = {
                    "data_split": split,
                    "image_local_name": name,
                    "image_url": f"https://example.org/infographics/{name}",
                    "ocr_output_file": f"{image_id}.json",
                    "question": question.pop("question"),
                    "questionId": question_id,
                }
                data.append(record if split == "test" else record | question)
                question_id += 1
            image_id += 1
        name = _FILES[split]
        document = {
            "data": data,
            "dataset_name": "infographicVQA",
            "dataset_split": split,
            "dataset_version": "1.0",
        }
        write_json(root / name, document)
