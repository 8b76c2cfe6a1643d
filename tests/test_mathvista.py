"""MathVista and the judged-answers family: answer rules and official normalization on
hand-worked cases, the official files and hub rows, prompts of each protocol, scores and
breakdowns, and runs on the bundled mini split, rule-only and with a judge model (a real HTTP
server the test controls, or a local checkpoint)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import datasets
import pytest
from click.testing import CliRunner
from PIL import Image

import vlm_eval.demo
from tests.openai_server import SERVED, FakeChatServer, completion, serving
from vlm_eval._arguments import ArgumentsError
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, Sample, load_mathvista, mathvista_query
from vlm_eval.metrics import (
    MathProblem,
    extract_math_answer,
    extract_number,
    math_answer_correct,
    normalize_math_answer,
)
from vlm_eval.models import Generation, InputError, ModelAdapter, ModelInput, ServerError
from vlm_eval.runner import RunConfig
from vlm_eval.runner._judge import Judges, Unread, judge_unread
from vlm_eval.tasks import (
    ImagePart,
    JudgedAnswerTask,
    JudgeSpec,
    get_task,
    load_tasks,
    prompt_to_json,
    resolve_task_data,
)

DEMO = Path(vlm_eval.demo.__file__).parent
FINAL = DEMO / "checkpoints" / "final"
"""The trained demo checkpoint: it answers, and ends its answers (the random tiny one would
write all of MathVista's 1,024 tokens)."""
MATHVISTA = DEMO / "data" / "mathvista"
SECRET = "sk-judge-0123456789"

MC = MathProblem("multi_choice", "text", ("135°", "140°", "145°", "150°"))
INTEGER = MathProblem("free_form", "integer")
FLOAT1 = MathProblem("free_form", "float", precision=1)
FLOAT2 = MathProblem("free_form", "float", precision=2)
LIST = MathProblem("free_form", "list")


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


# The answer rules and the official normalization.


@pytest.mark.parametrize(
    ("response", "number"),
    [
        ("14", "14"),
        # The responses of the official extraction prompt's examples (prompts/ext_ans.py).
        ("The number missing in the sequence is 14.", "14"),
        ("The fraction of females facing the camera is 0.6, which means six out of ten "
         "females in the group are facing the camera.", "0.6"),
        ("Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.", "1.45"),
        ("There are 4 objects left; 4.0 in all.", "4"),  # one value, spelled twice
        ("The answer is 14. I first thought 12.", "14"),  # stated
        ("3 + 4 = 7. The final answer is 7.", "7"),  # the last statement
        ("Answer: $13.00", "13.00"),
        ("It holds 1,000 g", "1000"),
        ("\\boxed{7} (not 3)", "7"),
        ("The answer is -3", "-3"),
        ("\u22125", "-5"),  # the minus sign
        ("45%", "45"),
        ("5cm", "5"),
        ("2 or 3", None),  # two numbers, no statement
        ("H2O", None),  # inside a word
        ("12,34", None),  # no thousands separator
        ("I cannot tell", None),
    ],
)  # fmt: skip
def test_extract_number(response: str, number: str | None) -> None:
    assert extract_number(response) == number


@pytest.mark.parametrize(
    ("response", "problem", "extracted"),
    [
        ("C", MC, "145°"),
        ("(C) 145°", MC, "145°"),
        ("145°", MC, "145°"),  # the option's text: the official rule
        ("The correct answer is (B) 140°.", MC, "140°"),
        ("Between 135 and 150", MC, None),  # two options: the official code takes the nearest
        ("E", MC, None),  # no fifth option
        ("3.7", INTEGER, "3"),  # int(float(x)): truncated, as the official code
        ("It is 1.25", FLOAT1, "1.2"),  # round(1.25, 1): half to even
        ("2.675", FLOAT2, "2.67"),  # round's binary floating point, as the official code
        ("0.6", FLOAT2, "0.6"),
        ("[2007,2008]", LIST, "[2007, 2008]"),
        ("The peak is between [2007, 2008].", LIST, "[2007, 2008]"),
        ("The line graph saw its maximum peak between 2007 and 2008.", LIST, None),
        ("[1, 2] or [3, 4]", LIST, None),
        ("The answer is [1, 2], not [3]", LIST, "[1, 2]"),
    ],
)  # fmt: skip
def test_extract_math_answer(response: str, problem: MathProblem, extracted: str | None) -> None:
    assert extract_math_answer(response, problem) == extracted


def test_normalization_and_comparison() -> None:
    assert normalize_math_answer("(B)", MC) == "140°"
    assert normalize_math_answer("b", MC) == "140°"
    assert normalize_math_answer("1,000", INTEGER) is None  # int(float("1,000")) fails
    assert normalize_math_answer("[1,  2]", LIST) == "[1, 2]"
    assert math_answer_correct("1000", "1000", INTEGER)
    assert math_answer_correct("1.2", "1.20", FLOAT1)  # the reference normalized too
    assert not math_answer_correct(None, "1000", INTEGER)
    with pytest.raises(ValueError, match="precision"):
        normalize_math_answer("1.5", MathProblem("free_form", "float"))


# The official files.


def _problem(pid: str = "7", **fields: Any) -> dict[str, Any]:
    problem = {
        "question": "What is the angle?", "image": f"images/{pid}.jpg", "choices": None,
        "unit": None, "precision": None, "answer": "14", "question_type": "free_form",
        "answer_type": "integer", "pid": pid,
        "metadata": {"split": "testmini", "language": "english", "img_width": 4,
                     "img_height": 4, "source": "X", "category": "math-targeted-vqa",
                     "task": "geometry problem solving", "context": "geometry diagram",
                     "grade": "high school",
                     "skills": ["geometry reasoning", "arithmetic reasoning"]},
    }  # fmt: skip
    return problem | fields


def _files(folder: Path, problems: dict[str, Any], queries: dict[str, Any] | None = None) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for pid in problems:
        Image.new("RGB", (4, 4), "red").save(folder / "images" / f"{pid}.jpg")
    path = folder / "testmini.json"
    path.write_text(json.dumps(problems), encoding="utf-8")
    if queries is not None:
        (folder / "query.json").write_text(json.dumps(queries), encoding="utf-8")
    return path


def test_official_files_become_samples(tmp_path: Path) -> None:
    mc = _problem("8", question="Which?", choices=["a", "b"], answer="b",
                  question_type="multi_choice", answer_type="text")  # fmt: skip
    floats = _problem("9", precision=2.0, answer="1.25", answer_type="float", unit="cm")
    path = _files(tmp_path, {"7": _problem(), "8": mc, "9": floats}, {"8": "Official query."})
    samples = load_mathvista(path, tmp_path / "query.json")
    assert [(s.id, s.references, s.question) for s in samples] == [
        ("7", ("14",), "What is the angle?"), ("8", ("b",), "Which?"),
        ("9", ("1.25",), "What is the angle?"),
    ]  # fmt: skip
    assert samples[0].metadata == {
        "question_type": "free_form", "answer_type": "integer",
        "query": "Hint: Please answer the question requiring an integer answer and provide the "
        "final value, e.g., 1, 2, 3, at the end.\nQuestion: What is the angle?",
        "task": "geometry problem solving", "context": "geometry diagram", "grade": "high school",
        "source": "X", "category": "math-targeted-vqa", "language": "english",
        "split": "testmini", "skills": "geometry reasoning|arithmetic reasoning",
    }  # fmt: skip
    assert samples[1].metadata["query"] == "Official query."  # query.json's
    assert (samples[1].metadata["A"], samples[1].metadata["B"]) == ("a", "b")
    assert samples[2].metadata["precision"] == "2" and samples[2].metadata["unit"] == "cm"
    assert samples[2].metadata["query"].endswith("Question: What is the angle? (Unit: cm)")
    assert Path(samples[0].image.key) == tmp_path / "images" / "7.jpg"
    test = load_mathvista(_files(tmp_path / "test", {"7": _problem(answer="")}))
    assert test[0].references == ()  # hidden answers: a test split


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        ({"question_type": "multi_choice", "answer_type": "text"}, "choices",
         "a multi_choice question needs its choices"),
        ({"question_type": "multi_choice", "answer_type": "text", "choices": ["a"]}, "choices",
         "needs 2 to 26 choices, got 1"),
        ({"question_type": "multi_choice", "answer_type": "text", "choices": ["a", "b"],
          "answer": "c"}, "answer", "'c' is not among the choices"),
        ({"answer_type": "float", "precision": "two"}, "precision",
         "expected a number of decimal places, got 'two'"),
        ({"answer_type": "float", "precision": 1.5}, "precision", "whole number"),
        ({"answer_type": "float"}, "precision", "a float answer needs its decimal places"),
        ({"answer": "many"}, "answer", "'many' is not an integer answer"),
        ({"answer_type": "list", "answer": "1, 2"}, "answer", "not a list answer"),
        ({"answer_type": "text"}, "answer_type", "a free_form question's answer is integer"),
        ({"question_type": "open"}, "question_type", "expected multi_choice or free_form"),
        ({"question": None}, "question", "expected a string"),
        ({"pid": "8"}, "pid", "'8' differs from its key '7'"),
        ({"image": "../../etc/passwd"}, "image", "leaves the image folder"),
        ({"metadata": {"skills": ["a|b"]}}, "metadata.skills[0]", "holds '|'"),
        ({"metadata": {"task": 3}}, "metadata.task", "expected a string"),
    ],
)  # fmt: skip
def test_malformed_problems_name_file_record_and_field(
    tmp_path: Path, fields: dict[str, Any], field: str, problem: str
) -> None:
    path = _files(tmp_path, {"7": _problem(**fields)})
    with pytest.raises(DataFormatError, match=problem) as raised:
        load_mathvista(path)
    assert (raised.value.path, raised.value.record, raised.value.field) == (path, "7", field)


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "testmini.json"
    path.write_text('{"7": {', encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON") as raised:
        load_mathvista(path)
    assert raised.value.path == path
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(DataFormatError, match="expected an object of problems keyed by pid"):
        load_mathvista(path)
    path.write_text('{"7": "x"}', encoding="utf-8")
    with pytest.raises(DataFormatError, match="expected an object") as raised:
        load_mathvista(path)
    assert raised.value.record == "7"
    path = _files(tmp_path, {"7": _problem()}, {"7": ["not text"]})
    with pytest.raises(DataFormatError, match="expected a string") as raised:
        load_mathvista(path, tmp_path / "query.json")
    assert (raised.value.path, raised.value.record) == (tmp_path / "query.json", "7")


def test_the_task_reads_the_bundled_mini_split() -> None:
    task = get_task("mathvista")
    samples = task.load(MATHVISTA, "testmini")
    assert len(samples) == 10
    types = {(s.metadata["question_type"], s.metadata["answer_type"]) for s in samples}
    assert types == {
        ("multi_choice", "text"), ("free_form", "integer"), ("free_form", "float"),
        ("free_form", "list"),
    }  # fmt: skip
    problems = json.loads((MATHVISTA / "testmini.json").read_text(encoding="utf-8"))
    for sample in samples:  # query.json holds the official prompts
        raw = problems[sample.id]
        fields = ("question_type", "answer_type", "precision")
        built = mathvista_query(
            raw["question"], raw["choices"] or (), raw["unit"], *(raw[f] for f in fields)
        )
        assert sample.metadata["query"] == built
        assert task.is_correct(sample, task.extract(sample, sample.references[0]) or "")


def test_rows_in_the_hub_columns(tmp_path: Path) -> None:
    """AI4Math/MathVista's columns: the image decoded in ``decoded_image`` (``image`` its path),
    ``precision`` a float, ``metadata`` a struct, ``query`` the official prompt."""
    problems = json.loads((MATHVISTA / "testmini.json").read_text(encoding="utf-8"))
    queries = json.loads((MATHVISTA / "query.json").read_text(encoding="utf-8"))
    rows = [
        {**problem, "precision": problem["precision"] and float(problem["precision"]),
         "query": queries[pid], "decoded_image": str(MATHVISTA / problem["image"])}
        for pid, problem in problems.items()
    ]  # fmt: skip
    metadata = {
        key: datasets.Value("int64" if key.startswith("img_") else "string")
        for key in ("split", "language", "img_width", "img_height", "source", "category",
                    "task", "context", "grade")
    } | {"skills": datasets.Sequence(datasets.Value("string"))}  # fmt: skip
    features = datasets.Features(
        {name: datasets.Value("string") for name in
         ("pid", "question", "image", "unit", "answer", "question_type", "answer_type", "query")}
        | {"choices": datasets.Sequence(datasets.Value("string")),
           "precision": datasets.Value("float64"), "metadata": metadata,
           "decoded_image": datasets.Image()}
    )  # fmt: skip
    dataset = datasets.Dataset.from_list(rows, features=features)
    datasets.DatasetDict({"testmini": dataset}).save_to_disk(tmp_path / "mathvista")
    task = get_task("mathvista")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    assert (data.source.kind, data.split) == ("disk", "testmini")
    from_rows = data.load(task, data.split)
    official = task.load(MATHVISTA, "testmini")
    fields = [
        [(s.id, s.question, s.references, s.metadata) for s in x] for x in (from_rows, official)
    ]
    assert fields[0] == fields[1]
    assert from_rows[0].image.open().size == official[0].image.open().size


# The task: prompts, scores, breakdowns.


def _sample(pid: str, answer: str, **metadata: str) -> Sample:
    fields = {"question_type": "free_form", "answer_type": "integer", "skills": "a|b",
              "task": "t", "query": f"Hint: ...\nQuestion: How many? ({pid})"}  # fmt: skip
    return Sample(pid, Path("x.jpg"), (answer,), "How many?", fields | metadata)


def test_prompts_of_each_protocol() -> None:
    mc = Sample("3", Path("x.jpg"), ("b",), "Which?", {
        "question_type": "multi_choice", "answer_type": "text", "A": "a", "B": "b",
        "query": "Hint: Please answer ...\nQuestion: Which?\nChoices:\n(A) a\n(B) b",
    })  # fmt: skip
    shot = _sample("1", "4")
    (_, answer, turn) = get_task("mathvista").prompt(mc, [shot])
    assert answer.parts == ("4",) and isinstance(turn.parts[0], ImagePart)
    assert turn.parts[1] == mc.metadata["query"]  # the official prompt as it is
    (_, _, turn) = get_task("mathvista", {"protocol": "lmms-eval"}).prompt(mc, [shot])
    assert turn.parts[1] == (
        "Which?\nA. a\nB. b\nAnswer with the option's letter from the given choices directly."
    )
    (_, _, turn) = get_task("mathvista", {"protocol": "lmms-eval"}).prompt(shot, [mc])
    assert turn.parts[1] == "How many?\nAnswer the question using a single integer number."
    assert get_task("mathvista").demonstration(mc) == "B"  # a letter, as asked
    (raw,) = get_task("mathvista", {"protocol": "idefics2-instruct"}).prompt(mc, [])
    assert raw.parts[-1] == f"{mc.metadata['query']}<end_of_utterance>\nAssistant:"
    (raw,) = get_task("mathvista", {"protocol": "idefics2-base"}).prompt(mc, [])
    assert raw.parts[-1] == f"Question: {mc.metadata['query']} Answer:"
    with pytest.raises(ArgumentsError, match="has no judged prompt"):
        get_task("mathvista", {"protocol": "openflamingo"})


def test_scores_breakdowns_and_notes_without_a_judge() -> None:
    task = get_task("mathvista")
    assert isinstance(task, JudgedAnswerTask) and task.judge is None
    samples = [_sample("1", "4", task="x"), _sample("2", "4", skills="b"), _sample("3", "5")]
    predictions = ["There are 4.", "3", "no idea"]
    scores = [task.score(s, p) for s, p in zip(samples, predictions, strict=True)]
    assert scores == [
        {"accuracy": 1.0, "unparseable": 0.0}, {"accuracy": 0.0, "unparseable": 0.0},
        {"accuracy": 0.0, "unparseable": 1.0},
    ]  # fmt: skip
    result = task.aggregate(samples, predictions, scores)
    assert result.metrics == {"accuracy": pytest.approx(100 / 3), "unparseable": 1.0}
    assert result.breakdowns["skills"] == {"a": 50.0, "b": pytest.approx(100 / 3)}
    assert result.breakdowns["task"] == {"t": 0.0, "x": 100.0}
    assert result.notes["unparseable"] == (
        "1 of 3 answers give no answer that could be read (scored wrong): 3"
    )
    assert result.notes["answer extraction"].startswith("rule-only score: ")
    assert "the 1 of 3 answers they cannot read score 0" in result.notes["answer extraction"]
    assert task.scoring_protocol()["answer_extraction"].endswith("no judge: a rule-only score")
    assert task.submission_entry(samples[0], "x") == {"pid": "1", "response": "x"}


def test_a_judge_reads_what_the_rules_cannot(server: FakeChatServer) -> None:
    spec = JudgeSpec("openai", {"base_url": server.base_url, "model": SERVED, "api_key": SECRET})
    task = get_task("mathvista", {"judge": spec.spec})
    assert task.judge == spec
    sample = _sample("1", "4")
    assert task.needs_judge(task.score(sample, "no idea"))
    assert not task.needs_judge(task.score(sample, "4"))
    (turn,) = task.judge_prompt(sample, "no idea")
    assert turn.parts == (
        "Read the final answer in a model's response to a question. Reply with that answer "
        'only, as an integer, e.g. 14; reply "none" if the response gives no answer.\n\n'
        "Question: How many?\n\nModel response: no idea\n\nFinal answer:",
    )
    assert task.read_verdict(sample, " None.") is None
    assert task.read_verdict(sample, "4") == "4"
    assert task.judged_scores(sample, "4") == {"accuracy": 1.0, "unparseable": 0.0, "judged": 1.0}
    scoring = task.scoring_protocol()
    assert (
        scoring["judge"] == f"openai:base_url={server.base_url};model={SERVED};api_key=<redacted>"
    )
    assert SECRET not in json.dumps(task.describe())


@pytest.mark.parametrize(
    ("judge", "message"),
    [
        ("nosuch", "unknown model 'nosuch'"),
        ("openai:model=x", "judge 'openai' needs base_url in --judge"),
        ("openai:base_url=http://x/v1;model=m;colour=red", "does not accept colour"),
    ],
)
def test_bad_judges_are_refused_before_anything_runs(judge: str, message: str) -> None:
    with pytest.raises(ArgumentsError, match=message):
        get_task("mathvista", {"judge": judge})


def test_a_judge_without_a_chat_template_is_refused(base_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ArgumentsError, match="the judge is asked chat prompts"):
        RunConfig(
            model="hf", model_args={}, tasks=("mathvista",), data_dir=None,
            output_dir=tmp_path, judge="hf", judge_args={"pretrained": str(base_checkpoint)},
        )  # fmt: skip
    result = CliRunner().invoke(
        main,
        ["run", "--tasks", "mathvista", "--output", str(tmp_path / "x"), "--judge", "nosuch", ""],
    )
    assert result.exit_code == 2 and "unknown model 'nosuch'" in result.output


# Runs on the bundled mini split.


def _run(output: Path, *extra: str) -> Any:
    return CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={FINAL},device=cpu,dtype=float32",
         "--tasks", "mathvista", "--data-dir", str(DEMO / "data"), "--output", str(output),
         "--batch-size", "4", "--num-workers", "0", *extra],
    )  # fmt: skip


def _records(output: Path) -> list[dict[str, Any]]:
    lines = (output / "samples_mathvista.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_mathvista_runs_end_to_end_on_the_mini_split_rule_only(tmp_path: Path) -> None:
    result = _run(tmp_path / "run")
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["mathvista"]
    assert entry["task"]["main_metric"] == "accuracy"
    assert entry["task"]["scoring"]["answer_extraction"].endswith("no judge: a rule-only score")
    assert entry["task"]["protocol"] == {"name": "chat", "question_template": "{question}"}
    assert "judge" not in entry
    metrics = entry["scores"]["metrics"]
    assert set(metrics) == {"accuracy", "unparseable"}
    assert set(entry["scores"]["breakdowns"]) == {
        "question_type", "answer_type", "task", "skills", "grade", "context", "source",
        "category", "language",
    }  # fmt: skip
    assert "rule-only score" in entry["scores"]["notes"]["answer extraction"]
    assert "rule-only score" in result.output  # the report's note
    records = _records(tmp_path / "run")
    assert [r["sample_id"] for r in records] == [str(pid) for pid in range(1, 11)]
    assert all("judgement" not in r for r in records)
    task = get_task("mathvista")
    samples = {s.id: s for s in task.load(MATHVISTA, "testmini")}
    for record in records:
        assert record["scores"] == task.score(samples[record["sample_id"]], record["prediction"])
    assert metrics["accuracy"] == pytest.approx(
        100 * sum(r["scores"]["accuracy"] for r in records) / len(records)
    )
    assert metrics["unparseable"] == sum(r["scores"]["unparseable"] for r in records)


def _judging_server(replies: dict[str, str]) -> AbstractContextManager[FakeChatServer]:
    """A judge whose reply to each question is ``replies``'s (keyed by the question as the
    judge sees it), else the correct answer (a multiple-choice one as its letter)."""
    task = get_task("mathvista")
    right = {
        task.judge_question(sample): task.demonstration(sample)
        for sample in task.load(MATHVISTA, "testmini")
    }

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        (part,) = body["messages"][-1]["content"]
        question = part["text"].split("Question: ", 1)[1].split("\n\nModel response:")[0]
        return completion(replies.get(question, right[question]))

    return serving(answer)


def test_a_judge_over_http_reads_the_answers_the_rules_cannot(
    openai_environment: None, tmp_path: Path
) -> None:
    """The evaluated model is the demo checkpoint; the judge a real HTTP server whose replies
    the test controls: right answers, ``none``, and garbage, which must not stop the run."""
    list_question = "How many circles, squares and triangles are in the image, in that order?"
    replies = {list_question: "I like turtles", "Is there a square in the image?\nChoices:\n"
               "(A) Yes\n(B) No": "none"}  # fmt: skip
    output = tmp_path / "run"
    task = get_task("mathvista")
    samples = {s.id: s for s in task.load(MATHVISTA, "testmini")}
    with _judging_server(replies) as server:
        judge = ["--judge", "openai", f"base_url={server.base_url},model={SERVED},api_key={SECRET}"]
        result = _run(output, *judge)
        assert result.exit_code == 0, result.output
        records = _records(output)
        unread = [
            r for r in records if task.extract(samples[r["sample_id"]], r["prediction"]) is None
        ]
        assert unread, "the demo checkpoint answers some questions in no form the rules read"
        assert len(server.received) == len(unread)  # only the answers the rules cannot read
        for record in records:
            sample = samples[record["sample_id"]]
            if record not in unread:
                assert "judgement" not in record and "judged" not in record["scores"]
                continue
            judgement = record["judgement"]
            (turn,) = task.judge_prompt(sample, record["prediction"])
            assert judgement["prompt"] == [
                {"role": "user", "content": [{"type": "text", "text": turn.parts[0]}]}
            ]
            assert (
                judgement["judge"]
                == f"openai:base_url={server.base_url};model={SERVED};api_key=<redacted>"
            )
            question = task.judge_question(sample)
            reply = replies.get(question, task.demonstration(sample))
            assert judgement["raw_output"] == reply
            if question in replies:  # garbage and "none": nothing read, scored wrong
                assert judgement["verdict"] is None
                assert record["scores"] == {"accuracy": 0.0, "unparseable": 1.0, "judged": 1.0}
            else:
                assert judgement["verdict"] == sample.references[0]
                assert record["scores"] == {"accuracy": 1.0, "unparseable": 0.0, "judged": 1.0}
        asked = {task.judge_question(samples[r["sample_id"]]) in replies for r in unread}
        assert asked == {True, False}, "the judge both answers and replies garbage or none"
        results_text = (output / "results.json").read_text()
        entry = json.loads(results_text)["tasks"]["mathvista"]
        assert entry["judge"]["calls"] == len(unread) and entry["judge"]["failed"] == 0
        assert entry["judge"]["model"]["model"] == SERVED
        assert entry["scores"]["metrics"]["judged"] == len(unread)
        label = f"openai:base_url={server.base_url};model={SERVED};api_key=<redacted>"
        assert entry["task"]["scoring"]["judge"] == label
        assert f"judge openai:base_url={server.base_url};model={SERVED}" in result.output
        for text in (results_text, (output / "samples_mathvista.jsonl").read_text()):
            assert SECRET not in text
        assert all(r["authorization"] == f"Bearer {SECRET}" for r in server.received)

        # Resumed (results gone): the verdicts in the records are reused, not asked again.
        (output / "results.json").unlink()
        result = _run(output, *judge)
        assert result.exit_code == 0, result.output
        assert len(server.received) == len(unread)
        again = json.loads((output / "results.json").read_text())["tasks"]["mathvista"]
        assert again["judge"]["reused_verdicts"] == len(unread) and again["judge"]["calls"] == 0
        assert again["scores"] == entry["scores"]
        assert _records(output) == records

        # Without the judge, the same predictions score by the rules only.
        result = _run(output)
        assert result.exit_code == 0, result.output
        rules = json.loads((output / "results.json").read_text())["tasks"]["mathvista"]
        assert rules["scores"]["metrics"]["unparseable"] == len(unread)
        assert all("judgement" not in r for r in _records(output))
        assert len(server.received) == len(unread)


def test_a_failing_judge_fails_its_answers_only_and_is_asked_again(
    openai_environment: None, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    with _judging_server({}) as server:
        server.script = [(400, {}, {"error": {"message": "no such model"}})]
        judge = ["--judge", "openai", f"base_url={server.base_url},model={SERVED},max_retries=0"]
        result = _run(output, *judge)
        assert result.exit_code == 1
        assert "the judge failed for mathvista" in result.output
        assert "no such model" in result.output
        entry = json.loads((output / "results.json").read_text())["tasks"]["mathvista"]
        failed = entry["judge"]["failed"]
        assert failed >= 1 and entry["scores"]["metrics"]["judge_failed"] == failed
        assert "judge failed" in entry["scores"]["notes"]
        errors = [r["judgement"] for r in _records(output) if "error" in r.get("judgement", {})]
        assert len(errors) == failed and all("no such model" in e["error"] for e in errors)
        asked = len(server.received)
        result = _run(output, *judge)  # not up to date: the failed calls are made again
        assert result.exit_code == 0, result.output
        entry = json.loads((output / "results.json").read_text())["tasks"]["mathvista"]
        assert entry["judge"]["failed"] == 0 and entry["judge"]["calls"] == failed
        assert len(server.received) == asked + failed


def test_a_local_checkpoint_judges_and_its_garbage_scores_zero(tmp_path: Path) -> None:
    """``--judge hf``: the demo checkpoint, which never learnt to judge, as the judge."""
    result = _run(tmp_path / "run", "--judge", "hf", f"pretrained={FINAL},device=cpu")
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["mathvista"]
    assert entry["judge"]["model"]["weights_sha256"]
    judged = [r for r in _records(tmp_path / "run") if "judgement" in r]
    assert judged and len(judged) == entry["judge"]["calls"]
    for record in judged:
        verdict = record["judgement"]["verdict"]
        assert record["scores"]["unparseable"] == float(verdict is None)


def test_score_a_predictions_file_with_a_judge(openai_environment: None, tmp_path: Path) -> None:
    problems = json.loads((MATHVISTA / "testmini.json").read_text(encoding="utf-8"))
    predictions = [{"pid": int(pid), "response": "It is unclear"} for pid in problems]
    predictions[0]["response"] = problems["1"]["answer"]  # the rules read this one
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(predictions), encoding="utf-8")
    args = ["score", "--task", "mathvista", "--predictions", str(path),
            "--data-dir", str(DEMO / "data"), "--json", str(tmp_path / "scores.json")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rules = json.loads((tmp_path / "scores.json").read_text())
    assert rules["metrics"] == {"accuracy": 10.0, "unparseable": 9.0}
    with _judging_server({}) as server:
        judge = ["--judge", "openai", f"base_url={server.base_url},model={SERVED}"]
        result = CliRunner().invoke(main, [*args, *judge])
        assert result.exit_code == 0, result.output
        assert len(server.received) == 9
    judged = json.loads((tmp_path / "scores.json").read_text())
    assert judged["metrics"] == {"accuracy": 100.0, "unparseable": 0.0, "judged": 9.0}
    assert sorted(judged["judgements"]) == sorted(set(problems) - {"1"})
    assert judged["judge"]["calls"] == 9
    result = CliRunner().invoke(main, [*args[:2], "vqav2", *args[3:], *judge])
    assert result.exit_code == 2 and "reads its answers with no judge" in result.output


# The judge stage on its own, with a judge whose replies the test writes.


class _Judge(ModelAdapter):
    """A judge replying ``reply(prompt text)``; an ``InputError`` for prompts holding ``TOO
    LONG``, a server error once ``broken``."""

    name = "test-judge"

    def __init__(self, reply: Callable[[str], str]) -> None:
        self.reply = reply
        self.asked: list[str] = []
        self.broken = False

    def generate(self, inputs: Sequence[ModelInput], settings: Any) -> list[Generation]:
        texts = [str(item.prompt[-1].parts[0]) for item in inputs]
        if self.broken:
            raise ServerError("http://judge: HTTP 503 (gave up after 1 attempts)")
        refused = {i: "too long" for i, text in enumerate(texts) if "TOO LONG" in text}
        if refused:
            raise InputError(refused)
        self.asked += texts
        return [Generation(self.reply(text), 50, 0, 2) for text in texts]

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name}


def _judging(replies: Callable[[str], str]) -> tuple[JudgedAnswerTask, Judges, _Judge]:
    task = get_task("mathvista", {"judge": "openai:base_url=http://127.0.0.1:9/v1;model=m"})
    assert isinstance(task, JudgedAnswerTask) and task.judge is not None
    judges, judge = Judges(batch_size=2), _Judge(replies)
    judges._built[task.judge.spec] = judge  # the judge the spec would build
    return task, judges, judge


def test_the_judge_stage_reuses_fitting_verdicts_and_records_failures() -> None:
    task, judges, judge = _judging(lambda text: "5" if "(5)" in text else "4")
    samples = [_sample(str(pid), "4") for pid in range(1, 7)]
    unread = [
        Unread(s.id, s, p)
        for s, p in zip(samples, ["?", "??", "TOO LONG", "x", "y", "z"], strict=True)
    ]
    (turn,) = task.judge_prompt(samples[0], "?")
    label = task.judge.label

    def asked(index: int, prediction: str) -> list[dict[str, Any]]:
        return prompt_to_json(task.judge_prompt(samples[index], prediction))

    stored = {
        "1": {"judge": label, "prompt": asked(0, "?"), "raw_output": "The answer: 4",
              "verdict": "stale"},  # reused, its reply read again
        "2": {"judge": label, "prompt": [], "raw_output": "4"},  # another prompt
        "4": {"judge": "hf:pretrained=other", "prompt": asked(3, "x"),
              "raw_output": "4"},  # another judge
        "5": {"judge": label, "prompt": asked(4, "y"), "error": "HTTP 503"},  # asked again
    }  # fmt: skip
    results, report = judge_unread(task, unread, stored, judges)
    assert turn.parts[0] not in judge.asked  # reused
    assert results["1"] == (
        {"accuracy": 1.0, "unparseable": 0.0, "judged": 1.0},
        stored["1"] | {"verdict": "4"},
    )
    for key in ("2", "4", "5", "6"):
        scores, judgement = results[key]
        assert scores == {"accuracy": 1.0, "unparseable": 0.0, "judged": 1.0}, key
        assert judgement["raw_output"] == "4" and judgement["verdict"] == "4"
        assert (judgement["prompt_tokens"], judgement["generated_tokens"]) == (50, 2)
    assert results["3"][0] == {"accuracy": 0.0, "unparseable": 1.0, "judge_failed": 1.0}
    assert results["3"][1]["error"] == "the judge refuses the prompt: too long"
    assert (report.calls, report.reused, report.failed) == (4, 1, 1)
    assert report.model == {"adapter": "test-judge"}
    assert len(judge.asked) == 4


def test_a_broken_judge_fails_the_answers_left() -> None:
    task, judges, judge = _judging(lambda text: "4")
    samples = [_sample(str(pid), "4") for pid in range(1, 6)]
    unread = [Unread(s.id, s, "?") for s in samples]
    calls = 0

    def reply(text: str) -> str:
        nonlocal calls
        calls += 1
        judge.broken = calls == 2  # the second batch fails
        return "4"

    judge.reply = reply
    results, report = judge_unread(task, unread, {}, judges)
    assert [results[s.id][0].get("judged") for s in samples] == [1.0, 1.0, None, None, None]
    assert all("HTTP 503" in results[s.id][1]["error"] for s in samples[2:])
    assert (report.calls, report.failed) == (2, 3) and "HTTP 503" in (report.error or "")
    result = task.aggregate(samples, ["?"] * 5, [results[s.id][0] for s in samples])
    assert result.metrics == {
        "accuracy": 40.0, "unparseable": 3.0, "judged": 2.0, "judge_failed": 3.0
    }  # fmt: skip
    assert result.notes["judge failed"].startswith("3 of the answers the rules cannot read")


def test_a_judge_that_cannot_be_built_fails_its_answers(tmp_path: Path) -> None:
    task = get_task("mathvista", {"judge": f"hf:pretrained={tmp_path / 'missing'}"})
    results, report = judge_unread(task, [Unread("1", _sample("1", "4"), "?")], {}, Judges())
    assert "cannot be built" in results["1"][1]["error"] and report.failed == 1
    assert report.model is None
