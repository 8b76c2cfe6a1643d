"""Multiple-choice questions whose record lists its options and names the right one by index
(ScienceQA's ``choices`` and ``answer``, A-OKVQA's ``choices`` and ``correct_choice_idx``)."""

from __future__ import annotations

import string
from collections.abc import Mapping

from vlm_eval.data._images import ImageSource
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

_LETTERS = string.ascii_uppercase
"""The options' letters, ``A`` first (``vlm_eval.metrics.OPTION_LETTERS``)."""


def indexed_choice_sample(
    record: Record,
    image: ImageSource,
    *,
    choices: str,
    answer: str | None,
    metadata: Mapping[str, str],
) -> Sample:
    """The multiple-choice sample of ``record``: its ``question``, the options of its list
    ``choices`` as metadata under their letters (``A``, ``B``, ...), the letter of the option at
    index ``answer`` as its reference, and ``metadata``.

    Args:
        record: The question's record.
        image: Its image.
        choices: The field listing the option texts (2 to 26 non-empty strings).
        answer: The field of the right option's index (0 for the first), or ``None`` for a
            question without an answer (a test split): no reference.
        metadata: More metadata (the hint, the groups the question is broken down by).

    Raises:
        DataFormatError: For a missing or non-string question, fewer than two options or more
            than 26, an empty option, or an answer that is no option's index.
    """
    options = record.get(choices, list)
    if not 2 <= len(options) <= len(_LETTERS):
        problem = f"expected 2 to {len(_LETTERS)} options, got {len(options)}"
        raise record.error(choices, problem)
    texts = [text.strip() for text in record.strings(choices)]
    if "" in texts:
        raise record.error(f"{choices}[{texts.index('')}]", "empty option")
    references: tuple[str, ...] = ()
    if answer is not None:
        index = record.get(answer, int)
        if not 0 <= index < len(texts):
            problem = f"{index} is not the index of an option (0 to {len(texts) - 1})"
            raise record.error(answer, problem)
        references = (_LETTERS[index],)
    return Sample(
        id=str(record.label),
        image=image,
        references=references,
        question=record.get("question", str).strip(),
        metadata=dict(zip(_LETTERS, texts, strict=False)) | dict(metadata),
    )
