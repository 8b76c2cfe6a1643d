"""DocVQA: white pages with a title and form fields, in the official format."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from vlm_eval.demo.mini_data._scenes import SIZE, write_json
from vlm_eval.demo.mini_data._sizes import SplitSizes

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


def write_docvqa(root: Path, rng: random.Random, sizes: SplitSizes) -> None:
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
        write_json(root / split / name, document)
