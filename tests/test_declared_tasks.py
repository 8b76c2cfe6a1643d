"""Tasks declared in YAML files: registered beside the Python plugins, run end to end, and
refused with errors naming the file and the field."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vlm_eval._registry import PluginError
from vlm_eval.cli import main
from vlm_eval.tasks import (
    TASKS,
    CaptionTask,
    DocumentQATask,
    get_task,
    load_tasks,
    resolve_task_data,
)
from vlm_eval.tasks._declared import declared_task

ROOT = Path(__file__).resolve().parent.parent

DOCUMENTS = """\
name: docvqa_declared
version: "1.0"
description: DocVQA pages read from the official files, declared as data.
family: document_qa
format: docvqa
format_args: {json: "{split}/{split}_v1.0_withQT.json"}
eval_split: val
fewshot_split: train
data_folder: docvqa
question_template: "{question}\\nAnswer briefly."
"""


def _declare(folder: Path, text: str, name: str = "task.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_flickr30k_is_a_declared_caption_task(mini_data: Path) -> None:
    load_tasks()
    assert TASKS.origin("flickr30k") == str(ROOT / "tasks" / "flickr30k.yaml")
    assert TASKS.summary("flickr30k").startswith("Flickr30k captioning")
    task = get_task("flickr30k", {"protocol": "idefics2-instruct"})
    assert isinstance(task, CaptionTask)
    assert (task.eval_split, task.fewshot_split, task.hub_dataset) == (
        "test",
        "train",
        "lmms-lab/flickr30k",
    )
    samples = task.load(task.data_path(mini_data), "test")
    assert len(samples) == 16 and all(len(sample.references) == 5 for sample in samples)
    assert all(sample.image.path.parent.name == "flickr30k-images" for sample in samples)
    assert len(task.load(task.data_path(mini_data), "train")) == 8


def test_nocaps_reads_its_coco_style_captions_file(mini_data: Path) -> None:
    load_tasks()
    assert TASKS.origin("nocaps") == str(ROOT / "tasks" / "nocaps.yaml")
    task = get_task("nocaps")
    assert isinstance(task, CaptionTask) and task.hub_dataset == "lmms-lab/NoCaps"
    samples = task.load(task.data_path(mini_data), "val")
    assert len(samples) == 16 and all(len(sample.references) == 5 for sample in samples)
    assert all(sample.image.path.parent.name == "val" for sample in samples)


def test_the_hub_rows_are_read_from_the_declared_columns(mini_data: Path, tmp_path: Path) -> None:
    import datasets

    image = {"bytes": (mini_data / "flickr30k" / "flickr30k-images").glob("*.jpg").__next__()
             .read_bytes(), "path": None}  # fmt: skip
    rows = {"img_id": ["7"], "caption": [[" A dog. ", "A pup."]], "image": [image]}
    features = datasets.Features(
        {"img_id": datasets.Value("string"), "caption": datasets.Sequence(datasets.Value("string"))}
        | {"image": datasets.Image()}
    )
    dataset = datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=features)})
    dataset.save_to_disk(tmp_path / "flickr30k")
    load_tasks()
    task = get_task("flickr30k")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    (sample,) = data.load(task, data.split)
    assert (sample.id, sample.references) == ("7", ("A dog.", "A pup."))


def test_flickr30k_runs_end_to_end_on_the_mini_split(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
         "--tasks", "flickr30k", "--data-dir", str(mini_data), "--output", str(output),
         "--batch-size", "8", "--num-workers", "0", "--limit", "4"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = json.loads((output / "results.json").read_text(encoding="utf-8"))["tasks"]["flickr30k"]
    assert entry["task"]["name"] == "flickr30k" and entry["task"]["main_metric"] == "CIDEr"
    assert "CIDEr" in entry["scores"]["metrics"]
    lines = (output / "samples_flickr30k.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4


def test_a_declared_task_in_an_include_path_is_found_and_set_up(tmp_path: Path) -> None:
    _declare(tmp_path / "plugins", DOCUMENTS)
    load_tasks([tmp_path / "plugins"])
    task = get_task("docvqa_declared")
    assert isinstance(task, DocumentQATask)
    assert task.question_template == "{question}\nAnswer briefly."
    bundled = Path(__file__).resolve().parent.parent / "vlm_eval" / "demo" / "data"
    samples = task.load(task.data_path(bundled), "val")
    assert samples and all(sample.references for sample in samples)


def test_list_tasks_shows_a_declared_task_without_torch(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    _declare(plugins, DOCUMENTS)
    code = (
        "import json, sys\nfrom vlm_eval.cli import main\n"
        "main(['list', 'tasks'], standalone_mode=False)\n"
        "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))"
    )
    env = os.environ | {"VLM_EVAL_TASKS_PATH": str(plugins)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    *listing, imported = done.stdout.splitlines()
    text = "\n".join(listing)
    assert "docvqa_declared" in text and "DocVQA pages read from the official files" in text
    assert "family DocumentQATask" in text and str(plugins / "task.yaml") in text
    assert "flickr30k" in text and "family CaptionTask" in text
    assert json.loads(imported) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("family: document_qa", "family: essay"), "family", "unknown family 'essay'"),
        (("format: docvqa", "format: pdf"), "format", "unknown format 'pdf'"),
        (('version: "1.0"\n', ""), "version", "missing"),
        (('version: "1.0"', "version: 1.0"), "version", "expected a non-empty string, got 1.0"),
        (("eval_split: val", "eval_split: [val]"), "eval_split", "expected a non-empty string"),
        (("data_folder: docvqa", "datafolder: docvqa"), "datafolder", "unknown field"),
        (("question_template", "instruction"), "instruction", "unknown field"),
        (("{json:", "{jsn:"), "format_args.jsn", "format 'docvqa' takes ['json', 'images']"),
        (('{json: "{split}/{split}_v1.0_withQT.json"}', "{}"), "format_args.json", "missing"),
        (('{json: "{split}/{split}_v1.0_withQT.json"}', "a.json"), "format_args", "a mapping"),
    ],
)
def test_a_bad_declaration_names_the_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str, message: str
) -> None:
    assert change[0] in DOCUMENTS
    path = _declare(tmp_path, DOCUMENTS.replace(*change))
    with pytest.raises(PluginError) as caught:
        declared_task(path)
    assert str(caught.value).startswith(f"{path}: field {field!r}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("name: [unclosed", "not a readable YAML file"), ("- a list", "expected a mapping")],
)
def test_a_file_that_is_no_declaration_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = _declare(tmp_path / "plugins", text)
    with pytest.raises(PluginError, match=message) as caught:
        load_tasks([tmp_path / "plugins"])
    assert str(caught.value).startswith(str(path))


def test_a_declared_name_taken_by_a_python_task_is_refused(tmp_path: Path) -> None:
    _declare(tmp_path / "plugins", DOCUMENTS.replace("name: docvqa_declared", "name: docvqa"))
    with pytest.raises(PluginError, match=r"task 'docvqa' is defined twice.*task\.yaml"):
        load_tasks([tmp_path / "plugins"])


def test_the_readme_example_declares_a_task(mini_data: Path, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- declared-task-example -->\s*```yaml\n(.*?)```", readme, re.S)
    assert match, "README.md lost its declared task example"
    _declare(tmp_path, match.group(1), "vqav2_one_word.yaml")
    load_tasks([tmp_path])
    task = get_task("vqav2_one_word")
    samples = task.load(task.data_path(mini_data), task.eval_split)
    assert len(samples) == 24 and all(len(sample.references) == 10 for sample in samples)
    (turn,) = task.prompt(samples[0], [])
    assert turn.parts[1] == f"{samples[0].question}\nAnswer with one word."
