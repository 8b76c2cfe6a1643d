"""MMMU: open answers scored by MMMU's published rules, rows with several images read, laid out
first, interleaved or stitched, refused by single-image families, and run end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval._arguments import ArgumentsError
from vlm_eval.cli import main
from vlm_eval.data import (
    DataFormatError,
    ImageError,
    ImageFile,
    ImageSource,
    Sample,
    StitchedImage,
)
from vlm_eval.metrics import extract_choice, open_answer_candidates, open_answer_correct
from vlm_eval.protocols import Example
from vlm_eval.tasks import ImagePart, get_task, load_tasks, resolve_task_data

# Hand-read from the rules in vlm_eval/metrics/_mmmu.py (MMMU's eval_utils.py).
CANDIDATES = [
    # "is " and "answer " give tails; the shortest is "1,234.5 meters", whose numbers are
    # 1,234 (thousands separator) and 234.5 (the plain rule matches after the comma).
    ("The answer is 1,234.5 meters.", ["1,234.5 meters", 1234.0, 234.5]),
    # Only the last line looks for "=": the first line gives nothing, the second "b".
    ("x = 3\nso it is b", [" b", "b "]),
    ("y = 2.499", [2.5]),  # the last line's "=" tail, a number rounded to 2 decimals
    ("Paris", ["paris"]),  # no indicator: the whole answer
    ("It is .", ["it is"]),  # trailing periods dropped: no "is " left, the whole answer
]


@pytest.mark.parametrize(("response", "expected"), CANDIDATES)
def test_open_answer_candidates(response: str, expected: list[Any]) -> None:
    assert open_answer_candidates(response) == expected


@pytest.mark.parametrize(
    ("response", "references", "right"),
    [
        ("The final answer is 12.00", ["12"], True),  # numbers compare rounded
        ("3.146", ["3.15"], True),
        ("3.14159", ["3.142"], True),  # both round to 3.14
        ("about 7", ["8"], False),
        ("It is B", ["b"], True),  # one-letter references match at a word edge
        ("bob", ["b"], False),
        ("Paris, France", ["paris"], True),  # a text reference inside a text candidate
        ("The answer is 1,234.5 meters.", ["1234.5"], False),  # the comma splits the number
        ("The answer is 1,234.5 meters.", ["1,234"], True),
        ("twelve", ["12"], False),  # a number reference matches number candidates only
        ("nan", ["nan"], False),  # NaN equals nothing
        ("The result is 6.", ["4", "6"], True),
    ],
)
def test_open_answer_correct(response: str, references: list[str], right: bool) -> None:
    assert open_answer_correct(response, references) is right


def _jpeg(color: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return {"bytes": buffer.getvalue(), "path": None}


RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _row(**fields: Any) -> dict[str, Any]:
    row = {
        "id": "validation_Math_1",
        "question": "How many shapes are in <image 1>?",
        "options": "[]",
        "answer": "3",
        "question_type": "open",
        "topic_difficulty": "Easy",
        "subfield": "Counting",
        **{f"image_{k}": None for k in range(1, 8)},
        "image_1": _jpeg(RED),
    }
    return row | fields


def _save(rows: list[dict[str, Any]], folder: Path) -> Path:
    import datasets

    features = datasets.Features(
        {name: datasets.Value("string") for name in rows[0] if not name.startswith("image_")}
        | {f"image_{k}": datasets.Image() for k in range(1, 8)}
    )
    columns = {name: [row[name] for row in rows] for name in features}
    split = datasets.Dataset.from_dict(columns, features=features)
    datasets.DatasetDict({"validation": split}).save_to_disk(folder / "mmmu")
    return folder


def _samples(rows: list[dict[str, Any]], folder: Path, **options: str) -> list[Sample]:
    load_tasks()
    task = get_task("mmmu", options)
    data = resolve_task_data(task, _save(rows, folder), {}, fewshot=False)
    return data.load(task, data.split)


def _pixels(image: ImageSource) -> list[tuple[int, int, int]]:
    opened = image.open()
    return [opened.getpixel((x, 0)) for x in range(opened.width)]


def test_rows_become_samples_with_their_images_options_and_subject(tmp_path: Path) -> None:
    rows = [
        _row(),
        _row(
            id="validation_Art_Theory_7",
            question="Which image is blue? <image 1> or <image 2>",
            options="['the first', '<image 2>']",
            answer="B",
            question_type="multiple-choice",
            image_2=_jpeg(BLUE),
        ),
        _row(id="validation_Math_2", answer="['1.5', '3/2']"),
    ]
    open_question, choice, listed = _samples(rows, tmp_path)
    assert open_question.references == ("3",) and open_question.more_images == ()
    assert open_question.metadata == {
        "question_type": "open",
        "subject": "Math",
        "discipline": "Science",
        "difficulty": "Easy",
        "subfield": "Counting",
        "question_id": "validation_Math_1",
    }
    assert (
        choice.question == "Which image is blue? <image 1> or <image 2>\nA. the first\nB. <image 2>"
    )
    assert choice.references == ("B",)
    assert (choice.metadata["subject"], choice.metadata["discipline"]) == (
        "Art_Theory",
        "Art and Design",
    )
    assert [_pixels(image)[0] for image in choice.images] == [RED, BLUE]
    assert choice.images[1].key.endswith(":validation_Art_Theory_7:image_2")
    assert listed.references == ("1.5", "3/2")


def test_images_are_renumbered_when_the_question_skips_some(tmp_path: Path) -> None:
    row = _row(question="Is <image 3> red?", image_2=_jpeg(BLUE), image_3=_jpeg(GREEN))
    (sample,) = _samples([row], tmp_path)
    assert sample.question == "Is <image 1> red?"
    assert sample.more_images == ()
    assert _pixels(sample.image)[0] == GREEN


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"question_type": "essay"}, "question_type", "expected one of"),
        ({"options": "['a', "}, "options", "not a list literal"),
        ({"options": "[1, 2]"}, "options", "expected a list of strings"),
        (
            {"question_type": "multiple-choice", "options": "['only']", "answer": "A"},
            "options",
            "needs 2 to 26, got 1",
        ),
        (
            {"question_type": "multiple-choice", "options": "['x', 'y']", "answer": "C"},
            "answer",
            "'C' is not an option letter",
        ),
        ({"answer": " "}, "answer", "an empty accepted answer"),
        ({"answer": "['2', '']"}, "answer", "an empty accepted answer"),
        ({"id": "validation-Math-1"}, "id", "expected <split>_<subject>_<number>"),
        ({"question": "Compare <image 1> and <image 8>"}, "question", "image_1 to image_7"),
        ({"question": "Compare <image 1> and <image 2>"}, "image_2", "missing image"),
    ],
)
def test_malformed_rows_are_refused_naming_the_row_and_field(
    tmp_path: Path, fields: dict[str, Any], field: str, problem: str
) -> None:
    row = _row(**fields)
    with pytest.raises(DataFormatError) as raised:
        _samples([row], tmp_path)
    message = str(raised.value)
    assert field in message and problem in message, message
    assert row["id"] in message, message


def test_a_folder_without_the_parquet_files_says_where_mmmu_comes_from(tmp_path: Path) -> None:
    (tmp_path / "mmmu").mkdir()
    load_tasks()
    task = get_task("mmmu")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    with pytest.raises(DataFormatError, match="lmms-lab/MMMU"):
        data.load(task, data.split)


def _two_image_sample() -> Sample:
    images = [Path("/data/one.png"), Path("/data/two.png")]
    return Sample(
        id="q",
        image=images[0],
        more_images=(images[1],),
        references=("B",),
        question="Which is larger, <image 2> or <image 1>?",
        metadata={"A": "<image 1>", "B": "<image 2>"},
    )


def _parts(task_options: dict[str, str]) -> list[Any]:
    load_tasks()
    task = get_task("mmmu", task_options)
    (sample,) = task.expand([_two_image_sample()])
    (turn,) = task.prompt(sample, [])
    return [part.image.key if isinstance(part, ImagePart) else part for part in turn.parts]


def test_images_go_first_interleaved_or_stitched() -> None:
    asked = "Which is larger, {two} or {one}?\nA. <image 1>\nB. <image 2>\n\n" + (
        "Answer with the option's letter from the given choices directly."
    )
    marked = asked.format(one="<image 1>", two="<image 2>")
    assert _parts({}) == ["/data/one.png", "/data/two.png", marked]
    # Each image at its first marker: image 2 is named first; later markers stay text.
    assert _parts({"images": "interleaved"}) == [
        "Which is larger, ",
        "/data/two.png",
        " or ",
        "/data/one.png",
        "?\nA. <image 1>\nB. <image 2>\n\nAnswer with the option's letter from the given "
        "choices directly.",
    ]
    stitched = _parts({"images": "stitched"})
    assert stitched == ["stitched(/data/one.png | /data/two.png)", marked]
    with pytest.raises(ArgumentsError, match="expected one of first, interleaved, stitched"):
        get_task("mmmu", {"images": "grid"})


def test_interleaving_leaves_unnamed_images_first_and_unknown_markers_as_text() -> None:
    example = Example(
        Path("/a.png"),
        "See <image 2> and <image 5>",
        more_images=(Path("/b.png"), Path("/c.png")),
        placement="interleaved",
    )
    assert [part.image.key for part in example.image_parts()] == ["/a.png", "/c.png"]
    parts = example.text_parts(example.question + "!")
    assert parts[0] == "See " and parts[1].image.key == "/b.png"
    assert parts[2:] == [" and <image 5>!"]
    assert Example(None, "<image 1>", placement="interleaved").image_parts() == []


def test_stitched_images_sit_side_by_side_top_aligned(tmp_path: Path) -> None:
    paths = []
    for name, color, size in (("a", RED, (3, 2)), ("b", BLUE, (2, 4))):
        Image.new("RGB", size, color).save(tmp_path / f"{name}.png")
        paths.append(tmp_path / f"{name}.png")
    stitched = StitchedImage(tuple(Sample("s", path, ()).image for path in paths)).open()
    assert stitched.size == (5, 4)
    assert [stitched.getpixel((x, 0)) for x in range(5)] == [RED] * 3 + [BLUE] * 2
    assert stitched.getpixel((0, 3)) == (255, 255, 255)  # below the shorter image


def test_a_stitched_image_over_pillows_pixel_limit_fails_that_image_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in "ab":
        Image.new("RGB", (6, 5), RED).save(tmp_path / f"{name}.png")
    stitched = StitchedImage((ImageFile(tmp_path / "a.png"), ImageFile(tmp_path / "b.png")))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 59)  # each part's 30 pass, the 60 do not
    with pytest.raises(ImageError, match="12x5 pixels, over Pillow's limit of 59"):
        stitched.open()


def test_single_image_families_refuse_several_images_and_name_the_way_out() -> None:
    from vlm_eval.models import PromptError
    from vlm_eval.models.families.llava import LlavaFamily

    load_tasks()
    task = get_task("mmmu")
    (sample,) = task.expand([_two_image_sample()])
    with pytest.raises(PromptError, match=r"mmmu:images=stitched"):
        LlavaFamily().check_prompt(task.prompt(sample, []))
    stitched = get_task("mmmu", {"images": "stitched"})
    (sample,) = stitched.expand([_two_image_sample()])
    LlavaFamily().check_prompt(stitched.prompt(sample, []))


def _run(model: Path, data: Path, output: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={model},device=cpu,dtype=float32",
         "--tasks", "mmmu", "--data-dir", str(data), "--output", str(output),
         "--batch-size", "4", "--num-workers", "0", *extra],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((output / "results.json").read_text(encoding="utf-8"))
    entry: dict[str, Any] = results["tasks"]["mmmu"]
    return entry


IMAGES_SHOWN = {
    "validation_Math_1": 1, "validation_Design_2": 2, "validation_Math_3": 2,
    "validation_Art_4": 1, "validation_Art_5": 1, "validation_Design_6": 2,
    "validation_Design_7": 2, "validation_Math_8": 1, "validation_Math_9": 2,
    "validation_Math_10": 2,
}  # fmt: skip
"""The bundled validation split's questions and the images each names."""


@pytest.mark.parametrize("images", ["first", "interleaved", "stitched"])
def test_mmmu_runs_end_to_end_on_the_mini_split(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path, images: str
) -> None:
    entry = _run(tiny_model_dir, mini_data, tmp_path / "run", "--task-args", f"images={images}")
    lines = (tmp_path / "run" / "samples_mmmu.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 10
    shown = {
        r["sample_id"]: sum(part["type"] == "image" for part in r["prompt"][-1]["content"])
        for r in records
    }
    assert shown == {
        sample: 1 if images == "stitched" else count for sample, count in IMAGES_SHOWN.items()
    }
    metrics = entry["scores"]["metrics"]
    right = [r["scores"]["accuracy"] for r in records]
    assert metrics["accuracy"] == pytest.approx(100 * sum(right) / len(right))
    assert set(entry["scores"]["breakdowns"]) == {
        "discipline",
        "subject",
        "question_type",
        "difficulty",
    }
    assert entry["task"]["images"] == images
    assert "MMMU's published rules" in entry["task"]["scoring"]["open_answers"]


def test_lmms_eval_asks_both_kinds_of_question_as_its_mmmu_config() -> None:
    load_tasks()
    task = get_task("mmmu", {"protocol": "lmms-eval"})
    open_question = Sample("o", Path("/x.png"), ("3",), "How many shapes in <image 1>?")
    choice = Sample("c", Path("/x.png"), ("A",), "Pick one", metadata={"A": "a", "B": "b"})
    samples = task.expand([open_question, choice])
    asked = [task.prompt(sample, [])[0].parts[-1] for sample in samples]
    assert asked == [
        "How many shapes in <image 1>?\n\nAnswer the question using a single word or phrase.",
        "Pick one\nA. a\nB. b\n\nAnswer with the option's letter from the given choices directly.",
    ]


def test_the_test_split_writes_the_servers_results_file(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    hidden = [
        _row(id="test_Math_1", answer="?"),
        _row(
            id="test_Art_2",
            answer="?",
            question="Colour of <image 1>?",
            options="['red', 'blue']",
            question_type="multiple-choice",
        ),
    ]
    data = _save(hidden, tmp_path / "data")
    entry = _run(tiny_model_dir, data, tmp_path / "run")
    assert entry["submission_file"] == "submission_mmmu_validation.json"
    submitted = json.loads((tmp_path / "run" / entry["submission_file"]).read_text("utf-8"))
    records = [
        json.loads(line)
        for line in (tmp_path / "run" / "samples_mmmu.jsonl").read_text("utf-8").splitlines()
    ]
    by_id = {record["sample_id"]: record["prediction"] for record in records}
    assert list(submitted) == ["test_Math_1", "test_Art_2"]
    assert submitted["test_Math_1"] == by_id["test_Math_1"]  # open: as generated
    letter = extract_choice(by_id["test_Art_2"], ["red", "blue"])
    assert submitted["test_Art_2"] == (letter or by_id["test_Art_2"])
    task = get_task("mmmu")
    assert task.read_predictions(tmp_path / "run" / entry["submission_file"]) == submitted


@pytest.mark.parametrize(
    ("content", "record", "problem"),
    [
        ("[]", None, "expected an object of answers by question id"),
        ('{"test_Math_1": 3}', "test_Math_1", "expected a string, got 3"),
        ("{", None, "not valid JSON"),
    ],
)
def test_malformed_results_files_are_refused(
    tmp_path: Path, content: str, record: str | None, problem: str
) -> None:
    path = tmp_path / "answers.json"
    path.write_text(content, encoding="utf-8")
    load_tasks()
    with pytest.raises(DataFormatError, match=problem) as raised:
        get_task("mmmu").read_predictions(path)
    assert (raised.value.path, raised.value.record) == (path, record)


def test_each_demonstration_is_shown_in_its_own_kind_of_prompt() -> None:
    load_tasks()
    choice = Sample("c", Path("/c.png"), ("A",), "Pick one", metadata={"A": "a", "B": "b"})
    open_question = Sample("o", Path("/o.png"), ("3",), "How many?")
    mc_text = "Pick one\nA. a\nB. b"
    for protocol, shown, asked in [
        (
            "chat",
            mc_text + "\n\nAnswer with the option's letter from the given choices directly.",
            "How many?\n\nAnswer the question using a single word or phrase.",
        ),
        (
            "idefics2-base",
            f"Question: {mc_text}\nAnswer with the option's letter from the given choices "
            "directly. Answer: A\nImage:",
            "Question: How many? Answer:",
        ),
    ]:
        task = get_task("mmmu", {"protocol": protocol})
        shot, query = task.expand([choice, open_question])
        texts = [p for m in task.prompt(query, [shot]) for p in m.parts if isinstance(p, str)]
        assert shown in texts and texts[-1] == asked, protocol
