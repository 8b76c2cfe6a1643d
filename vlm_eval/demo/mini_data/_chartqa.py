"""ChartQA: bar charts of coloured bars with their values printed, in the official format."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vlm_eval.demo.mini_data._scenes import COLORS, SIZE, write_json

_CHARTS = {"train": 5, "test": 6}
"""Charts per split (with ``--sizes mini`` and ``demo`` alike); each has one question of each
set."""

_Chart = tuple[tuple[str, int], ...]
"""A chart's bars: colour name and value, left to right."""


def _draw_chart(chart: _Chart, path: Path) -> None:
    """The bars of `chart` on white, each with its value above and its colour's initial below,
    saved as PNG."""
    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=10)
    width = (SIZE - 8) // len(chart)
    draw.line((4, SIZE - 14, SIZE - 4, SIZE - 14), fill=(0, 0, 0))
    for i, (color, value) in enumerate(chart):
        x0 = 4 + i * width + 3
        top = SIZE - 14 - round(value * 0.6)
        draw.rectangle((x0, top, x0 + width - 6, SIZE - 15), fill=COLORS[color])
        middle = x0 + (width - 6) / 2
        draw.text((middle, top - 6), str(value), fill=(0, 0, 0), font=font, anchor="mm")
        draw.text((middle, SIZE - 7), color[0].upper(), fill=(0, 0, 0), font=font, anchor="mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")


def _questions(rng: random.Random, chart: _Chart) -> tuple[tuple[str, str], tuple[str, str]]:
    """A human-style question (comparison, difference or sum) and an augmented-style one (a
    bar's value), each with its answer."""
    values = dict(chart)
    first, second = rng.sample(list(values), 2)
    human = rng.choice(
        [
            ("Which bar has the highest value?", max(values, key=values.__getitem__)),
            (
                f"What is the difference between the {first} and {second} bars?",
                str(abs(values[first] - values[second])),
            ),
            (
                f"What is the sum of the {first} and {second} bars?",
                str(values[first] + values[second]),
            ),
        ]
    )
    return human, (f"What is the value of the {first} bar?", str(values[first]))


def write_chartqa(root: Path, rng: random.Random) -> None:
    """``{split}/{split}_human.json`` and ``{split}/{split}_augmented.json`` (lists of
    ``{"imgname", "query", "label"}``) and the charts in ``{split}/png/``, for ``train`` and
    ``test``; no chart repeats across splits."""
    seen: set[_Chart] = set()
    number = 0
    for split, count in _CHARTS.items():
        human, augmented = [], []
        for _ in range(count):
            chart: _Chart = ()
            while not chart or chart in seen:
                colors = rng.sample(sorted(COLORS), rng.randint(3, 4))
                chart = tuple((color, rng.randint(5, 99)) for color in colors)
            seen.add(chart)
            imgname = f"{number:05d}.png"
            _draw_chart(chart, root / split / "png" / imgname)
            for questions, (query, label) in zip(
                (human, augmented), _questions(rng, chart), strict=True
            ):
                questions.append({"imgname": imgname, "label": label, "query": query})
            number += 1
        write_json(root / split / f"{split}_human.json", human)
        write_json(root / split / f"{split}_augmented.json", augmented)
