"""The OpenAI-compatible adapter against a real HTTP server the tests start on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.openai_server import (
    CHECKPOINT,
    SERVED,
    FakeChatServer,
    complete,
    describe_image,
    model_input,
    openai_adapter,
    record_backoffs,
)
from vlm_eval import ArgumentsError
from vlm_eval.models import ModelInput, PromptError, create_model
from vlm_eval.models._chat import to_openai_messages
from vlm_eval.models._openai import OpenAIAdapter, ServerError
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, ImagePart, Message, get_task, load_tasks

SECRET = "sk-test-0123456789"


pytestmark = pytest.mark.usefixtures("openai_environment")


def test_a_request_carries_the_conversation_and_the_answer_its_usage(
    server: FakeChatServer,
) -> None:
    prompt = (
        Message("user", (ImagePart(Path("a.jpg")), "What colour?")),
        Message("assistant", ("red",)),
        Message("user", ("And this one?", ImagePart(Path("b.jpg")))),
    )
    images = [Image.new("RGB", (64, 48), "red"), Image.new("RGB", (50, 70), "navy")]
    settings = GenerationSettings(max_new_tokens=7)
    (generation,) = openai_adapter(server).generate([ModelInput(prompt, images)], settings)

    (request,) = server.received
    assert request["path"] == "/v1/chat/completions"
    body = request["body"]
    assert (body["model"], body["temperature"], body["max_tokens"]) == (SERVED, 0, 7)
    assert "stop" not in body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert [[p["type"] for p in m["content"]] for m in body["messages"]] == [
        ["image_url", "text"],
        ["text"],
        ["text", "image_url"],
    ]
    texts = [p["text"] for m in body["messages"] for p in m["content"] if p["type"] == "text"]
    assert texts == ["What colour?", "red", "And this one?"]
    # The server decoded both images from base64 PNG: sizes and colours survived, in order.
    assert generation.text == "PNG 64x48 #ff0000; PNG 50x70 #000080 | And this one?"
    usage = complete(body)["usage"]
    assert generation.prompt_tokens == usage["prompt_tokens"] == 28 + 200
    assert generation.generated_tokens == usage["completion_tokens"]
    assert generation.visual_tokens == 0


def test_jpeg_images_are_sent_as_jpeg_data_urls(server: FakeChatServer) -> None:
    (generation,) = openai_adapter(server, image_format="jpeg").generate(
        [model_input("Q?", (40, 30))], GenerationSettings(max_new_tokens=4)
    )
    (part, _) = server.received[0]["body"]["messages"][0]["content"]
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert generation.text.startswith("JPEG 40x30 #")


def test_stop_strings_beyond_four_are_applied_to_the_returned_text(
    server: FakeChatServer,
) -> None:
    stop = ("<never-1>", "<never-2>", "<never-3>", "<never-4>", "|")
    (generation,) = openai_adapter(server).generate(
        [model_input("Q?")], GenerationSettings(max_new_tokens=4, stop=stop)
    )
    assert server.received[0]["body"]["stop"] == list(stop[:4])  # OpenAI allows at most 4
    assert generation.text == "PNG 64x48 #ff0000 "  # cut client-side at the fifth


def test_a_batch_is_sent_concurrently_and_answered_in_order(server: FakeChatServer) -> None:
    server.answer_once_received(4)  # none is answered before four are in flight
    inputs = [model_input(f"Q{i}?", (20 + i, 10)) for i in range(8)]
    generations = openai_adapter(server, concurrency=4).generate(
        inputs, GenerationSettings(max_new_tokens=4)
    )
    assert [g.text for g in generations] == [f"PNG {20 + i}x10 #ff0000 | Q{i}?" for i in range(8)]
    assert len(server.received) == 8
    assert server.max_in_flight == 4


def test_server_errors_and_rate_limits_are_retried(server: FakeChatServer) -> None:
    server.script = [
        (500, {}, {"error": {"message": "engine restarting"}}),
        (429, {"Retry-After": "0"}, {"error": {"message": "slow down"}}),
    ]
    (generation,) = openai_adapter(server, max_retries=2).generate(
        [model_input("Q?")], GenerationSettings(max_new_tokens=4)
    )
    assert generation.text == "PNG 64x48 #ff0000 | Q?"
    assert len(server.received) == 3

    server.script = [(503, {}, {"message": "overloaded"})] * 2
    with pytest.raises(ServerError, match=r"HTTP 503: overloaded \(gave up after 2 attempts\)"):
        openai_adapter(server, max_retries=1).generate([model_input("Q?")], GenerationSettings(4))


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (400, {"error": {"message": "max_tokens is too large", "type": "invalid"}}, "max_tokens"),
        (422, {"error": "Input validation error: too many images", "error_type": "x"}, "Input"),
        (404, {"object": "error", "message": "The model `x` does not exist."}, "The model `x`"),
    ],
)
def test_a_client_error_fails_at_once_naming_url_status_and_message(
    server: FakeChatServer, status: int, body: dict[str, Any], message: str
) -> None:
    server.script = [(status, {}, body)]
    url = f"{server.base_url}/chat/completions"
    with pytest.raises(ServerError, match=rf"^{url}: HTTP {status}: {message}"):
        openai_adapter(server).generate([model_input("Q?")], GenerationSettings(max_new_tokens=4))
    assert len(server.received) == 1  # not retried


def test_a_failed_request_stops_the_rest_of_the_batch(server: FakeChatServer) -> None:
    server.script = [(400, {}, {"error": {"message": "bad image"}})]
    with pytest.raises(ServerError, match="bad image"):
        openai_adapter(server, concurrency=1).generate(
            [model_input(f"Q{i}?") for i in range(8)], GenerationSettings(max_new_tokens=4)
        )
    assert len(server.received) == 1


def test_a_response_without_choices_is_an_error(server: FakeChatServer) -> None:
    server.script = [(200, {}, {"id": "chatcmpl-0", "object": "chat.completion", "choices": []})]
    with pytest.raises(ServerError, match="chat/completions: choices: expected a non-empty list"):
        openai_adapter(server).generate([model_input("Q?")], GenerationSettings(max_new_tokens=4))


def test_an_unreachable_server_fails_clearly_after_the_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = OpenAIAdapter(base_url=f"http://127.0.0.1:{port}/v1", model=SERVED, max_retries=1)
    backoffs = record_backoffs(monkeypatch)
    with pytest.raises(
        ServerError,
        match=rf"127\.0\.0\.1:{port}/v1/chat/completions: ConnectError: .*"
        r"\(gave up after 2 attempts\)",
    ):
        adapter.generate([model_input("Q?")], GenerationSettings(max_new_tokens=4))
    assert backoffs[0] == 0.5  # the retry waited for the first backoff only
    assert adapter.describe()["server_model"] is None


def test_the_api_key_is_sent_as_bearer_token_but_never_recorded(
    server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = GenerationSettings(max_new_tokens=4)
    explicit = create_model(
        "openai", {"base_url": server.base_url, "model": SERVED, "api_key": SECRET}
    )
    explicit.generate([model_input("Q?")], settings)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    openai_adapter(server).generate([model_input("Q?")], settings)
    monkeypatch.delenv("OPENAI_API_KEY")
    openai_adapter(server).generate([model_input("Q?")], settings)
    assert [r["authorization"] for r in server.received] == [
        f"Bearer {SECRET}",
        "Bearer sk-from-env",
        None,
    ]
    assert SECRET not in json.dumps(explicit.describe())
    assert SECRET not in repr(vars(explicit))


def test_describe_names_the_server_the_model_and_what_it_serves(server: FakeChatServer) -> None:
    assert openai_adapter(server).describe() == {
        "adapter": "openai",
        "base_url": server.base_url,
        "model": SERVED,
        "server_model": CHECKPOINT,
        "image_format": "png",
    }
    # A single-model server (llama.cpp) answers under any name: its one listed model serves.
    other = OpenAIAdapter(base_url=server.base_url + "/", model="whatever")
    assert (other.base_url, other.describe()["server_model"]) == (server.base_url, CHECKPOINT)


def test_model_args_are_typed_and_checked() -> None:
    adapter = create_model(
        "openai",
        {
            "base_url": "http://127.0.0.1:1/v1",
            "model": SERVED,
            "timeout": "2.5",
            "max_retries": "0",
            "concurrency": "3",
            "image_format": "jpeg",
        },
    )
    assert isinstance(adapter, OpenAIAdapter)
    assert (adapter.max_retries, adapter.concurrency, adapter.image_format) == (0, 3, "jpeg")
    base = {"base_url": "http://127.0.0.1:1/v1", "model": SERVED}
    with pytest.raises(ArgumentsError, match="image_format must be one of png, jpeg, got 'gif'"):
        create_model("openai", base | {"image_format": "gif"})
    with pytest.raises(ArgumentsError, match="needs model"):
        create_model("openai", {"base_url": "http://127.0.0.1:1/v1"})
    with pytest.raises(ArgumentsError, match="base_url must be an http"):
        create_model("openai", base | {"base_url": "127.0.0.1:8000/v1"})
    with pytest.raises(ArgumentsError, match="concurrency >= 1"):
        create_model("openai", base | {"concurrency": "0"})


@pytest.mark.parametrize("family", ["paligemma", "blip2"])
def test_families_without_a_chat_template_are_refused_before_any_request(
    server: FakeChatServer, family: str
) -> None:
    with pytest.raises(ArgumentsError, match=f"{family} checkpoints are prompted in their own"):
        openai_adapter(server, family=family)
    assert server.received == []


def test_a_named_family_checks_the_prompts_and_is_recorded(server: FakeChatServer) -> None:
    adapter = openai_adapter(server, family="llava")
    assert adapter.describe()["family"] == "llava"
    one_shot = (
        Message("user", (ImagePart(Path("a.jpg")), "Q?")),
        Message("assistant", ("red",)),
        Message("user", (ImagePart(Path("b.jpg")), "Q?")),
    )
    with pytest.raises(PromptError, match="llava models take at most 1 image"):
        adapter.check_prompt(one_shot)
    openai_adapter(server, family="qwen2_vl").check_prompt(one_shot)
    with pytest.raises(ArgumentsError, match="unknown family 'pali'; available families: "):
        openai_adapter(server, family="pali")
    assert server.received == []


def test_a_prompt_and_its_images_must_agree() -> None:
    item = ModelInput((Message("user", (ImagePart(Path("a.jpg")), "Q?")),), [])
    with pytest.raises(ValueError, match="1 image parts but 0 images"):
        to_openai_messages(item)


def test_an_evaluation_run_through_the_openai_adapter(
    server: FakeChatServer, mini_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_tasks()
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    args = {"base_url": server.base_url, "model": SERVED, "concurrency": "2"}
    config = RunConfig(
        model="openai",
        model_args=args,
        tasks=("vqav2",),
        data_dir=mini_data,
        output_dir=tmp_path,
        limit=4,
        batch_size=2,
    )
    results = run_evaluation(config, create_model("openai", args))

    results_file = tmp_path / "results.json"
    assert json.loads(results_file.read_text()) == results
    assert results["model"]["server_model"] == CHECKPOINT
    assert results["tasks"]["vqav2"]["data"]["samples"] == 4
    samples_file = tmp_path / "samples_vqav2.jsonl"
    records = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert len(records) == 4 == len(server.received)
    task = get_task("vqav2")
    for record in records:
        (image, text) = record["prompt"][-1]["content"]
        with Image.open(image["image"]) as decoded:
            answer = f"PNG {describe_image(decoded)} | {text['text']}"
        assert "\n" in answer  # the VQA prompt's instruction line, cut by the stop string
        assert record["raw_output"] == answer.split("\n")[0]
        assert record["prediction"] == task.postprocess(answer)
    assert all(r["authorization"] == f"Bearer {SECRET}" for r in server.received)
    assert SECRET not in results_file.read_text() + samples_file.read_text()
