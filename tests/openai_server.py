"""An OpenAI-compatible chat server on 127.0.0.1 for the openai adapter's tests: a fake one by
default, or one answering with any function of the request (the oracle's serves a checkpoint)."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vlm_eval.models import ModelInput, _openai
from vlm_eval.models._openai import OpenAIAdapter
from vlm_eval.tasks import ImagePart, Message

SERVED = "fake-vlm"  # the name requests use
CHECKPOINT = "fake-org/fake-vlm-1"  # what GET /v1/models says is behind it (vLLM's "root")
WAIT_LIMIT = 60.0  # seconds: a safety net only, for a wait on an event that never comes

Scripted = tuple[int, dict[str, str], Any] | None
"""A response to send instead of ``complete``'s: ``(status, headers, body)``; ``None`` answers
normally. ``body``: JSON to encode, ``bytes`` to send as they are, or an iterator of ``bytes``
sent chunked (no Content-Length). ``headers`` override the defaults (Content-Length included)."""


def describe_image(image: Image.Image) -> str:
    """``WxH #rrggbb`` (the colour of the top-left pixel): what the server answers per image."""
    red, green, blue = image.convert("RGB").getpixel((0, 0))
    return f"{image.width}x{image.height} #{red:02x}{green:02x}{blue:02x}"


class _BadRequest(Exception):
    pass


def decode_image_url(url: str) -> Image.Image:
    """The image of a base64 data URL, checked against the format the URL names.

    Raises:
        _BadRequest: If the URL's format is not that of its bytes (the server answers 400).
    """
    header, _, data = url.partition(",")
    image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
    if header != f"data:image/{image.format.lower()};base64":
        raise _BadRequest(f"{header} does not match the {image.format} bytes")
    return image


def _decode_image(url: str) -> str:
    image = decode_image_url(url)
    return f"{image.format} {describe_image(image)}"


def completion(content: Any, **fields: Any) -> dict[str, Any]:
    """A chat completion answering ``content``, with ``fields`` added or replacing its own."""
    return {
        "id": "chatcmpl-0",
        "object": "chat.completion",
        "model": SERVED,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            },
        ],
        **fields,
    }


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
    usage = {
        "prompt_tokens": sum(map(len, texts)) + 100 * len(images),
        "completion_tokens": len(answer[:end].split()),
    }
    return completion(answer[:end], usage=usage)


Answer = Callable[[dict[str, Any]], dict[str, Any]]
"""A request's JSON body -> the chat completion to send back."""


class FakeChatServer(ThreadingHTTPServer):
    """An OpenAI-compatible server on a free loopback port, recording what it receives.

    ``script`` holds responses (``Scripted``) sent first, one per request; then
    ``POST /v1/chat/completions`` answers with ``answer`` (by default ``complete``), once
    ``answering`` is set (it is unless a test clears it, to hold the answers until an event).
    """

    def __init__(self, answer: Answer = complete) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.received: list[dict[str, Any]] = []
        self.script: list[Scripted] = []
        self.answering = threading.Event()
        self.answering.set()
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self._arrived = threading.Condition(self.lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    def wait_received(self, count: int) -> None:
        """Return once ``count`` requests have been received."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.received) >= count, WAIT_LIMIT)
        assert arrived, f"{len(self.received)} requests received, not {count}"

    def answer_once_received(self, count: int) -> None:
        """Hold the answers until ``count`` requests have been received (``answering``)."""
        self.answering.clear()

        def release() -> None:
            self.wait_received(count)
            self.answering.set()

        threading.Thread(target=release, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms stall between a response's headers and body
    server: FakeChatServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", **(headers or {})}
        chunked = isinstance(body, Iterator)
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers.setdefault("Content-Length", str(len(data)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            if not chunked:
                self.wfile.write(data)
                return
            for chunk in body:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):  # the client stopped reading
            self.close_connection = True

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
            server._arrived.notify_all()
            scripted = server.script.pop(0) if server.script else None
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            if scripted:
                status, headers, payload = scripted
                return self._send(status, payload, headers)
            assert server.answering.wait(WAIT_LIMIT), "the answers were held too long"
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            try:
                return self._send(200, server.answer(body))
            except _BadRequest as error:
                return self._send(400, {"error": {"message": str(error)}})
        finally:
            with server.lock:
                server.in_flight -= 1


@contextmanager
def serving(answer: Answer = complete) -> Iterator[FakeChatServer]:
    """A ``FakeChatServer`` answering with ``answer`` on a thread until the block ends."""
    server = FakeChatServer(answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy may intercept loopback requests, and no developer key may leak into them."""
    for name in ("OPENAI_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def record_backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds the openai adapter works out to wait after each failed attempt (before the
    next one, if any), recorded as it does."""
    backoffs: list[float] = []

    def recording(attempt: int, retry_after: str | None = None) -> float:
        backoffs.append(backoff(attempt, retry_after))
        return backoffs[-1]

    backoff = _openai._backoff
    monkeypatch.setattr(_openai, "_backoff", recording)
    return backoffs


def openai_adapter(server: FakeChatServer, **options: Any) -> OpenAIAdapter:
    return OpenAIAdapter(base_url=server.base_url, model=SERVED, **options)


def model_input(question: str, size: tuple[int, int] = (64, 48), colour: str = "red") -> ModelInput:
    return ModelInput(
        (Message("user", (ImagePart(Path("q.jpg")), question)),), [Image.new("RGB", size, colour)]
    )
