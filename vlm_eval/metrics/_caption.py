"""COCO captioning metrics through pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D.

The PTB tokenizer and METEOR run on Java; each is started once per `score_captions` call.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

_BLEU_NAMES = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
_METRIC_NAMES = (*_BLEU_NAMES, "METEOR", "ROUGE-L", "CIDEr")
_SPICE_REASON = (
    "not computed yet: SPICE needs the Stanford CoreNLP 3.6.0 jars, "
    "which pycocoevalcap downloads at first use"
)


@dataclass(frozen=True)
class CaptionScores:
    """Captioning scores of one set of predictions.

    Attributes:
        metrics: Corpus scores as pycocoevalcap returns them (0..1 scale, unrounded), keyed
            "BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr".
        per_image: For each image id, its score under each of those metrics, as the scorers
            return them (sentence-level BLEU, METEOR, ROUGE-L, CIDEr-D).
        skipped: Metrics not computed, with the reason.
    """

    metrics: dict[str, float]
    per_image: dict[str, dict[str, float]]
    skipped: dict[str, str]


def _describe(ids: list[str]) -> str:
    shown = ", ".join(repr(image) for image in ids[:5])
    return f"{len(ids)} id(s): {shown}{', ...' if len(ids) > 5 else ''}"


def _validate(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> None:
    if not predictions:
        raise ValueError("no predictions to score")
    extra = [image for image in predictions if image not in references]
    if extra:
        raise ValueError(f"predictions without references: {_describe(extra)}")
    missing = [image for image in references if image not in predictions]
    if missing:
        raise ValueError(f"references without predictions: {_describe(missing)}")
    for image, caption in predictions.items():
        if not isinstance(caption, str):
            raise ValueError(f"prediction for image {image!r} is not a string: {caption!r}")
        refs = references[image]
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise ValueError(f"references for image {image!r} must be a list of strings: {refs!r}")
        if not refs:
            raise ValueError(f"image {image!r} has no reference caption")
        for i, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise ValueError(f"reference {i} of image {image!r} is not a string: {ref!r}")


def _tokenize(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """PTB-tokenize every caption in one Java run; return (references, predictions) by image."""

    def entries(captions: Sequence[str]) -> list[dict[str, str]]:
        # The tokenizer reads one caption per line and matches lines back to captions by position:
        # collapsing all whitespace keeps Unicode line breaks (U+2028, ...) from shifting them.
        return [{"caption": " ".join(caption.split())} for caption in captions]

    batch = {("ref", image): entries(refs) for image, refs in references.items()}
    batch |= {("pred", image): entries([caption]) for image, caption in predictions.items()}
    tokens = PTBTokenizer().tokenize(batch)
    return (
        {image: tokens["ref", image] for image in predictions},
        {image: tokens["pred", image] for image in predictions},
    )


@contextmanager
def _meteor() -> Iterator[Meteor]:
    """A METEOR scorer whose JVM is stopped and reaped on exit, even after an error."""
    meteor = Meteor()
    try:
        yield meteor
    finally:
        # pycocoevalcap 1.2 stops the JVM only in Meteor.__del__, which takes a lock that a failed
        # compute_score leaves held: release it so the later __del__ cannot hang, and stop it now.
        if meteor.lock.locked():
            meteor.lock.release()
        meteor.meteor_p.kill()
        meteor.meteor_p.communicate()


def score_captions(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> CaptionScores:
    """Score captions with the COCO caption evaluation (pycocoevalcap).

    Captions are PTB-tokenized (lower-cased, punctuation dropped), then scored with BLEU-1..4
    (corpus level, closest reference length), METEOR 1.5, ROUGE-L and CIDEr-D. CIDEr-D takes its
    document frequencies from the references of the scored images only, so scores depend on the
    evaluated set and a single image always scores 0. SPICE is not computed (see ``skipped``).
    Java starts twice per call (tokenizer, METEOR; the latter takes seconds), so score a whole
    set at once.

    Args:
        predictions: One predicted caption per image id.
        references: The reference captions (at least one) of each image id; the ids must be
            exactly those of ``predictions``.

    Returns:
        The corpus and per-image scores.

    Raises:
        ValueError: If there are no predictions, the ids of the two mappings differ, a caption is
            not a string, or an image has no reference.
        RuntimeError: If ``java`` is not on PATH.
    """
    _validate(predictions, references)
    if shutil.which("java") is None:
        raise RuntimeError(
            "java was not found on PATH: pycocoevalcap's PTB tokenizer and METEOR need a Java "
            "runtime (e.g. apt-get install openjdk-17-jre-headless)"
        )
    with _meteor() as meteor:  # its JVM loads while the other metrics run
        gts, res = _tokenize(predictions, references)
        bleu, bleu_per_image = Bleu(4).compute_score(gts, res, verbose=0)
        columns = dict(zip(_BLEU_NAMES, zip(bleu, bleu_per_image, strict=True), strict=True))
        columns["ROUGE-L"] = Rouge().compute_score(gts, res)
        columns["CIDEr"] = Cider().compute_score(gts, res)
        columns["METEOR"] = meteor.compute_score(gts, res)
    return CaptionScores(
        metrics={name: float(columns[name][0]) for name in _METRIC_NAMES},
        per_image={
            image: {name: float(columns[name][1][i]) for name in _METRIC_NAMES}
            for i, image in enumerate(gts)
        },
        skipped={"SPICE": _SPICE_REASON},
    )
