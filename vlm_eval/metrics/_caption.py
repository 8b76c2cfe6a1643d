"""COCO captioning metrics through pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D and SPICE.

The PTB tokenizer, METEOR and SPICE run on Java; each is started once per `score_captions` call.
SPICE is computed only where it can run (see `spice_unavailable`), and never downloads anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pycocoevalcap.spice
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

_BLEU_NAMES = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")
_METRIC_NAMES = (*_BLEU_NAMES, "METEOR", "ROUGE-L", "CIDEr", "SPICE")
CORPUS_MEAN_METRICS = ("ROUGE-L", "CIDEr", "SPICE")
"""The metrics whose corpus score is the mean of the per-image scores (BLEU and METEOR are not)."""

# spice-1.0.jar ships with pycocoevalcap; its manifest finds CoreNLP and the rest in the lib/
# folder beside it, where pycocoevalcap's own downloader would put the CoreNLP jars.
SPICE_JAR = Path(pycocoevalcap.spice.__file__).parent / "spice-1.0.jar"
_CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
# SPICE 1.0 writes its output through the Nashorn JavaScript engine, which Java 15 removed.
_SPICE_MAX_JAVA = 14
_STDERR_TAIL = 1500


@dataclass(frozen=True)
class CaptionScores:
    """Captioning scores of one set of predictions.

    Attributes:
        metrics: Corpus scores as pycocoevalcap returns them (0..1 scale, unrounded), keyed
            "BLEU-1".."BLEU-4", "METEOR", "ROUGE-L", "CIDEr", then "SPICE" when computed.
        per_image: For each image id, its score under each of those metrics, as the scorers
            return them (sentence-level BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE F-score).
        skipped: Metrics not computed ("SPICE" at most), with the reason.
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


def _java_feature_version(version_output: str) -> int | None:
    """The Java feature release (8, 11, 17, ...) from the output of ``java -version``."""
    match = re.search(r'version "(?:1\.)?(\d+)', version_output)
    return int(match.group(1)) if match else None


def spice_unavailable() -> str | None:
    """Why SPICE cannot run here, or ``None`` if it can.

    SPICE needs the Stanford CoreNLP 3.6.0 jars in the ``lib`` folder beside ``SPICE_JAR``
    and Java 8 to 14 as ``java``. Nothing is downloaded.
    """
    lib = SPICE_JAR.parent / "lib"
    missing = [str(lib / name) for name in _CORENLP_JARS if not (lib / name).is_file()]
    if missing:
        return (
            f"SPICE needs the Stanford CoreNLP 3.6.0 jars, missing: {', '.join(missing)}. "
            "Download stanford-corenlp-full-2015-12-09.zip from nlp.stanford.edu and copy "
            f"{' and '.join(_CORENLP_JARS)} from it into {lib}, or run "
            "`python -m pycocoevalcap.spice.get_stanford_models` once with internet access"
        )
    try:
        version = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    except OSError as error:
        return f"SPICE needs Java, which could not be run: {error}"
    feature = _java_feature_version(version)
    if feature is not None and feature > _SPICE_MAX_JAVA:
        return (
            f"SPICE 1.0 needs Java 8 to {_SPICE_MAX_JAVA} (it writes its results through the "
            f"Nashorn JavaScript engine, removed in Java 15), but java is Java {feature}: "
            "put e.g. a Java 11 runtime first on PATH"
        )
    return None


def _spice_cache_dir() -> Path:
    """Where SPICE caches its parses of captions across runs (the XDG user cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vlm-eval" / "spice"


class _SpiceFailed(Exception):
    """SPICE ran but gave no scores; the message says why."""


def _spice_results(
    process: subprocess.Popen[bytes], folder: Path, images: list[str]
) -> list[float]:
    """Wait for the SPICE run in ``folder``; its F-score of each of ``images``."""
    code = process.wait()
    if code != 0:
        stderr = (folder / "stderr.txt").read_text(errors="replace").strip()
        tail = stderr[-_STDERR_TAIL:] or "no error output"
        raise _SpiceFailed(f"SPICE failed: java exited with status {code}: {tail}")
    try:
        results = json.loads((folder / "out.json").read_text(encoding="utf-8"))
        scores = {item["image_id"]: float(item["scores"]["All"]["f"]) for item in results}
        return [scores[image] for image in images]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _SpiceFailed(f"SPICE failed: its output could not be read: {error!r}") from error


@contextmanager
def _spice(
    gts: Mapping[str, list[str]], res: Mapping[str, list[str]]
) -> Iterator[Callable[[], list[float]]]:
    """Start SPICE in the background on tokenized captions, its files in a temporary folder.

    Yields a function that waits for it and returns the F-score of each image of ``gts`` (in
    order), or raises ``_SpiceFailed``. The JVM is stopped and the files removed on exit.
    """
    with tempfile.TemporaryDirectory(prefix="vlm-eval-spice-") as name:
        folder = Path(name)
        entries = [{"image_id": image, "test": res[image][0], "refs": gts[image]} for image in gts]
        (folder / "in.json").write_text(json.dumps(entries), encoding="utf-8")
        cache = _spice_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        command = [
            "java", "-jar", "-Xmx8G", str(SPICE_JAR), str(folder / "in.json"),
            "-cache", str(cache), "-out", str(folder / "out.json"), "-subset", "-silent",
        ]  # fmt: skip
        # stderr goes to a file: a pipe nobody reads until the end could fill and stall SPICE.
        with (folder / "stderr.txt").open("wb") as stderr:
            process = subprocess.Popen(
                command, cwd=folder, stdout=subprocess.DEVNULL, stderr=stderr
            )
        try:
            yield lambda: _spice_results(process, folder, list(gts))
        finally:
            process.kill()
            process.wait()


def score_captions(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> CaptionScores:
    """Score captions with the COCO caption evaluation (pycocoevalcap).

    Captions are PTB-tokenized (lower-cased, punctuation dropped), then scored with BLEU-1..4
    (corpus level, closest reference length), METEOR 1.5, ROUGE-L and CIDEr-D. CIDEr-D takes its
    document frequencies from the references of the scored images only, so scores depend on the
    evaluated set and a single image always scores 0. SPICE 1.0 (corpus score: the mean of the
    per-image F-scores) runs alongside where ``spice_unavailable`` allows; otherwise, or if it
    fails, it is in ``skipped`` with the reason. Java starts up to three times per call
    (tokenizer, METEOR, SPICE; the latter two take seconds), so score a whole set at once.

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
    spice_reason = spice_unavailable()
    # The METEOR and SPICE JVMs load while the other metrics run.
    with _meteor() as meteor, ExitStack() as stack:
        gts, res = _tokenize(predictions, references)
        spice: Callable[[], list[float]] | None = None
        if spice_reason is None:
            try:
                spice = stack.enter_context(_spice(gts, res))
            except OSError as error:
                spice_reason = f"SPICE could not start: {error}"
        bleu, bleu_per_image = Bleu(4).compute_score(gts, res, verbose=0)
        columns = dict(zip(_BLEU_NAMES, zip(bleu, bleu_per_image, strict=True), strict=True))
        columns["ROUGE-L"] = Rouge().compute_score(gts, res)
        columns["CIDEr"] = Cider().compute_score(gts, res)
        columns["METEOR"] = meteor.compute_score(gts, res)
        if spice is not None:
            try:
                per_image = spice()
                columns["SPICE"] = (sum(per_image) / len(per_image), per_image)
            except _SpiceFailed as error:
                spice_reason = str(error)
    names = [name for name in _METRIC_NAMES if name in columns]
    return CaptionScores(
        metrics={name: float(columns[name][0]) for name in names},
        per_image={
            image: {name: float(columns[name][1][i]) for name in names}
            for i, image in enumerate(gts)
        },
        skipped={} if spice_reason is None else {"SPICE": spice_reason},
    )
