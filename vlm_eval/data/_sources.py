"""Data sources other than the official files: a Hugging Face dataset on the hub, a local
``datasets`` folder (``save_to_disk``) or parquet files; and the rows of one of their splits
turned into samples.

The image column is read undecoded: a sample refers to its row's image (``DatasetImage``), which
the runner decodes when the sample is batched. Every other field is validated here, before any
model work, with errors naming the dataset, the split, the row (by id, else index) and the field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import DatasetImage
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

if TYPE_CHECKING:  # datasets takes half a second to import: only its sources import it
    import datasets

SourceKind = Literal["official", "hub", "disk", "parquet"]
"""``official``: a task's official files; ``hub``: ``datasets.load_dataset(id)``; ``disk``: a
``save_to_disk`` folder; ``parquet``: parquet files."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DataSource:
    """Where a task's data is read from.

    Attributes:
        kind: The kind of source.
        location: A folder (official, disk, parquet), a parquet file or glob, or a hub dataset id.
        revision: The hub dataset's branch, tag or commit (hub only; ``None``: its main branch).
        cache_dir: Where ``datasets`` keeps what it downloads or converts (hub and parquet;
            ``None``: the user's cache).
        config: The hub dataset's configuration (subset), for one that has several.
    """

    kind: SourceKind
    location: str
    revision: str | None = None
    cache_dir: str | None = None
    config: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetRow(Record):
    """One row of a ``datasets`` split: its fields (nulls left out, so a null reads as a missing
    field) and, through ``image``, its image."""

    images: Any = field(repr=False)
    index: int
    column: str
    image_columns: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        """The row's id (the value of the task's ``row_id_field``), else its index, as text."""
        return str(self.label)

    def image(self, image_id: str, column: str | None = None) -> DatasetImage:
        """The row's image, keyed ``{location}:{split}:{image_id}`` (no split for a single-split
        source): rows that give the same ``image_id`` share the key, so the image is decoded
        once for all of them. Image ids need not be unique across splits (easy-vqa's are not).

        Args:
            image_id: Identifies the image within the split.
            column: One of the task's ``more_image_columns`` to read instead of its image
                column.

        Raises:
            DataFormatError: For a ``column`` that is null in this row.
        """
        if column is not None and column not in self.image_columns:
            raise self.error(column, "missing image")
        where = self.path if self.split is None else f"{self.path}:{self.split}"
        return DatasetImage(self.images, self.index, column or self.column, f"{where}:{image_id}")


def _parquet_splits(folder: Path) -> dict[str, list[str]]:
    """The parquet files in ``folder`` or its ``data/`` sub-folder (the hub's layout), by split:
    files are named ``SPLIT.parquet`` or ``SPLIT-*.parquet`` (split names have no ``-``)."""
    splits: dict[str, list[str]] = {}
    for file in sorted([*folder.glob("*.parquet"), *folder.glob("data/*.parquet")]):
        splits.setdefault(file.stem.split("-", 1)[0], []).append(str(file))
    return splits


def detect_source_kind(location: str) -> SourceKind:
    """The kind of source at ``location``: a folder is read as what it holds (a ``save_to_disk``
    folder: ``disk``; parquet files: ``parquet``; else ``official``), a ``*.parquet`` file or
    glob as ``parquet``, and anything else is taken for a hub dataset id."""
    path = Path(location)
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return "disk"
        return "parquet" if _parquet_splits(path) else "official"
    return "parquet" if location.endswith(".parquet") else "hub"


def holds_splits(source: DataSource) -> bool:
    """Whether a ``datasets`` source holds named splits, rather than being a single split (a
    saved ``Dataset``, or parquet files named by a file or glob)."""
    path = Path(source.location)
    if source.kind == "disk":
        return not (path / "state.json").is_file()
    return source.kind != "parquet" or path.is_dir()


def _choose(splits: Mapping[str, T], split: str | None, source: DataSource) -> T:
    if split not in splits:
        problem = f"no split {split!r}; it has {', '.join(sorted(splits)) or 'none'}"
        raise DataFormatError(source.location, None, "split", problem)
    return splits[split]


def load_split(source: DataSource, split: str | None) -> datasets.Dataset:
    """The split ``split`` of a hub, disk or parquet source (``None`` for a single-split one).

    Raises:
        DataFormatError: If the source cannot be loaded or has no such split.
    """
    import datasets
    from datasets.exceptions import DatasetGenerationError

    files = None
    if source.kind == "parquet":
        parquet_splits = _parquet_splits(Path(source.location))
        files = _choose(parquet_splits, split, source) if split else source.location
    try:
        if source.kind == "hub":
            config = {"name": source.config} if source.config else {}
            loaded = datasets.load_dataset(
                source.location,
                **config,
                split=split,
                revision=source.revision,
                cache_dir=source.cache_dir,
            )
        elif source.kind == "disk":
            loaded = datasets.load_from_disk(source.location)
        else:
            loaded = datasets.load_dataset(
                "parquet", data_files=files, split="train", cache_dir=source.cache_dir
            )
    except (OSError, ValueError, DatasetGenerationError) as error:
        problem = f"cannot load the {source.kind} dataset: {error}"
        raise DataFormatError(source.location, None, None, problem, split=split) from error
    if isinstance(loaded, datasets.DatasetDict):
        return _choose(loaded, split, source)
    return loaded


def samples_from_rows(
    dataset: datasets.Dataset,
    source: DataSource,
    split: str | None,
    *,
    id_field: str | None,
    image_column: str,
    to_sample: Callable[[DatasetRow], Sample],
    more_image_columns: Sequence[str] = (),
) -> list[Sample]:
    """Every row of ``dataset`` as a sample, in order.

    Args:
        dataset: One split of ``source``.
        source: Named in errors and image keys.
        split: Named in errors.
        id_field: The column of unique row ids (int or string), which name rows in errors;
            ``None``: rows are named by their index.
        image_column: The column of images; read undecoded, when a sample is batched.
        to_sample: The task's mapping of a row to a sample.
        more_image_columns: Further image columns of questions with several images (MMMU's
            ``image_2`` ... ``image_7``), read undecoded too; each row's ``image_columns``
            names those of them it fills.

    Raises:
        DataFormatError: For a missing image column, a missing or duplicate id, or any field
            ``to_sample`` finds malformed.
    """
    from datasets import Image

    if image_column not in dataset.column_names:
        problem = f"missing column; the dataset has {', '.join(dataset.column_names)}"
        raise DataFormatError(source.location, None, image_column, problem, split=split)
    columns = [image_column, *(c for c in more_image_columns if c in dataset.column_names)]
    images = dataset.select_columns(columns)
    filled = {column: images.data.column(column).is_null().to_pylist() for column in columns[1:]}
    for column in columns:
        images = images.cast_column(column, Image(decode=False))
    # A local source by its absolute path: image keys (and so cached predictions) do not depend
    # on how it was spelled.
    where = source.location if source.kind == "hub" else os.path.abspath(source.location)
    samples = []
    seen: set[int | str] = set()
    for index, values in enumerate(dataset.remove_columns(columns).to_list()):
        data = {key: value for key, value in values.items() if value is not None}
        label: int | str = index
        if id_field is not None:
            row_id = Record(source.location, data, index, split).get(id_field, int, str)
            if row_id in seen:
                raise DataFormatError(
                    source.location, str(row_id), id_field, "duplicate id", split=split
                )
            seen.add(row_id)
            label = str(row_id)
        present = frozenset(column for column, nulls in filled.items() if not nulls[index])
        row = DatasetRow(
            where,
            data,
            label,
            split,
            images=images,
            index=index,
            column=image_column,
            image_columns=present,
        )
        samples.append(to_sample(row))
    return samples
