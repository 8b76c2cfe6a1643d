"""The base of our ``evaluate`` modules (see ``load_metric``); imported by their scripts only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import datasets
import evaluate

TEXT_FEATURES = datasets.Features(
    {
        "predictions": datasets.Value("string"),
        "references": datasets.Sequence(datasets.Value("string")),
    }
)
"""One predicted string and a list of reference strings per sample."""


def _check_texts(predictions: Sequence[Any] | None, references: Sequence[Any] | None) -> None:
    if predictions is None or references is None:
        raise ValueError("both predictions and references are needed")
    for i, prediction in enumerate(predictions):
        if not isinstance(prediction, str):
            kind = type(prediction).__name__
            raise ValueError(f"predictions[{i}] must be a string, got {kind}: {prediction!r}")
    for i, refs in enumerate(references):
        if (
            isinstance(refs, str)
            or not isinstance(refs, Sequence)
            or not all(isinstance(ref, str) for ref in refs)
        ):
            raise ValueError(f"references[{i}] must be a list of strings, got {refs!r}")


class TextMetric(evaluate.Metric):
    """An ``evaluate.Metric`` on `TEXT_FEATURES` that rejects every wrongly typed input.

    evaluate checks the type of the first sample of a batch only and casts the others with
    ``str``: a prediction ``3`` would become ``"3"``, a reference ``"abc"`` ``["a", "b", "c"]``.
    Subclasses describe themselves in the class attributes below.
    """

    # Not named like evaluate's own properties (``citation``, ...), which read the info back.
    metric_description: ClassVar[str]
    metric_citation: ClassVar[str]
    metric_inputs: ClassVar[str]
    metric_codebase_urls: ClassVar[tuple[str, ...]]
    metric_reference_urls: ClassVar[tuple[str, ...]]

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.metric_description,
            citation=self.metric_citation,
            inputs_description=self.metric_inputs,
            features=TEXT_FEATURES,
            codebase_urls=list(self.metric_codebase_urls),
            reference_urls=list(self.metric_reference_urls),
        )

    def add_batch(
        self, *, predictions: Sequence[Any] | None = None, references: Sequence[Any] | None = None
    ) -> None:
        """Add a batch of samples. Raises ValueError if one is not made of strings."""
        _check_texts(predictions, references)
        super().add_batch(predictions=predictions, references=references)

    def add(self, *, prediction: Any = None, reference: Any = None) -> None:
        """Add one sample. Raises ValueError if it is not made of strings."""
        _check_texts([prediction], [reference])
        super().add(prediction=prediction, reference=reference)
