"""Multiple-choice answers: the option a free-text answer names, circular rotations of the
options and circular accuracy (MMBench's CircularEval).

How ``extract_choice`` reads an answer compares with the harnesses as follows. VLMEvalKit and
lmms-eval (``can_infer``: ``can_infer_option`` then ``can_infer_text``) split the answer at
whitespace and punctuation and take the one option letter found among the words, anywhere,
upper case only; failing that, the one option whose lower-cased text is contained in the answer;
what neither reads goes to a GPT judge (and, failing that, a random letter). Here, without a judge:
a leading or stated letter ("B. ...", "Answer: B") wins over other letters in the text, a lone
letter answer may be lower case ("b"), an option contained in a longer matched option ("red" in
"red circle") does not make the answer ambiguous, option texts match as whole words after Unicode
(NFKC) and case folding, the article "A" and the pronoun "I" are not read as letters, a letter
outside the options makes the answer unparseable, and what no rule reads is unparseable (``None``),
never a random letter.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence

OPTION_LETTERS = string.ascii_uppercase
"""The letters of options, in order: ``A`` for the first."""

_BARE = re.compile(r"[(\[]?([A-Za-z])[)\]]?[.:]?")
_LEADING = re.compile(r"(?:[(\[]([A-Za-z])[)\]]|([A-Z])[.):])(?=\s|$)")
_STATEMENT = re.compile(
    r"\banswer\b(?:\s+(?:is|would\s+be|should\s+be))?\s*[:\-]?\s*", flags=re.IGNORECASE
)
_STATED_LETTER = re.compile(r"(?:[(\[]([A-Za-z])[)\]]|([A-Z]))(?![\w'])")
_LONE_LETTER = re.compile(r"(?<![\w'])([A-Z])(?![\w'])")
# "A cat ...", "I think ...": an article, a pronoun, where a sentence starts.
_WORD_NOT_LETTER = re.compile(r"(?:^|(?<=[.!?:]\s)|(?<=\n))[AI]\s+[a-z]")
_NOT_WORD = re.compile(r"[\W_]+")
_SENTENCE_END = re.compile(r"[.!?\n](?:\s|$)")


def extract_choice(answer: str, options: Sequence[str]) -> str | None:
    """The letter of the option that ``answer`` names, by the first of these rules that
    applies, or ``None`` (unparseable).

    The answer is first NFKC-normalized (full-width letters and brackets read as ASCII) and
    stripped of surrounding whitespace, quotes, ``*`` and backticks (Markdown emphasis).

    1. The whole answer is a letter, of either case, alone or as ``(B)``, ``[B]``, ``B.``,
       ``B)``, ``B:``.
    2. The answer starts with a marked letter: ``B.``, ``B)``, ``B:`` (upper case) or ``(B)``
       (either case), followed by a space or the end (``B. a red circle``).
    3. The first answer statement (``Answer: B``, ``The answer is (B)``, ``the correct answer
       is B``): its letter (upper case, or either case in brackets); a statement followed by
       text instead (``The answer is a red circle.``) names the option that text names up to the
       end of its sentence, by rule 4.
    4. Option texts, compared after NFKC normalization, case folding and punctuation read as
       spaces: the option the whole answer equals; else the one option found in the answer as
       whole words, not counting options found only inside a longer option found there
       (``red`` inside ``red circle``).
    5. Exactly one distinct option letter stands alone in the answer (upper case, not part of a
       word: ``Both`` holds no ``B``); ``A`` and ``I`` that start a sentence followed by a
       lower-case word are read as the article and the pronoun (``A cat``, ``I think``).

    A rule that finds a letter beyond the options (``E`` of four) makes the answer unparseable;
    so do two letters in rule 5, or two options in rule 4 with no letter. A one-letter answer
    is a letter, whatever the option texts (``y`` is unparseable among options ``x, y, z``).

    Args:
        answer: The model's answer, as generated (after the protocol's cut).
        options: The option texts, in letter order (``A`` first).

    Raises:
        ValueError: For fewer than two options or more than 26.
    """
    if not 2 <= len(options) <= len(OPTION_LETTERS):
        raise ValueError(f"expected 2 to {len(OPTION_LETTERS)} options, got {len(options)}")
    letters = OPTION_LETTERS[: len(options)]
    text = unicodedata.normalize("NFKC", answer).strip().strip("*`\"' \t\n")
    if not text:
        return None
    found = _BARE.fullmatch(text) or _LEADING.match(text)
    if found:
        return _in_range(next(group for group in found.groups() if group), letters)
    statement = _STATEMENT.search(text)
    if statement:
        rest = text[statement.end() :]
        stated = _STATED_LETTER.match(rest)
        if stated:
            return _in_range(next(group for group in stated.groups() if group), letters)
        named = _option_named(rest[: _end_of_sentence(rest)], options)
        if named is not None:
            return letters[named]
    named = _option_named(text, options)
    if named is not None:
        return letters[named]
    lone = {
        match.group(1)
        for match in _LONE_LETTER.finditer(text)
        if match.group(1) in letters and not _WORD_NOT_LETTER.match(text, match.start())
    }
    return lone.pop() if len(lone) == 1 else None


def _in_range(letter: str, letters: str) -> str | None:
    letter = letter.upper()
    return letter if letter in letters else None


def _end_of_sentence(text: str) -> int:
    end = _SENTENCE_END.search(text)
    return len(text) if end is None else end.start()


def _normalized(text: str) -> str:
    """``text`` NFKC-normalized and case-folded, punctuation as spaces, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def _option_named(text: str, options: Sequence[str]) -> int | None:
    """The index of the option ``text`` names by rule 4 of ``extract_choice``, if any."""
    answer = _normalized(text)
    if not answer:
        return None
    normalized = [_normalized(option) for option in options]
    exact = [i for i, option in enumerate(normalized) if option == answer]
    if len(exact) == 1:
        return exact[0]
    spans = {
        i: [
            (match.start(), match.end())
            for match in re.finditer(rf"(?<!\w){re.escape(option)}(?!\w)", answer)
        ]
        for i, option in enumerate(normalized)
        if option
    }
    spans = {i: found for i, found in spans.items() if found}

    standing = [i for i in spans if not _covered(i, spans)]
    return standing[0] if len(standing) == 1 else None


def _covered(i: int, spans: dict[int, list[tuple[int, int]]]) -> bool:
    """Whether every occurrence of option ``i`` lies inside a longer occurrence of another."""
    return all(
        any(
            s <= start and end <= e and e - s > end - start
            for j, found in spans.items()
            if j != i
            for s, e in found
        )
        for start, end in spans[i]
    )


def rotate_choices(
    options: Sequence[str], answer: str | None, rotation: int
) -> tuple[tuple[str, ...], str | None]:
    """``options`` shifted circularly by ``rotation`` (the option at letter ``rotation`` comes
    first: rotation 1 of ``A, B, C`` is ``B, C, A``) and the letter of ``answer`` among them
    (``None`` stays ``None``: a question without an answer)."""
    count = len(options)
    shift = rotation % count
    rotated = tuple(options[shift:]) + tuple(options[:shift])
    if answer is None:
        return rotated, None
    return rotated, OPTION_LETTERS[(OPTION_LETTERS.index(answer) - shift) % count]


def circular_results(question_ids: Sequence[str], correct: Sequence[float]) -> dict[str, bool]:
    """Question id -> whether every one of its samples (one per rotation of its options) was
    answered right: MMBench's CircularEval, in the order questions first appear."""
    results: dict[str, bool] = {}
    for question, score in zip(question_ids, correct, strict=True):
        results[question] = results.get(question, True) and score == 1.0
    return results
