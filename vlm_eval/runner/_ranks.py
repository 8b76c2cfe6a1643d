"""A task's store as every rank of a data-parallel run shares it: rank 0 folds what earlier
runs left before any rank appends, each rank appends to a part file of its own, and rank 0
gathers the others' records and what they did at the end. In a single process it is the store."""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_eval.models import Generation
from vlm_eval.runner._batching import BatchSizer
from vlm_eval.runner._distributed import all_gather, barrier, rank, world_size
from vlm_eval.runner._records import SampleRecord
from vlm_eval.runner._store import JsonlPredictionStore


@dataclass(frozen=True, slots=True)
class Shard:
    """What one rank did during a task."""

    failures: dict[str, dict[str, str]]
    generated: int
    generation_seconds: float
    execution_seconds: float
    sizer: BatchSizer


class RankedStore:
    """The records of task entry ``entry`` in ``output_dir`` (``samples_<entry>.jsonl``, its
    timing and kept files), shared by the ranks of the run."""

    def __init__(self, output_dir: Path, entry: str):
        self._store = JsonlPredictionStore(
            output_dir / f"samples_{entry}.jsonl",
            output_dir / f"timing_{entry}.jsonl",
            output_dir / f"kept_{entry}.jsonl",
            part=rank() if world_size() > 1 else None,
        )

    @property
    def samples_file(self) -> str:
        """The name of the records file."""
        return self._store.path.name

    @property
    def timing_file(self) -> str:
        """The name of the timing file."""
        return self._store.timing_path.name

    def reusable(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The stored generations of ``keys``, on every rank: rank 0 folds the folder's records
        (part files of any number of ranks included) into the records file before any rank
        appends to its part file; then the other ranks read it."""
        wanted = set(keys)
        found = self._store.fold(wanted) if rank() == 0 else {}
        barrier()
        return self._store.generations(wanted) if rank() != 0 else found

    def append(self, records: Sequence[SampleRecord], seconds: float) -> None:
        """This rank's records of one generate call (see ``JsonlPredictionStore.append``)."""
        self._store.append(records, seconds)

    def gather(
        self, shard: Shard, keys: Sequence[str]
    ) -> tuple[list[Shard], dict[str, Generation]] | None:
        """Every rank's ``shard`` and, on rank 0, the generations of ``keys`` that the other
        ranks appended; ``None`` on the other ranks."""
        self._store.close()
        shards = all_gather(shard)
        if rank() != 0:
            return None
        others = self._store.generations(set(keys), other_ranks=True) if len(shards) > 1 else {}
        return shards, others

    def recorded(self, keys: Container[str], name: str) -> dict[str, Any]:
        """The field ``name`` of the records of ``keys`` that have one (see
        ``JsonlPredictionStore.recorded``); on rank 0, once the ranks' records are gathered."""
        return self._store.recorded(keys, name)

    def finish(self, records: Iterable[tuple[str, SampleRecord | None]]) -> str:
        """Rank 0 writes the task's records (see ``JsonlPredictionStore.finish``); returns the
        SHA-256 of the records file."""
        return self._store.finish(records)
