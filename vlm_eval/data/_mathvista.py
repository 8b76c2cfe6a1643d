"""MathVista (Lu et al., 2024) in its official format and as rows of AI4Math/MathVista, as samples;
and the benchmark's published prompt formats of a question.

The official files (``lupantech/MathVista``, ``data/``): ``testmini.json`` is an object keyed by
``pid``, each problem ``{"question", "image", "choices", "unit", "precision", "answer",
"question_type", "answer_type", "pid", "metadata"}``; ``image`` is the image's path relative to
the file's folder (``images/1.jpg``); ``choices`` is a list of strings (``multi_choice``) or
``null``; ``unit`` a string or ``null``; ``precision`` the decimal places of a ``float`` answer
(``null`` otherwise); ``answer`` a string (an option's text for ``multi_choice``);
``question_type`` ``multi_choice`` or ``free_form``; ``answer_type`` ``text`` (multiple choice),
``integer``, ``float`` or ``list``; ``metadata`` ``{"split", "language", "source", "category",
"task", "context", "grade", "skills": [...], "img_width", "img_height"}``. ``query.json`` beside
it (optional) holds each problem's official prompt by ``pid``. The hub dataset has the same
columns, ``query`` among them, ``precision`` as a float, the image decoded in ``decoded_image``;
its ``test`` split's answers are empty (hidden).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import ImageSource
from vlm_eval.data._official import _image_file, _read_json
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

MULTI_VALUE_SEPARATOR = "|"
"""Joins the values of a metadata field that holds several (MathVista's ``skills``): metadata
values are text."""

MATHVISTA_METADATA = ("task", "context", "grade", "source", "category", "language", "split")
"""The fields of a problem's ``metadata`` kept in its sample's metadata (and ``skills``)."""

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HINTS = {
    "multi_choice": "Please answer the question and provide the correct option letter, e.g., A, "
    "B, C, D, at the end.",
    "integer": "Please answer the question requiring an integer answer and provide the final "
    "value, e.g., 1, 2, 3, at the end.",
    "float 1": "Please answer the question requiring a floating-point number with one decimal "
    "place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.",
    "float 2": "Please answer the question requiring a floating-point number with two decimal "
    "places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.",
    "list": "Please answer the question requiring a Python list as an answer and provide the "
    "final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.",
}
"""The hints of the official queries (``evaluation/build_query.py``, ``data/query.json``)."""
_FORMAT_HINTS = {
    "multi_choice": "Answer with the option's letter from the given choices directly.",
    "integer": "Answer the question using a single integer number.",
    "float 1": "Answer the question using a single floating-point number with one decimal place.",
    "float 2": "Answer the question using a single floating-point number with two decimal places.",
    "list": "Answer the question using a Python list.",
}
"""lmms-eval's ``format-prompt`` hints (``lmms_eval/tasks/mathvista/mathvista_evals.py``)."""
_PLACES = {0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _hint_key(question_type: str, answer_type: str, precision: int | None) -> str:
    if question_type == "multi_choice":
        return "multi_choice"
    return f"float {precision}" if answer_type == "float" else answer_type


def _float_hint(template: str, precision: int) -> str:
    """A float hint for a precision the published ones do not cover (they cover 1 and 2), in
    their words: ``three decimal places``, ``e.g., 1.234, 1.345, 1.456``."""
    places = f"{_PLACES.get(precision, precision)} decimal place{'s' * (precision != 1)}"
    examples = ", ".join(
        f"1.{''.join(str((start + k) % 10) for k in range(precision))}".rstrip(".")
        for start in (2, 3, 4)
    )
    return template.replace("one decimal place", places).replace("1.2, 1.3, 1.4", examples)


def mathvista_query(
    question: str,
    choices: Sequence[str],
    unit: str | None,
    question_type: str,
    answer_type: str,
    precision: int | None,
) -> str:
    """The official prompt (``query``) of a problem, as ``data/query.json`` writes it: ``Hint:
    ...`` (the answer's form), ``Question: {question}`` (`` (Unit: {unit})`` after it if any),
    then ``Choices:`` and one ``(A) {choice}`` line per choice, if any."""
    key = _hint_key(question_type, answer_type, precision)
    hint = _HINTS.get(key) or _float_hint(_HINTS["float 1"], precision or 0)
    lines = [f"Hint: {hint}", f"Question: {question}" + (f" (Unit: {unit})" if unit else "")]
    if choices:
        lines += ["Choices:", *(f"({_LETTERS[i]}) {choice}" for i, choice in enumerate(choices))]
    return "\n".join(lines)


def lmms_eval_query(
    question: str,
    choices: Sequence[str],
    unit: str | None,
    question_type: str,
    answer_type: str,
    precision: int | None,
) -> str:
    """lmms-eval's prompt of a problem (``shot_type: format-prompt``, its default):
    ``{question}`` (`` (Unit: {unit})`` after it if any), one ``A. {choice}`` line per choice,
    then a line asking for the answer's form directly (``Answer with the option's letter from
    the given choices directly.``, ``Answer the question using a single integer number.``,
    ...)."""
    key = _hint_key(question_type, answer_type, precision)
    hint = _FORMAT_HINTS.get(key) or _float_hint(_FORMAT_HINTS["float 1"], precision or 0)
    lines = [question + (f" (Unit: {unit})" if unit else "")]
    lines += [f"{_LETTERS[i]}. {choice}" for i, choice in enumerate(choices)]
    return "\n".join([*lines, hint])


def _optional_text(record: Record, field: str) -> str | None:
    """A string field that may be ``null`` or absent (``None``)."""
    if record.data.get(field) is None:
        return None
    return str(record.get(field, str))


def _precision(record: Record) -> int | None:
    """``precision``: ``None`` where absent or ``null``, else a whole number of decimal places
    (the hub writes ``1.0``)."""
    value = record.data.get("precision")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise record.error("precision", f"expected a number of decimal places, got {value!r}")
    if not (math.isfinite(value) and value == int(value) and 0 <= value <= 15):
        raise record.error("precision", f"expected a whole number of decimal places, got {value!r}")
    return int(value)


def _choices(record: Record, question_type: str) -> tuple[str, ...]:
    choices = record.data.get("choices")
    if choices is None:
        if question_type == "multi_choice":
            raise record.error("choices", "missing: a multi_choice question needs its choices")
        return ()
    texts = record.strings("choices") if choices else ()
    if question_type == "multi_choice" and not 2 <= len(texts) <= len(_LETTERS):
        problem = f"a multi_choice question needs 2 to {len(_LETTERS)} choices, got {len(texts)}"
        raise record.error("choices", problem)
    return tuple(texts)


def _metadata(record: Record) -> dict[str, str]:
    """The kept fields of ``metadata`` (``MATHVISTA_METADATA``, ``skills`` joined)."""
    if "metadata" not in record.data:
        return {}
    data = record.get("metadata", dict)
    found = {}
    for key in MATHVISTA_METADATA:
        value = data.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise record.error(f"metadata.{key}", f"expected a string, got {value!r}")
            found[key] = value
    skills = data.get("skills")
    if skills is not None:
        if not isinstance(skills, list) or not all(isinstance(s, str) for s in skills):
            raise record.error("metadata.skills", f"expected a list of strings, got {skills!r}")
        for index, skill in enumerate(skills):
            if MULTI_VALUE_SEPARATOR in skill:
                problem = f"{skill!r} holds {MULTI_VALUE_SEPARATOR!r}, which joins the skills"
                raise record.error(f"metadata.skills[{index}]", problem)
        found["skills"] = MULTI_VALUE_SEPARATOR.join(skills)
    return found


def _check_answer(
    record: Record, answer: str, question_type: str, answer_type: str, choices: Sequence[str]
) -> None:
    """Refuse an answer the scoring could never match: not among the choices of a multiple
    choice question, or not of its free-form type."""
    from vlm_eval.metrics._mathvista import MathProblem, normalize_math_answer

    if question_type == "multi_choice":
        if answer not in choices:
            raise record.error("answer", f"{answer!r} is not among the choices {list(choices)}")
        return
    problem = MathProblem("free_form", answer_type, tuple(choices), _precision(record))  # type: ignore[arg-type]
    if normalize_math_answer(answer, problem) is None:
        raise record.error(
            "answer", f"{answer!r} is not a{'n' * (answer_type == 'integer')} {answer_type} answer"
        )


def mathvista_sample(record: Record, image: ImageSource, query: str | None = None) -> Sample:
    """The sample of one MathVista problem: a record of the official file or a row of
    AI4Math/MathVista (whose ``pid`` names it).

    Its question is the bare ``question``; its reference the ``answer`` (none where the answer
    is absent or empty: the test split). Metadata: ``question_type``, ``answer_type``,
    ``precision`` and ``unit`` (where given), the choices under their letters (``A``, ``B``,
    ...), the official prompt ``query`` (``query``, else the record's own ``query``, else
    written by ``mathvista_query``) and the kept ``metadata`` fields (``skills`` joined with
    ``MULTI_VALUE_SEPARATOR``).

    Raises:
        DataFormatError: Naming the record and the field: a missing or mistyped field, an
            unknown question or answer type, a multiple-choice question without choices, a
            precision that is not a whole number (or missing for a float answer), an answer
            that is not among the choices or not of its type.
    """
    question = record.get("question", str)
    question_type = record.get("question_type", str)
    if question_type not in ("multi_choice", "free_form"):
        raise record.error(
            "question_type", f"expected multi_choice or free_form: {question_type!r}"
        )
    answer_type = record.get("answer_type", str)
    allowed = ("text",) if question_type == "multi_choice" else ("integer", "float", "list")
    if answer_type not in allowed:
        expected = " or ".join(allowed)
        problem = f"a {question_type} question's answer is {expected}, not {answer_type!r}"
        raise record.error("answer_type", problem)
    choices = _choices(record, question_type)
    precision = _precision(record)
    if answer_type == "float" and precision is None:
        raise record.error("precision", "missing: a float answer needs its decimal places")
    unit = _optional_text(record, "unit") or None
    answer = _optional_text(record, "answer")
    if answer:
        _check_answer(record, answer, question_type, answer_type, choices)
    if query is None:
        query = _optional_text(record, "query") or mathvista_query(
            question, choices, unit, question_type, answer_type, precision
        )
    metadata = {"question_type": question_type, "answer_type": answer_type}
    if precision is not None:
        metadata["precision"] = str(precision)
    if unit:
        metadata["unit"] = unit
    metadata |= dict(zip(_LETTERS, choices, strict=False))
    metadata["query"] = query
    metadata |= _metadata(record)
    return Sample(
        id=str(record.label),
        image=image,
        references=(answer,) if answer else (),
        question=question,
        metadata=metadata,
    )


def _problems(path: Path) -> dict[str, Any]:
    """The problems of an official file, by ``pid``."""
    document = _read_json(path)
    if not isinstance(document, dict):
        problem = f"expected an object of problems keyed by pid, got {type(document).__name__}"
        raise DataFormatError(path, None, None, problem)
    return document


def _queries(path: Path | None) -> dict[str, str]:
    """``query.json``: pid -> the official prompt; empty without the file."""
    if path is None or not path.exists():
        return {}
    document = _read_json(path)
    if not isinstance(document, dict):
        raise DataFormatError(path, None, None, "expected an object of queries keyed by pid")
    for pid, query in document.items():
        if not isinstance(query, str):
            raise DataFormatError(path, pid, None, f"expected a string, got {query!r}")
    return document


@without_gc_pauses
def load_mathvista(json_file: Path, query_file: Path | None = None) -> list[Sample]:
    """The problems of an official MathVista file (``testmini.json``), in its order, as samples
    (``mathvista_sample``); images are the ``image`` paths under the file's folder, prompts
    those of ``query_file`` (``query.json``) where it has them.

    Raises:
        DataFormatError: Naming the file, the problem (pid) and the field: malformed JSON, a
            problem that is not an object, a ``pid`` field that is not its key, an image path
            leaving the folder, or anything ``mathvista_sample`` refuses.
    """
    queries = _queries(query_file)
    samples = []
    for pid, data in _problems(json_file).items():
        if not isinstance(data, dict):
            raise DataFormatError(json_file, pid, None, f"expected an object, got {data!r}")
        record = Record(json_file, data, pid)
        if "pid" in data and str(record.get("pid", str, int)) != pid:
            raise record.error("pid", f"{data['pid']!r} differs from its key {pid!r}")
        image = _image_file(json_file.parent, record.get("image", str), record, "image")
        samples.append(mathvista_sample(record, image, queries.get(pid)))
    return samples
