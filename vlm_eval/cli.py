"""The ``vlm-eval`` command line: run evaluations, list plugins, write reports."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import click

from vlm_eval._arguments import ArgumentsError, keyword_parameters, parse_key_values
from vlm_eval._registry import PluginError, Registry, UnknownNameError
from vlm_eval.data import DataFormatError

if TYPE_CHECKING:
    from vlm_eval.report import Run
    from vlm_eval.tasks import Task

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

_INCLUDE_PATH = click.option(
    "--include-path",
    "include_paths",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Extra folder of task files (repeatable); $VLM_EVAL_TASKS_PATH works too.",
)


_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder with one sub-folder per task holding its official files, a save_to_disk "
    "folder or parquet files (the bundled mini splits: vlm_eval/demo/data). A task without "
    "one reads its Hugging Face dataset.",
)
_DATA_ARGS = click.option(
    "--data-args",
    "data_args",
    multiple=True,
    metavar="[TASK:]KEY=VALUE,...",
    help="Where task data comes from (repeatable; no TASK: sets every task): "
    "source=official|hub|disk|parquet, path, revision, cache_dir, split, fewshot_split.",
)
_TASK_ARGS = click.option(
    "--task-args",
    "task_args",
    multiple=True,
    metavar="[TASK:]KEY=VALUE,...",
    help="Task options (repeatable): vqa_mode=official sets every VQA task; "
    "okvqa:answers=raw sets one task. Scoring options re-score reused predictions.",
)


_JUDGE = click.option(
    "--judge",
    nargs=2,
    metavar="NAME ARGS",
    help="A judge model (any adapter of `list models`, its arguments as --model-args), asked "
    "for the answers that judged tasks' rules cannot read (MathVista), e.g. --judge openai "
    "base_url=http://localhost:8000/v1,model=NAME or --judge hf pretrained=PATH; its calls and "
    "verdicts are recorded. Without it those answers score 0 (a rule-only score).",
)


def _judge_spec(judge: tuple[str, str] | None) -> tuple[str | None, dict[str, str]]:
    """``--judge NAME ARGS``: the adapter's name and its arguments."""
    if judge is None:
        return None, {}
    try:
        return judge[0], parse_key_values(judge[1], "--judge")
    except ArgumentsError as error:
        raise click.BadParameter(str(error), param_hint="--judge") from error


class _BatchSizeType(click.ParamType):
    """A positive integer, or ``auto``."""

    name = "INTEGER|auto"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | Literal["auto"]:
        text = str(value)  # the default and values set in code arrive converted already
        if text == "auto":
            return "auto"
        if text.isdecimal() and int(text) >= 1:
            return int(text)
        self.fail(f"{value!r} is neither a positive integer nor 'auto'.", param, ctx)


def _load_plugins(include_paths: tuple[Path, ...], *registries: Registry[Any]) -> None:
    """Import the task folders (built-in, $VLM_EVAL_TASKS_PATH, ``include_paths``) and the
    entry points of ``registries``: only those a command reads, so that listing tasks imports
    no model code."""
    from vlm_eval.tasks import load_tasks

    try:
        load_tasks(include_paths)
        for registry in registries:
            registry.load_entry_points()
    except PluginError as error:
        raise click.ClickException(str(error)) from error


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="vlm-eval")
def main() -> None:
    """Evaluate vision-language models on VQAv2, TextVQA, OK-VQA and COCO captions."""


@main.command()
@click.option("--model", default="hf", show_default=True, help="Model adapter (see `list models`).")
@click.option(
    "--model-args",
    default="",
    help="Adapter arguments, e.g. pretrained=PATH,dtype=bfloat16,device=cuda.",
)
@click.option("--tasks", required=True, help="`all` or comma-separated task names.")
@_DATA_DIR
@_DATA_ARGS
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder: samples_<task>.jsonl, timing_<task>.jsonl and results.json. Predictions "
    "already there for the same model, task and prompt are reused.",
)
@_TASK_ARGS
@click.option(
    "--protocol",
    metavar="NAME",
    help="How tasks are asked and answers read back (see `list protocols`): templates, "
    "demonstrations, decoding, cutting. Default: chat, or idefics2-base for a checkpoint "
    "without a chat template. One task's own: --task-args TASK:protocol=NAME.",
)
@click.option(
    "--protocol-args",
    default="",
    metavar="KEY=VALUE,...",
    help="Options of the protocol, e.g. idefics2-base: max_new_tokens=40, vqa_template=4, "
    "caption_template=2 (the harness's template ids).",
)
@click.option(
    "--templates",
    metavar="all|ID,...",
    help="Evaluate each VQA and caption task once per prompt template of its protocol (all), "
    "or per template id listed (idefics2-base: the harness's 16 VQA and 9 caption templates); "
    "the report shows the score per template and which differences are significant.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Only N samples per task: the first N, or a random N with --sample-seed.",
)
@click.option(
    "--sample-seed",
    type=int,
    help="With --limit: evaluate a random subset of N samples drawn with this seed "
    "(reproducible, kept in the data's order).",
)
@click.option(
    "--num-fewshot",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Demonstrations per prompt, drawn from the task's train split (or --data-args "
    "fewshot_split=, pool=FILE) with --seed, never about the query's image.",
)
@click.option(
    "--fewshot-selection",
    type=click.Choice(["random", "rices"]),
    default="random",
    show_default=True,
    help="How demonstrations are chosen: at random with --seed, or rices: those whose images "
    "are the most similar to the query's under a CLIP-style model (--fewshot-args).",
)
@click.option(
    "--fewshot-args",
    default="",
    metavar="KEY=VALUE,...",
    help="Options of --fewshot-selection rices: rices_model=HUB_ID_OR_FOLDER (required), "
    "revision, batch_size (64), device (auto), cache_dir (~/.cache/vlm-eval/rices).",
)
@click.option(
    "--batch-size",
    default=8,
    show_default=True,
    type=_BatchSizeType(),
    help="Samples per generate call (left-padded), or `auto`: the largest that fits, up to 64. "
    "On GPU out-of-memory the batch is split and the size that fits kept.",
)
@click.option("--seed", default=1234, show_default=True, help="Seed of the few-shot draws.")
@click.option(
    "--num-workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="Images are decoded in this many worker processes, each distinct image once "
    "(0: in the main process).",
)
@click.option(
    "--prepare-in-workers",
    is_flag=True,
    help="The image-decoding workers also run the model's processor on their batches, in "
    "parallel, instead of one thread of the main process (Linux; tensors travel through "
    "/dev/shm, so give containers room: --shm-size or --ipc=host).",
)
@_JUDGE
@_INCLUDE_PATH
def run(
    model: str,
    model_args: str,
    tasks: str,
    data_dir: Path | None,
    data_args: tuple[str, ...],
    output: Path,
    task_args: tuple[str, ...],
    protocol: str | None,
    protocol_args: str,
    templates: str | None,
    limit: int | None,
    sample_seed: int | None,
    num_fewshot: int,
    fewshot_selection: str,
    fewshot_args: str,
    batch_size: int | Literal["auto"],
    seed: int,
    num_workers: int,
    prepare_in_workers: bool,
    judge: tuple[str, str] | None,
    include_paths: tuple[Path, ...],
) -> None:
    """Evaluate a model on tasks and write a run folder."""
    from torch.cuda import OutOfMemoryError

    from vlm_eval.models import FAMILIES, MODELS, ModelLoadError, parse_model_args
    from vlm_eval.report import Run, render_markdown
    from vlm_eval.results import RunResults
    from vlm_eval.runner import (
        RunConfig,
        RunFolderBusyError,
        WriteError,
        run_evaluation,
        saved_predictions,
    )
    from vlm_eval.runner._distributed import process_group, rank
    from vlm_eval.tasks import TASKS, resolve_data_args, resolve_task_args, resolve_task_names

    _load_plugins(include_paths, TASKS, MODELS, FAMILIES)
    try:
        task_names = resolve_task_names(tasks)
    except UnknownNameError as error:
        raise click.BadParameter(str(error), param_hint="--tasks") from error
    try:
        options = resolve_task_args(task_args, task_names)
    except ArgumentsError as error:
        raise click.BadParameter(str(error), param_hint="--task-args") from error
    try:
        sources = resolve_data_args(data_args, task_names)
    except ArgumentsError as error:
        raise click.BadParameter(str(error), param_hint="--data-args") from error
    try:
        MODELS.get(model)
        args = parse_model_args(model_args)
    except UnknownNameError as error:
        raise click.BadParameter(str(error), param_hint="--model") from error
    except ArgumentsError as error:
        raise click.BadParameter(str(error), param_hint="--model-args") from error
    if sample_seed is not None and limit is None:
        raise click.BadParameter(
            "picks a random subset of --limit N samples", param_hint="--sample-seed"
        )
    try:
        selection_args = parse_key_values(fewshot_args, "--fewshot-args")
    except ArgumentsError as error:
        raise click.BadParameter(str(error), param_hint="--fewshot-args") from error
    judge_name, judge_args = _judge_spec(judge)
    try:
        config = RunConfig(
            model=model,
            model_args=args,
            tasks=tuple(task_names),
            data_dir=data_dir,
            output_dir=output,
            limit=limit,
            sample_seed=sample_seed,
            num_fewshot=num_fewshot,
            fewshot_selection=fewshot_selection,
            fewshot_args=selection_args,
            batch_size=batch_size,
            seed=seed,
            task_args=options,
            num_workers=num_workers,
            data_args=sources,
            prepare_in_workers=prepare_in_workers,
            protocol=protocol,
            protocol_args=parse_key_values(protocol_args, "--protocol-args"),
            templates=_templates(templates),
            judge=judge_name,
            judge_args=judge_args,
        )
    except ValueError as error:  # options that do not go together
        raise click.UsageError(str(error)) from error
    with process_group():  # under torchrun: rank 0 alone prints the report
        try:
            results = run_evaluation(config)
        except RunFolderBusyError as error:
            raise click.ClickException(str(error)) from error
        except ArgumentsError as error:  # refused once each task's protocol is known (a
            # --templates sweep it cannot run): a usage error, raised before the model loads
            raise click.UsageError(str(error)) from error
        except (
            DataFormatError,
            ModelLoadError,
            PluginError,
            ValueError,
            WriteError,
            OutOfMemoryError,
        ) as error:
            saved = {task: count for task, count in saved_predictions(output).items() if count}
            in_folder = isinstance(error, DataFormatError) and error.path.parent == output
            kept = (
                f"{sum(saved.values())} predictions are saved in {output} ("
                + ", ".join(f"{task}: {count}" for task, count in saved.items())
                + (
                    "); once that file is fixed, the same command reuses them"
                    if in_folder
                    else "); the same command reuses them and computes only the rest"
                )
                if saved
                else f"no predictions are saved in {output}"
            )
            raise click.ClickException(f"{error}\n{kept}") from error
        if rank() == 0:
            click.echo(render_markdown([Run(output.name, output, RunResults.from_json(results))]))
            click.echo(f"results: {output / 'results.json'}", err=True)
        unanswered = [
            f"{name}: all {task['data']['samples']} samples failed"
            for name, task in results["tasks"].items()
            if task["data"].get("failed") == task["data"]["samples"]
        ]
        if unanswered:  # a CI job must not pass on a run that produced no prediction
            raise click.ClickException(
                f"no predictions for {'; '.join(unanswered)} (the failures are listed in "
                f"{output / 'results.json'}): fix the inputs and run again"
            )
        unjudged = [
            f"{name}: {task['judge']['failed']} answers ({task['judge'].get('error')})"
            for name, task in results["tasks"].items()
            if isinstance(task.get("judge"), dict) and task["judge"].get("failed")
        ]
        if unjudged:  # nor on scores that a failing judge lowered
            raise click.ClickException(
                f"the judge failed for {'; '.join(unjudged)}: they score 0 in "
                f"{output / 'results.json'}; the same command asks the judge again"
            )


def _templates(value: str | None) -> tuple[str, ...] | Literal["all"] | None:
    """``--templates``: ``all``, or the template ids listed (in order, once each)."""
    if value is None or value.strip() == "all":
        return None if value is None else "all"
    return tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))


@main.command("list")
@click.argument("what", type=click.Choice(["tasks", "models", "families", "protocols"]))
@_INCLUDE_PATH
def list_plugins(what: str, include_paths: tuple[Path, ...]) -> None:
    """List the registered tasks, model adapters, model families or protocols, with where they
    come from."""
    if what == "protocols":
        from vlm_eval.protocols import get_protocol, protocol_names

        _load_plugins(include_paths)
        for name in protocol_names():
            protocol = get_protocol(name)
            click.echo(f"{name:<18} {protocol.summary}\n{'':<18} source: {protocol.source}")
        return
    if what == "families":
        from vlm_eval.models import FAMILIES

        _load_plugins(include_paths, FAMILIES)
        for name in FAMILIES.names():
            family = FAMILIES.get(name)
            claims = ", ".join(family.model_types) or "none (chosen by name)"
            prompt = "chat template" if family.uses_chat_template else "own format, no template"
            options = ", ".join(family.image_options) or "none"
            click.echo(
                f"{name:<18} model types: {claims}; {prompt}; image options: {options}\n"
                f"{'':<18} {FAMILIES.origin(name)}"
            )
        return
    if what == "tasks":
        from vlm_eval.tasks import TASKS as registry
    else:
        from vlm_eval.models import MODELS as registry
    _load_plugins(include_paths, registry)
    for name in registry.names():
        click.echo(f"{name:<14} {registry.summary(name)}")
        if what == "tasks":
            click.echo(f"{'':<14} {_task_family_and_data(registry.get(name))}")
        click.echo(f"{'':<14} {registry.origin(name)}")


def _task_family_and_data(task: type[Task]) -> str:
    """The family a task class builds on (the nearest base ``vlm_eval.tasks`` exports) and where
    its data comes from by default."""
    import vlm_eval.tasks

    family = next(
        base.__name__
        for base in task.__mro__[1:]
        if getattr(vlm_eval.tasks, base.__name__, None) is base
    )
    sources = []
    if task.official_files:
        folder = task.data_folder or task.name
        sources.append(f"official files ({folder}/, split {task.eval_split})")
    if task.hub_dataset is not None:
        split = task.hub_eval_split or task.eval_split
        sources.append(f"hub {task.hub_dataset} (split {split})")
    return f"family {family}; data: {' or '.join(sources)}"


def _report_options(
    *formats: str, description: str = "Markdown, or one self-contained HTML page."
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options every report command takes: format (markdown, html and ``formats``), output
    file and bootstrap settings."""
    return partial(_add_report_options, formats=formats, description=description)


def _add_report_options(
    command: Callable[..., None], *, formats: tuple[str, ...], description: str
) -> Callable[..., None]:
    options = [
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["markdown", "html", *formats]),
            default="markdown",
            show_default=True,
            help=description,
        ),
        click.option(
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the report here instead of standard output.",
        ),
        click.option(
            "--resamples",
            default=1000,
            show_default=True,
            type=click.IntRange(min=1),
            help="Bootstrap resamples of the confidence intervals.",
        ),
        click.option(
            "--bootstrap-seed",
            default=0,
            show_default=True,
            help="Seed of the bootstrap (the same seed gives the same intervals).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _reason(error: OSError) -> str:
    """Why a file operation failed, naming the other file involved if any."""
    other = error.filename2 or error.filename
    return f"{error.strerror or error}" + (f" ({other})" if other else "")


def _write_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a full disk leaves the previous file, whole.

    Raises:
        click.ClickException: If it cannot be written, naming the file and why.
    """
    from vlm_eval._files import write_atomically
    from vlm_eval.report._document import visible

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, [text])
    except OSError as error:
        raise click.ClickException(visible(f"cannot write {path}: {_reason(error)}")) from error


def _emit(blocks: list[Any], output_format: str, output: Path | None, title: str) -> str:
    """Render ``blocks`` and write them to ``output`` or standard output; return the markdown."""
    from vlm_eval.report._document import to_markdown
    from vlm_eval.report._html import to_html

    markdown = to_markdown(blocks)
    _write_output(markdown if output_format == "markdown" else to_html(blocks, title=title), output)
    return markdown


def _write_output(text: str, output: Path | None) -> None:
    """Write a report's ``text`` to ``output`` (saying so) or standard output."""
    if output is None:
        sys.stdout.write(text)
    else:
        _write_file(output, text)
        click.echo(f"report: {output}", err=True)


def _emit_csv(runs: Sequence[Path], output: Path | None) -> None:
    """Write the runs' metrics table as CSV to ``output`` or standard output."""
    from vlm_eval.results import load_runs

    try:
        tables = load_runs(runs, samples=False)
    except DataFormatError as error:
        raise click.ClickException(str(error)) from error
    metrics = tables.metrics.map(_inert_in_spreadsheets)
    _write_output(metrics.to_csv(index=False, lineterminator="\n"), output)


def _inert_in_spreadsheets(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab or
    carriage return first: a model or run named ``=HYPERLINK(...)``) with a ``'`` before it,
    which spreadsheets read as "text follows"."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return f"'{value}"
    return value


def _read_runs(paths: Sequence[Path]) -> list[Run]:
    from vlm_eval.report import load_runs

    try:
        return load_runs(list(paths))
    except DataFormatError as error:
        raise click.ClickException(str(error)) from error


_RUNS = click.argument(
    "runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)


@main.command()
@_RUNS
@_report_options(
    "csv",
    description="Markdown, one self-contained HTML page with plots, or CSV: a row per run x task x "
    "metric (vlm_eval.results.load_runs' metrics table).",
)
@click.option("--title", default="vlm-eval report", show_default=True)
@click.option("--note", help="A paragraph under the title (what the runs are, caveats).")
def report(
    runs: tuple[Path, ...],
    output_format: str,
    output: Path | None,
    resamples: int,
    bootstrap_seed: int,
    title: str,
    note: str | None,
) -> None:
    """Report RUNS (run folders): one row per run, one column per task with the main metric
    and its bootstrap confidence interval; breakdowns, cost, failures and provenance below.
    Several runs of one training run, in checkpoint order, give its learning curve (HTML)."""
    from vlm_eval.report import Bootstrap, build_report

    if output_format == "csv":
        _emit_csv(runs, output)
        return
    try:
        blocks = build_report(
            _read_runs(runs),
            title=title,
            note=note,
            bootstrap=Bootstrap(resamples=resamples, seed=bootstrap_seed),
            plots=output_format == "html",
        )
    except DataFormatError as error:
        raise click.ClickException(str(error)) from error
    _emit(blocks, output_format, output, title)


@main.command()
@click.argument("base", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@_report_options()
@click.option(
    "--fail-if-drop",
    type=click.FloatRange(min=0),
    metavar="POINTS",
    help="Exit with status 1 when a task's main metric drops by more than POINTS with "
    "significance (or untestably), has no score, or is missing from NEW, for CI gates.",
)
@click.option(
    "--allow-missing",
    "allow_missing",
    multiple=True,
    metavar="TASK",
    help="A task of BASE that NEW may lack without failing the --fail-if-drop gate (repeatable; "
    "a task swept over templates: its entries too, vqav2 for vqav2@t4).",
)
@click.option(
    "--listed",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="Flipped samples listed per task and direction.",
)
def compare(
    base: Path,
    new: Path,
    output_format: str,
    output: Path | None,
    resamples: int,
    bootstrap_seed: int,
    fail_if_drop: float | None,
    allow_missing: tuple[str, ...],
    listed: int,
) -> None:
    """Compare run NEW with run BASE: per-task deltas with paired significance (paired
    bootstrap; exact McNemar for exact-match scores) and the samples that flipped. With
    $GITHUB_STEP_SUMMARY set, the markdown is appended to it too."""
    from vlm_eval.report import Bootstrap
    from vlm_eval.report._compare import compare_runs, comparison_blocks
    from vlm_eval.report._document import visible

    if allow_missing and fail_if_drop is None:
        raise click.BadParameter("applies to the --fail-if-drop gate", param_hint="--allow-missing")
    base_run, new_run = _read_runs([base, new])
    try:
        comparison = compare_runs(
            base_run, new_run, bootstrap=Bootstrap(resamples=resamples, seed=bootstrap_seed)
        )
    except DataFormatError as error:
        raise click.ClickException(str(error)) from error
    blocks = comparison_blocks(
        comparison, fail_if_drop=fail_if_drop, allow_missing=allow_missing, listed=listed
    )
    markdown = _emit(blocks, output_format, output, "vlm-eval compare")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:  # appended to, as other steps do: it cannot be replaced atomically
            with open(summary, "a", encoding="utf-8") as file:
                file.write(markdown + "\n")
        except OSError as error:  # said, but the gate alone decides the exit status
            click.echo(
                visible(
                    "Warning: cannot append the comparison to $GITHUB_STEP_SUMMARY "
                    f"({summary}): {_reason(error)}"
                ),
                err=True,
            )
    failures = [] if fail_if_drop is None else comparison.gate(fail_if_drop, allow_missing)
    if failures:
        message = (
            f"--fail-if-drop {fail_if_drop:g}: {len(failures)} task(s) failed the gate: "
            + ", ".join(failures)
        )
        if comparison.missing(allow_missing):
            message += (
                f"; a task that {new_run.label} did not run fails the gate unless "
                "--allow-missing TASK names it"
            )
        raise click.ClickException(visible(message))


@main.command()
@_RUNS
@_report_options()
@click.option(
    "--prior",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Virtual ties between every pair of runs (keeps ratings finite; 0: plain MLE).",
)
@click.option(
    "--task-weight",
    type=click.Choice(["tasks", "samples"]),
    default="tasks",
    show_default=True,
    help="tasks: every task weighs like the average task; samples: every sample counts once.",
)
@click.option("--title", default="vlm-eval leaderboard", show_default=True)
def leaderboard(
    runs: tuple[Path, ...],
    output_format: str,
    output: Path | None,
    resamples: int,
    bootstrap_seed: int,
    prior: float,
    task_weight: str,
    title: str,
) -> None:
    """Rank RUNS across tasks with Bradley-Terry (Elo-scale) ratings fitted on per-sample
    pairwise outcomes, with bootstrap confidence intervals."""
    from vlm_eval.report import Bootstrap
    from vlm_eval.report._leaderboard import leaderboard_blocks, rate_runs

    try:
        board = rate_runs(
            _read_runs(runs),
            bootstrap=Bootstrap(resamples=resamples, seed=bootstrap_seed),
            prior=prior,
            task_weight=cast(Literal["tasks", "samples"], task_weight),
        )
    except (DataFormatError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    _emit(leaderboard_blocks(board, title=title), output_format, output, title)


@main.command()
@click.option(
    "--task",
    "task_name",
    required=True,
    help="The task whose scoring applies: any registered task (`list tasks`; plugins with "
    "--include-path).",
)
@click.option(
    "--predictions",
    required=True,
    type=_EXISTING_FILE,
    help='Results file in the task\'s format: VQA [{"question_id", "answer"}], captions '
    '[{"image_id", "caption"}], other tasks as their read_predictions reads (by default '
    '[{"id", "prediction"}]).',
)
@click.option(
    "--annotations",
    type=_EXISTING_FILE,
    help="VQA and caption tasks: score against this official file instead of the task's data "
    "(VQA annotations JSON, TextVQA's in the VQA format, or COCO captions_*.json).",
)
@click.option(
    "--questions",
    type=_EXISTING_FILE,
    help="With --annotations, VQA tasks: the questions JSON.",
)
@_DATA_DIR
@_DATA_ARGS
@_TASK_ARGS
@click.option(
    "--mode",
    type=click.Choice(["normalized", "official", "evalai"]),
    help="VQA answer normalization (default normalized; the task option vqa_mode): always "
    "(normalized), as the 2021 official code does (official), or as EvalAI's answer processor "
    "does (evalai: lmms-eval's TextVQA, OK-VQA).",
)
@click.option(
    "--answers",
    "okvqa_answers",
    type=click.Choice(["stemmed", "raw", "mixed"]),
    help="OK-VQA only (default stemmed): stemmed predictions against the stemmed v1.1 'answer' "
    "fields, raw predictions against the 'raw_answer' fields, or (mixed, as lmms-eval) raw "
    "predictions against the stemmed answers.",
)
@click.option(
    "--json",
    "json_output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the scores as JSON here, with every sample's.",
)
@_JUDGE
@_INCLUDE_PATH
def score(
    task_name: str,
    predictions: Path,
    annotations: Path | None,
    questions: Path | None,
    data_dir: Path | None,
    data_args: tuple[str, ...],
    task_args: tuple[str, ...],
    mode: str | None,
    okvqa_answers: str | None,
    json_output: Path | None,
    judge: tuple[str, str] | None,
    include_paths: tuple[Path, ...],
) -> None:
    """Score a predictions file without a model, as a run scores its predictions: against the
    task's data (--data-dir, --data-args, as `run` reads it), or for VQA and caption tasks
    against official files named with --annotations (and --questions)."""
    import json

    from vlm_eval.report import escape_cell
    from vlm_eval.tasks import TASKS

    judge_name, judge_args = _judge_spec(judge)
    if judge_name is not None:
        from vlm_eval.models import MODELS

        _load_plugins(include_paths, TASKS, MODELS)
    else:
        _load_plugins(include_paths, TASKS)
    try:
        task_class = TASKS.get(task_name)
    except UnknownNameError as error:
        raise click.BadParameter(str(error), param_hint="--task") from error
    if okvqa_answers is not None and task_name != "okvqa":
        raise click.BadParameter("only applies to --task okvqa", param_hint="--answers")
    if judge_name is not None and "judge" not in keyword_parameters(task_class):
        raise click.BadParameter(
            f"task {task_name} reads its answers with no judge", param_hint="--judge"
        )
    try:
        if annotations is None:
            if questions is not None:
                raise click.BadParameter("goes with --annotations", param_hint="--questions")
            if judge_name is not None:
                from vlm_eval.tasks import JudgeSpec

                judge_spec = JudgeSpec(judge_name, judge_args).spec
            options = {
                "vqa_mode": mode,
                "answers": okvqa_answers,
                "judge": None if judge_name is None else judge_spec,
            }
            result = _score_with_task_data(
                task_name,
                predictions,
                data_dir,
                data_args,
                task_args,
                {key: value for key, value in options.items() if value is not None},
            )
        elif data_dir or data_args or task_args or judge:
            raise click.BadParameter(
                "--annotations names the reference files: --data-dir, --data-args, "
                "--task-args and --judge do not apply",
                param_hint="--annotations",
            )
        else:
            result = _score_official_files(
                task_class, annotations, questions, predictions, mode, okvqa_answers
            )
    except (DataFormatError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    result = {"task": task_name, **result}
    lines = ["| metric | score |", "| --- | ---: |"]
    lines += [f"| {escape_cell(k)} | {v:.2f} |" for k, v in result["metrics"].items()]
    for kind, groups in result["breakdowns"].items():
        lines += [f"| {escape_cell(kind)}: {escape_cell(g)} | {v:.2f} |" for g, v in groups.items()]
    click.echo("\n".join(lines))
    for metric, reason in result.get("skipped", {}).items():
        click.echo(f"{metric} skipped: {reason}", err=True)
    for note, text in result.get("notes", {}).items():
        click.echo(f"{note}: {text}", err=True)
    if json_output is not None:
        _write_file(json_output, json.dumps(result, indent=2) + "\n")


def _score_with_task_data(
    task_name: str,
    predictions: Path,
    data_dir: Path | None,
    data_args: tuple[str, ...],
    task_args: tuple[str, ...],
    options: dict[str, str],
) -> dict[str, Any]:
    """``vlm-eval score`` against the task's own data, read as ``run`` reads it."""
    from vlm_eval.tasks import (
        get_task,
        resolve_data_args,
        resolve_task_args,
        resolve_task_data,
        score_predictions_file,
    )

    try:
        args = resolve_task_args(task_args, [task_name]).get(task_name, {}) | options
        task = get_task(task_name, args)
    except ArgumentsError as error:
        raise click.BadParameter(str(error), param_hint="--task-args") from error
    try:
        sources = resolve_data_args(data_args, [task_name])
        data = resolve_task_data(task, data_dir, sources.get(task_name, {}), fewshot=False)
    except ArgumentsError as error:
        raise click.BadParameter(str(error), param_hint="--data-args") from error
    samples = data.load(task, data.split)
    judge = None
    if getattr(task, "judge", None) is not None:
        from vlm_eval.runner._judge import Judges, judge_predictions

        judge = judge_predictions(task, Judges())  # type: ignore[arg-type]
    return {
        "files": {"predictions": str(predictions)},
        "data": data.describe(),
        "scoring": task.scoring_protocol(),
        **score_predictions_file(task, samples, predictions, judge=judge),
    }


def _score_official_files(
    task_class: type[Any],
    annotations: Path,
    questions: Path | None,
    predictions: Path,
    mode: str | None,
    okvqa_answers: str | None,
) -> dict[str, Any]:
    """``vlm-eval score`` of a VQA or caption task against official files named directly."""
    from vlm_eval.metrics import VQAMode, score_caption_predictions, score_vqa_predictions
    from vlm_eval.tasks import CaptionTask, VQATask

    files = {
        "annotations": str(annotations),
        "questions": str(questions) if questions else None,
        "predictions": str(predictions),
    }
    if issubclass(task_class, CaptionTask):
        return {"files": files, **score_caption_predictions(annotations, predictions)}
    if not issubclass(task_class, VQATask):
        raise click.BadParameter(
            f"applies to VQA and caption tasks; {task_class.name} reads its data with "
            "--data-dir or --data-args",
            param_hint="--annotations",
        )
    if questions is None:
        raise click.BadParameter(f"required for --task {task_class.name}", param_hint="--questions")
    answers = (okvqa_answers or "stemmed") if task_class.name == "okvqa" else None
    scores = score_vqa_predictions(
        questions,
        annotations,
        predictions,
        mode=cast(VQAMode, mode or "normalized"),
        stem_answers=answers == "stemmed",
        answer_field="raw_answer" if answers == "raw" else "answer",
    )
    return {"files": files, **scores}
