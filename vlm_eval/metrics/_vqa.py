"""VQA accuracy (VQAv2, OK-VQA, TextVQA), re-implementing the official ``vqaEval.py``.

The official evaluation code is GT-Vision-Lab/VQA, ``PythonEvaluationTools/vqaEvaluation``
(2021 revision). Its answer normalization is reproduced here step by step, quirks included.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

VQAMode = Literal["normalized", "official", "evalai"]

VQA_METRIC_REVISION = "GT-Vision-Lab/VQA vqaEval.py, 2021 revision"
"""The official code reproduced; recorded in results (earlier revisions normalize differently)."""

_PUNCTUATION = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
    ",", "?", "!",
)  # fmt: skip
# The official regexes. `(?!<=\d)` is a negative *lookahead* for the text "<=digit" (a typo for a
# lookbehind) and so never blocks a match: in effect, every period not followed by a digit goes.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# The official code calls `periodStrip.sub("", text, re.UNICODE)`: the flag lands in the `count`
# argument, so at most re.UNICODE (32) periods are removed from one answer.
_PERIOD_STRIP_COUNT = int(re.UNICODE)

_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
_ARTICLES = frozenset({"a", "an", "the"})
# The official contraction map, entry for entry. Words are lower-cased before the look-up, so the
# keys with capitals ("Im", "Ive", ...) never match; "somebody'd" -> "somebodyd" is inverted.
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}  # fmt: skip
_MODES: tuple[VQAMode, ...] = ("normalized", "official", "evalai")


def _require_string(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}: {value!r}")


def _clean_whitespace(text: str) -> str:
    """Official step 1: newlines and tabs become spaces, then the ends are stripped."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def _process_punctuation(text: str) -> str:
    """Official step 2 (``processPunctuation``).

    Every test looks at the *input* string: a mark next to a space anywhere, or any
    digit-comma-digit anywhere, makes every occurrence of that mark vanish; otherwise each
    becomes a space.
    """
    has_digit_comma = _COMMA_STRIP.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        next_to_space = f"{mark} " in text or f" {mark}" in text
        out = out.replace(mark, "" if next_to_space or has_digit_comma else " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_STRIP_COUNT)


def _process_digit_article(text: str) -> str:
    """Official step 3 (``processDigitArticle``): number words, articles, contractions."""
    words = (_NUMBER_WORDS.get(word, word) for word in text.lower().split())
    return " ".join(_CONTRACTIONS.get(word, word) for word in words if word not in _ARTICLES)


class _StringMemo(dict[str, str]):
    """The results of a string function, computed once per distinct input.

    Looking answers up with ``map(memo.__getitem__, answers)`` keeps the per-answer work in C:
    VQA answers repeat so much that almost every look-up is a hit. A miss checks that the input is
    a string. The memo is emptied when it grows past ``limit`` entries, to bound its memory.
    """

    def __init__(self, function: Callable[[str], str], limit: int = 1 << 20) -> None:
        super().__init__()
        self.function = function
        self.limit = limit

    def __missing__(self, text: str) -> str:
        _require_string(text, "a VQA answer")
        if len(self) >= self.limit:
            self.clear()
        value = self[text] = self.function(text)
        return value


_CLEANED = _StringMemo(_clean_whitespace)
# Step 1 is idempotent, so normalizing a cleaned answer equals normalizing the raw one.
_NORMALIZED = _StringMemo(lambda text: _process_digit_article(_process_punctuation(text)))


def _evalai_tokenize(text: str) -> str:
    """The first step of EvalAI's answer processor (MMF's ``EvalAIAnswerProcessor``, which
    lmms-eval scores TextVQA and OK-VQA with): lower-case, delete every ``,`` and ``?``, split
    ``'s`` off its word, strip; then the official whitespace cleaning."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return _clean_whitespace(text)


_EVALAI = _StringMemo(lambda text: _NORMALIZED[_evalai_tokenize(text)])


def clear_vqa_caches() -> None:
    """Forget every answer normalized so far (for cold-start benchmarks; results never change)."""
    _CLEANED.clear()
    _NORMALIZED.clear()
    _EVALAI.clear()


def normalize_vqa_answer(text: str) -> str:
    """Normalize an answer as the official VQA evaluation does.

    Newlines and tabs become spaces and the ends are stripped; punctuation is removed (glued to a
    space, or anywhere in a string containing a digit-comma-digit such as ``1,000``) or replaced by
    a space (otherwise); periods not followed by a digit are dropped (``3.5`` stays); then the text
    is lower-cased, number words ``none``..``ten`` become digits, articles are dropped, contractions
    written without an apostrophe are restored (``dont`` -> ``don't``), and words are joined by
    single spaces. Apostrophes and colons are kept. Results are cached.

    Args:
        text: A predicted or reference answer.

    Returns:
        The normalized answer; an empty string if nothing is left.

    Raises:
        ValueError: If ``text`` is not a string.
    """
    _require_string(text, "a VQA answer")
    return _NORMALIZED[_CLEANED[text]]


def _validate(prediction: object, answers: object) -> None:
    """Raise the precise error for bad arguments of `vqa_accuracy` (only run once one failed)."""
    _require_string(prediction, "the prediction")
    if isinstance(answers, str):
        raise ValueError(f"answers must be a sequence of strings, not the string {answers!r}")
    if not isinstance(answers, Sequence) or len(answers) == 0:
        raise ValueError("answers is empty: VQA accuracy needs at least one human answer")
    for i, answer in enumerate(answers):
        _require_string(answer, f"answers[{i}]")


def vqa_accuracy(prediction: str, answers: Sequence[str], *, mode: VQAMode = "normalized") -> float:
    """VQA accuracy of one prediction against the human answers of one question.

    For each answer left out in turn, the prediction scores ``min(1, matches / 3)`` against the
    remaining answers; the result is the mean over all leave-one-out subsets. With ten answers,
    0, 1, 2, 3 and 4+ matching answers give 0, 0.3, 0.6, 0.9 and 1.0. The rule is applied as is to
    any number of answers, so with fewer than four a perfect prediction scores below 1.0, and with a
    single answer every prediction scores 0.0 (use exact match for single-answer datasets).

    Args:
        prediction: The model's answer.
        answers: The human answers (ten in VQAv2, OK-VQA and TextVQA).
        mode: ``"normalized"`` (default) normalizes the prediction and every answer with
            `normalize_vqa_answer`. ``"official"`` is the 2021 ``vqaEval.py`` exactly: only
            newlines, tabs and surrounding spaces are cleaned, and the rest of the normalization
            is applied only when the answers are not all the identical string, so ``"Yes"``
            scores 0.0 against ten ``"yes"`` but 1.0 against nine ``"yes"`` and one ``"yeah"``.
            ``"evalai"`` is EvalAI's answer processor, as lmms-eval scores TextVQA and OK-VQA:
            the normalization of ``"normalized"`` after lower-casing, deleting every ``,`` and
            ``?`` and splitting ``'s`` (``"2,a"`` becomes ``"2a"``, not ``"2 a"``).

    Returns:
        The accuracy in [0, 1].

    Raises:
        ValueError: If ``answers`` is empty or a bare string, an answer or the prediction is not a
            string, or ``mode`` is unknown.
    """
    if mode not in _MODES:
        raise ValueError(f"unknown VQA accuracy mode {mode!r}; expected one of {_MODES}")
    try:
        if isinstance(answers, str) or not answers:
            raise ValueError(answers)
        if mode == "evalai":
            cleaned = list(map(_EVALAI.__getitem__, answers))
            target = _EVALAI[prediction]
        else:
            cleaned = list(map(_CLEANED.__getitem__, answers))
            target = _CLEANED[prediction]
            if mode == "normalized" or len(set(cleaned)) > 1:
                cleaned = list(map(_NORMALIZED.__getitem__, cleaned))
                target = _NORMALIZED[target]
    except (ValueError, TypeError):
        _validate(prediction, answers)
        raise
    hits = cleaned.count(target)
    # Leaving out a matching answer leaves hits - 1 matches, leaving out another one leaves hits.
    total = hits * min(1.0, (hits - 1) / 3) + (len(cleaned) - hits) * min(1.0, hits / 3)
    return total / len(cleaned)


def summarize_vqa(
    accuracies: Sequence[float], groups: Mapping[str, Sequence[str | None]]
) -> tuple[float, dict[str, dict[str, float]]]:
    """Task-level VQA accuracy in percent, overall and per group, like the official tool.

    Args:
        accuracies: Per-question scores in [0, 1] (from ``vqa_accuracy``).
        groups: Breakdown name (``answer_type``, ``question_type``) -> each question's group,
            aligned with ``accuracies``; ``None`` leaves a question out of that breakdown.

    Returns:
        ``(overall, breakdowns)``: 100 x the mean, and breakdown -> group -> 100 x its mean.
        A breakdown in which no question has a group is omitted. Values are not rounded.
    """
    breakdowns: dict[str, dict[str, float]] = {}
    for name, labels in groups.items():
        if len(labels) != len(accuracies):
            raise ValueError(f"breakdown {name!r} has {len(labels)} labels for {len(accuracies)}")
        members: dict[str, list[float]] = defaultdict(list)
        for label, accuracy in zip(labels, accuracies, strict=True):
            if label is not None:
                members[label].append(accuracy)
        if members:
            breakdowns[name] = {label: _percent(members[label]) for label in sorted(members)}
    return _percent(accuracies), breakdowns


def _percent(values: Sequence[float]) -> float:
    return 100.0 * sum(values) / len(values) if values else 0.0
