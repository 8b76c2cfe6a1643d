"""Typed access to one record of a data file or row of a dataset, with errors that locate it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from vlm_eval.data._errors import DataFormatError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TYPE_NAMES = {int: "an integer", str: "a string", list: "a list", dict: "an object"}


@dataclass(frozen=True, slots=True)
class Record:
    """One record, whose field accessors raise ``DataFormatError`` naming where it failed.

    Attributes:
        path: The file, or the location of the dataset, it comes from.
        data: Its fields.
        label: How errors name it: its id, else its index.
        split: The split of the dataset it belongs to, if any.
    """

    path: Path | str
    data: dict[str, Any]
    label: str | int
    split: str | None = None

    def error(self, field: str, problem: str) -> DataFormatError:
        """The error to raise for ``field`` of this record."""
        return DataFormatError(self.path, self.label, field, problem, split=self.split)

    def get(self, field: str, *kinds: type) -> Any:
        """The value of `field`, checked to be one of `kinds`."""
        if field not in self.data:
            raise self.error(field, "missing field")
        value = self.data[field]
        # bool is a subclass of int, but true/false is never a valid id.
        if isinstance(value, bool) or not isinstance(value, kinds):
            expected = " or ".join(_TYPE_NAMES[kind] for kind in kinds)
            raise self.error(field, f"expected {expected}, got {value!r}")
        if type(value) is str:
            self._check_text(field, value)
        return value

    def _check_text(self, field: str, text: str) -> None:
        """Refuse a lone surrogate (``"\\ud800"`` in a JSON file): not a character, no
        tokenizer, server or UTF-8 file takes it."""
        if _LONE_SURROGATE.search(text):
            raise self.error(field, f"not valid Unicode: a lone surrogate in {text!r}")

    def string_fields(self, required: Sequence[str], optional: Sequence[str]) -> dict[str, str]:
        """The string fields named in `required`, and those in `optional` that are present."""
        data = self.data
        found = {field: data[field] for field in (*required, *optional) if field in data}
        if all(f in found for f in required) and set(map(type, found.values())) <= {str}:
            return found
        return {field: self.get(field, str) for field in [*required, *found]}

    def strings(self, field: str, key: str | None = None) -> tuple[str, ...]:
        """The non-empty list `field` of strings, or of objects whose `key` is a string (an
        empty list of references would silently drop its sample from the scores)."""
        items = self.get(field, list)
        if not items:
            raise self.error(field, "empty list: a sample needs at least one reference")
        try:  # the common, valid case without a Python-level loop; errors are located below
            texts = items if key is None else list(map(itemgetter(key), items))
            if set(map(type, texts)) <= {str} and not _LONE_SURROGATE.search("".join(texts)):
                return tuple(texts)
        except (KeyError, TypeError):
            pass
        texts = []
        for i, item in enumerate(items):
            where, text = f"{field}[{i}]", item
            if key is not None:
                where, text = f"{where}.{key}", item.get(key) if isinstance(item, dict) else None
                if isinstance(item, dict) and key not in item:
                    raise self.error(where, "missing field")
            if not isinstance(text, str):
                raise self.error(where, f"expected a string, got {text!r}")
            self._check_text(where, text)
            texts.append(text)
        return tuple(texts)
