"""The judge stage, between the record and score stages: the answers a judged task's rules cannot
read (``JudgedAnswerTask``) are put to its judge model, any registered model adapter
(``--judge NAME ARGS``), and each call's prompt, reply and verdict kept with its answer, to be
written in the sample's record (``judgement``).

A verdict recorded by an earlier run is reused instead of asking again when it was given by the
same judge (its spec, credentials aside) to the same prompt (the same answer, question and
instruction); the rules read its reply again, so that a change of the rules applies. The judge
model is built the first time one is asked (a run whose rules read every answer loads none) and
kept for the run's other tasks. A call that fails (a server that does not answer, a prompt the
model refuses) does not stop the run: its answers are recorded as not judged, with the error,
score 0, and are asked again by the same command; the results then count them (``failed``) and
are not up to date until they are judged. A reply the rules cannot read is a verdict of nothing:
the answer scores 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import Sample
from vlm_eval.models import (
    Generation,
    InputError,
    ModelAdapter,
    ModelInput,
    ModelLoadError,
)
from vlm_eval.runner._batching import BatchSize, BatchSizer, generate_with_backoff
from vlm_eval.runner._distributed import rank
from vlm_eval.tasks import JudgedAnswerTask, JudgeSpec, prompt_to_json

JUDGE_RESULTS = "judge"
"""The key of a task entry of ``results.json`` describing its judge (``JudgeReport``)."""

_FAILURES = (ArgumentsError, ModelLoadError, ValueError, RuntimeError, OSError)
"""What a judge that cannot be built or asked raises (a server's error is a ``ModelLoadError``,
a refused prompt a ``ValueError``, running out of memory a ``RuntimeError``)."""


@dataclass(frozen=True, slots=True)
class Unread:
    """An answer the rules cannot read: its request key, sample and prediction."""

    key: str
    sample: Sample
    prediction: str


@dataclass
class JudgeReport:
    """What a task's judge did: its spec, the model behind it (``describe()``; ``None`` if it
    was never built), calls made, verdicts reused from records, calls failed (with the first
    error) and the seconds its calls took."""

    judge: str
    model: dict[str, Any] | None = None
    calls: int = 0
    reused: int = 0
    failed: int = 0
    error: str | None = None
    seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "model": self.model,
            "calls": self.calls,
            "reused_verdicts": self.reused,
            "failed": self.failed,
            **({"error": self.error} if self.error else {}),
            "seconds": self.seconds,
        }


class Judges:
    """The judge models of a run (or of ``vlm-eval score``), each built on first use and kept.

    Args:
        batch_size: Prompts per ``generate`` call of a judge (backing off on out-of-memory
            errors, as the model's calls do).
    """

    def __init__(self, batch_size: BatchSize = 8):
        self.batch_size = batch_size
        self._built: dict[str, ModelAdapter | BaseException] = {}
        self._described: dict[str, dict[str, Any]] = {}

    def adapter(self, spec: JudgeSpec) -> ModelAdapter:
        """The judge of ``spec``, built the first time it is asked for.

        Raises:
            ArgumentsError, ModelLoadError, ...: Why it cannot be built (again on each call).
        """
        built = self._built.get(spec.spec)
        if built is None:
            try:
                built = spec.build()
            except _FAILURES as error:
                built = error
            self._built[spec.spec] = built
        if isinstance(built, BaseException):
            raise built
        return built

    def describe(self, spec: JudgeSpec) -> dict[str, Any] | None:
        """The built judge's ``describe()`` (asked once); ``None`` if it was never built."""
        built = self._built.get(spec.spec)
        if not isinstance(built, ModelAdapter):
            return None
        if spec.spec not in self._described:
            self._described[spec.spec] = built.describe()
        return self._described[spec.spec]

    def close(self) -> None:
        """Release the judge models."""
        self._built.clear()


def judge_unread(
    task: JudgedAnswerTask,
    unread: Sequence[Unread],
    stored: Mapping[str, Any],
    judges: Judges,
    *,
    desc: str | None = None,
) -> tuple[dict[str, tuple[dict[str, float], dict[str, Any]]], JudgeReport]:
    """Ask ``task``'s judge about the ``unread`` answers, reusing the ``stored`` judgements
    (request key -> a record's ``judgement``) that fit.

    Returns:
        Request key -> the answer's scores and its judgement (``JUDGEMENT``), for every unread
        answer; and the report of what the judge did.
    """
    assert task.judge is not None, "a task without a judge has nothing to judge"
    spec = task.judge
    report = JudgeReport(spec.label)
    results: dict[str, tuple[dict[str, float], dict[str, Any]]] = {}
    asked: list[tuple[Unread, dict[str, Any]]] = []
    for item in unread:
        prompt = task.judge_prompt(item.sample, item.prediction)
        judgement: dict[str, Any] = {"judge": spec.label, "prompt": prompt_to_json(prompt)}
        old = stored.get(item.key)
        if (
            isinstance(old, dict)
            and old.get("judge") == judgement["judge"]
            and old.get("prompt") == judgement["prompt"]
            and isinstance(old.get("raw_output"), str)
        ):
            verdict = task.read_verdict(item.sample, old["raw_output"])
            results[item.key] = (
                task.judged_scores(item.sample, verdict),
                {**old, "verdict": verdict},
            )
            report.reused += 1
        else:
            asked.append((item, judgement))
    if not asked:
        return results, report
    started = time.perf_counter()
    with tqdm(total=len(asked), desc=desc, unit="answer", disable=desc is None) as bar:
        for index, outcome in _ask(task, spec, asked, judges):
            item, judgement = asked[index]
            if isinstance(outcome, Generation):
                verdict = task.read_verdict(item.sample, outcome.text)
                judgement |= {
                    "raw_output": outcome.text,
                    "verdict": verdict,
                    "prompt_tokens": outcome.prompt_tokens,
                    "generated_tokens": outcome.generated_tokens,
                }
                results[item.key] = (task.judged_scores(item.sample, verdict), judgement)
                report.calls += 1
            else:
                results[item.key] = (task.failed_judge_scores(), judgement | {"error": outcome})
                report.failed += 1
                report.error = report.error or outcome
            bar.update(1)
    report.seconds = time.perf_counter() - started
    report.model = judges.describe(spec)
    return results, report


def _ask(
    task: JudgedAnswerTask,
    spec: JudgeSpec,
    asked: Sequence[tuple[Unread, dict[str, Any]]],
    judges: Judges,
) -> Iterator[tuple[int, Generation | str]]:
    """Each asked answer's index and the judge's reply, or why there is none; in batches of
    the judges' batch size, all of them answered or failed."""
    try:
        adapter = judges.adapter(spec)
    except _FAILURES as error:
        why = f"the judge {spec.label} cannot be built: {error}"
        yield from ((index, why) for index in range(len(asked)))
        return
    sizer = BatchSizer(judges.batch_size)
    inputs = [ModelInput(task.judge_prompt(item.sample, item.prediction), []) for item, _ in asked]
    pending = list(range(len(asked)))
    failure: str | None = None
    while pending:
        batch, pending = pending[: sizer.limit], pending[sizer.limit :]
        if failure is not None:
            yield from ((index, failure) for index in batch)
            continue
        while batch:
            done: set[int] = set()  # offsets in the batch answered by this attempt
            try:
                for chunk in generate_with_backoff(
                    adapter, [inputs[i] for i in batch], task.judge_generation, sizer
                ):
                    for offset, generation in enumerate(chunk.generations, chunk.start):
                        done.add(offset)
                        yield batch[offset], generation
                batch = []
            except InputError as error:  # those inputs fail; the batch's others are asked
                for offset, problem in error.problems.items():
                    yield batch[offset], f"the judge refuses the prompt: {problem}"
                batch = [
                    index
                    for offset, index in enumerate(batch)
                    if offset not in done and offset not in error.problems
                ]
            except _FAILURES as error:  # after the answers it gave (PartialGenerationError)
                failure = f"the judge's call failed: {error}"
                yield from ((index, failure) for o, index in enumerate(batch) if o not in done)
                batch = []


@dataclass
class JudgeOutcome:
    """What the judge stage did for a task entry: the request keys whose answers it changed
    (scores and judgement: their records are written again) and its report."""

    changed: set[str] = field(default_factory=set)
    report: JudgeReport | None = None


def judge_stage(
    entry: str,
    task: Any,
    answers: Mapping[str, Any],
    samples: Mapping[str, Sample],
    keys: Sequence[str],
    stored: Any,
    judges: Judges,
) -> JudgeOutcome | None:
    """Judge the answers of ``keys`` (in data order) that ``task``'s rules cannot read, in
    place: each ``Answer`` (``_records``) gets the judged scores and its ``judgement``.

    Args:
        entry: The task entry's name (the progress bar's).
        task: The task; a task that is no ``JudgedAnswerTask`` or has no judge is left alone.
        answers: Request key -> ``Answer``.
        samples: Request key -> its sample.
        keys: The keys of the answers to consider.
        stored: Called with the keys of the unread answers, returns the judgements their
            records hold (the run folder's ``RankedStore.recorded``).
        judges: The run's judge models.

    Returns:
        The keys changed and the judge's report; ``None`` for a task without a judge.
    """
    if not isinstance(task, JudgedAnswerTask) or task.judge is None:
        return None
    unread = [
        Unread(key, samples[key], answers[key].prediction)
        for key in keys
        if samples[key].references and task.needs_judge(answers[key].scores)
    ]
    found = stored({item.key for item in unread}) if unread else {}
    desc = f"{entry} judge" if rank() == 0 else None
    results, report = judge_unread(task, unread, found, judges, desc=desc)
    for key, (scores, judgement) in results.items():
        answers[key].scores = scores
        answers[key].judgement = judgement
    return JudgeOutcome(set(results), report)


def judge_predictions(
    task: JudgedAnswerTask, judges: Judges
) -> Callable[
    [Sequence[Sample], Sequence[str], Sequence[dict[str, float]]],
    tuple[list[dict[str, float]], dict[str, dict[str, Any]], dict[str, Any]],
]:
    """The judge of ``vlm-eval score`` (``score_predictions_file``'s ``judge``): ``task``'s
    judge asked about the predictions its rules cannot read, nothing reused."""

    def judge(
        samples: Sequence[Sample], predictions: Sequence[str], scores: Sequence[dict[str, float]]
    ) -> tuple[list[dict[str, float]], dict[str, dict[str, Any]], dict[str, Any]]:
        unread = [
            Unread(sample.id, sample, prediction)
            for sample, prediction, score in zip(samples, predictions, scores, strict=True)
            if task.needs_judge(score)
        ]
        results, report = judge_unread(task, unread, {}, judges, desc=f"{task.name} judge")
        judged = [
            results[s.id][0] if s.id in results else score
            for s, score in zip(samples, scores, strict=True)
        ]
        return (
            judged,
            {key: judgement for key, (_, judgement) in results.items()},
            report.describe(),
        )

    return judge
