"""The judged-answers task family: answers read from free text by rules first, and, where the
rules cannot read one, optionally by a judge model (any registered model adapter); accuracy
with breakdowns."""

from __future__ import annotations

from abc import abstractmethod
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from vlm_eval._arguments import (
    REDACTED,
    SECRET_KEY,
    ArgumentsError,
    parse_key_values,
    typed_arguments,
)
from vlm_eval.data import MULTI_VALUE_SEPARATOR, Sample
from vlm_eval.tasks._prompt import GenerationSettings, Message, Prompt
from vlm_eval.tasks._protocol_task import ProtocolTask
from vlm_eval.tasks._task import TaskScores

if TYPE_CHECKING:  # protocols and models import vlm_eval.tasks: imported when first used
    from vlm_eval.models import ModelAdapter
    from vlm_eval.protocols import Protocol, TaskKind

QueryFormat = Literal["official", "lmms-eval"]
"""The published prompt formats of a judged task's questions: the benchmark's own (MathVista's
``query``) and lmms-eval's (its ``format-prompt``)."""

UNPARSEABLE_LISTED = 20
"""At most this many ids of unparseable answers are listed in the notes."""

NO_ANSWER = "none"
"""What the judge is asked to reply when the response gives no answer."""

JUDGE_INSTRUCTION = (
    "Read the final answer in a model's response to a question. Reply with that answer only, "
    'as {form}; reply "none" if the response gives no answer.'
)
"""vlm-eval's judge prompt starts with this (``{form}``: the answer's form, from the task); the
question (with its choices) and the response follow, then ``Final answer:``."""


@dataclass(frozen=True)
class JudgeSpec:
    """A judge model: a registered model adapter and its arguments (``--judge NAME ARGS``), as
    a task option ``NAME`` or ``NAME:key=value;key=value``.

    Attributes:
        adapter: The adapter's registered name (``openai``, ``hf``, ...).
        args: Its arguments, as ``--model-args`` gives them.
    """

    adapter: str
    args: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> JudgeSpec:
        """The judge of a spec ``NAME`` or ``NAME:key=value;key=value``.

        Raises:
            ArgumentsError: For a malformed spec.
        """
        name, _, rest = spec.partition(":")
        if not name.strip():
            raise ArgumentsError(f"judge {spec!r}: expected NAME or NAME:key=value;key=value")
        return cls(name.strip(), parse_key_values(rest.replace(";", ","), "--judge"))

    @property
    def spec(self) -> str:
        """The spec ``parse`` reads back (credentials included: never write it down)."""
        args = ";".join(f"{key}={value}" for key, value in self.args.items())
        return f"{self.adapter}:{args}" if args else self.adapter

    @property
    def label(self) -> str:
        """The spec with credentials (``api_key``, ...) as ``<redacted>``: what results record
        and reports show, and what names the judge of a stored verdict."""
        args = ";".join(
            f"{key}={REDACTED if SECRET_KEY.search(key) else value}"
            for key, value in self.args.items()
        )
        return f"{self.adapter}:{args}" if args else self.adapter

    def check(self) -> None:
        """Check, without building it, that the judge can be built and asked chat prompts.

        Raises:
            ArgumentsError: For an adapter no plugin registered, arguments it does not take, or
                a model without a chat template (the judge is asked in chat turns).
        """
        from vlm_eval._registry import UnknownNameError
        from vlm_eval.models._registry import MODELS

        try:
            adapter = MODELS.get(self.adapter)
        except UnknownNameError as error:
            raise ArgumentsError(f"--judge: {error}") from None
        owner = f"judge {self.adapter!r}"
        typed_arguments(adapter, dict(self.args), owner, "--judge")
        if not adapter.takes_chat_prompts(self.args):
            raise ArgumentsError(
                f"{owner}: the judge is asked chat prompts, and {self.label} has no chat "
                "template (a base checkpoint): give an instruction-tuned model"
            )

    def build(self) -> ModelAdapter:
        """The judge's adapter (a local model loads here).

        Raises:
            ArgumentsError: For arguments the adapter does not take.
            ModelLoadError: If the model cannot be loaded.
        """
        from vlm_eval.models import create_model

        return create_model(self.adapter, dict(self.args))


def redact_judge(spec: str) -> str:
    """A judge spec (a ``judge`` task option) with its credentials redacted, for results; the
    text as it is if it is not a spec."""
    try:
        return JudgeSpec.parse(spec).label
    except ArgumentsError:
        return spec


class JudgedAnswerTask(ProtocolTask):
    """A task whose answers are read from free text (MathVista): subclasses load the data, write
    each question in the benchmark's prompt formats (``query``) and say how an answer is read
    (``extract``) and checked (``is_correct``).

    Asked through the protocol's ``judged`` prompt (``chat``: the question as the task writes it,
    in the official format; ``lmms-eval``: in lmms-eval's format). Every answer is first read by
    the task's rules; a sample scores 1 if what they read is the answer. With a judge (option
    ``judge``: a registered model adapter, ``--judge NAME ARGS``), the answers the rules cannot
    read are put to it (vlm-eval's prompt: ``JUDGE_INSTRUCTION``, the question with its choices,
    the response) and its reply read by the same rules; the runner does that
    (``vlm_eval.runner``), records each call (prompt, reply, verdict) with its sample, and reuses
    the verdicts of a resumed run. Answers that neither reads score 0, are counted
    (``unparseable``) and listed in the notes; a judge's garbage is such an answer. Without a
    judge the notes say that the score is the rules' only.

    Per-sample scores: ``accuracy`` (0 or 1), ``unparseable`` (1 if nothing was read), ``judged``
    (1 where the judge answered) and ``judge_failed`` (1 where the call failed). Breakdowns: the
    accuracy per group of each of ``breakdown_fields`` (metadata keys; a sample counts in each
    value of a ``multi_value_fields`` field, joined with ``MULTI_VALUE_SEPARATOR``).
    """

    main_metric: ClassVar[str] = "accuracy"
    sample_score_scale: ClassVar[float | None] = 100.0
    question_template: ClassVar[str] = "{question}"
    """The ``chat`` protocol's text: the question as the task writes it (its own hint)."""
    breakdown_fields: ClassVar[tuple[str, ...]] = ()
    multi_value_fields: ClassVar[tuple[str, ...]] = ()
    answer_rules: ClassVar[str]
    """What reads answers (a function's name), for the results."""
    judge_generation: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=64)
    """How the judge generates its reply: greedy, 64 new tokens."""
    kind: ClassVar[TaskKind] = "judged"
    prompting: Protocol

    def __init__(self, *, protocol: str = "chat", judge: str | None = None) -> None:
        self.judge = None if judge is None else JudgeSpec.parse(judge)
        if self.judge is not None:
            self.judge.check()
        self.use_protocol(protocol)

    @property
    def query_format(self) -> QueryFormat:
        """The prompt format the protocol asks with: lmms-eval's under ``lmms-eval``, else the
        benchmark's own."""
        from vlm_eval.protocols import LmmsEvalProtocol

        return "lmms-eval" if isinstance(self.prompting, LmmsEvalProtocol) else "official"

    @abstractmethod
    def query(self, sample: Sample, query_format: QueryFormat) -> str:
        """The question of ``sample`` as ``query_format`` writes it (its hint included)."""

    @abstractmethod
    def demonstration(self, sample: Sample) -> str:
        """The answer a demonstration shows, in the form the question asks."""

    @abstractmethod
    def extract(self, sample: Sample, text: str) -> str | None:
        """The answer ``text`` gives, read by the task's rules (normalized); ``None`` if they
        cannot read one."""

    @abstractmethod
    def is_correct(self, sample: Sample, extracted: str) -> bool:
        """Whether ``extracted`` (``extract``'s answer) is the sample's answer."""

    @abstractmethod
    def judge_question(self, sample: Sample) -> str:
        """The question as the judge sees it (with its choices, if any)."""

    @abstractmethod
    def answer_form(self, sample: Sample) -> str:
        """The form of the answer the judge replies with (``the letter of the chosen option``)."""

    def prompt(self, sample: Sample, shots: Sequence[Sample], *, text_only: bool = False) -> Prompt:
        """The protocol's ``judged`` prompt of the question written in its ``query_format``;
        demonstrations show their answers in the form asked."""
        from vlm_eval.protocols import Example

        style = self.query_format
        examples = [
            Example(None if text_only else s.image, self.query(s, style), self.demonstration(s))
            for s in shots
        ]
        query = Example(sample.image, self.query(sample, style))
        return self.prompting.prompt(self.kind, query, examples, self)

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        """Scores of the answer the rules read in ``prediction``."""
        return self._scores(sample, self.extract(sample, prediction))

    def _scores(self, sample: Sample, extracted: str | None) -> dict[str, float]:
        right = extracted is not None and self.is_correct(sample, extracted)
        return {"accuracy": float(right), "unparseable": float(extracted is None)}

    def needs_judge(self, scores: Mapping[str, float]) -> bool:
        """Whether an answer with these scores goes to the judge: the rules read nothing, and
        there is a judge."""
        return self.judge is not None and scores.get("unparseable") == 1.0

    def judge_prompt(self, sample: Sample, prediction: str) -> Prompt:
        """The prompt asking the judge for the answer ``prediction`` gives: one user turn, text
        only (``JUDGE_INSTRUCTION``, the question, the response, ``Final answer:``)."""
        text = (
            f"{JUDGE_INSTRUCTION.format(form=self.answer_form(sample))}\n\n"
            f"Question: {self.judge_question(sample)}\n\n"
            f"Model response: {prediction}\n\n"
            "Final answer:"
        )
        return (Message("user", (text,)),)

    def read_verdict(self, sample: Sample, reply: str) -> str | None:
        """The answer the judge's ``reply`` gives, read by the task's rules; ``None`` for
        ``none`` or anything they cannot read."""
        if reply.strip().strip(".\"'*` ").casefold() == NO_ANSWER:
            return None
        return self.extract(sample, reply)

    def judged_scores(self, sample: Sample, verdict: str | None) -> dict[str, float]:
        """Scores of an answer the judge read as ``verdict`` (``read_verdict``)."""
        return self._scores(sample, verdict) | {"judged": 1.0}

    @staticmethod
    def failed_judge_scores() -> dict[str, float]:
        """Scores of an answer whose judge call failed: nothing read."""
        return {"accuracy": 0.0, "unparseable": 1.0, "judge_failed": 1.0}

    def aggregate(
        self,
        samples: Sequence[Sample],
        predictions: Sequence[str],
        scores: Sequence[dict[str, float]],
    ) -> TaskScores:
        count = len(scores)
        correct = [score["accuracy"] for score in scores]
        unparseable = [
            s.id for s, score in zip(samples, scores, strict=True) if score["unparseable"]
        ]
        judged = sum(score.get("judged", 0.0) for score in scores)
        failed = sum(score.get("judge_failed", 0.0) for score in scores)
        metrics = {"accuracy": 100.0 * sum(correct) / count, "unparseable": float(len(unparseable))}
        unread = sum(1 for score in scores if score["unparseable"] or "judged" in score)
        notes = {
            "answer extraction": self._extraction_note(count, unread, int(judged), len(unparseable))
        }
        if self.judge is not None:
            metrics["judged"] = judged
            if failed:
                metrics["judge_failed"] = failed
                notes["judge failed"] = (
                    f"{int(failed)} of the answers the rules cannot read were not judged (the "
                    "judge's call failed; the error is in their records) and score 0: the same "
                    "command asks the judge again"
                )
        if unparseable:
            listed = ", ".join(unparseable[:UNPARSEABLE_LISTED])
            more = ", ..." if len(unparseable) > UNPARSEABLE_LISTED else ""
            notes["unparseable"] = (
                f"{len(unparseable)} of {count} answers give no answer that could be read "
                f"(scored wrong): {listed}{more}"
            )
        return TaskScores(
            metrics=metrics, breakdowns=self._breakdowns(samples, correct), notes=notes
        )

    def _extraction_note(self, count: int, unread: int, judged: int, unparseable: int) -> str:
        if self.judge is None:
            return (
                f"rule-only score: answers read by rules only ({self.answer_rules}), no judge "
                f"model; the {unread} of {count} answers they cannot read score 0 (the "
                "official evaluation has GPT-4 read those; --judge NAME ARGS asks a judge model)"
            )
        return (
            f"answers read by rules ({self.answer_rules}), then the {unread} of {count} they "
            f"cannot read by the judge {self.judge.label}: {judged} answered, {unparseable} "
            "answers read by neither (the judge's calls and verdicts are in the records)"
        )

    def _breakdowns(
        self, samples: Sequence[Sample], correct: Sequence[float]
    ) -> dict[str, dict[str, float]]:
        """Breakdown field -> group -> accuracy of the samples in that group."""
        breakdowns = {}
        for name in self.breakdown_fields:
            groups: dict[str, list[float]] = defaultdict(list)
            for sample, right in zip(samples, correct, strict=True):
                value = sample.metadata.get(name)
                if value is None:
                    continue
                values = (
                    value.split(MULTI_VALUE_SEPARATOR)
                    if name in self.multi_value_fields
                    else [value]
                )
                for group in filter(None, values):
                    groups[group].append(right)
            if groups:
                breakdowns[name] = {
                    group: 100.0 * sum(values) / len(values)
                    for group, values in sorted(groups.items())
                }
        return breakdowns

    def protocol(self) -> dict[str, Any]:
        return {**super().protocol(), "query_format": self.query_format}

    def scoring_protocol(self) -> dict[str, Any]:
        extraction = f"rules ({self.answer_rules})"
        if self.judge is None:
            return {
                "answer_extraction": f"{extraction}, no judge: a rule-only score",
                "unparseable": "scored wrong",
            }
        return {
            "answer_extraction": f"{extraction}, then the judge for what they cannot read",
            "judge": self.judge.label,
            "judge_prompt": "vlm-eval's (not the official GPT-4 few-shot extraction prompt): "
            + JUDGE_INSTRUCTION,
            "judge_generation": f"greedy, {self.judge_generation.max_new_tokens} new tokens",
            "unparseable": "scored wrong",
        }
