"""The OpenAI-compatible adapter against a real HTTP server the tests start on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vlm_eval import ArgumentsError
from vlm_eval.models import ModelInput, create_model
from vlm_eval.models._chat import to_openai_messages
from vlm_eval.models._openai import OpenAIAdapter, ServerError
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import GenerationSettings, ImagePart, Message, get_task, load_tasks

SERVED = "fake-vlm"  # the name requests use
CHECKPOINT = "fake-org/fake-vlm-1"  # what GET /v1/models says is behind it (vLLM's "root")
SECRET = "sk-test-0123456789"


def describe_image(image: Image.Image) -> str:
    """``WxH #rrggbb`` (the colour of the top-left pixel): what the server answers per image."""
    red, green, blue = image.convert("RGB").getpixel((0, 0))
    return f"{image.width}x{image.height} #{red:02x}{green:02x}{blue:02x}"


class _BadRequest(Exception):
    pass


def _decode_image(url: str) -> str:
    header, _, data = url.partition(",")
    image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
    if header != f"data:image/{image.format.lower()};base64":
        raise _BadRequest(f"{header} does not match the {image.format} bytes")
    return f"{image.format} {describe_image(image)}"


def complete(body: dict[str, Any]) -> dict[str, Any]:
    """A deterministic chat completion: every image decoded (format, size, colour), then the
    text of the last turn; cut at the request's stop strings, as a real server does."""
    images, texts = [], []
    for message in body["messages"]:
        for part in message["content"]:
            if part["type"] == "image_url":
                images.append(_decode_image(part["image_url"]["url"]))
            else:
                texts.append(part["text"])
    last = body["messages"][-1]["content"]
    answer = "; ".join(images) + " | " + " ".join(p["text"] for p in last if p["type"] == "text")
    stops = body.get("stop", [])
    end = min((answer.index(stop) for stop in stops if stop in answer), default=len(answer))
    return {
        "id": "chatcmpl-0",
        "object": "chat.completion",
        "model": SERVED,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer[:end]}},
        ],
        "usage": {
            "prompt_tokens": sum(map(len, texts)) + 100 * len(images),
            "completion_tokens": len(answer[:end].split()),
        },
    }


class FakeChatServer(ThreadingHTTPServer):
    """An OpenAI-compatible server on a free loopback port, recording what it receives.

    ``script`` holds ``(status, headers, body)`` responses sent first, one per request; then
    ``POST /v1/chat/completions`` answers with ``complete``. Each request waits ``delay`` seconds.
    """

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str], Any]] = []
        self.delay = 0.0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeChatServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/v1/models":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        entry = {"id": SERVED, "object": "model", "root": CHECKPOINT, "owned_by": "test"}
        return self._send(200, {"object": "list", "data": [entry]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.received.append(
                {"path": self.path, "authorization": self.headers["Authorization"], "body": body}
            )
            scripted = server.script.pop(0) if server.script else None
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            time.sleep(server.delay)
            if scripted:
                status, headers, payload = scripted
                return self._send(status, payload, headers)
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            try:
                return self._send(200, complete(body))
            except _BadRequest as error:
                return self._send(400, {"error": {"message": str(error)}})
        finally:
            with server.lock:
                server.in_flight -= 1


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy may intercept loopback requests, and no developer key may leak into them."""
    for name in ("OPENAI_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture()
def server() -> Iterator[FakeChatServer]:
    server = FakeChatServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _adapter(server: FakeChatServer, **options: Any) -> OpenAIAdapter:
    return OpenAIAdapter(base_url=server.base_url, model=SERVED, **options)


def _input(question: str, size: tuple[int, int] = (64, 48), colour: str = "red") -> ModelInput:
    return ModelInput(
        (Message("user", (ImagePart(Path("q.jpg")), question)),), [Image.new("RGB", size, colour)]
    )


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
    (generation,) = _adapter(server).generate([ModelInput(prompt, images)], settings)

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
    (generation,) = _adapter(server, image_format="jpeg").generate(
        [_input("Q?", (40, 30))], GenerationSettings(max_new_tokens=4)
    )
    (part, _) = server.received[0]["body"]["messages"][0]["content"]
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert generation.text.startswith("JPEG 40x30 #")


def test_stop_strings_beyond_four_are_applied_to_the_returned_text(
    server: FakeChatServer,
) -> None:
    stop = ("<never-1>", "<never-2>", "<never-3>", "<never-4>", "|")
    (generation,) = _adapter(server).generate(
        [_input("Q?")], GenerationSettings(max_new_tokens=4, stop=stop)
    )
    assert server.received[0]["body"]["stop"] == list(stop[:4])  # OpenAI allows at most 4
    assert generation.text == "PNG 64x48 #ff0000 "  # cut client-side at the fifth


def test_a_batch_is_sent_concurrently_and_answered_in_order(server: FakeChatServer) -> None:
    server.delay = 0.2
    inputs = [_input(f"Q{i}?", (20 + i, 10)) for i in range(8)]
    generations = _adapter(server, concurrency=4).generate(
        inputs, GenerationSettings(max_new_tokens=4)
    )
    assert [g.text for g in generations] == [f"PNG {20 + i}x10 #ff0000 | Q{i}?" for i in range(8)]
    assert len(server.received) == 8
    assert 1 < server.max_in_flight <= 4


def test_server_errors_and_rate_limits_are_retried(server: FakeChatServer) -> None:
    server.script = [
        (500, {}, {"error": {"message": "engine restarting"}}),
        (429, {"Retry-After": "0"}, {"error": {"message": "slow down"}}),
    ]
    (generation,) = _adapter(server, max_retries=2).generate(
        [_input("Q?")], GenerationSettings(max_new_tokens=4)
    )
    assert generation.text == "PNG 64x48 #ff0000 | Q?"
    assert len(server.received) == 3

    server.script = [(503, {}, {"message": "overloaded"})] * 2
    with pytest.raises(ServerError, match=r"HTTP 503: overloaded \(gave up after 2 attempts\)"):
        _adapter(server, max_retries=1).generate([_input("Q?")], GenerationSettings(4))


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
        _adapter(server).generate([_input("Q?")], GenerationSettings(max_new_tokens=4))
    assert len(server.received) == 1  # not retried


def test_a_failed_request_stops_the_rest_of_the_batch(server: FakeChatServer) -> None:
    server.script = [(400, {}, {"error": {"message": "bad image"}})]
    with pytest.raises(ServerError, match="bad image"):
        _adapter(server, concurrency=1).generate(
            [_input(f"Q{i}?") for i in range(8)], GenerationSettings(max_new_tokens=4)
        )
    assert len(server.received) < 8


def test_a_response_without_choices_is_an_error(server: FakeChatServer) -> None:
    server.script = [(200, {}, {"id": "chatcmpl-0", "object": "chat.completion", "choices": []})]
    with pytest.raises(ServerError, match="chat/completions: the response has no choices"):
        _adapter(server).generate([_input("Q?")], GenerationSettings(max_new_tokens=4))


def test_an_unreachable_server_fails_clearly_after_the_retries() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = OpenAIAdapter(
        base_url=f"http://127.0.0.1:{port}/v1", model=SERVED, timeout=2, max_retries=1
    )
    started = time.perf_counter()
    with pytest.raises(
        ServerError,
        match=rf"127\.0\.0\.1:{port}/v1/chat/completions: ConnectError: .*"
        r"\(gave up after 2 attempts\)",
    ):
        adapter.generate([_input("Q?")], GenerationSettings(max_new_tokens=4))
    assert time.perf_counter() - started < 5
    assert adapter.describe()["server_model"] is None


def test_the_api_key_is_sent_as_bearer_token_but_never_recorded(
    server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = GenerationSettings(max_new_tokens=4)
    explicit = create_model(
        "openai", {"base_url": server.base_url, "model": SERVED, "api_key": SECRET}
    )
    explicit.generate([_input("Q?")], settings)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    _adapter(server).generate([_input("Q?")], settings)
    monkeypatch.delenv("OPENAI_API_KEY")
    _adapter(server).generate([_input("Q?")], settings)
    assert [r["authorization"] for r in server.received] == [
        f"Bearer {SECRET}",
        "Bearer sk-from-env",
        None,
    ]
    assert SECRET not in json.dumps(explicit.describe())
    assert SECRET not in repr(vars(explicit))


def test_describe_names_the_server_the_model_and_what_it_serves(server: FakeChatServer) -> None:
    assert _adapter(server).describe() == {
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
