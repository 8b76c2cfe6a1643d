"""The command line: listing, errors for unknown names and bad arguments, run and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.test_task_plugins import readme_task_example
from vlm_eval.cli import main
from vlm_eval.runner import RunConfig
from vlm_eval.tasks import TASKS


@pytest.fixture()
def cli() -> CliRunner:
    return CliRunner()


def test_list_tasks_shows_the_builtin_tasks_and_their_files(cli: CliRunner) -> None:
    result = cli.invoke(main, ["list", "tasks"])
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines()]
    assert {"coco_caption", "okvqa", "textvqa", "vqav2"} <= set(names)
    assert "tasks/vqav2.py" in result.output
    assert (  # the family it builds on, and where its data comes from
        "family DocumentQATask; data: official files (docvqa/, split val) or hub "
        "lmms-lab/DocVQA (split validation)"
    ) in result.output
    assert "family VQATask; data: official files (vqav2/, split val2014)" in result.output
    # A benchmark published only as a dataset names no official files.
    assert "family MultipleChoiceTask; data: hub lmms-lab/MMMU (split validation)" in result.output


def test_list_models_shows_the_hf_adapter(cli: CliRunner) -> None:
    result = cli.invoke(main, ["list", "models"])
    assert result.exit_code == 0
    assert result.output.startswith("hf ")


def test_unknown_task_lists_the_valid_ones(cli: CliRunner, mini_data: Path, tmp_path: Path) -> None:
    result = cli.invoke(
        main,
        ["run", "--tasks", "vqav3", "--model-args", "pretrained=x", "--data-dir", str(mini_data),
         "--output", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    names = TASKS.names()  # every built-in task, sorted
    assert {"coco_caption", "docvqa", "mmbench", "vqav2"} <= set(names)
    known = ", ".join(names)
    assert f"unknown task 'vqav3'; available tasks: {known}" in " ".join(result.output.split())


def test_unknown_model_lists_the_valid_ones(
    cli: CliRunner, mini_data: Path, tmp_path: Path
) -> None:
    result = cli.invoke(
        main,
        ["run", "--model", "llava9", "--tasks", "vqav2", "--data-dir", str(mini_data),
         "--output", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "unknown model 'llava9'; available models: hf, openai, vllm" in " ".join(
        result.output.split()
    )


def test_malformed_model_args_are_a_usage_error(
    cli: CliRunner, mini_data: Path, tmp_path: Path
) -> None:
    result = cli.invoke(
        main,
        ["run", "--tasks", "vqav2", "--model-args", "pretrained", "--data-dir", str(mini_data),
         "--output", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "expected key=value, got 'pretrained'" in result.output


def test_bad_data_stops_before_the_model_loads(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "data" / "textvqa").mkdir(parents=True)
    (tmp_path / "data" / "textvqa" / "TextVQA_0.5.1_val.json").write_text('{"data": [{}]}')
    result = cli.invoke(
        main,
        ["run", "--tasks", "textvqa", "--model-args", "pretrained=/nonexistent",
         "--data-dir", str(tmp_path / "data"), "--output", str(tmp_path / "run")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "TextVQA_0.5.1_val.json" in result.output
    assert "nonexistent" not in result.output
    assert result.output.endswith(f"\nno predictions are saved in {tmp_path / 'run'}\n")


def test_a_model_that_cannot_load_stops_the_run_saying_what_is_saved(
    cli: CliRunner, tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"

    def run(pretrained: Path | str) -> Result:
        return cli.invoke(
            main,
            ["run", "--model-args", f"pretrained={pretrained},device=cpu", "--tasks", "vqav2",
             "--limit", "2", "--num-workers", "0", "--data-dir", str(mini_data),
             "--output", str(run_dir)],
        )  # fmt: skip

    result = run("/nonexistent/checkpoint")
    assert (result.exit_code, result.output) == (
        1,
        "Error: /nonexistent/checkpoint: cannot load the model: no such folder\n"
        f"no predictions are saved in {run_dir}\n",
    )
    assert not run_dir.exists()

    assert run(tiny_model_dir).exit_code == 0
    broken = shutil.copytree(tiny_model_dir, tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    result = run(broken)
    assert result.exit_code == 1
    assert f"Error: {broken}: cannot load its weights: " in result.output
    assert result.output.endswith(
        f"\n2 predictions are saved in {run_dir} (vqav2: 2); the same command reuses them and "
        "computes only the rest\n"
    )


def test_run_a_task_from_an_include_folder_then_report(
    cli: CliRunner, tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "vqav2_yesno.py").write_text(readme_task_example())
    run_dir = tmp_path / "run"
    result = cli.invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu",
         "--tasks", "vqav2_yesno,textvqa", "--limit", "3", "--batch-size", "2",
         "--data-dir", str(mini_data), "--output", str(run_dir), "--include-path", str(plugins)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["config"]["tasks"] == ["vqav2_yesno", "textvqa"]
    assert set(results["tasks"]) == {"vqav2_yesno", "textvqa"}
    records = [json.loads(line) for line in (run_dir / "samples_vqav2_yesno.jsonl").open()]
    assert len(records) == 3
    assert all(r["metadata"]["answer_type"] == "yes/no" for r in records)
    assert records[0]["prompt"][0]["content"][1]["text"].endswith("Give a very brief answer.")
    expected = 100 * sum(r["scores"]["exact_match"] for r in records) / 3
    assert results["tasks"]["vqav2_yesno"]["scores"]["metrics"]["exact_match"] == expected

    report_file = tmp_path / "report.md"
    result = cli.invoke(main, ["report", str(run_dir), "--output", str(report_file)])
    assert result.exit_code == 0, result.output
    text = report_file.read_text()
    assert "| run | model | vqav2_yesno (exact_match) | textvqa (accuracy) |" in text
    # the task declares sample_score_scale: its score comes with a bootstrap interval
    assert f"| run | {tiny_model_dir.resolve()} | {expected:.2f} [" in text


def test_report_of_a_folder_that_is_not_a_run_fails_clearly(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "no results file" in result.output


def test_num_workers_reaches_the_run_config(
    cli: CliRunner, mini_data: Path, tmp_path: Path, recorded_run_configs: list[RunConfig]
) -> None:
    configs = recorded_run_configs
    args = ["run", "--tasks", "vqav2", "--data-dir", str(mini_data), "--output", str(tmp_path)]
    for extra in (["--num-workers", "0"], ["--num-workers", "5"], []):
        result = cli.invoke(main, [*args, *extra])
        assert result.exit_code == 0, result.output
    assert [config.num_workers for config in configs] == [0, 5, 2]
    result = cli.invoke(main, [*args, "--num-workers", "-1"])
    assert result.exit_code == 2 and "--num-workers" in result.output
    help_text = " ".join(cli.invoke(main, ["run", "--help"]).output.split())
    assert (
        "--num-workers INTEGER RANGE Images are decoded in this many worker processes" in help_text
    )


def test_prepare_in_workers_reaches_the_run_config_and_needs_workers(
    cli: CliRunner, mini_data: Path, tmp_path: Path, recorded_run_configs: list[RunConfig]
) -> None:
    args = ["run", "--tasks", "vqav2", "--data-dir", str(mini_data), "--output", str(tmp_path)]
    for extra in (["--prepare-in-workers"], []):
        result = cli.invoke(main, [*args, *extra])
        assert result.exit_code == 0, result.output
    assert [config.prepare_in_workers for config in recorded_run_configs] == [True, False]
    result = cli.invoke(main, [*args, "--prepare-in-workers", "--num-workers", "0"])
    assert result.exit_code == 2
    assert "prepare_in_workers needs worker processes started by fork" in result.output
