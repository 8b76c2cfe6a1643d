"""MMMU's published rules for open (free-form) answers (``MMMU-Benchmark/MMMU``,
``eval/eval_utils.py``: ``parse_open_response``, ``normalize_str``, ``eval_open``), written
anew from their description below.

An answer is read as candidates:

1. The answer is stripped, its trailing periods dropped and lower-cased, then split into lines.
   (The published rule also splits at ``". "`` before a capital letter, but it looks for the
   capital in the lower-cased text, so only line breaks split; this keeps that behaviour.)
2. In each line, the text after the last occurrence of each indicator (``could be ``, ``so ``,
   ``is ``, ``thus ``, ``therefore ``, ``final ``, ``answer ``, ``result ``, and ``=`` in the last
   line) is a tail; the shortest tail of the line is a candidate unless it is a lone punctuation
   mark. Without any candidate, the whole answer is the one candidate.
3. Every number in a candidate (``1,234``, ``-2.5``, ``.5``, ``3e-4``) is a candidate too.
4. Candidates and references are normalized: a number (after dropping commas) becomes a float
   rounded to 2 decimals; any other text stays lower-cased, and a one-character text becomes
   both ``" x"`` and ``"x "`` (so that a lone letter matches only as a word edge).

The answer is right if a text candidate contains a text reference, or a number candidate equals
a number reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = frozenset(":,.!?;'")
_NUMBERS = (
    re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b"),  # with thousands separators
    re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+"),  # scientific notation
    re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])"),  # plain
)

Normalized = str | float
"""A normalized candidate or reference: lower-cased text, or a number rounded to 2 decimals."""


def normalize_open(text: str) -> list[Normalized]:
    """``text`` normalized by rule 4: ``[number]``, ``[text]`` or, for one character,
    ``[" x", "x "]``."""
    text = text.strip()
    try:
        return [round(float(text.replace(",", "")), 2)]
    except ValueError:
        lowered = text.lower()
        return [" " + lowered, lowered + " "] if len(lowered) == 1 else [lowered]


def _tails(response: str) -> list[str]:
    """The candidates of rule 2 (or the whole answer, rule 1)."""
    response = response.strip().strip(".").lower()
    lines = response.split("\n")
    tails = []
    for number, line in enumerate(lines):
        indicators = (*_INDICATORS, "=") if number == len(lines) - 1 else _INDICATORS
        found = [line.split(indicator)[-1].strip() for indicator in indicators if indicator in line]
        if found:
            shortest = min(found, key=len)
            if shortest and shortest not in _TRIVIAL:
                tails.append(shortest)
    return tails or [response]


def open_answer_candidates(response: str) -> list[Normalized]:
    """The normalized candidates of ``response`` (rules 1 to 4), without duplicates, in the
    order found."""
    tails = _tails(response)
    numbers = [number for tail in tails for rule in _NUMBERS for number in rule.findall(tail)]
    texts = [*tails, *numbers]
    candidates: list[Normalized] = []
    for text in texts:
        for value in normalize_open(text):
            if value not in candidates:
                candidates.append(value)
    return candidates


def open_answer_correct(response: str, references: Sequence[str]) -> bool:
    """Whether ``response`` answers an open MMMU question whose accepted answers are
    ``references``, by the rules above."""
    golds = [value for reference in references for value in normalize_open(reference)]
    for candidate in open_answer_candidates(response):
        if isinstance(candidate, str):
            if any(isinstance(gold, str) and gold in candidate for gold in golds):
                return True
        elif candidate in golds:
            return True
    return False
