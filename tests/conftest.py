"""Shared fixtures: the tiny Idefics2 checkpoint (built once per session) and the mini data."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the suite never reaches the Hub, even by accident

import pytest
import torch

import vlm_eval.demo
from tests.openai_server import FakeChatServer, clean_environment, serving
from vlm_eval.demo.mini_data import DEMO_SIZES, write_mini_data
from vlm_eval.demo.tiny import idefics2

MINI_DATA = Path(vlm_eval.demo.__file__).parent / "data"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Idefics2 checkpoint saved to disk, as a user's checkpoint would be."""
    return idefics2.build(tmp_path_factory.mktemp("checkpoints") / "tiny-idefics2")


@pytest.fixture(scope="session")
def tiny_adapter(tiny_model_dir: Path):
    """The generic HF adapter on the tiny checkpoint, loaded once (CPU, float32)."""
    from vlm_eval.models import HuggingFaceAdapter

    return HuggingFaceAdapter(pretrained=str(tiny_model_dir), device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def base_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Idefics2 checkpoint without its chat template: a base checkpoint."""
    folder = idefics2.build(tmp_path_factory.mktemp("base") / "tiny-idefics2-base")
    (folder / "chat_template.jinja").unlink()
    return folder


@pytest.fixture(scope="session")
def base_adapter(base_checkpoint: Path):
    """The generic HF adapter on the tiny base checkpoint, loaded once (CPU, float32)."""
    from vlm_eval.models import HuggingFaceAdapter

    return HuggingFaceAdapter(pretrained=str(base_checkpoint), device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def mini_data() -> Path:
    """The bundled mini splits (one folder per task, official formats)."""
    return MINI_DATA


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo splits (``mini_data --sizes demo``: 500 questions per VQA task and 200 caption
    images to evaluate, train splits of 2,000 images per task), written once (3-5 s)."""
    root = tmp_path_factory.mktemp("demo-data")
    write_mini_data(root, sizes=DEMO_SIZES)
    return root


@pytest.fixture(autouse=True)
def isolated_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins a test registers (or files it imports) do not leak into other tests."""
    isolate_registries(monkeypatch)


def isolate_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the plugin registries copies of their entries that ``monkeypatch`` puts back (a
    module-scoped fixture that registers plugins uses a ``pytest.MonkeyPatch.context()``).
    The built-ins registered lazily are imported first, so that the entries their modules add
    on import are among those put back."""
    import vlm_eval._registry as registry
    from vlm_eval.models import FAMILIES, MODELS
    from vlm_eval.tasks import TASKS

    monkeypatch.setattr(registry, "_imported_files", set(registry._imported_files))
    for plugins in (TASKS, MODELS, FAMILIES):
        for module in set(plugins._lazy_modules.values()):
            importlib.import_module(module)
        monkeypatch.setattr(plugins, "_entries", dict(plugins._entries))
        monkeypatch.setattr(plugins, "_origins", dict(plugins._origins))


@pytest.fixture()
def install_plugin_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str, str], Path]:
    """Make ``module`` (source text) importable as an installed package that exposes it under
    an entry-point ``group``, the way ``pip install`` would; returns the folder it lives in."""

    def install(module: str, source: str, group: str) -> Path:
        (tmp_path / f"{module}.py").write_text(source)
        dist = tmp_path / f"{module}-0.1.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
        (dist / "entry_points.txt").write_text(f"[{group}]\nplugin = {module}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        return tmp_path

    return install


@pytest.fixture()
def recorded_run_configs(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``RunConfig`` of every ``vlm-eval run`` the test invokes; no model runs (each gets
    the fixed results of tests/data/runs/base)."""
    configs: list[Any] = []
    results = Path(__file__).parent / "data" / "runs" / "base" / "results.json"

    def run_evaluation(config: Any) -> dict[str, Any]:
        configs.append(config)
        return json.loads(results.read_text())

    monkeypatch.setattr("vlm_eval.runner.run_evaluation", run_evaluation)
    return configs


@pytest.fixture()
def openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy may intercept loopback requests, and no developer key may leak into them."""
    clean_environment(monkeypatch)


@pytest.fixture()
def server(openai_environment: None) -> Iterator[FakeChatServer]:
    """A fake OpenAI-compatible server on loopback (tests/openai_server.py)."""
    with serving() as server:
        yield server


@pytest.fixture()
def test_dev_data(mini_data: Path, tmp_path: Path) -> Path:
    """The mini val questions laid out as VQAv2 test-dev (questions only, images in test2015),
    with the mini train split for demonstrations."""
    root = tmp_path / "data"
    folder = root / "vqav2"
    (folder / "test2015").mkdir(parents=True)
    val = mini_data / "vqav2"
    questions = json.loads((val / "v2_OpenEnded_mscoco_val2014_questions.json").read_text())
    (folder / "v2_OpenEnded_mscoco_test-dev2015_questions.json").write_text(json.dumps(questions))
    for image in (val / "val2014").iterdir():
        name = image.name.replace("val2014", "test2015")
        shutil.copy(image, folder / "test2015" / name)
    shutil.copytree(val / "train2014", folder / "train2014")
    for file in val.glob("*train2014*.json"):
        shutil.copy(file, folder / file.name)
    return root
