"""Fixtures of the hostile tests: a fake OpenAI-compatible server, a clean environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.openai_server import FakeChatServer, clean_environment, serving


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


@pytest.fixture()
def server() -> Iterator[FakeChatServer]:
    with serving() as server:
        yield server
