"""Task plugins: the ``Task`` contract, the two task families and the registry.

A new task is one file in ``tasks/`` (or in a folder given with ``--include-path``) defining a
``Task`` subclass decorated with ``@register_task``.
"""

from vlm_eval.tasks._choice import MultipleChoiceTask
from vlm_eval.tasks._data import DataArgs, TaskData, resolve_data_args, resolve_task_data
from vlm_eval.tasks._document import DocumentQATask
from vlm_eval.tasks._exact import ExactMatchTask
from vlm_eval.tasks._families import CaptionTask, VQATask
from vlm_eval.tasks._judged import JudgedAnswerTask, JudgeSpec, QueryFormat
from vlm_eval.tasks._prompt import (
    GenerationSettings,
    ImagePart,
    Message,
    Part,
    Prompt,
    SpecialToken,
    is_raw,
    prompt_images,
    prompt_to_json,
)
from vlm_eval.tasks._protocol_task import LmmsEvalPrompt, ProtocolTask
from vlm_eval.tasks._registry import (
    TASKS,
    TASKS_PATH_ENV,
    builtin_tasks_folder,
    get_task,
    load_tasks,
    register_task,
    resolve_task_args,
    resolve_task_names,
)
from vlm_eval.tasks._scoring import aggregate_scores, judge_output, score_predictions_file
from vlm_eval.tasks._task import Task, TaskScores

__all__ = [
    "TASKS",
    "TASKS_PATH_ENV",
    "CaptionTask",
    "DataArgs",
    "DocumentQATask",
    "ExactMatchTask",
    "GenerationSettings",
    "ImagePart",
    "JudgeSpec",
    "JudgedAnswerTask",
    "LmmsEvalPrompt",
    "Message",
    "MultipleChoiceTask",
    "Part",
    "Prompt",
    "ProtocolTask",
    "QueryFormat",
    "SpecialToken",
    "Task",
    "TaskData",
    "TaskScores",
    "VQATask",
    "aggregate_scores",
    "builtin_tasks_folder",
    "get_task",
    "is_raw",
    "judge_output",
    "load_tasks",
    "prompt_images",
    "prompt_to_json",
    "register_task",
    "resolve_data_args",
    "resolve_task_args",
    "resolve_task_data",
    "resolve_task_names",
    "score_predictions_file",
]
