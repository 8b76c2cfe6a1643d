"""OK-VQA compares like with like: ``answers=stemmed`` (stemmed predictions against the v1.1
``answer`` field, as OpenFlamingo scores) or ``answers=raw`` (raw predictions against the
``raw_answer`` field, as Hugging Face's m4 harness scores), on hand-made annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import pytest
from PIL import Image

from vlm_eval import ArgumentsError
from vlm_eval.data import DataFormatError
from vlm_eval.models import Generation, ModelAdapter, ModelInput
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, get_task, load_tasks, resolve_task_data

# question -> (raw answers of the 10 annotators, the model's scripted answer)
VAL = {
    "What is the man doing?": (["riding"] * 3 + ["ride"] + ["horseback riding"] * 6, "riding"),
    "What animals are these?": (["horses"] * 2 + ["horse"] + ["ponies"] * 7, "Horses"),
    "What color is the sky?": (["blue"] * 10, "blue"),
}
# The v1.1 stemmed `answer` of each raw answer.
STEMMED = {
    "riding": "ride",
    "ride": "ride",
    "horseback riding": "horseback ride",
    "horses": "horse",
    "horse": "horse",
    "ponies": "pony",
    "blue": "blue",
}
# One train question, the few-shot demonstration: majority raw "riding", stemmed "ride".
TRAIN = {"What is the woman doing?": (["riding"] * 6 + ["walking"] * 4, "")}
STEMMED["walking"] = "walk"

# VQA accuracy of m matching answers out of 10: the mean over the 10 leave-one-out subsets of
# min(1, matches / 3): m subsets leave m - 1 matches, 10 - m leave m.
#   m = 2: (2 * 1/3 + 8 * 2/3) / 10 = 0.6;  m = 3: (3 * 2/3 + 7 * 1) / 10 = 0.9;  m >= 4: 1.0.
# answers=stemmed: "riding" -> "ride" matches 4 ("ride" x3 from "riding", "ride") -> 1.0;
#   "Horses" -> "horse" matches 3 -> 0.9; "blue" 10 -> 1.0.  Mean 2.9 / 3 = 96.67.
# answers=raw: "riding" matches 3 -> 0.9; "Horses" (normalized "horses") matches 2 -> 0.6;
#   "blue" -> 1.0.  Mean 2.5 / 3 = 83.33.
# The former default (raw prediction, stemmed answers): "riding" 0, "horses" 0, "blue" 1.0.
EXPECTED = {
    "stemmed": ([1.0, 0.9, 1.0], 100 * 2.9 / 3),
    "raw": ([0.9, 0.6, 1.0], 100 * 2.5 / 3),
}


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


class ScriptedAdapter(ModelAdapter):
    """Answers each prompt with the scripted answer of the question it ends with."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        texts = [" ".join(map(str, item.prompt[-1].parts)) for item in inputs]
        return [Generation(next(a for q, a in self.answers.items() if q in text)) for text in texts]

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name}


def _write_split(
    folder: Path, split: str, questions: dict[str, tuple[list[str], str]], first_id: int
) -> None:
    """Official OK-VQA v1.1 files of ``split``: each answer's stemmed ``answer`` and its
    ``raw_answer``, one 8x8 image per question."""
    (folder / split).mkdir(parents=True)
    entries, annotations = [], []
    for offset, (question, (raw_answers, _)) in enumerate(questions.items()):
        question_id = image_id = first_id + offset
        Image.new("RGB", (8, 8), (offset * 40, 0, 0)).save(
            folder / split / f"COCO_{split}_{image_id:012d}.jpg"
        )
        entries.append({"image_id": image_id, "question": question, "question_id": question_id})
        answers = [
            {"answer": STEMMED[raw], "raw_answer": raw, "answer_confidence": "yes", "answer_id": i}
            for i, raw in enumerate(raw_answers, 1)
        ]
        annotations.append(
            {
                "question_id": question_id,
                "image_id": image_id,
                "question_type": "other",
                "answer_type": "other",
                "answers": answers,
            }
        )
    (folder / f"OpenEnded_mscoco_{split}_questions.json").write_text(
        json.dumps({"questions": entries})
    )
    (folder / f"mscoco_{split}_annotations.json").write_text(
        json.dumps({"annotations": annotations})
    )


@pytest.fixture()
def okvqa_data(tmp_path: Path) -> Path:
    _write_split(tmp_path / "data" / "okvqa", "val2014", VAL, first_id=10)
    _write_split(tmp_path / "data" / "okvqa", "train2014", TRAIN, first_id=90)
    return tmp_path / "data"


def _run(data: Path, output: Path, num_fewshot: int = 0, **options: str) -> dict[str, Any]:
    config = RunConfig(
        model="hf", model_args={}, tasks=("okvqa",), data_dir=data, output_dir=output,
        batch_size=3, num_workers=0, num_fewshot=num_fewshot,
        task_args={"okvqa": options} if options else {},
    )  # fmt: skip
    scripted = {question: answer for question, (_, answer) in VAL.items()}
    return run_evaluation(config, ScriptedAdapter(scripted))


def _records(output: Path) -> list[dict[str, Any]]:
    lines = (output / "samples_okvqa.jsonl").read_text().splitlines()
    return sorted(map(json.loads, lines), key=lambda record: int(record["sample_id"]))


@pytest.mark.parametrize("answers", ["stemmed", "raw"])
def test_each_choice_scores_predictions_against_the_same_kind_of_answers(
    okvqa_data: Path, tmp_path: Path, answers: str
) -> None:
    results = _run(okvqa_data, tmp_path / "run", answers=answers)
    task = results["tasks"]["okvqa"]
    per_question, overall = EXPECTED[answers]
    records = _records(tmp_path / "run")
    assert [r["scores"]["accuracy"] for r in records] == pytest.approx(per_question)
    assert task["scores"]["metrics"]["accuracy"] == pytest.approx(overall)
    assert task["task"]["scoring"]["answers"] == answers
    raw = [raw_answers for raw_answers, _ in VAL.values()]
    references = raw if answers == "raw" else [[STEMMED[a] for a in ans] for ans in raw]
    assert [r["references"] for r in records] == references
    stemmed_predictions = ["ride", "horse", "blue"]
    assert [r["prediction"] for r in records] == (
        stemmed_predictions if answers == "stemmed" else ["riding", "Horses", "blue"]
    )
    assert ("answer_stemming" in task["task"]["scoring"]) == (answers == "stemmed")


def test_the_default_compares_stemmed_with_stemmed(okvqa_data: Path, tmp_path: Path) -> None:
    results = _run(okvqa_data, tmp_path / "run")
    task = results["tasks"]["okvqa"]
    assert task["task"]["scoring"]["answers"] == "stemmed"
    assert task["scores"]["metrics"]["accuracy"] == pytest.approx(EXPECTED["stemmed"][1])


def test_changing_the_choice_rescores_without_generating(okvqa_data: Path, tmp_path: Path) -> None:
    output = tmp_path / "run"
    assert _run(okvqa_data, output)["tasks"]["okvqa"]["timing"]["generated_samples"] == 3
    raw = _run(okvqa_data, output, answers="raw")["tasks"]["okvqa"]
    assert (raw["timing"]["generated_samples"], raw["timing"]["reused_samples"]) == (0, 3)
    assert raw["scores"]["metrics"]["accuracy"] == pytest.approx(EXPECTED["raw"][1])


@pytest.mark.parametrize(("answers", "shown"), [("stemmed", "ride"), ("raw", "riding")])
def test_demonstrations_answer_with_the_same_kind_of_answer(
    okvqa_data: Path, tmp_path: Path, answers: str, shown: str
) -> None:
    _run(okvqa_data, tmp_path / "run", num_fewshot=1, answers=answers)
    for record in _records(tmp_path / "run"):
        demonstration = record["prompt"][1]
        assert demonstration["role"] == "assistant"
        assert demonstration["content"] == [{"type": "text", "text": shown}]


def test_stem_answers_is_replaced_by_answers() -> None:
    with pytest.raises(ArgumentsError, match="does not accept stem_answers"):
        get_task("okvqa", {"stem_answers": "true"})
    with pytest.raises(
        ArgumentsError, match="answers must be one of stemmed, raw, mixed, got 'both'"
    ):
        get_task("okvqa", {"answers": "both"})


def test_a_missing_raw_answer_names_the_file_record_and_field(
    okvqa_data: Path, tmp_path: Path
) -> None:
    annotations = okvqa_data / "okvqa" / "mscoco_val2014_annotations.json"
    document = json.loads(annotations.read_text())
    del document["annotations"][1]["answers"][2]["raw_answer"]
    annotations.write_text(json.dumps(document))
    with pytest.raises(DataFormatError, match=r"record 11, field 'answers\[2\].raw_answer'"):
        _run(okvqa_data, tmp_path / "run", answers="raw")
    assert get_task("okvqa").load(okvqa_data / "okvqa", "val2014")[1].references[2] == "horse"


def test_hub_rows_without_raw_answers_refuse_answers_raw_before_the_model_loads(
    okvqa_data: Path, tmp_path: Path
) -> None:
    """lmms-lab/OK-VQA's ``answers`` are the stemmed strings only."""
    image = okvqa_data / "okvqa" / "val2014" / "COCO_val2014_000000000010.jpg"
    row = {
        "question_id": 10, "question": "What is the man doing?", "image_id": 10,
        "answers": ["ride"] * 10, "answer_type": "other", "question_type": "other",
        "image": {"bytes": image.read_bytes(), "path": image.name},
    }  # fmt: skip
    features = datasets.Features(
        {
            "question_id": datasets.Value("int64"),
            "question": datasets.Value("string"),
            "image_id": datasets.Value("int64"),
            "answers": datasets.List(datasets.Value("string")),
            "answer_type": datasets.Value("string"),
            "question_type": datasets.Value("string"),
            "image": datasets.Image(),
        }
    )
    folder = tmp_path / "hub-copy"
    datasets.DatasetDict(
        {"val2014": datasets.Dataset.from_list([row], features=features)}
    ).save_to_disk(str(folder))
    config = RunConfig(
        model="hf", model_args={"pretrained": str(tmp_path / "no-such-model")}, tasks=("okvqa",),
        data_dir=None, output_dir=tmp_path / "run", num_workers=0,
        data_args={"okvqa": {"path": str(folder)}}, task_args={"okvqa": {"answers": "raw"}},
    )  # fmt: skip
    with pytest.raises(DataFormatError) as error:
        run_evaluation(config)
    message = str(error.value)
    assert str(folder) in message and "field 'answers'" in message
    assert "raw_answer" in message and "answers=stemmed" in message
    task = get_task("okvqa")
    data = resolve_task_data(task, None, {"path": str(folder)}, fewshot=False)
    assert data.load(task, data.split)[0].references == ("ride",) * 10
