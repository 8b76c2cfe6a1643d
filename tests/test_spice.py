"""SPICE: computed once per scoring call where the CoreNLP jars and a suitable Java are present,
otherwise (or when it fails) reported as skipped with the reason, never downloading anything."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import pycocoevalcap.spice.get_stanford_models as stanford_models
import pycocoevalcap.spice.spice as pycocoevalcap_spice
import pytest

from vlm_eval.metrics import CaptionScores, _caption, score_captions

CAPTIONS = Path(__file__).parent / "data" / "reference" / "captions"
PUBLISHED_CAPTION_SCORES = json.loads((CAPTIONS / "published_scores.json").read_text())
METRIC_NAMES = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
# Stands in for SPICE: scores each image by the word count of its (tokenized) test caption.
FAKE_SPICE = """
import json, sys
entries = json.load(open(sys.argv[1]))
scores = [{"image_id": e["image_id"], "scores": {"All": {"f": len(e["test"].split()) / 100}}}
          for e in entries]
json.dump(scores, open(sys.argv[sys.argv.index("-out") + 1], "w"))
"""


class SpiceRuns:
    """The SPICE runs started through ``subprocess.Popen`` (other Java runs pass through).

    Attributes:
        fake: Python source run instead of ``java -jar spice-1.0.jar``, with the same arguments.
        commands: The SPICE command lines, as score_captions built them.
        inputs: The content of each run's input file when it started.
        processes: The processes started.
    """

    def __init__(self) -> None:
        self.fake: str | None = None
        self.commands: list[list[str]] = []
        self.inputs: list[Any] = []
        self.processes: list[subprocess.Popen[bytes]] = []


@pytest.fixture()
def spice_runs(monkeypatch: pytest.MonkeyPatch) -> SpiceRuns:
    runs = SpiceRuns()
    popen = subprocess.Popen

    def spy(command: list[str], *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        if str(_caption.SPICE_JAR) not in command:
            return popen(command, *args, **kwargs)
        runs.commands.append(list(command))
        runs.inputs.append(json.loads(Path(command[4]).read_text()))
        if runs.fake is not None:
            command = [sys.executable, "-c", runs.fake, *command[4:]]
        process = popen(command, *args, **kwargs)
        runs.processes.append(process)
        return process

    monkeypatch.setattr(subprocess, "Popen", spy)
    return runs


def _spice_home(folder: Path, jars: bool) -> Path:
    """A copy of pycocoevalcap's spice folder layout: spice-1.0.jar, and empty CoreNLP jars."""
    (folder / "lib").mkdir(parents=True)
    (folder / "spice-1.0.jar").symlink_to(_caption.SPICE_JAR)
    if jars:
        for name in ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar"):
            (folder / "lib" / name).touch()
    return folder / "spice-1.0.jar"


def _score_good_captions() -> CaptionScores:
    refs = json.loads((CAPTIONS / "refs.json").read_text())
    return score_captions(json.loads((CAPTIONS / "good_captions.json").read_text()), refs)


def _rounded(scores: CaptionScores, names: list[str]) -> dict[str, float]:
    return {name: round(scores.metrics[name], 4) for name in names}


def test_spice_jar_is_pycocoevalcaps() -> None:
    assert Path(pycocoevalcap_spice.__file__).parent / "spice-1.0.jar" == _caption.SPICE_JAR
    assert _caption.SPICE_JAR.is_file()


def test_missing_jars_skip_spice_without_any_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spice_runs: SpiceRuns
) -> None:
    jar = _spice_home(tmp_path / "spice", jars=False)
    monkeypatch.setattr(_caption, "SPICE_JAR", jar)
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def call(*args: object, **kwargs: object) -> None:
            attempts.append(name)
            raise AssertionError(f"{name} was called")

        return call

    monkeypatch.setattr(urllib.request, "urlretrieve", refuse("urlretrieve"))
    monkeypatch.setattr(stanford_models, "urlretrieve", refuse("urlretrieve"))
    monkeypatch.setattr(stanford_models, "get_stanford_models", refuse("get_stanford_models"))
    monkeypatch.setattr(pycocoevalcap_spice, "get_stanford_models", refuse("get_stanford_models"))
    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))

    scores = _score_good_captions()

    assert list(scores.metrics) == METRIC_NAMES
    assert _rounded(scores, METRIC_NAMES) == PUBLISHED_CAPTION_SCORES["good"]
    assert all(list(per_metric) == METRIC_NAMES for per_metric in scores.per_image.values())
    reason = scores.skipped["SPICE"]
    assert str(jar.parent / "lib" / "stanford-corenlp-3.6.0.jar") in reason
    assert str(jar.parent / "lib" / "stanford-corenlp-3.6.0-models.jar") in reason
    assert "stanford-corenlp-full-2015-12-09" in reason
    assert attempts == []
    assert spice_runs.commands == []


def test_broken_jars_skip_spice_with_the_java_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spice_runs: SpiceRuns
) -> None:
    monkeypatch.setattr(_caption, "SPICE_JAR", _spice_home(tmp_path / "spice", jars=True))
    monkeypatch.setattr(_caption, "_java_feature_version", lambda output: 11)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    scores = _score_good_captions()

    assert list(scores.metrics) == METRIC_NAMES
    assert _rounded(scores, METRIC_NAMES) == PUBLISHED_CAPTION_SCORES["good"]
    reason = scores.skipped["SPICE"]
    assert "java exited with status 1" in reason
    assert "NoClassDefFoundError" in reason  # the empty CoreNLP jars hold no classes
    [command] = spice_runs.commands
    cache = tmp_path / "cache" / "vlm-eval" / "spice"
    assert command[command.index("-cache") + 1] == str(cache)
    assert cache.is_dir()


@pytest.mark.parametrize(
    ("java", "expected"),
    [(11, None), (14, None), (15, "Java 8 to 14"), (17, "but java is Java 17")],
)
def test_spice_needs_java_8_to_14(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, java: int, expected: str | None
) -> None:
    monkeypatch.setattr(_caption, "SPICE_JAR", _spice_home(tmp_path / "spice", jars=True))
    monkeypatch.setattr(_caption, "_java_feature_version", lambda output: java)
    reason = _caption.spice_unavailable()
    assert reason is None if expected is None else expected in reason


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('java version "1.8.0_312"\nJava(TM) SE Runtime Environment', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ('NOTE: Picked up JDK_JAVA_OPTIONS\nopenjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "25.0.3" 2026-04-21 LTS', 25),
        ("no version here", None),
    ],
)
def test_java_feature_version(output: str, expected: int | None) -> None:
    assert _caption._java_feature_version(output) == expected


def test_spice_scores_join_the_other_metrics(
    monkeypatch: pytest.MonkeyPatch, spice_runs: SpiceRuns
) -> None:
    monkeypatch.setattr(_caption, "spice_unavailable", lambda: None)
    spice_runs.fake = FAKE_SPICE

    scores = _score_good_captions()

    assert list(scores.metrics) == [*METRIC_NAMES, "SPICE"]
    assert _rounded(scores, METRIC_NAMES) == PUBLISHED_CAPTION_SCORES["good"]
    assert scores.skipped == {}
    # One run for the whole set, on the PTB-tokenized captions.
    [entries] = spice_runs.inputs
    assert entries[0]["image_id"] == "image1"
    assert entries[0]["test"] == "an orange cat and a grey cat are lying together"
    assert entries[0]["refs"][0] == "two cats are sleeping next to each other"
    per_image = {image: metrics["SPICE"] for image, metrics in scores.per_image.items()}
    assert per_image == {"image1": 0.10, "image2": 0.17}  # 10 and 17 words
    assert scores.metrics["SPICE"] == pytest.approx(0.135)


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        ("import sys; sys.stderr.write('out of memory'); sys.exit(3)", "status 3: out of memory"),
        ("pass", "output could not be read: FileNotFoundError"),
        (
            "import sys; open(sys.argv[sys.argv.index('-out') + 1], 'w').write('[{}]')",
            "output could not be read: KeyError",
        ),
    ],
)
def test_failed_spice_runs_say_why(spice_runs: SpiceRuns, fake: str, message: str) -> None:
    spice_runs.fake = fake
    with (
        _caption._spice({"a": ["a cat sits"]}, {"a": ["a cat"]}) as spice,
        pytest.raises(_caption._SpiceFailed, match=message),
    ):
        spice()


def test_spice_files_are_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spice_runs: SpiceRuns
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(_caption, "spice_unavailable", lambda: None)
    spice_runs.fake = FAKE_SPICE

    scores = _score_good_captions()

    assert "SPICE" in scores.metrics  # so its input and output files were written
    [command] = spice_runs.commands
    files = [Path(command[4]), Path(command[command.index("-out") + 1])]
    assert all(file.is_relative_to(tmp_path) for file in files)
    assert not any(file.exists() for file in files)
    assert list(tmp_path.iterdir()) == []


def test_spice_is_stopped_when_another_metric_fails(
    monkeypatch: pytest.MonkeyPatch, spice_runs: SpiceRuns
) -> None:
    class FailingCider:
        def compute_score(self, gts: object, res: object) -> None:
            raise ValueError("CIDEr failed")

    monkeypatch.setattr(_caption, "spice_unavailable", lambda: None)
    monkeypatch.setattr(_caption, "Cider", FailingCider)
    spice_runs.fake = "import time; time.sleep(60)"
    with pytest.raises(ValueError, match="CIDEr failed"):
        _score_good_captions()
    [process] = spice_runs.processes
    assert process.returncode is not None
    assert not Path(spice_runs.commands[0][4]).parent.exists()


@pytest.mark.skipif(
    _caption.spice_unavailable() is not None,
    reason="SPICE cannot run here: it needs the Stanford CoreNLP 3.6.0 jars and Java 8 to 14 "
    "(see vlm_eval.metrics._caption.spice_unavailable)",
)
def test_real_spice_scores() -> None:
    scores = _score_good_captions()
    assert list(scores.metrics) == [*METRIC_NAMES, "SPICE"]
    assert _rounded(scores, METRIC_NAMES) == PUBLISHED_CAPTION_SCORES["good"]
    assert scores.skipped == {}
    per_image = [metrics["SPICE"] for metrics in scores.per_image.values()]
    assert len(per_image) == 2
    assert all(0.0 <= value <= 1.0 for value in [*per_image, scores.metrics["SPICE"]])
    assert scores.metrics["SPICE"] == pytest.approx(sum(per_image) / 2)
