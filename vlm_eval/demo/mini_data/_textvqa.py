"""TextVQA: signs showing a word or a number, in the official TextVQA 0.5.1 format."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vlm_eval.demo.mini_data._scenes import (
    BACKGROUNDS,
    COLOR_VARIANTS,
    COLORS,
    SIZE,
    human_answers,
    save_jpeg,
    write_json,
)
from vlm_eval.demo.mini_data._sizes import SplitSizes

_SIGN_WORDS = ("stop", "open", "exit", "cafe", "sale", "taxi", "hotel", "pizza", "bank", "park")
_IMAGE_CLASSES = ("Sign", "Poster", "Billboard", "Street sign")


def _draw_sign(text: str, sign: str, ink: str, background: str, path: Path) -> None:
    """A coloured sign showing `text` in PIL's default font."""
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUNDS[background])
    draw = ImageDraw.Draw(image)
    draw.rectangle((6, 24, SIZE - 7, SIZE - 25), fill=COLORS[sign], outline=(60, 60, 60), width=2)
    font = ImageFont.load_default(size=22)
    draw.text((SIZE / 2, SIZE / 2), text, fill=ink, font=font, anchor="mm")
    save_jpeg(image, path)


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
        color, answer, color_variants = "what color is the sign?", sign, COLOR_VARIANTS[sign]
    else:
        gray = "light gray" if ink == "white" else "dark gray"
        color, answer, color_variants = "what color is the text on the sign?", ink, (gray,)
    return [
        (read, human_answers(rng, text, variants)),
        (color, human_answers(rng, answer, color_variants)),
    ]


def _new_sign(rng: random.Random, seen: set[tuple[str, str, str]]) -> tuple[str, str, str]:
    """The text, sign colour and background of a sign not in `seen` (added to it), so that no
    train image repeats a val one."""
    while True:
        text = rng.choice(_SIGN_WORDS) if rng.random() < 0.6 else str(rng.randint(10, 99))
        sign = rng.choice(sorted(COLORS))
        background = rng.choice(sorted(BACKGROUNDS))
        if (text, sign, background) not in seen:
            seen.add((text, sign, background))
            return text, sign, background


def write_textvqa(root: Path, rng: random.Random, sizes: SplitSizes) -> None:
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
        write_json(root / f"TextVQA_0.5.1_{split}.json", document)
