"""Comparing two runs task by task: deltas with paired significance, flipped samples, CI gates.

Task entries are compared by name (``vqav2`` with ``vqav2``, ``vqav2@t4`` with ``vqav2@t4``),
and a task run once on one side and swept over prompt templates (``--templates``) on the other
is compared with the sweep's entry of the same template (``_matched_entries``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlm_eval._gc import without_gc_pauses
from vlm_eval._run_folder import template_entry
from vlm_eval.report._document import Block, Heading, Paragraph, table
from vlm_eval.report._report import (
    Bootstrap,
    format_interval,
    format_number,
    format_p,
    format_signed,
    main_score,
    task_names,
    text_or_dash,
)
from vlm_eval.report._runs import Run, read_records, sample_scores
from vlm_eval.report._statistics import McNemarTest, PairedComparison, PairedTest, paired_test
from vlm_eval.results import SampleRecord

_LISTED_REFERENCES = 4


@dataclass(frozen=True, slots=True)
class FlippedSample:
    """A sample whose score differs between the two runs: the question asked (the text of
    the prompt's last user turn) and the distinct references, most frequent first with their
    counts (``green (9), lime``), both from NEW's record, and each run's answer."""

    sample_id: str
    base_score: float
    new_score: float
    question: str
    references: str
    base_prediction: str
    new_prediction: str


def _question(record: SampleRecord) -> str:
    """The text of the prompt's last user turn."""
    turns = [m for m in record.extra.get("prompt", []) if m.get("role") == "user"]
    parts = turns[-1].get("content", []) if turns else []
    return " ".join(p.get("text", "") for p in parts if p.get("type") == "text")


def _references(record: SampleRecord) -> str:
    """Distinct references, most frequent first, with their counts: ``green (9), lime``."""
    counts = Counter(record.references or [])
    listed = [
        f"{text} ({count})" if count > 1 else text
        for text, count in counts.most_common(_LISTED_REFERENCES)
    ]
    more = len(counts) - len(listed)
    return ", ".join(listed) + (f", … ({more} more)" if more > 0 else "")


def _prediction(record: SampleRecord) -> str:
    return str(record.extra.get("prediction", ""))


def _flipped(
    base: tuple[Run, str], new: tuple[Run, str], shared: list[str], old: np.ndarray, now: np.ndarray
) -> list[FlippedSample]:
    """The samples of ``shared`` whose scores differ (``old``: BASE's, ``now``: NEW's), in
    that order, with what the records of BASE's and NEW's entries show of them: the records
    are read again, a line at a time, rather than all kept."""
    changed = {shared[i]: int(i) for i in np.flatnonzero(old != now)}
    predictions = {
        sample: _prediction(record)
        for record in read_records(*base)
        if (sample := str(record.sample_id)) in changed
    }
    found: dict[int, FlippedSample] = {}
    for record in read_records(*new):
        i = changed.get(str(record.sample_id), -1)
        if i >= 0:
            found[i] = FlippedSample(
                shared[i],
                float(old[i]),
                float(now[i]),
                _question(record),
                _references(record),
                predictions[shared[i]],
                _prediction(record),
            )
    return [found[i] for i in changed.values()]


@dataclass(frozen=True, slots=True)
class TaskComparison:
    """One task of both runs.

    Attributes:
        task: The task entry compared (``vqav2``, ``vqav2@t4``); where a run that was not
            swept meets a template sweep, the task's name.
        entries: The entry compared in BASE and in NEW: ``(task, task)``, or where one run
            swept the task over templates, that run's entry of the template compared.
        matched: Why ``entries`` differ (which template of the sweep, and why); ``None``
            where they do not.
        paired: Paired bootstrap over the samples both runs scored; ``None`` when the main
            metric is not a mean of sample scores (then only the reported scores differ).
        mcnemar: Exact McNemar test, when every paired score is 0 or 1 (exact match).
        unpaired: Scored samples found in only one run (base, new): left out of the tests.
        improved, regressed: Flipped samples, largest change first.
        differences: Protocol choices that differ between the runs (task version, scoring,
            split, ...): the delta then measures more than the model.
    """

    task: str
    entries: tuple[str, str]
    matched: str | None
    metric: str
    base_score: float | None
    new_score: float | None
    paired: PairedComparison | None
    mcnemar: McNemarTest | None
    unpaired: tuple[int, int]
    improved: tuple[FlippedSample, ...]
    regressed: tuple[FlippedSample, ...]
    differences: tuple[str, ...]

    @property
    def delta(self) -> float | None:
        """New minus base: paired over shared samples when tested, else the reported scores."""
        if self.paired is not None:
            return self.paired.delta
        if self.base_score is None or self.new_score is None:
            return None
        return self.new_score - self.base_score

    @property
    def p_value(self) -> float | None:
        """McNemar's for exact-match scores, else the paired bootstrap's; ``None``: untested."""
        return None if self.paired is None else PairedTest(self.paired, self.mcnemar).p_value

    @property
    def test(self) -> str:
        return "not tested" if self.paired is None else PairedTest(self.paired, self.mcnemar).name


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every task the two runs share, and those only one of them has."""

    base: Run
    new: Run
    tasks: tuple[TaskComparison, ...]
    only_in_base: tuple[str, ...]
    only_in_new: tuple[str, ...]
    bootstrap: Bootstrap

    @property
    def alpha(self) -> float:
        """The significance level: 1 - the bootstrap's confidence."""
        return 1.0 - self.bootstrap.confidence

    def significant(self, task: TaskComparison) -> bool:
        p = task.p_value
        return p is not None and p < self.alpha

    def drops(self, points: float) -> list[TaskComparison]:
        """Tasks whose main metric fell by more than ``points``: significantly, or, where no
        test is possible, at all; and tasks that BASE scored and NEW could not (all samples
        failed): a gate should not pass what it cannot check."""
        return [
            task
            for task in self.tasks
            if (task.base_score is not None and task.new_score is None)
            or (
                task.delta is not None
                and task.delta < -points
                and (self.significant(task) or task.p_value is None)
            )
        ]

    @staticmethod
    def describe_drop(task: TaskComparison) -> str:
        """``vqav2 -1.25``, or ``vqav2 (no score)``."""
        change = format_signed(task.delta) if task.new_score is not None else "(no score)"
        return f"{task.task} {change}"

    def missing(self, allowed: Collection[str] = ()) -> tuple[str, ...]:
        """Task entries BASE ran and NEW did not, but those ``allowed`` to be missing: by
        their name, or a template sweep's entries by their task's (``vqav2`` allows
        ``vqav2@t4``)."""
        results = self.base.results
        task_of = {e: t for t in results.config["tasks"] for e in results.entries(t)}
        return tuple(
            entry
            for entry in self.only_in_base
            if entry not in allowed and task_of.get(entry) not in allowed
        )

    def gate(self, points: float, allow_missing: Collection[str] = ()) -> list[str]:
        """Why a CI gate at ``points`` fails, one entry per task (empty: it passes): the
        ``drops`` and the tasks missing from NEW, unless ``allow_missing`` names them: a gate
        should not pass what it cannot check."""
        return [
            *map(self.describe_drop, self.drops(points)),
            *(f"{task} (missing from {self.new.label})" for task in self.missing(allow_missing)),
        ]


def _differences(base: Run, new: Run, entries: tuple[str, str]) -> tuple[str, ...]:
    def choices(run: Run, name: str) -> dict[str, Any]:
        entry, config = run.results.tasks[name], run.results.config
        task, data = entry.task, entry.data
        protocol = task.extra.get("protocol")
        settings = protocol.items() if isinstance(protocol, dict) else ()
        selection = run.results.fewshot
        return {
            "demonstrations": config.get("num_fewshot"),
            "demonstration selection": (
                selection.get("selection") if isinstance(selection, dict) else None
            ),
            "demonstration seed": config.get("seed") if config.get("num_fewshot") else None,
            "task version": task.version,
            "protocol": task.protocol_name,
            **{f"protocol {k}": json.dumps(v) for k, v in settings if k != "name"},
            **{f"scoring {k}": v for k, v in task.scoring.items()},
            "split": data.split,
            "data source": data.source,
            "data revision": data.revision,
            "samples": data.samples,
        }

    old, now = choices(base, entries[0]), choices(new, entries[1])
    if old["protocol"] != now["protocol"]:  # then every setting differs: name the protocols only
        old = {k: v for k, v in old.items() if not k.startswith("protocol ")}
        now = {k: v for k, v in now.items() if not k.startswith("protocol ")}
    return tuple(
        f"{key}: {text_or_dash(old.get(key))} vs {text_or_dash(now.get(key))}"
        for key in dict.fromkeys([*old, *now])
        if old.get(key) != now.get(key)
    )


@dataclass(frozen=True, slots=True)
class _Pair:
    """Entries compared: BASE's and NEW's entry of ``task``, and ``why`` where they differ."""

    task: str
    base_entry: str
    new_entry: str
    why: str | None = None


def _matched_entries(base: Run, new: Run) -> list[_Pair]:
    """The entries compared: those of the same name; and a task run once on one side and
    swept over templates on the other: the plain entry with the sweep's entry of the template
    the plain run used (under the same protocol), else of its protocol's default template
    (``default_entry``), the prompt a plain run uses unless told otherwise."""
    base_names, new_names = task_names([base]), task_names([new])
    pairs = [_Pair(name, name, name) for name in base_names if name in new_names]
    tasks = dict.fromkeys([*base.results.config["tasks"], *new.results.config["tasks"]])
    for task in tasks:
        plain_in_base = task in base_names and task not in new_names
        plain_in_new = task in new_names and task not in base_names
        if plain_in_base and (found := _sweep_entry(base, new, task)):
            pairs.append(_Pair(task, task, *found))
        elif plain_in_new and (found := _sweep_entry(new, base, task)):
            pairs.append(_Pair(task, found[0], task, found[1]))
    return pairs


def _sweep_entry(plain: Run, swept: Run, task: str) -> tuple[str, str] | None:
    """The entry of ``swept``'s template sweep of ``task`` that ``plain``'s ``task`` is
    compared with, and why; ``None`` where ``swept`` did not sweep it, or has no such entry."""
    if task not in (swept.results.templates or {}):
        return None
    described = plain.results.tasks[task].task
    protocol = described.extra.get("protocol")
    template = protocol.get("template_id") if isinstance(protocol, dict) else None
    same = template_entry(task, str(template))
    if (
        template is not None
        and same in swept.results.entries(task)
        and swept.results.tasks[same].task.protocol_name == described.protocol_name
    ):
        return same, f"template {template} of the sweep, the one {plain.label} ran"
    default = swept.results.default_entry(task)
    if default is None:
        return None
    chosen = (swept.results.default_templates or {})[task]
    return default, f"template {chosen} of the sweep, its protocol's default"


def _compare_task(base: Run, new: Run, pair: _Pair, bootstrap: Bootstrap) -> TaskComparison:
    base_name, new_name = pair.base_entry, pair.new_entry
    base_entry = base.results.tasks[base_name]
    base_scores, new_scores = sample_scores(base, base_name), sample_scores(new, new_name)
    paired = mcnemar = None
    flipped: list[FlippedSample] = []
    unpaired = (0, 0)
    if base_scores is not None and new_scores is not None:
        shared, old, now = base_scores.paired(new_scores)
        unpaired = (len(base_scores.ids) - len(shared), len(new_scores.ids) - len(shared))
        if shared:
            tested = paired_test(
                old,
                now,
                scale=base_scores.scale,
                resamples=bootstrap.resamples,
                confidence=bootstrap.confidence,
                seed=bootstrap.seed,
            )
            paired, mcnemar = tested.bootstrap, tested.mcnemar
            flipped = _flipped((base, base_name), (new, new_name), shared, old, now)
    improved = [f for f in flipped if f.new_score > f.base_score]
    regressed = [f for f in flipped if f.new_score < f.base_score]
    return TaskComparison(
        task=pair.task,
        entries=(base_name, new_name),
        matched=None
        if pair.why is None
        else f"{base.label}'s {base_name} against {new.label}'s {new_name}: {pair.why}",
        metric=base_entry.task.main_metric,
        base_score=main_score(base, base_name),
        new_score=main_score(new, new_name),
        paired=paired,
        mcnemar=mcnemar,
        unpaired=unpaired,
        # largest change first; stable, so ties keep the sample order
        improved=tuple(sorted(improved, key=lambda f: f.base_score - f.new_score)),
        regressed=tuple(sorted(regressed, key=lambda f: f.new_score - f.base_score)),
        differences=_differences(base, new, (base_name, new_name)),
    )


@without_gc_pauses
def compare_runs(base: Run, new: Run, *, bootstrap: Bootstrap | None = None) -> Comparison:
    """Compare ``new`` with ``base`` on every task both ran (see ``_matched_entries``)."""
    bootstrap = bootstrap or Bootstrap()
    pairs = _matched_entries(base, new)
    compared_base = {pair.base_entry for pair in pairs}
    compared_new = {pair.new_entry for pair in pairs}
    return Comparison(
        base=base,
        new=new,
        tasks=tuple(_compare_task(base, new, pair, bootstrap) for pair in pairs),
        only_in_base=tuple(t for t in task_names([base]) if t not in compared_base),
        only_in_new=tuple(t for t in task_names([new]) if t not in compared_new),
        bootstrap=bootstrap,
    )


def _verdict(comparison: Comparison, task: TaskComparison) -> str:
    if task.delta is None:
        return "-"
    if task.p_value is None:
        return "not tested"
    if not comparison.significant(task):
        return "no significant change"
    return "better" if task.delta > 0 else "worse"


def _flipped_table(samples: Sequence[FlippedSample], base: str, new: str) -> Block:
    return table(
        ["sample", "question", "references", f"{base} answer", f"{new} answer", "score"],
        [
            [
                f.sample_id,
                f.question,
                f.references,
                f.base_prediction,
                f.new_prediction,
                f"{f.base_score:.2f} → {f.new_score:.2f}",
            ]
            for f in samples
        ],
        numeric_from=5,
    )


def comparison_blocks(
    comparison: Comparison,
    *,
    fail_if_drop: float | None = None,
    allow_missing: Collection[str] = (),
    listed: int = 10,
) -> list[Block]:
    """The comparison as report blocks: the table of deltas, the gate's outcome when
    ``fail_if_drop`` is given (see ``Comparison.gate``), protocol differences, and up to
    ``listed`` flipped samples of each direction per task."""
    base, new = comparison.base.label, comparison.new.label
    blocks: list[Block] = [Heading(f"vlm-eval compare: {base} → {new}", 1)]
    rows = [
        [
            t.task,
            t.metric,
            _verdict(comparison, t),
            t.test,
            format_number(t.base_score),
            format_number(t.new_score),
            format_signed(t.delta),
            format_interval(t.paired.interval if t.paired else None) or "-",
            format_p(t.p_value),
            t.paired.samples if t.paired else "-",
        ]
        for t in comparison.tasks
    ]
    interval = f"{comparison.bootstrap.confidence:.0%} CI of Δ"
    header = ["task", "metric", "verdict", "test", base, new, "Δ", interval, "p", "paired"]
    blocks.append(table(header, rows, numeric_from=4))
    blocks.append(
        Paragraph(
            (
                "Δ: new minus base over the samples both runs scored; its interval: "
                f"{comparison.bootstrap.describe()}, pairs resampled together. p: exact McNemar "
                "test where every score is 0 or 1 (exact match), else the paired bootstrap "
                f"test; significant below {comparison.alpha:.2g}.",
            )
        )
    )
    if fail_if_drop is not None:
        failures = comparison.gate(fail_if_drop, allow_missing)
        outcome = "FAILED: " + ", ".join(failures) if failures else "passed"
        allowed = [task for task in comparison.only_in_base if task in allow_missing]
        blocks.append(
            Paragraph(
                (
                    f"Gate (--fail-if-drop {fail_if_drop:g}): {outcome}. It fails when a task "
                    f"drops by more than {fail_if_drop:g} points significantly (or untestably), "
                    f"has no score, or is missing from {new} unless --allow-missing names it"
                    + (f" (named: {', '.join(allowed)})." if allowed else "."),
                )
            )
        )
    notes = [f"{t.task}: {t.matched}" for t in comparison.tasks if t.matched]
    notes += [f"{t.task}: {difference}" for t in comparison.tasks for difference in t.differences]
    notes += [
        f"{t.task}: {t.unpaired[0]} samples scored only in {base}, {t.unpaired[1]} only in "
        f"{new}; left out of Δ"
        for t in comparison.tasks
        if any(t.unpaired)
    ]
    notes += [f"{task}: only in {base}" for task in comparison.only_in_base]
    notes += [f"{task}: only in {new}" for task in comparison.only_in_new]
    if notes:
        blocks += [
            Heading("Differences between the runs"),
            table(["what differs"], [[n] for n in notes]),
        ]
    flipped = [t for t in comparison.tasks if t.improved or t.regressed]
    if flipped:
        blocks.append(Heading("Flipped samples"))
    for t in flipped:
        unchanged = t.paired.samples - len(t.improved) - len(t.regressed) if t.paired else 0
        blocks.append(
            Heading(
                f"{t.task}: {len(t.regressed)} worse, {len(t.improved)} better, "
                f"{unchanged} unchanged",
                3,
            )
        )
        for name, samples in (("worse", t.regressed), ("better", t.improved)):
            if samples:
                shown = samples[:listed]
                more = f" (the {len(shown)} largest changes)" if len(samples) > len(shown) else ""
                blocks += [
                    Paragraph((f"{name.capitalize()} in {new}{more}:",)),
                    _flipped_table(shown, base, new),
                ]
    return blocks
