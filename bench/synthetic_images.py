"""A synthetic VQAv2 val2014 split with 640x480 photo-like JPEG images, in the official layout.

Each image is a colour gradient with a dozen random shapes and per-pixel noise, saved at JPEG
quality 90: about 150 KB, the average COCO val2014 image, so that decoding costs what it costs
on real data (other sizes and qualities on request: ``bench.scale`` writes small ones).
Questions and annotations come from ``bench.synthetic_vqa``.
"""

from __future__ import annotations

import io
import json
import random
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from bench.synthetic_vqa import synthetic_vqa

WIDTH, HEIGHT = 640, 480
JPEG_QUALITY = 90
_NOISE = 28
"""Amplitude of the per-pixel noise: it sets the JPEG size (about 150 KB at 28)."""


def synthetic_photo(
    seed: int, size: tuple[int, int] = (WIDTH, HEIGHT), quality: int = JPEG_QUALITY
) -> bytes:
    """A seeded JPEG (640x480 by default): gradient background, random shapes (scaled to the
    width), per-pixel noise."""
    width, height = size
    scale = width / WIDTH
    rng = np.random.default_rng(seed)
    draw_rng = random.Random(seed)
    corners = rng.integers(0, 256, (4, 3)).astype(np.float32)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    top = corners[0] * (1 - x) + corners[1] * x
    bottom = corners[2] * (1 - x) + corners[3] * x
    image = Image.fromarray((top * (1 - y) + bottom * y).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(draw_rng.randint(8, 20)):
        left, upper = draw_rng.randrange(width), draw_rng.randrange(height)
        right = left + round(draw_rng.randint(20, 250) * scale)
        box = (left, upper, right, upper + round(draw_rng.randint(20, 200) * scale))
        color = tuple(draw_rng.randrange(256) for _ in range(3))
        shape = draw_rng.randrange(3)
        if shape == 0:
            draw.ellipse(box, fill=color)
        elif shape == 1:
            draw.rectangle(box, fill=color)
        else:
            corners_xy = [(draw_rng.randrange(width), draw_rng.randrange(height)) for _ in range(3)]
            draw.polygon(corners_xy, fill=color)
    noise = rng.integers(-_NOISE, _NOISE + 1, (height, width, 1), dtype=np.int16)
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, "JPEG", quality=quality)
    return encoded.getvalue()


def _write_photo(job: tuple[Path, int, tuple[int, int], int]) -> None:
    path, seed, size, quality = job
    path.write_bytes(synthetic_photo(seed, size, quality))


def write_vqav2_split(
    data_dir: Path,
    questions: int,
    *,
    questions_per_image: float = 1,
    seed: int = 0,
    processes: int = 2,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    quality: int = JPEG_QUALITY,
) -> list[Path]:
    """Write ``data_dir/vqav2/``: the val2014 questions, annotations and images, as the
    ``vqav2`` task reads them (consecutive questions share an image, ``questions_per_image``
    on average). Returns the image files; images are written in ``processes`` processes."""
    folder = data_dir / "vqav2"
    images = folder / "val2014"
    images.mkdir(parents=True, exist_ok=True)
    question_file, annotation_file, _ = synthetic_vqa(questions, seed)
    for records in (question_file["questions"], annotation_file["annotations"]):
        for record in records:
            record["image_id"] = 1 + int((record["question_id"] - 1) / questions_per_image)
    (folder / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(question_file))
    (folder / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(annotation_file))
    image_ids = sorted({record["image_id"] for record in question_file["questions"]})
    jobs = [
        (images / f"COCO_val2014_{i:012d}.jpg", seed * 1_000_003 + i, size, quality)
        for i in image_ids
    ]
    with Pool(processes) as pool:
        pool.map(_write_photo, jobs, chunksize=16)
    return [job[0] for job in jobs]
