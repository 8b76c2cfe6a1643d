"""Where a sample's image comes from: a file, an encoded image in a ``datasets`` row, or one
held in memory.

Images are only referenced while data is loaded and prompts are built; the runner decodes each
distinct image (by ``key``) once, in worker processes, when its batch is prepared.
"""

from __future__ import annotations

import io
import os
import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError


class ImageError(RuntimeError):
    """An image that cannot be read or decoded; the message names it and says why."""


class ImageSource(ABC):
    """An image to decode when needed."""

    @property
    @abstractmethod
    def key(self) -> str:
        """Identifies the image: equal keys are the same image, decoded once. It is recorded in
        prompts (and so in cache keys) instead of the pixels."""

    @abstractmethod
    def read(self) -> bytes:
        """The encoded image (JPEG, PNG, ...).

        Raises:
            ImageError: If it cannot be read.
        """

    def open(self) -> Image.Image:
        """The image decoded as RGB.

        Raises:
            ImageError: If it cannot be read or is not a valid image.
        """
        data = self.read()
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                rgb = _plain_rgb(image)
                _drop_unreadable_exif(rgb)
                return rgb
        except UnidentifiedImageError:  # its message names an in-memory buffer, not the image
            raise ImageError(
                f"cannot decode image {self.key}: cannot identify the image format"
            ) from None
        except (OSError, ValueError) as error:
            raise ImageError(f"cannot decode image {self.key}: {error}") from error
        except Exception as error:
            # A lying header or a decompression bomb (Pillow's pixel limit) reaches code that
            # raises anything (DecompressionBombError, SyntaxError, struct.error, EOFError,
            # MemoryError ...): it fails this image only.
            raise ImageError(
                f"cannot decode image {self.key}: {type(error).__name__}: {error}"
            ) from error


def _plain_rgb(image: Image.Image) -> Image.Image:
    """A plain RGB ``Image`` of loaded ``image`` with its ``info``, usable once ``image`` is closed.

    An RGB image's pixels are shared through Arrow (``Image.fromarrow``, zero-copy; the result
    is read-only, so that Pillow copies it before changing it) rather than copied by
    ``convert``; one too large for a single block of memory (over 16 MiB) is copied.
    """
    if image.mode != "RGB":
        return image.convert("RGB")
    try:
        shared = Image.fromarrow(image, "RGB", image.size)
    except ValueError:  # its rows are in several blocks
        return image.copy()
    shared.info = image.info.copy()
    return shared


@dataclass(frozen=True, slots=True)
class ImageFile(ImageSource):
    """An image file on disk; its key is its path."""

    path: Path
    key: str = field(init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", str(self.path))  # asked for often: made once

    def read(self) -> bytes:
        try:
            # Not blocking: a FIFO in the image folder must not hang the run waiting for a writer.
            descriptor = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(descriptor, "rb") as file:
                mode = os.fstat(descriptor).st_mode
                if not stat.S_ISREG(mode):  # a directory, a FIFO, /dev/zero ...
                    kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO or a device"
                    raise ImageError(f"cannot read image {self.path}: {kind}, not an image file")
                return file.read()
        except OSError as error:
            raise ImageError(f"cannot read image {self.path}: {error.strerror or error}") from error
        except ValueError as error:  # a NUL byte in the path (no file can have that name)
            raise ImageError(f"cannot read image {self.path!r}: {error}") from error


@dataclass(frozen=True, slots=True)
class DatasetImage(ImageSource):
    """The encoded image in one row of a Hugging Face ``datasets.Dataset``.

    Attributes:
        dataset: The dataset, with its image column cast to ``Image(decode=False)`` so that
            reading a row yields the file's bytes (memory-mapped Arrow data: cheap to share with
            worker processes).
        row: Row index.
        column: The image column.
        name: The image's identity, e.g. ``"lmms-lab/VQAv2:COCO_val2014_000000262148"``.
    """

    dataset: Any = field(compare=False, repr=False)
    row: int
    column: str
    name: str

    @property
    def key(self) -> str:
        return self.name

    def read(self) -> bytes:
        value = self.dataset[self.row][self.column]
        data = value.get("bytes") if isinstance(value, dict) else None
        if data:
            return data
        path = value.get("path") if isinstance(value, dict) else None
        if path:  # datasets may keep only the path of an image file stored next to it
            return ImageFile(Path(path)).read()
        raise ImageError(f"image {self.name}: row {self.row} has no {self.column!r} data")


@dataclass(frozen=True, slots=True)
class EncodedImage(ImageSource):
    """An encoded image held in memory (a base64 column of a TSV file, decoded at load).

    Attributes:
        data: The encoded image (JPEG, PNG, ...).
        name: Its identity, e.g. ``"/data/mmbench/MMBench_DEV_EN.tsv:241"`` (file and record).
    """

    data: bytes = field(compare=False, repr=False)
    name: str

    @property
    def key(self) -> str:
        return self.name

    def read(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class StitchedImage(ImageSource):
    """Several images shown as one: side by side, left to right, top-aligned on a white
    canvas (a question's images for a model that takes one image per prompt).

    Attributes:
        parts: The images, in order.
    """

    parts: tuple[ImageSource, ...]

    @property
    def key(self) -> str:
        return "stitched(" + " | ".join(part.key for part in self.parts) + ")"

    def read(self) -> bytes:
        images = [part.open() for part in self.parts]
        size = (sum(image.width for image in images), max(image.height for image in images))
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and size[0] * size[1] > limit:  # each part passed Pillow's check
            raise ImageError(
                f"cannot stitch image {self.key}: {size[0]}x{size[1]} pixels, over Pillow's "
                f"limit of {limit} (Image.MAX_IMAGE_PIXELS)"
            )
        canvas = Image.new("RGB", size, (255, 255, 255))
        left = 0
        for image in images:
            canvas.paste(image, (left, 0))
            left += image.width
        encoded = io.BytesIO()
        canvas.save(encoded, "PNG")
        return encoded.getvalue()


def as_image_source(image: ImageSource | Path | str) -> ImageSource:
    """``image`` as an ``ImageSource``; a path becomes an ``ImageFile``."""
    return image if isinstance(image, ImageSource) else ImageFile(Path(image))


def _drop_unreadable_exif(image: Image.Image) -> None:
    """Drop a malformed EXIF block from ``image``: processors that honour its orientation
    (``transformers.image_utils.load_image``) would raise on it, and the pixels are fine."""
    if "exif" not in image.info:
        return
    try:
        image.getexif()
    except Exception:  # Pillow's EXIF parser raises SyntaxError, struct.error, ValueError ...
        del image.info["exif"]
