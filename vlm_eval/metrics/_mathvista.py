"""MathVista's answers (Lu et al., 2024): read from a model's free text by rules, normalized and
compared as the official evaluation compares them (``lupantech/MathVista``,
``evaluation/extract_answer.py`` and ``evaluation/calculate_score.py``), written anew.

The official evaluation works in three steps:

1. ``extract_answer``: the response itself when it is an option's text (``multi_choice``) or
   parses as the answer type's number; anything else goes to GPT-4 (``gpt-4-0613``), asked
   with five worked examples (``prompts/ext_ans.py``) to write the extracted answer.
2. ``normalize_extracted_answer``: ``multi_choice``: a letter (``A``, or the ``A`` of ``(A)``)
   becomes its option's text, and any other text the option nearest to it by Levenshtein
   distance; ``integer``: ``str(int(float(x)))``; ``float``: ``str(round(float(x),
   precision))``; ``list``: ``str(x)``; a value that does not convert: ``None``.
3. ``safe_equal``: the normalized prediction equals the answer string.

Here, ``extract_math_answer`` replaces step 1's GPT-4 by rules (below) and returns ``None`` for
what they cannot read (a judge model may read it then: ``vlm_eval.tasks.JudgedAnswerTask``);
``normalize_math_answer`` is step 2, except that text naming no option is ``None``, never the
nearest option (so that garbage is not scored as an answer); ``math_answer_correct`` is step 3,
the reference normalized as the prediction is (the same on the official files, whose answers
are written normalized).

The rules, on the text NFKC-normalized (the minus sign U+2212 read as ``-``):

- ``multi_choice``: the option letter or text ``vlm_eval.metrics.extract_choice`` reads ("B",
  "(B)", "B. ...", "The answer is B", the option's text, a lone letter).
- ``integer`` and ``float``: the number inside the last ``\\boxed{...}`` (if it holds exactly
  one); else the number right after the last answer statement ("The answer is 14", "Answer:
  $13.00", "final answer = 0.6"); else the one number the text holds (several spellings of one
  value count once: "4 ... 4.0"). Numbers may have thousands separators (``1,000``), a sign and
  a decimal part, and stand before a unit (``5cm``, ``45%``), not inside a word (``H2O``).
- ``list``: the one bracketed list the text holds (``[2007, 2008]``), else the list right after
  the last answer statement; compared element by element as text, spaces and quotes aside
  (``[2007,2008]`` is ``[2007, 2008]``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from vlm_eval.metrics._choice import OPTION_LETTERS, extract_choice

QuestionType = Literal["multi_choice", "free_form"]
AnswerType = Literal["text", "integer", "float", "list"]
QUESTION_TYPES: tuple[QuestionType, ...] = ("multi_choice", "free_form")
ANSWER_TYPES: tuple[AnswerType, ...] = ("text", "integer", "float", "list")

_NUMBER = re.compile(r"(?<![\w.,])[-+]?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?![\w,]*\d)")
"""A number: not inside a word or another number (``H2O``, ``12,34``), perhaps before a unit."""
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_STATEMENT = re.compile(
    r"\banswer\b(?:\s+(?:is|would\s+be|should\s+be))?\s*[:=]?\s*\$?\s*", flags=re.IGNORECASE
)
_LIST = re.compile(r"\[([^\[\]]*)\]")
_NOISE = "*`\"' \t\n"


@dataclass(frozen=True, slots=True)
class MathProblem:
    """What reading and scoring a MathVista answer depends on.

    Attributes:
        question_type: ``multi_choice`` or ``free_form``.
        answer_type: ``text`` (multiple choice), ``integer``, ``float`` or ``list``.
        choices: The options of a ``multi_choice`` question, in letter order.
        precision: Decimal places of a ``float`` answer.
    """

    question_type: QuestionType
    answer_type: AnswerType
    choices: tuple[str, ...] = ()
    precision: int | None = None


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip().strip(_NOISE)


def _number_text(match: str) -> str:
    """A matched number without thousands separators or a ``+`` sign."""
    return match.replace(",", "").removeprefix("+")


def _one_number(text: str) -> str | None:
    """The number ``text`` holds, if it holds one value (spelled once or more), else ``None``."""
    values: dict[float, str] = {}
    for match in _NUMBER.finditer(text):
        number = _number_text(match.group())
        values.setdefault(float(number), number)
    return next(iter(values.values())) if len(values) == 1 else None


def extract_number(response: str) -> str | None:
    """The number a free-text answer gives, by the rules of the module's description (boxed,
    then stated, then the only one), without thousands separators; ``None`` if none applies.
    """
    text = _clean(response)
    boxed = _BOXED.findall(text)
    if boxed:
        number = _one_number(boxed[-1])
        if number is not None:
            return number
    stated = None
    for statement in _STATEMENT.finditer(text):
        found = _NUMBER.match(text, statement.end())
        if found:
            stated = _number_text(found.group())
    return stated if stated is not None else _one_number(text)


def _canonical_list(inner: str) -> str | None:
    """``[a, b]`` of the text between a list's brackets, elements stripped of spaces and quotes;
    ``None`` for an empty list or an empty element."""
    items = [item.strip().strip("'\"").strip() for item in inner.split(",")]
    if not items or not all(items):
        return None
    return "[" + ", ".join(items) + "]"


def extract_list(response: str) -> str | None:
    """The list a free-text answer gives (``[a, b, ...]``, canonical), by the rules of the
    module's description; ``None`` if none applies."""
    text = _clean(response)
    lists = {canonical for inner in _LIST.findall(text) if (canonical := _canonical_list(inner))}
    if len(lists) == 1:
        return lists.pop()
    stated = None
    for statement in _STATEMENT.finditer(text):
        found = _LIST.match(text, statement.end())
        if found and (canonical := _canonical_list(found.group(1))):
            stated = canonical
    return stated


def normalize_math_answer(value: str, problem: MathProblem) -> str | None:
    """``value`` (an extracted answer, or a reference) normalized as the official
    ``normalize_extracted_answer`` does (see the module's description), ``None`` where it does
    not convert; text naming no option of a ``multi_choice`` question is ``None`` too (the
    official code takes the nearest option instead).

    Raises:
        ValueError: For a ``float`` problem without ``precision``, or a ``multi_choice`` one
            with fewer than two choices.
    """
    if problem.question_type == "multi_choice":
        letter = extract_choice(value, problem.choices)
        return None if letter is None else problem.choices[OPTION_LETTERS.index(letter)]
    value = value.strip()
    try:
        if problem.answer_type == "integer":
            return str(int(float(value)))
        if problem.answer_type == "float":
            if problem.precision is None:
                raise ValueError("a float answer needs its precision")
            return str(round(float(value), problem.precision))
    except (ValueError, OverflowError) as error:
        if "precision" in str(error):
            raise
        return None
    if problem.answer_type == "list":
        found = _LIST.fullmatch(value)
        return None if found is None else _canonical_list(found.group(1))
    return value  # a free-form text answer: compared as it is


def extract_math_answer(response: str, problem: MathProblem) -> str | None:
    """The answer ``response`` gives, read by the rules of the module's description and
    normalized (``normalize_math_answer``): an option's text, an integer, a float rounded to
    the problem's precision, or a list; ``None`` where the rules cannot read one."""
    if problem.question_type == "multi_choice":
        return normalize_math_answer(response, problem)
    if problem.answer_type in ("integer", "float"):
        number = extract_number(response)
        return None if number is None else normalize_math_answer(number, problem)
    if problem.answer_type == "list":
        return extract_list(response)
    text = _clean(response)
    return text or None


def math_answer_correct(extracted: str | None, answer: str, problem: MathProblem) -> bool:
    """Whether the normalized ``extracted`` answer is the reference ``answer`` (normalized the
    same way): the official ``safe_equal``. ``None`` (nothing read) is wrong."""
    return extracted is not None and extracted == normalize_math_answer(answer, problem)
