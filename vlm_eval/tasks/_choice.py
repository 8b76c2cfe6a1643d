"""The multiple-choice task family: lettered options in the prompt, the answer read back as an
option letter, accuracy per sample and, optionally, circular accuracy per question."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval.data import Sample
from vlm_eval.metrics import OPTION_LETTERS, circular_results, extract_choice, rotate_choices
from vlm_eval.tasks._prompt import GenerationSettings
from vlm_eval.tasks._protocol_task import ProtocolTask
from vlm_eval.tasks._task import TaskScores

if TYPE_CHECKING:  # protocols build prompts from vlm_eval.tasks: imported when first used
    from vlm_eval.protocols import Protocol, TaskKind

OPTION_LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."
"""The instruction after a multiple-choice question and its options: lmms-eval's MMBench
``post_prompt`` (after a newline), as LLaVA-1.5 asks MMBench and ScienceQA."""

OPEN_QUESTION_INSTRUCTION = "Answer the question using a single word or phrase."
"""The instruction after an open question (no options) of a multiple-choice task: lmms-eval's
(MMMU's ``open_ended_prompt``)."""

UNPARSEABLE_LISTED = 20
"""At most this many ids of unparseable answers are listed in the notes."""


def sample_options(sample: Sample) -> tuple[str, ...]:
    """The option texts of a multiple-choice sample: its metadata under ``A``, ``B``, ... in
    order, up to the first letter it lacks."""
    options = []
    for letter in OPTION_LETTERS:
        if letter not in sample.metadata:
            break
        options.append(sample.metadata[letter])
    return tuple(options)


def render_question(question: str, options: Sequence[str], hint: str | None) -> str:
    """The text a multiple-choice question is asked with: the hint (context) line if any, the
    question, then one ``A. text`` line per option (as LLaVA-1.5's MMBench prompt)."""
    lines = [hint] if hint else []
    lines.append(question)
    lines += [f"{letter}. {text}" for letter, text in zip(OPTION_LETTERS, options, strict=False)]
    return "\n".join(lines)


class MultipleChoiceTask(ProtocolTask):
    """A multiple-choice task (MMBench, ScienceQA-IMG, A-OKVQA MC): subclasses only say how to
    load data, as samples whose metadata holds the option texts under their letters (``A``,
    ``B``, ...) and the ``hint`` (context) if any, whose question is the bare question and whose
    one reference is the answer letter (none on test splits).

    Each sample is asked as ``render_question`` writes it, through the protocol's
    multiple-choice prompt (``chat``: the task's ``question_template``, the question then
    ``Answer with the option's letter from the given choices directly.``). The answer is read
    as a letter by ``vlm_eval.metrics.extract_choice``; a sample scores 1 if that is the answer
    letter; unparseable answers score 0, and are counted (metric ``unparseable``) and listed in
    the notes (the first ``UNPARSEABLE_LISTED``).

    Option ``circular``: every question is asked once per rotation of its options (ids
    ``<id>@<rotation>``; rotation ``r`` shows the option of letter ``r`` first, the answer letter
    shifted with it), and counts as right only if every rotation is answered right (MMBench's
    CircularEval). The main metric is then ``circular_accuracy`` (per question: it is not a mean
    of per-sample scores, so reports give it no interval); ``accuracy`` is always the
    per-sample ("vanilla") accuracy (a question of which ``--limit`` keeps some rotations counts
    over those). Breakdowns by each of ``breakdown_fields`` (metadata keys)
    give the main metric per group.
    """

    main_metric: ClassVar[str] = "accuracy"
    sample_score_scale: ClassVar[float | None] = 100.0
    generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=32, stop=("\n",))
    question_template: ClassVar[str] = "{question}\n" + OPTION_LETTER_INSTRUCTION
    open_question_template: ClassVar[str] = "{question}\n" + OPEN_QUESTION_INSTRUCTION
    """The ``chat`` protocol's template of a question without options, where the task has
    such (MMMU's open questions): asked as a VQA question (``sample_kind``)."""
    breakdown_fields: ClassVar[tuple[str, ...]] = ("category",)
    prediction_fields: ClassVar[tuple[str, str]] = ("index", "prediction")
    hint_template: ClassVar[str] = "{hint}"
    """The line a sample's ``hint`` metadata is shown as, above its question (ScienceQA, as
    lmms-eval: ``Context: {hint}``)."""
    kind: ClassVar[TaskKind] = "multiple_choice"
    prompting: Protocol

    def __init__(self, *, circular: bool = False, protocol: str = "chat") -> None:
        self.circular = circular
        if circular:  # the options decide what is scored: instance values over the class's
            self.main_metric = "circular_accuracy"  # type: ignore[misc]
            self.sample_score_scale = None  # type: ignore[misc]
        self.use_protocol(protocol)

    def expand(self, samples: list[Sample]) -> list[Sample]:
        """Each question as it is asked (``render_question``), once per rotation of its options
        with ``circular``; metadata ``question_id`` and ``rotation`` say which."""
        expanded = []
        for sample in samples:
            options = sample_options(sample)
            if not options:  # an open question: asked once, as it is
                expanded.append(
                    replace(sample, metadata=sample.metadata | {"question_id": sample.id})
                )
                continue
            answer = sample.references[0] if sample.references else None
            hint = sample.metadata.get("hint")
            context = self.hint_template.format(hint=hint) if hint else None
            for rotation in range(len(options) if self.circular else 1):
                shown, letter = rotate_choices(options, answer, rotation)
                metadata = sample.metadata | dict(zip(OPTION_LETTERS, shown, strict=False))
                expanded.append(
                    replace(
                        sample,
                        id=f"{sample.id}@{rotation}" if self.circular else sample.id,
                        question=render_question(sample.question or "", shown, context),
                        references=() if letter is None else (letter,),
                        metadata=metadata | {"question_id": sample.id, "rotation": str(rotation)},
                    )
                )
        return expanded

    def sample_kind(self, sample: Sample) -> TaskKind:
        """``multiple_choice``; ``vqa`` for a question without options (an open question)."""
        return "multiple_choice" if sample_options(sample) else "vqa"

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        choice = extract_choice(prediction, sample_options(sample))
        return {
            "accuracy": float(choice == sample.references[0]),
            "unparseable": float(choice is None),
        }

    def aggregate(
        self,
        samples: Sequence[Sample],
        predictions: Sequence[str],
        scores: Sequence[dict[str, float]],
    ) -> TaskScores:
        correct = [score["accuracy"] for score in scores]
        metrics = {"accuracy": 100.0 * sum(correct) / len(correct)}
        # One unit per question (circular) or per sample, with the metadata it is grouped by.
        units = [(sample.metadata, right) for sample, right in zip(samples, correct, strict=True)]
        if self.circular:
            questions = [sample.metadata["question_id"] for sample in samples]
            results = circular_results(questions, correct)
            metrics["circular_accuracy"] = 100.0 * sum(results.values()) / len(results)
            first: dict[str, dict[str, str]] = {}
            for sample in samples:
                first.setdefault(sample.metadata["question_id"], sample.metadata)
            units = [(first[question], float(right)) for question, right in results.items()]
        unparseable = [
            s.id for s, score in zip(samples, scores, strict=True) if score["unparseable"]
        ]
        metrics["unparseable"] = float(len(unparseable))
        notes: dict[str, str] = {}
        if unparseable:
            listed = ", ".join(unparseable[:UNPARSEABLE_LISTED])
            more = ", ..." if len(unparseable) > UNPARSEABLE_LISTED else ""
            notes["unparseable"] = (
                f"{len(unparseable)} of {len(samples)} answers name no option (scored wrong): "
                f"{listed}{more}"
            )
        return TaskScores(metrics=metrics, breakdowns=self._breakdowns(units), notes=notes)

    def _breakdowns(
        self, units: Sequence[tuple[dict[str, str], float]]
    ) -> dict[str, dict[str, float]]:
        """Breakdown field -> group -> the main metric over the units (questions or samples)
        of that group."""
        breakdowns = {}
        for field in self.breakdown_fields:
            groups: dict[str, list[float]] = defaultdict(list)
            for metadata, right in units:
                if field in metadata:
                    groups[metadata[field]].append(right)
            if groups:
                breakdowns[field] = {
                    group: 100.0 * sum(values) / len(values)
                    for group, values in sorted(groups.items())
                }
        return breakdowns

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "options": "hint line (if any), question, then one 'A. text' line per option",
            "circular": self.circular,
        }

    def scoring_protocol(self) -> dict[str, Any]:
        return {
            "answer_extraction": "vlm_eval.metrics.extract_choice (rules, no judge)",
            "unparseable": "scored wrong",
        }
