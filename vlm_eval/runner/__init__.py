"""The runner: batches samples through a model adapter and records every prediction."""

from vlm_eval.runner._fewshot import choose_shots
from vlm_eval.runner._lock import RunFolderBusyError
from vlm_eval.runner._records import SampleRecord
from vlm_eval.runner._runner import RESULTS_FILE, RunConfig, run_evaluation
from vlm_eval.runner._store import JsonlPredictionStore, WriteError, saved_predictions

__all__ = [
    "RESULTS_FILE",
    "JsonlPredictionStore",
    "RunConfig",
    "RunFolderBusyError",
    "SampleRecord",
    "WriteError",
    "choose_shots",
    "run_evaluation",
    "saved_predictions",
]
