"""Hostile runs: subsets and differently spelled paths into a finished run folder, two runs at
once, hostile samples (a decompression bomb, a lying header, a NUL in a path, odd Unicode in
every text field), empty or answerless data. Nothing is lost, no traceback, each problem named."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval.cli import main
from vlm_eval.data import DataFormatError
from vlm_eval.models import Generation, ModelAdapter, ModelInput, register_model
from vlm_eval.report import load_runs, read_records
from vlm_eval.runner import RunConfig, RunFolderBusyError, WriteError, run_evaluation
from vlm_eval.runner._lock import run_folder_lock
from vlm_eval.tasks import GenerationSettings, load_tasks

ODD_TEXT = [
    "line\u2028separator",
    "para\u2029graph",
    "next\x85line",
    "vertical\x0btab\x0cfeed",
    "group\x1d\x1e\x1cseparators",
    "esc \x1b[31mred\x1b[0m bel\x07",
    "bidi \u202eevil\u202c \u2066iso\u2069",
    "zero\u200bwidth\ufeffbom",
    "emoji 👩‍🔬 and combining e\u0301",
    'quote " backslash \\ pipe | star * underscore _',
    "<script>alert(1)</script>",
    "\u0000nul",
]


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


class EchoAdapter(ModelAdapter):
    """Answers each prompt with its question (the first line of its last text; the task's
    instruction follows), unchanged: model output carries every odd character of the data."""

    name = "echo"

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.calls: list[int] = []
        self.answers = answers or {}

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        self.calls.append(len(inputs))
        texts = [str(item.prompt[-1].parts[-1]).partition("\n")[0] for item in inputs]
        return [Generation(self.answers.get(text, text), prompt_tokens=1) for text in texts]

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name}


def write_textvqa(
    folder: Path, questions: Sequence[str], answers: Sequence[Any] | None = None
) -> Path:
    """An official TextVQA val split in ``folder/textvqa``: one 16x16 image per question."""
    root = folder / "textvqa"
    (root / "train_images").mkdir(parents=True)
    data = []
    for index, question in enumerate(questions):
        image_id = f"img{index}"
        Image.new("RGB", (16, 16), (index * 10 % 256, 0, 0)).save(
            root / "train_images" / f"{image_id}.jpg"
        )
        reference = [f"answer {index}"] * 10 if answers is None else answers[index]
        data.append(
            {"question_id": index, "question": question, "image_id": image_id, "answers": reference}
        )
    text = json.dumps({"data": data, "dataset_name": "textvqa"})
    (root / "TextVQA_0.5.1_val.json").write_text(text, encoding="utf-8")
    return folder


def config(data: Path, output: Path, **options: Any) -> RunConfig:
    return RunConfig(
        model="echo", model_args={}, tasks=("textvqa",), data_dir=data, output_dir=output,
        batch_size=3, num_workers=0, **options,
    )  # fmt: skip


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    return write_textvqa(tmp_path / "data", [f"question {i}?" for i in range(8)])


def test_a_subset_run_into_a_finished_folder_keeps_every_prediction(
    data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    run_evaluation(config(data, output), EchoAdapter())
    full = (output / "samples_textvqa.jsonl").read_bytes()
    assert len(lines(output / "samples_textvqa.jsonl")) == 8

    results = run_evaluation(config(data, output, limit=3), EchoAdapter())
    assert results["tasks"]["textvqa"]["timing"]["reused_samples"] == 3
    assert [r["sample_id"] for r in lines(output / "samples_textvqa.jsonl")] == ["0", "1", "2"]
    assert [r["sample_id"] for r in lines(output / "kept_textvqa.jsonl")] == list("34567")

    adapter = EchoAdapter()
    results = run_evaluation(config(data, output), adapter)
    assert adapter.calls == [] and results["tasks"]["textvqa"]["timing"]["reused_samples"] == 8
    assert (output / "samples_textvqa.jsonl").read_bytes() == full
    assert lines(output / "kept_textvqa.jsonl") == []


def test_the_same_data_spelled_another_way_reuses_the_predictions(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "run"
    run_evaluation(config(data, output), EchoAdapter())
    monkeypatch.chdir(data.parent)
    for spelling in (Path("data"), Path("./data/../data"), Path(f"{data}/")):
        adapter = EchoAdapter()
        results = run_evaluation(config(spelling, output), adapter)
        assert adapter.calls == [], spelling
        assert results["tasks"]["textvqa"]["timing"]["reused_samples"] == 8


def test_other_settings_into_a_finished_folder_keep_the_first_predictions(
    data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    run_evaluation(config(data, output), EchoAdapter())
    first = (output / "samples_textvqa.jsonl").read_bytes()
    run_evaluation(config(data, output), EchoAdapter(answers={"question 1?": "other"}))
    other = EchoAdapter()
    other.describe = lambda: {"adapter": "another model"}  # type: ignore[method-assign]
    run_evaluation(config(data, output), other)
    assert len(other.calls) == 3  # 8 samples, batches of 3: all generated anew
    assert len(lines(output / "kept_textvqa.jsonl")) == 8
    adapter = EchoAdapter()
    run_evaluation(config(data, output), adapter)  # the first model again: nothing to generate
    assert adapter.calls == []
    assert (output / "samples_textvqa.jsonl").read_bytes() == first


class BlockingAdapter(EchoAdapter):
    """Waits in ``generate`` until released: a run that is still going."""

    def __init__(self) -> None:
        super().__init__()
        self.generating, self.release = threading.Event(), threading.Event()

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        self.generating.set()
        assert self.release.wait(60)
        return super().generate(inputs, settings)


def test_a_second_run_into_a_busy_folder_is_refused_naming_the_first(
    data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    blocking = BlockingAdapter()
    first = threading.Thread(target=run_evaluation, args=(config(data, output), blocking))
    first.start()
    try:
        assert blocking.generating.wait(60)
        second = EchoAdapter()
        with pytest.raises(RunFolderBusyError) as refused:
            run_evaluation(config(data, output, limit=2), second)
        assert second.calls == []
        message = str(refused.value)
        assert f"{output} is in use by another run (process {os.getpid()} on " in message
        assert "give this run another --output" in message
    finally:
        blocking.release.set()
        first.join(60)
    assert len(lines(output / "samples_textvqa.jsonl")) == 8
    assert not list(output.glob("*.partial"))
    calls = lines(output / "timing_textvqa.jsonl")
    assert sum(call["batch_size"] for call in calls) == 8  # no line of the refused run


def test_a_run_folder_held_by_another_process_is_refused_on_the_command_line(
    data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(output)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = CliRunner().invoke(
            main,
            [
                "run",
                "--model",
                "echo-never-loaded",
                "--tasks",
                "textvqa",
                "--data-dir",
                str(data),
                "--output",
                str(output),
            ],
        )
        assert result.exit_code == 2  # an unknown model is refused before the folder is touched
        with pytest.raises(RunFolderBusyError, match=f"process {holder.pid} on "):
            run_evaluation(config(data, output), EchoAdapter())
    finally:
        holder.kill()
        holder.wait()
    run_evaluation(config(data, output), EchoAdapter())  # the kernel released the killed lock


_HOLD = """
import sys, time
from pathlib import Path
from vlm_eval.runner._lock import run_folder_lock
with run_folder_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


_HOLD_AND_FORK = """
import multiprocessing, sys, time
from pathlib import Path
from vlm_eval.runner._lock import run_folder_lock
with run_folder_lock(Path(sys.argv[1])):
    worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(600,))
    worker.start()
    print(worker.pid, flush=True)
    time.sleep(600)
"""


def test_a_killed_run_releases_its_folder_while_its_forked_workers_linger(
    tmp_path: Path,
) -> None:
    # A killed run's image-decoding workers (forked) notice its death seconds later: they must
    # not hold the lock meanwhile, or the rerun is refused.
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_FORK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    worker = int(holder.stdout.readline())
    try:
        holder.kill()
        holder.wait()
        os.kill(worker, 0)  # still alive
        with run_folder_lock(tmp_path):
            pass
    finally:
        os.kill(worker, signal.SIGKILL)


def test_a_lock_on_a_new_folder_that_stays_empty_leaves_no_folder(tmp_path: Path) -> None:
    with run_folder_lock(tmp_path / "new"):
        assert (tmp_path / "new" / ".lock").exists()
    assert not (tmp_path / "new").exists()


def _break_images(data: Path) -> dict[str, str]:
    """Sample id -> what its image is made to be: a decompression bomb, a lying header, a
    truncated file, a directory, a link that leaves the folder."""
    images = data / "textvqa" / "train_images"
    Image.new("RGB", (400, 400)).save(images / "img1.jpg")  # over the test's pixel limit
    (images / "img2.jpg").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # PNG header, no PNG
    whole = (images / "img3.jpg").read_bytes()
    (images / "img3.jpg").write_bytes(whole[: len(whole) // 2])
    (images / "img4.jpg").unlink()
    (images / "img4.jpg").mkdir()
    outside = data.parent / "outside.jpg"
    Image.new("RGB", (8, 8)).save(outside)
    (images / "img5.jpg").unlink()
    (images / "img5.jpg").symlink_to(outside)
    return {"1": "decompression bomb", "2": "cannot identify", "3": "truncated", "4": "directory"}


def test_hostile_images_fail_only_their_samples_and_are_retried(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _break_images(data)
    with monkeypatch.context() as patch:
        patch.setattr(Image, "MAX_IMAGE_PIXELS", 400 * 400 // 3)  # 400x400: twice the limit
        output = tmp_path / "run"
        results = run_evaluation(config(data, output), EchoAdapter())
        entry = results["tasks"]["textvqa"]
        assert entry["data"] == entry["data"] | {"samples": 8, "failed": 4, "scored_samples": 4}
        failures = {failure["sample_id"]: failure["error"] for failure in entry["failures"]}
        assert sorted(failures) == sorted(broken)
        for sample_id, problem in broken.items():
            assert f"img{sample_id}.jpg" in failures[sample_id]
            assert problem in failures[sample_id].lower(), failures[sample_id]
        # A symlink is followed wherever it leads (documented): annotation paths are confined.
        assert [r["sample_id"] for r in lines(output / "samples_textvqa.jsonl")] == list("0567")
    for sample_id in broken:
        path = data / "textvqa" / "train_images" / f"img{sample_id}.jpg"
        if path.is_dir():
            path.rmdir()
        Image.new("RGB", (16, 16)).save(path)
    adapter = EchoAdapter()
    results = run_evaluation(config(data, output), adapter)
    assert sum(adapter.calls) == 4 and results["tasks"]["textvqa"]["data"]["failed"] == 0


def test_a_nul_in_an_image_path_fails_its_sample_only(tmp_path: Path) -> None:
    data = write_textvqa(tmp_path / "data", ["a?", "b?"])
    file = data / "textvqa" / "TextVQA_0.5.1_val.json"
    file.write_text(file.read_text().replace('"img1"', '"img\\u0000one"'))
    results = run_evaluation(config(data, tmp_path / "run"), EchoAdapter())
    (failure,) = results["tasks"]["textvqa"]["failures"]
    assert failure["sample_id"] == "1" and "null byte" in failure["error"]


@pytest.mark.parametrize("text", ODD_TEXT)
def test_odd_unicode_in_questions_and_answers_survives_run_resume_and_reports(
    text: str, tmp_path: Path
) -> None:
    data = write_textvqa(tmp_path / "data", [f"{text} {i}" for i in range(4)])
    file = data / "textvqa" / "TextVQA_0.5.1_val.json"
    document = json.loads(file.read_text())
    document["data"][0]["answers"] = [text] * 10
    document["data"][1]["image_id"] = f"img1{text}"  # no such file: that sample fails
    file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    output = tmp_path / "run"
    results = run_evaluation(config(data, output), EchoAdapter())
    assert results["tasks"]["textvqa"]["data"]["failed"] == 1
    records = lines(output / "samples_textvqa.jsonl")
    assert [r["raw_output"] for r in records] == [f"{text} {i}" for i in (0, 2, 3)]
    adapter = EchoAdapter()
    again = run_evaluation(config(data, output), adapter)["tasks"]["textvqa"]
    assert adapter.calls == [] and again["timing"]["reused_samples"] == 3
    assert again["data"]["failed"] == 1  # tried again: its image is still missing
    (run,) = load_runs([output])
    assert [r.extra["raw_output"] for r in read_records(run, "textvqa")] == [
        f"{text} {i}" for i in (0, 2, 3)
    ]
    cli = CliRunner()
    for command in (["report", str(output)], ["compare", str(output), str(output)]):
        result = cli.invoke(main, command)
        assert result.exit_code == 0, result.output
        assert result.exception is None


def test_a_lone_surrogate_in_a_question_is_refused_naming_the_record(tmp_path: Path) -> None:
    data = write_textvqa(tmp_path / "data", ["fine?", "bad \ud800?"])
    with pytest.raises(DataFormatError) as refused:
        run_evaluation(config(data, tmp_path / "run"), EchoAdapter())
    assert "TextVQA_0.5.1_val.json, record 1, field 'question': not valid Unicode" in str(
        refused.value
    )
    assert not (tmp_path / "run").exists()


def test_a_lone_surrogate_in_model_output_is_stored_and_read_back(
    data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    run_evaluation(config(data, output), EchoAdapter(answers={"question 2?": "half \udc80"}))
    (run,) = load_runs([output])
    assert list(read_records(run, "textvqa"))[2].extra["raw_output"] == "half \udc80"
    result = CliRunner().invoke(main, ["report", str(output)])
    assert result.exit_code == 0 and "\udc80" not in result.output


def test_deeply_nested_json_is_refused_naming_the_file(tmp_path: Path) -> None:
    data = write_textvqa(tmp_path / "data", ["a?"])
    file = data / "textvqa" / "TextVQA_0.5.1_val.json"
    file.write_text('{"data": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DataFormatError, match=r"TextVQA_0\.5\.1_val\.json: not valid JSON"):
        run_evaluation(config(data, tmp_path / "run"), EchoAdapter())


def test_an_empty_answer_list_is_refused_naming_the_record(tmp_path: Path) -> None:
    data = write_textvqa(tmp_path / "data", ["a?", "b?"], answers=[["x"] * 10, []])
    with pytest.raises(DataFormatError) as refused:
        run_evaluation(config(data, tmp_path / "run"), EchoAdapter())
    assert "record 1, field 'answers': empty list" in str(refused.value)


def test_an_empty_split_is_refused(tmp_path: Path) -> None:
    data = write_textvqa(tmp_path / "data", [])
    with pytest.raises(DataFormatError, match="split 'val' holds no samples"):
        run_evaluation(config(data, tmp_path / "run"), EchoAdapter())


def test_a_run_where_every_sample_failed_exits_non_zero(tmp_path: Path) -> None:
    data = write_textvqa(tmp_path / "data", ["a?", "b?"])
    for image in (data / "textvqa" / "train_images").iterdir():
        image.write_bytes(b"not an image")
    register_model(EchoAdapter)  # into this test's copy of the registry (conftest)
    result = CliRunner().invoke(
        main,
        [
            "run",
            "--model",
            "echo",
            "--tasks",
            "textvqa",
            "--data-dir",
            str(data),
            "--num-workers",
            "0",
            "--output",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 1
    assert "no predictions for textvqa: all 2 samples failed" in result.output
    assert (tmp_path / "run" / "results.json").exists()


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only), grown on demand with ``grow``."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_stops_the_run_keeping_every_finished_prediction(
    tmp_path: Path, small_disk: Path
) -> None:
    long = "x" * 4000  # records of about 8 KB: 64 KiB holds a few
    data = write_textvqa(tmp_path / "data", [f"{long} {i}" for i in range(30)])
    reference = tmp_path / "reference"
    run_evaluation(config(data, reference), EchoAdapter())
    output = small_disk / "run"
    with pytest.raises(WriteError) as full:
        run_evaluation(config(data, output), EchoAdapter())
    said = re.search(r"; (\d+) predictions are safely on disk in ", str(full.value))
    assert said and "No space left on device" in str(full.value), str(full.value)
    # Lines of the failed batch may have reached the disk whole too: they count as saved.
    complete = (output / "samples_textvqa.jsonl").read_bytes().count(b"\n")
    assert 0 < int(said[1]) <= complete < 30
    assert not list(output.glob("*.partial"))
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    adapter = EchoAdapter()
    results = run_evaluation(config(data, output), adapter)
    assert results["tasks"]["textvqa"]["timing"]["reused_samples"] == complete
    assert sum(adapter.calls) == 30 - complete
    samples = "samples_textvqa.jsonl"
    assert (output / samples).read_bytes() == (reference / samples).read_bytes()


def test_a_prompt_longer_than_the_model_takes_fails_its_sample_only(
    tiny_adapter: ModelAdapter, tmp_path: Path
) -> None:
    data = write_textvqa(tmp_path / "data", ["what is it?", "x" * 5000, "and this?"])
    output = tmp_path / "run"
    results = run_evaluation(replace(config(data, output), model="hf"), tiny_adapter)
    (failure,) = results["tasks"]["textvqa"]["failures"]
    assert failure["sample_id"] == "1"
    assert (
        "tokens, more than the 4096 the model takes (max_position_embeddings)" in failure["error"]
    )
    records = lines(output / "samples_textvqa.jsonl")
    alone = run_evaluation(
        replace(config(data, tmp_path / "alone"), model="hf", batch_size=1), tiny_adapter
    )
    assert alone["tasks"]["textvqa"]["failures"] == [failure]
    assert records == lines(tmp_path / "alone" / "samples_textvqa.jsonl")
    assert [r["sample_id"] for r in records] == ["0", "2"]


def test_special_files_in_the_image_folder_fail_their_samples_without_hanging(
    tmp_path: Path,
) -> None:
    data = write_textvqa(tmp_path / "data", ["a?", "b?", "c?"])
    images = data / "textvqa" / "train_images"
    (images / "img1.jpg").unlink()
    os.mkfifo(images / "img1.jpg")  # reading it would wait for a writer forever
    (images / "img2.jpg").unlink()
    (images / "img2.jpg").symlink_to("/dev/zero")  # reading it would never end
    results = run_evaluation(config(data, tmp_path / "run"), EchoAdapter())
    failures = {f["sample_id"]: f["error"] for f in results["tasks"]["textvqa"]["failures"]}
    assert sorted(failures) == ["1", "2"]
    assert all(
        error.endswith("a FIFO or a device, not an image file") for error in failures.values()
    )


@pytest.mark.parametrize("num_workers", [0, 1])
def test_an_image_with_a_malformed_exif_block_is_read_for_its_pixels(
    num_workers: int, tiny_adapter: ModelAdapter, tmp_path: Path
) -> None:
    data = write_textvqa(tmp_path / "data", ["what is it?", "and this?"])
    image = data / "textvqa" / "train_images" / "img0.jpg"
    Image.new("RGB", (16, 16), "red").save(image, exif=b"Exif\x00\x00garbage" * 10)
    options = {"model": "hf", "num_workers": num_workers}
    results = run_evaluation(replace(config(data, tmp_path / "run"), **options), tiny_adapter)
    assert results["tasks"]["textvqa"]["failures"] == []
    assert len(lines(tmp_path / "run" / "samples_textvqa.jsonl")) == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.write_bytes(b'{"a": 1}\ngarbage{\n{"b": 2}\n'), "record on line 2"),
        (lambda path: path.write_bytes(b'{"a": 1}\n\xff\xfe\n{"b": 2}\n'), "not UTF-8 text"),
        (lambda path: (path.unlink(), path.mkdir()), "cannot read: [Errno 21] Is a directory"),
    ],
)
def test_a_damaged_records_file_stops_the_resume_naming_file_and_line(
    damage: Any, message: str, data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    run_evaluation(config(data, output), EchoAdapter())
    damage(output / "samples_textvqa.jsonl")
    with pytest.raises(DataFormatError) as stopped:
        run_evaluation(config(data, output), EchoAdapter())
    assert str(stopped.value).startswith(str(output / "samples_textvqa.jsonl"))
    assert message in str(stopped.value)


def test_the_command_line_says_a_damaged_records_file_must_be_fixed_first(
    data: Path, tmp_path: Path
) -> None:
    register_model(EchoAdapter)
    output = tmp_path / "run"
    arguments = ["run", "--model", "echo", "--tasks", "textvqa", "--data-dir", str(data)]
    arguments += ["--num-workers", "0", "--output", str(output)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    (output / "samples_textvqa.jsonl").write_text('{"a": 1}\n{\n{"b": 2}\n')
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 1 and result.exception is not None
    assert result.output == (
        f"Error: {output / 'samples_textvqa.jsonl'}, record on line 2: not a JSON record "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)): fix or "
        f"delete this line\n3 predictions are saved in {output} (textvqa: 3); once that file is "
        "fixed, the same command reuses them\n"
    )


def test_a_question_holding_the_image_token_fails_its_sample_only(
    tiny_adapter: ModelAdapter, tmp_path: Path
) -> None:
    data = write_textvqa(tmp_path / "data", ["what is it?", "what is <image> here?", "and?"])
    output = tmp_path / "run"
    results = run_evaluation(replace(config(data, output), model="hf"), tiny_adapter)
    (failure,) = results["tasks"]["textvqa"]["failures"]
    assert failure["sample_id"] == "1"
    assert failure["error"].startswith("the model's processor refuses it: ")
    assert [r["sample_id"] for r in lines(output / "samples_textvqa.jsonl")] == ["0", "2"]
