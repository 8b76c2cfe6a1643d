"""Benchmark: COCO caption metrics on 5,000 images, vlm-eval vs plain pycocoevalcap usage.

5,000 images (the Karpathy test split's size) get five seeded synthetic COCO-style reference
captions each and one predicted caption that describes the same scene in other words, with the
case, punctuation and spacing of human captions.

- plain pycocoevalcap: what ``COCOEvalCap.evaluate()`` does, written out because that method
  also builds pycocoevalcap's SPICE scorer, which downloads Stanford CoreNLP on first use: the
  PTB tokenizer run once for the references and once for the predictions (a Java start each),
  then BLEU-1..4, METEOR (its JVM started with the scorers), ROUGE-L and CIDEr-D one after
  another (and SPICE where vlm-eval computes it too).
- vlm-eval: ``score_captions``, which tokenizes everything in one Java run and loads METEOR's JVM
  while the other metrics are computed.

Both start from the same captions in memory; every corpus and per-image score must agree to
1e-9, or the benchmark fails. Each runs ``--repeats`` times in turn; the fastest run counts.
Writes ``bench/results/caption_metrics.json``.

    python -m bench.caption_metrics [--images 5000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.spice.spice import Spice
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from bench._common import RESULTS_DIR, SummaryRow, environment, interleaved, write_result
from vlm_eval.metrics import CaptionScores, score_captions
from vlm_eval.metrics._caption import spice_unavailable

RESULTS = RESULTS_DIR / "caption_metrics.json"
KARPATHY_TEST_IMAGES = 5000
REFERENCES_PER_IMAGE = 5
TOLERANCE = 1e-9
TARGET_SPEEDUP = 1.0
"""No slower than the plain usage: both spend most of their time in the same scorers."""

_SUBJECTS = (
    "man", "woman", "boy", "girl", "dog", "cat", "horse", "giraffe", "elephant", "zebra",
    "person", "skier", "surfer", "player", "child", "bird", "cow", "sheep", "bear", "couple",
)  # fmt: skip
_ADJECTIVES = (
    "young", "old", "small", "large", "white", "black", "brown", "red", "blue", "green",
    "little", "tall", "wooden", "grassy", "busy", "empty", "snowy", "sandy", "dark", "colorful",
)  # fmt: skip
_ACTIONS = (
    "standing", "sitting", "walking", "running", "riding", "holding", "eating", "playing with",
    "looking at", "laying", "jumping over", "flying", "carrying", "watching", "leaning on",
)  # fmt: skip
_PLACES = (
    "on a beach", "in a field", "on a city street", "in a kitchen", "next to a table",
    "near the water", "on top of a hill", "in front of a building", "on a snowy slope",
    "in a living room", "under an umbrella", "by a fence", "at the park", "on the grass",
)  # fmt: skip
_OBJECTS = (
    "frisbee", "surfboard", "skateboard", "kite", "pizza", "banana", "umbrella", "tennis racket",
    "laptop", "cell phone", "bicycle", "motorcycle", "bench", "sandwich", "teddy bear", "ball",
)  # fmt: skip
_STARTS = ("a", "the", "an image of a", "there is a", "a photo of a", "one")


def _caption(subject: str, thing: str, rng: random.Random) -> str:
    """One caption of the scene ``subject`` with ``thing``, worded and typed like a human's."""
    words = [rng.choice(_STARTS)]
    if rng.random() < 0.6:
        words.append(rng.choice(_ADJECTIVES))
    words += [subject, rng.choice(_ACTIONS), rng.choice(("a", "the", "his", "her")), thing]
    if rng.random() < 0.7:
        words.append(rng.choice(_PLACES))
    text = " ".join(words)
    if rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.6:
        text += rng.choice((".", " .", "!", ". "))
    if rng.random() < 0.1:
        text = text.replace(" a ", " a  ", 1) + ","
    return text


def synthetic_captions(images: int, seed: int = 0) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Seeded (predictions, references) by COCO-style int image id."""
    rng = random.Random(seed)
    predictions, references = {}, {}
    for image_id in range(100_000, 100_000 + images):
        subject, thing = rng.choice(_SUBJECTS), rng.choice(_OBJECTS)
        references[image_id] = [_caption(subject, thing, rng) for _ in range(REFERENCES_PER_IMAGE)]
        if rng.random() < 0.3:  # a wrong subject or object, as models make
            subject, thing = rng.choice(_SUBJECTS), rng.choice(_OBJECTS)
        predictions[image_id] = _caption(subject, thing, rng)
    return predictions, references


def plain_pycocoevalcap(
    predictions: Mapping[int, str], references: Mapping[int, Sequence[str]]
) -> dict[str, tuple[float, list[float]]]:
    """Metric name -> (corpus score, per-image scores), as ``COCOEvalCap.evaluate()`` computes
    them (without SPICE)."""
    gts = {image: [{"caption": c} for c in captions] for image, captions in references.items()}
    res = {image: [{"caption": predictions[image]}] for image in references}
    tokenizer = PTBTokenizer()
    gts_tokens, res_tokens = tokenizer.tokenize(gts), tokenizer.tokenize(res)
    scorers: list[tuple[Any, str | list[str]]] = [  # METEOR's JVM starts here, as in evaluate()
        (Bleu(4), ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]),
        (Meteor(), "METEOR"),
        (Rouge(), "ROUGE-L"),
        (Cider(), "CIDEr"),
    ]
    if spice_unavailable() is None:  # vlm-eval computes SPICE here: so does the plain usage
        scorers.append((Spice(), "SPICE"))
    scores = {}
    for scorer, names in scorers:
        corpus, per_image = scorer.compute_score(gts_tokens, res_tokens)
        if isinstance(names, list):
            scores.update(zip(names, zip(corpus, per_image, strict=True), strict=True))
        else:
            scores[names] = (corpus, per_image)
    return {
        name: (float(corpus), [float(s) for s in per]) for name, (corpus, per) in scores.items()
    }


def _differences(
    plain: dict[str, tuple[float, list[float]]], ours: CaptionScores, ids: list[int]
) -> list[str]:
    """Every score on which the two differ by more than ``TOLERANCE``."""
    if set(plain) != set(ours.metrics):
        return [f"metrics differ: {sorted(plain)} vs {sorted(ours.metrics)}"]
    found = []
    for name, (corpus, per_image) in plain.items():
        if abs(corpus - ours.metrics[name]) > TOLERANCE:
            found.append(f"{name}: {corpus} vs {ours.metrics[name]}")
        for image, value in zip(ids, per_image, strict=True):
            if abs(value - ours.per_image[str(image)][name]) > TOLERANCE:
                found.append(f"{name} of image {image}: {value} vs {ours.per_image[str(image)]}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=KARPATHY_TEST_IMAGES)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    predictions, references = synthetic_captions(args.images, args.seed)
    timings = interleaved(
        args.repeats,
        {
            "plain_pycocoevalcap": lambda: plain_pycocoevalcap(predictions, references),
            "vlm_eval": lambda: score_captions(
                {str(image): caption for image, caption in predictions.items()},
                {str(image): captions for image, captions in references.items()},
            ),
        },
    )
    plain, ours = timings["plain_pycocoevalcap"].result, timings["vlm_eval"].result
    differences = _differences(plain, ours, list(references))
    speedup = timings["plain_pycocoevalcap"].seconds / timings["vlm_eval"].seconds
    passed = not differences and speedup >= TARGET_SPEEDUP
    result = {
        "benchmark": "caption_metrics",
        **environment(),
        "settings": {
            "images": args.images,
            "references_per_image": REFERENCES_PER_IMAGE,
            "repeats": args.repeats,
            "seed": args.seed,
            "metrics": sorted(ours.metrics),
            "skipped": ours.skipped,
        },
        "seconds": {name: round(timing.seconds, 3) for name, timing in timings.items()},
        "all_runs_seconds": {
            name: [round(run, 3) for run in timing.runs] for name, timing in timings.items()
        },
        "images_per_second": {
            name: round(args.images / timing.seconds, 1) for name, timing in timings.items()
        },
        "speedup": round(speedup, 2),
        "target_speedup": TARGET_SPEEDUP,
        "passed": passed,
        "identical_within": TOLERANCE,
        "identical": not differences,
        "differences": differences[:20],
        "metrics": {name: round(value, 6) for name, value in ours.metrics.items()},
    }
    summary = [
        SummaryRow(
            measure=f"caption metrics (BLEU, METEOR, ROUGE-L, CIDEr) of {args.images:,} images x "
            f"{REFERENCES_PER_IMAGE} references: plain pycocoevalcap vs score_captions",
            baseline=f"{timings['plain_pycocoevalcap'].seconds:.1f} s",
            vlm_eval=f"{timings['vlm_eval'].seconds:.1f} s",
            ratio=round(speedup, 2),
            target=TARGET_SPEEDUP,
            passed=passed,
        )
    ]
    write_result(args.output, result, summary)
    print(
        f"Caption metrics, {args.images:,} images: plain pycocoevalcap "
        f"{timings['plain_pycocoevalcap'].seconds:.2f} s, vlm-eval "
        f"{timings['vlm_eval'].seconds:.2f} s ({speedup:.2f}x); identical within {TOLERANCE}: "
        f"{not differences}. -> {args.output}"
    )
    for line in differences[:20]:
        print("  differs:", line, file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
