"""MMBench's official TSV files (``MMBench_DEV_EN.tsv``, ``MMBench_TEST_EN.tsv``) and rows of
lmms-lab/MMBench, as multiple-choice samples.

A TSV row has the columns ``index``, ``question``, ``hint`` (may be empty or ``nan``), the
options ``A``, ``B``, ``C``, ``D`` (the last ones empty or ``nan`` for questions with fewer),
``answer`` (a letter; no column in the test split), ``category``, ``l2-category`` and ``image``
(the encoded image, base64). The hub dataset has the same columns, its image decoded by
``datasets`` and ``L2-category`` capitalized.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import EncodedImage, ImageSource
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

_OPTION_COLUMNS = "ABCDEFGHI"
_REQUIRED_COLUMNS = ("index", "question", "A", "B", "image")
_CATEGORIES = {"category": "category", "l2-category": "l2-category", "L2-category": "l2-category"}


def _missing(value: object) -> bool:
    """An empty cell: absent, empty, or ``nan`` (as pandas writes a missing value)."""
    return value is None or (isinstance(value, str) and value.strip() in ("", "nan"))


def mmbench_sample(record: Record, image: ImageSource) -> Sample:
    """The sample of one MMBench row: its ``index`` as id, ``question`` as question, the options
    (``A``, ``B``, ... as metadata under their letters), ``hint`` (metadata, when given),
    ``category`` and ``l2-category`` (metadata) and the ``answer`` letter as its reference (none
    without an answer: the test split).

    Raises:
        DataFormatError: For a missing field, fewer than two options, an option missing before
            a given one, or an answer that is not the letter of an option.
    """
    data = record.data
    letters = [letter for letter in _OPTION_COLUMNS if not _missing(data.get(letter))]
    for index, letter in enumerate(letters):
        if letter != _OPTION_COLUMNS[index]:
            gap = _OPTION_COLUMNS[index]
            raise record.error(gap, f"missing option, but option {letter} is given")
    if len(letters) < 2:
        raise record.error(_OPTION_COLUMNS[len(letters)], "missing option: a question needs two")
    metadata = {letter: str(record.get(letter, str)).strip() for letter in letters}
    if not _missing(data.get("hint")):
        metadata["hint"] = record.get("hint", str).strip()
    for column, key in _CATEGORIES.items():
        if not _missing(data.get(column)):
            metadata[key] = record.get(column, str)
    references: tuple[str, ...] = ()
    if not _missing(data.get("answer")):
        answer = record.get("answer", str).strip()
        if answer not in letters:
            raise record.error(
                "answer", f"{answer!r} is not the letter of an option ({', '.join(letters)})"
            )
        references = (answer,)
    return Sample(
        id=str(record.label),
        image=image,
        references=references,
        question=record.get("question", str).strip(),
        metadata=metadata,
    )


def load_mmbench_tsv(path: Path) -> list[Sample]:
    """Every row of an official MMBench TSV file as a sample (``mmbench_sample``), in order;
    images are the decoded ``image`` cells, keyed ``{path}:{index}``.

    Raises:
        DataFormatError: For an unreadable file, a missing column, a row with too few or too
            many fields, a duplicate or non-integer ``index``, malformed base64 or any field
            ``mmbench_sample`` refuses.
    """
    # Images are base64 cells of hundreds of kilobytes, past csv's default field limit.
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    try:
        with path.open(encoding="utf-8", newline="") as file:
            reader = csv.DictReader(file, delimiter="\t")
            rows = list(reader)
            columns = reader.fieldnames or []
    except FileNotFoundError:
        raise DataFormatError(path, None, None, "file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataFormatError(path, None, None, f"cannot read the TSV file: {error}") from None
    if not rows:
        raise DataFormatError(path, None, None, "no rows")
    for column in _REQUIRED_COLUMNS:
        if column not in columns:
            problem = f"missing column; the file has {', '.join(map(str, columns))}"
            raise DataFormatError(path, None, column, problem)
    samples = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        if None in row or None in row.values():
            raise DataFormatError(path, f"line {line}", None, "wrong number of fields")
        index = row["index"].strip()
        if not (index.isascii() and index.isdigit()):  # "²" is a digit, not an integer
            raise DataFormatError(path, f"line {line}", "index", f"expected an integer: {index!r}")
        if index in seen:
            raise DataFormatError(path, index, "index", "duplicate index")
        seen.add(index)
        record = Record(path, dict(row), index)
        try:
            image = base64.b64decode(row["image"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise record.error("image", f"not valid base64: {error}") from None
        samples.append(mmbench_sample(record, EncodedImage(image, f"{path}:{index}")))
    return samples


SUBMISSION_COLUMNS = (
    "index", "question", "hint", "A", "B", "C", "D", "prediction", "category", "l2-category",
)  # fmt: skip
"""The columns of the submission workbook (the official TSV's, without the image, with the
prediction)."""

_NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def mmbench_submission_xlsx(rows: Sequence[dict[str, str | int]]) -> bytes:
    """The ``.xlsx`` workbook MMBench's evaluation server takes: one sheet, a header of
    ``SUBMISSION_COLUMNS`` then one line per row (missing values empty; more option columns,
    ``E`` ..., after ``D`` where rows have them).

    Every text cell is written as text, never as a formula (a prediction ``=1+1`` stays that
    text); characters XML cannot hold (control characters, lone surrogates) become U+FFFD.
    """
    from openpyxl import Workbook

    extra = sorted({key for row in rows for key in row} - set(SUBMISSION_COLUMNS))
    columns = [*SUBMISSION_COLUMNS[:7], *extra, *SUBMISSION_COLUMNS[7:]]
    workbook = Workbook()
    sheet = workbook.active
    for line, values in enumerate([dict(zip(columns, columns, strict=True)), *rows], start=1):
        for column, name in enumerate(columns, start=1):
            value = values.get(name, "")
            cell = sheet.cell(line, column)
            if isinstance(value, str):
                cell.value = _NOT_IN_XML.sub("\ufffd", value)
                cell.data_type = "s"
            else:
                cell.value = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
