"""MathVista (Lu et al., 2024): mathematical reasoning in visual contexts, answers read by rules
and perhaps a judge model, accuracy as its official evaluation computes it."""

from pathlib import Path

from vlm_eval.data import DatasetRow, Sample, lmms_eval_query, load_mathvista, mathvista_sample
from vlm_eval.metrics import (
    OPTION_LETTERS,
    MathProblem,
    extract_math_answer,
    math_answer_correct,
)
from vlm_eval.tasks import GenerationSettings, JudgedAnswerTask, QueryFormat, register_task


def problem(sample: Sample) -> MathProblem:
    """What reading and scoring the sample's answer depends on (from its metadata)."""
    metadata = sample.metadata
    choices = []
    for letter in OPTION_LETTERS:
        if letter not in metadata:
            break
        choices.append(metadata[letter])
    precision = metadata.get("precision")
    return MathProblem(
        metadata["question_type"],  # type: ignore[arg-type]
        metadata["answer_type"],  # type: ignore[arg-type]
        tuple(choices),
        None if precision is None else int(precision),
    )


@register_task
class MathVista(JudgedAnswerTask):
    """Reads the official ``{split}.json`` (``testmini.json``: 1,000 problems) with the images
    at the paths its ``image`` fields give (``images/{pid}.jpg``) and the official prompts of
    ``query.json`` beside it where it is there (else written as it writes them), or rows of
    AI4Math/MathVista (split ``testmini``; ``test``: answers hidden, written as a submission
    file instead of scored).

    Asked with the official prompt, its hint first (``chat``, ``idefics2-instruct``,
    ``idefics2-base``), or lmms-eval's ``format-prompt`` (``lmms-eval``); 1,024 new tokens for
    ``chat`` and ``lmms-eval`` (lmms-eval's), none of the answer cut off (the official hint asks
    for reasoning, then the answer at the end). Answers are read by
    ``vlm_eval.metrics.extract_math_answer``, then (option ``judge``) by a judge model, and
    scored as the official ``calculate_score.py``: accuracy, broken down by its groups
    (``question_type``, ``answer_type``, ``task``, ``skills``, ``grade``, ``context``,
    ``source``, ``category``, ``language``). There is no train split: few-shot demonstrations
    come from ``testmini`` (never the question itself), showing the answer (a multiple-choice
    one as its option's letter).
    """

    name = "mathvista"
    version = "1.0"
    eval_split = "testmini"
    fewshot_split = "testmini"
    hub_dataset = "AI4Math/MathVista"
    hub_eval_split = "testmini"
    hub_fewshot_split = "testmini"
    row_id_field = "pid"
    image_column = "decoded_image"
    prediction_fields = ("pid", "response")
    generation = GenerationSettings(max_new_tokens=1024)
    breakdown_fields = (
        "question_type",
        "answer_type",
        "task",
        "skills",
        "grade",
        "context",
        "source",
        "category",
        "language",
    )
    multi_value_fields = ("skills",)
    answer_rules = "vlm_eval.metrics.extract_math_answer"

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        return load_mathvista(data_dir / f"{split}.json", data_dir / "query.json")

    def sample_from_row(self, row: DatasetRow) -> Sample:
        """A row of AI4Math/MathVista: the official fields, ``query`` among them, the image
        decoded in ``decoded_image``."""
        return mathvista_sample(row, row.image(row.id))

    def submission_entry(self, sample: Sample, prediction: str) -> dict[str, str]:
        """``{"pid", "response"}``: the pid as the official files write it (a string)."""
        return {"pid": sample.id, "response": prediction}

    def query(self, sample: Sample, query_format: QueryFormat) -> str:
        if query_format == "official":
            return sample.metadata["query"]
        found = problem(sample)
        return lmms_eval_query(
            sample.question or "",
            found.choices,
            sample.metadata.get("unit"),
            found.question_type,
            found.answer_type,
            found.precision,
        )

    def demonstration(self, sample: Sample) -> str:
        found = problem(sample)
        answer = sample.references[0]
        if found.question_type == "multi_choice":
            return OPTION_LETTERS[found.choices.index(answer)]
        return answer

    def extract(self, sample: Sample, text: str) -> str | None:
        return extract_math_answer(text, problem(sample))

    def is_correct(self, sample: Sample, extracted: str) -> bool:
        return math_answer_correct(extracted, sample.references[0], problem(sample))

    def judge_question(self, sample: Sample) -> str:
        found = problem(sample)
        unit = sample.metadata.get("unit")
        lines = [(sample.question or "") + (f" (Unit: {unit})" if unit else "")]
        if found.choices:
            lines += [
                "Choices:",
                *(f"({OPTION_LETTERS[i]}) {c}" for i, c in enumerate(found.choices)),
            ]
        return "\n".join(lines)

    def answer_form(self, sample: Sample) -> str:
        found = problem(sample)
        if found.question_type == "multi_choice":
            letters = ", ".join(OPTION_LETTERS[: len(found.choices)])
            return f"the letter of the chosen choice ({letters})"
        if found.answer_type == "integer":
            return "an integer, e.g. 14"
        if found.answer_type == "float":
            places = found.precision or 0
            example = f"{1.25:.{places}f}"
            return f"a number with {places} decimal place{'s' * (places != 1)}, e.g. {example}"
        return "a Python list, e.g. [1, 2]"
