"""RICES: Retrieval-based In-Context Example Selection (Yang et al., 2022), as OpenFlamingo and
Hugging Face's m4 harness (Idefics) choose few-shot demonstrations.

A query's demonstrations are the samples of the few-shot pool (the support set) whose images are
the most similar to the query's image: the cosine similarity of L2-normalised image embeddings of
a CLIP-style checkpoint (any ``AutoModel`` with ``get_image_features``: CLIP, SigLIP, ...).

The support set's embeddings are computed once per model and support set, in batches, and cached
on disk (``$XDG_CACHE_HOME/vlm-eval/rices/<key>.npy``): the key is the model's identity (hub
commit or weights' SHA-256, and its image processor's settings) and the support images' keys
(their paths, or dataset and row names: an image changed in place keeps its key). Under torchrun,
rank 0 computes and writes them while the other ranks wait, then read them. The queries' are
computed each run, in fixed batches dealt to the ranks (so that an image's embedding does not
depend on the number of processes).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModel

from vlm_eval._arguments import ArgumentsError
from vlm_eval._files import write_bytes_atomically
from vlm_eval.data import ImageError, ImageSource, Sample
from vlm_eval.models import ModelLoadError
from vlm_eval.models._hf import hub_commit, weights_sha256
from vlm_eval.runner._distributed import all_gather, barrier, broadcast, rank, world_size
from vlm_eval.runner._fewshot import ShotSelector
from vlm_eval.runner._images import decode_batches

T = TypeVar("T")

ORDER = "most similar last (next to the query), as OpenFlamingo orders them"
"""Where the most similar demonstration goes: OpenFlamingo's ``RICES.find`` returns the top k
"with the most similar images last", right before the query."""

_QUERY_ROWS = 256
"""Queries ranked at once: bounds the similarity matrix (queries x support images)."""


class RicesOptions:
    """The ``--fewshot-args`` of ``--fewshot-selection rices``.

    Args:
        rices_model: Hub id or local folder of a CLIP-style checkpoint (an ``AutoModel`` with
            ``get_image_features``, and an image processor).
        revision: Hub revision (branch, tag or commit) of ``rices_model``.
        batch_size: Images per forward pass.
        device: ``auto`` (CUDA if available: this process's GPU under torchrun), ``cpu``,
            ``cuda`` or ``cuda:N``.
        cache_dir: Where the support embeddings are cached; default
            ``$XDG_CACHE_HOME/vlm-eval/rices`` (``~/.cache/vlm-eval/rices``).
    """

    def __init__(
        self,
        *,
        rices_model: str,
        revision: str | None = None,
        batch_size: int = 64,
        device: str = "auto",
        cache_dir: str | None = None,
    ):
        if batch_size < 1:
            raise ArgumentsError(f"--fewshot-args: batch_size must be at least 1, got {batch_size}")
        self.rices_model = rices_model
        self.revision = revision
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir else _default_cache_dir()


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vlm-eval" / "rices"


class ImageEncoder:
    """A CLIP-style checkpoint that embeds images (float32, L2-normalised).

    Raises:
        ModelLoadError: If the checkpoint cannot be loaded or has no ``get_image_features``.
    """

    def __init__(self, options: RicesOptions, num_workers: int):
        name = options.rices_model
        self.batch_size = options.batch_size
        self.num_workers = num_workers
        auto = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.device = torch.device(auto if options.device == "auto" else options.device)
            self.processor = AutoImageProcessor.from_pretrained(name, revision=options.revision)
            self.model = AutoModel.from_pretrained(
                name, revision=options.revision, dtype=torch.float32
            )
            if not hasattr(self.model, "get_image_features"):
                raise ValueError(
                    f"{type(self.model).__name__} has no get_image_features: RICES needs a "
                    "CLIP-style image encoder (CLIP, SigLIP, ...)"
                )
            self.model.to(self.device).eval()
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelLoadError(f"rices_model={name}: cannot use it: {error}") from error
        local = Path(name)
        self.identity = {
            "pretrained": str(local.resolve()) if local.is_dir() else name,
            "revision": options.revision,
            "commit": hub_commit(name, options.revision),
            "weights_sha256": weights_sha256(local) if local.is_dir() else None,
            "architecture": type(self.model).__name__,
            "model_type": self.model.config.model_type,
        }
        # The weights (a folder's hash, else the hub snapshot) and how images are prepared.
        self._cache_identity = json.dumps(
            [
                self.identity["weights_sha256"] or [name, self.identity["commit"]],
                self.processor.to_dict(),
            ],
            sort_keys=True,
            default=str,
        )

    def cache_key(self, keys: Sequence[str]) -> str:
        """The name of the embeddings of the images ``keys`` under this model and processor."""
        text = json.dumps([self._cache_identity, list(keys)])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def embed(self, images: Sequence[ImageSource]) -> np.ndarray:
        """The embeddings of ``images`` (rows in their order; NaN rows for unreadable ones),
        each batch of ``batch_size`` images decoded by ``num_workers`` processes."""
        batches = [images[i : i + self.batch_size] for i in range(0, len(images), self.batch_size)]
        rows: list[np.ndarray] = []
        decoded = decode_batches([[[image] for image in b] for b in batches], self.num_workers)
        for batch in decoded:
            readable = [i for i, r in enumerate(batch.requests) if not isinstance(r, ImageError)]
            pictures = [batch.requests[i][0] for i in readable]  # type: ignore[index]
            features = self.features(pictures) if pictures else None
            block = np.full((len(batch.requests), self.dimension), np.nan, dtype=np.float32)
            if features is not None:
                block[readable] = features
            rows.append(block)
        return np.concatenate(rows) if rows else np.zeros((0, self.dimension), np.float32)

    @property
    def dimension(self) -> int:
        """The size of an embedding."""
        config = self.model.config
        return int(getattr(config, "projection_dim", None) or config.vision_config.hidden_size)

    def features(self, images: Sequence[Any]) -> np.ndarray:
        """One forward pass: the L2-normalised embeddings of decoded ``images``."""
        inputs = self.processor(images=list(images), return_tensors="pt")
        with torch.inference_mode():
            output = self.model.get_image_features(
                pixel_values=inputs["pixel_values"].to(self.device, torch.float32)
            )
        # transformers 5 returns the projected pooled output in an output object
        features = output if isinstance(output, torch.Tensor) else output.pooler_output
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            raise ModelLoadError(
                f"rices_model: {type(self.model).__name__}.get_image_features does not give one "
                "embedding per image: RICES needs a CLIP-style image encoder (CLIP, SigLIP, ...)"
            )
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()


def _on_rank_zero(compute: Callable[[], T]) -> T | None:
    """``compute()`` on rank 0 (``None`` elsewhere); what it raises is raised on every rank, so
    that no rank waits for one that failed."""
    value, problem = None, None
    if rank() == 0:
        try:
            value = compute()
        except Exception as error:  # sent to the other ranks, raised again below
            problem = error
    problem = broadcast(problem)
    if problem is not None:
        raise problem
    return value


def _read_cache(path: Path, count: int) -> np.ndarray | None:
    """The embeddings cached at ``path``; ``None`` if missing, unreadable or not ``count`` rows."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    ok = array.ndim == 2 and array.shape[0] == count and array.dtype == np.float32
    return array if ok else None


def support_embeddings(
    encoder: ImageEncoder, images: Mapping[str, ImageSource], cache_dir: Path
) -> tuple[np.ndarray, dict[str, Any]]:
    """The embeddings of the support ``images`` (key -> source; rows in key order), read from
    the cache or computed and cached by rank 0; and what was done (for the results).

    A cache that cannot be written (a read-only folder) is reported, not fatal; ranks that cannot
    read the cache (not shared between nodes) get rank 0's embeddings through the process group.
    """
    keys = list(images)
    path = cache_dir / f"{encoder.cache_key(keys)}.npy"

    def compute() -> tuple[np.ndarray, str]:
        cached = _read_cache(path, len(keys))
        if cached is not None:
            return cached, "reused"
        array = encoder.embed([images[key] for key in keys])
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            write_bytes_atomically(path, [buffer.getvalue()])
        except OSError as error:
            return array, f"computed (not cached: {error.strerror or error})"
        return array, "computed"

    found = _on_rank_zero(compute)
    barrier()
    array, status = found if found is not None else (_read_cache(path, len(keys)), "")
    if any(all_gather(array is None)):  # some rank could not read it: send rank 0's
        array = broadcast(array)
    status = broadcast(status)
    assert array is not None
    info = {
        "support_images": len(keys),
        "unreadable_support_images": int(np.isnan(array).any(axis=1).sum()),
        "embeddings_cache": str(path),
        "embeddings": status,
    }
    return array, info


def query_embeddings(encoder: ImageEncoder, images: Mapping[str, ImageSource]) -> np.ndarray:
    """The embeddings of the query ``images`` (rows in key order): batches of the encoder's
    batch size, dealt to the ranks in turn and gathered."""
    sources = list(images.values())
    size = encoder.batch_size
    batches = [sources[i : i + size] for i in range(0, len(sources), size)]
    mine = list(range(rank(), len(batches), world_size()))
    computed = {index: encoder.embed(batches[index]) for index in mine}
    gathered: dict[int, np.ndarray] = {}
    for part in all_gather(computed):
        gathered.update(part)
    rows = [gathered[index] for index in range(len(batches))]
    return np.concatenate(rows) if rows else np.zeros((0, encoder.dimension), np.float32)


def _distinct_images(samples: Sequence[Sample]) -> dict[str, ImageSource]:
    """Each distinct image of ``samples`` (by key), in key order."""
    images = {sample.image.key: sample.image for sample in samples}
    return {key: images[key] for key in sorted(images)}


def choose_similar_shots(
    samples: Sequence[Sample],
    query: np.ndarray,
    query_keys: Sequence[str],
    pool: Sequence[Sample],
    support: np.ndarray,
    support_keys: Sequence[str],
    k: int,
    *,
    task: str,
    device: torch.device,
) -> list[list[Sample]]:
    """``k`` demonstrations from ``pool`` for each of ``samples``: the most similar images first
    in the ranking, returned most similar last (``ORDER``).

    Never the sample itself nor a question about its image (by key, as ``choose_shots``); ties
    go to the earlier sample of the pool, so the choice is deterministic. Unreadable support
    images are never chosen; a sample whose image is unreadable (it fails anyway) gets the
    first usable demonstrations of the pool.

    Args:
        query, query_keys: The embeddings of the samples' distinct images, and their keys.
        support, support_keys: The embeddings of the pool's distinct images, and their keys.

    Raises:
        ValueError: The pool has fewer than ``k`` usable demonstrations for a sample.
    """
    support_row = {key: row for row, key in enumerate(support_keys)}
    query_row = {key: row for row, key in enumerate(query_keys)}
    image_of = torch.tensor(
        [support_row[s.image.key] for s in pool], dtype=torch.long, device=device
    )
    position = {s.id: index for index, s in enumerate(pool)}
    usable = torch.from_numpy(~np.isnan(support).any(axis=1)).to(device)
    vectors = torch.from_numpy(np.nan_to_num(support)).to(device)
    chosen: list[list[Sample]] = []
    for first in range(0, len(samples), _QUERY_ROWS):
        block = samples[first : first + _QUERY_ROWS]
        rows = np.nan_to_num(query[[query_row[s.image.key] for s in block]])
        similarity = (torch.from_numpy(rows).to(device) @ vectors.T)[:, image_of]
        own_image = torch.tensor([support_row.get(s.image.key, -1) for s in block], device=device)
        forbidden = (image_of[None, :] == own_image[:, None]) | ~usable[image_of][None, :]
        for row, sample in enumerate(block):
            if sample.id in position:
                forbidden[row, position[sample.id]] = True
        similarity = similarity.masked_fill(forbidden, -torch.inf)
        order = torch.sort(similarity, dim=1, descending=True, stable=True).indices[:, :k]
        allowed = (~forbidden).sum(dim=1).tolist()
        for row, sample in enumerate(block):
            if allowed[row] < k:
                raise ValueError(
                    f"task {task}: the few-shot pool has fewer than {k} demonstrations usable "
                    f"for sample {sample.id} ({len(pool)} in the pool)"
                )
            chosen.append([pool[index] for index in reversed(order[row].tolist())])
    return chosen


class RicesSelector(ShotSelector):
    """Chooses each sample's demonstrations by RICES; the encoder is loaded when first needed and
    released by ``close``."""

    def __init__(self, options: RicesOptions, num_workers: int):
        self.options = options
        self.num_workers = num_workers
        self._encoder: ImageEncoder | None = None
        self._identity: dict[str, Any] | None = None
        self._tasks: dict[str, dict[str, Any]] = {}

    def select(
        self, task: str, samples: Sequence[Sample], pool: Sequence[Sample], k: int
    ) -> list[list[Sample]]:
        if k == 0 or not samples:
            return [[] for _ in samples]
        if self._encoder is None:
            self._encoder = ImageEncoder(self.options, self.num_workers)
            self._identity = self._encoder.identity
        encoder = self._encoder
        support_images = _distinct_images(pool)
        support, self._tasks[task] = support_embeddings(
            encoder, support_images, self.options.cache_dir
        )
        query_images = _distinct_images(samples)
        query = query_embeddings(encoder, query_images)
        return choose_similar_shots(
            samples, query, list(query_images), pool, support, list(support_images), k,
            task=task, device=encoder.device,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {
            "selection": "rices",
            "model": self._identity or {"pretrained": self.options.rices_model},
            "order": ORDER,
            "tasks": self._tasks,
        }

    def close(self) -> None:
        on_cuda = self._encoder is not None and self._encoder.device.type == "cuda"
        self._encoder = None
        if on_cuda:
            torch.cuda.empty_cache()
