"""Captions of shape scenes: Karpathy-split COCO and Flickr30k files and NoCaps' COCO-style
captions file."""

from __future__ import annotations

import random
import re
from pathlib import Path

from vlm_eval.demo.mini_data._scenes import (
    LICENSE,
    NUMBER_WORDS,
    Scene,
    draw_scene,
    join_words,
    new_scene,
    shape_listing,
    write_json,
)
from vlm_eval.demo.mini_data._sizes import SplitSizes


def _captions(rng: random.Random, scene: Scene) -> list[str]:
    """Five human-like captions of `scene`, some with the untidiness of real annotations."""
    listing, background = shape_listing(scene.shapes), scene.background
    colors = join_words([shape.color for shape in scene.shapes])
    count = len(scene.shapes)
    shapes = "shape" if count == 1 else "shapes"
    pool = [
        f"{listing.capitalize()} on a {background} background.",
        f"A plain {background} background with {listing}.",
        f"a drawing of {listing}",
        f"There is {listing} in this picture.",
        f"An image of {listing} .",
        f"{colors.capitalize()} {shapes} on {background}.",
        f"{NUMBER_WORDS[count].capitalize()} simple {shapes} drawn on a {background} surface.",
        f"A computer graphic showing {listing} against a {background} backdrop.",
    ]
    return [text + " " if rng.random() < 0.2 else text for text in rng.sample(pool, 5)]


def write_karpathy(
    root: Path, rng: random.Random, sizes: SplitSizes, *, dataset: str = "coco"
) -> None:
    """Karpathy-split ``dataset_{dataset}.json``. ``coco``: test images from val2014, train from
    train2014; ``flickr30k``: all in ``flickr30k-images/``, named by Flickr id, without
    ``cocoid`` or ``filepath`` (as the official Flickr30k file)."""
    images = []
    sentence_id = 0
    image_ids = rng.sample(range(1, 581930), sizes.caption_test + sizes.caption_train)
    seen: set[Scene] = set()
    for index, image_id in enumerate(image_ids):
        test = index < sizes.caption_test
        split, folder = ("test", "val2014") if test else ("train", "train2014")
        if dataset == "coco":
            filename = f"COCO_{folder}_{image_id:012d}.jpg"
            location = {"cocoid": image_id, "filename": filename, "filepath": folder}
        else:
            folder, filename = "flickr30k-images", f"{1000000 + image_id}.jpg"
            location = {"filename": filename}
        scene = new_scene(rng, seen)
        draw_scene(scene, root / folder / filename)
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
    write_json(root / f"dataset_{dataset}.json", {"dataset": dataset, "images": images})


def write_nocaps(root: Path, rng: random.Random, sizes: SplitSizes) -> None:
    """NoCaps ``nocaps_val_4500_captions.json`` (COCO captions format: ``images`` and
    ``annotations``), ``caption_test`` images in ``val/`` named by Open Images id."""
    images, annotations = [], []
    seen: set[Scene] = set()
    for image_id in range(sizes.caption_test):
        file_name = f"{rng.getrandbits(64):016x}.jpg"
        scene = new_scene(rng, seen)
        draw_scene(scene, root / "val" / file_name)
        images.append({"id": image_id, "file_name": file_name, "domain": "in-domain"})
        for caption in _captions(rng, scene):
            annotations.append({"id": len(annotations), "image_id": image_id, "caption": caption})
    content = {"licenses": [LICENSE], "images": images, "annotations": annotations}
    write_json(root / "nocaps_val_4500_captions.json", content)
