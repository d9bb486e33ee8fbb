from __future__ import annotations

import os
import socket

import httpx
import pytest

from agentkit_inngest import TextMessage, create_agent
from agentkit_inngest.models import openai
from agentkit_inngest.testing import (
    PROVIDER_KEY_VARIABLES,
    FunctionModel,
    LocalExecutor,
    RealNetworkBlocked,
    ScriptedModel,
    block_real_providers,
    text,
)
from agentkit_inngest.testing.fake_providers import FakeProvider

from .message_helpers import content


def test_guard_blocks_non_loopback_connections() -> None:
    with socket.socket() as sock, pytest.raises(RealNetworkBlocked, match="only loopback"):
        sock.connect(("203.0.113.5", 443))
    with socket.socket() as sock, pytest.raises(RealNetworkBlocked):
        sock.connect_ex(("198.51.100.1", 80))


def test_guard_allows_loopback_and_swaps_keys() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    with socket.socket() as client:
        client.connect(server.getsockname())
    server.close()
    assert os.environ["OPENAI_API_KEY"] == "test-key-OPENAI_API_KEY"
    assert set(PROVIDER_KEY_VARIABLES) >= {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY"}


def test_guard_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "outer")
    with block_real_providers():
        assert os.environ["GEMINI_API_KEY"] == "test-key-GEMINI_API_KEY"
    assert os.environ["GEMINI_API_KEY"] == "outer"


async def test_scripted_model_records_and_runs_out_loudly() -> None:
    model = ScriptedModel([text("one")]).add(lambda call: f"echo {content(call.last)}")
    agent = create_agent(name="A", model=model)
    assert (await agent.run("x")).text == "one"
    assert (await agent.run("y")).text == "echo y"
    assert model.remaining == 0 and len(model.calls) == 2
    with pytest.raises(AssertionError, match="no scripted answer left for call #3"):
        await agent.run("z")


async def test_function_model_answers_with_messages() -> None:
    async def respond(call: object) -> list[TextMessage]:
        return [
            TextMessage(role="assistant", content="a"),
            TextMessage(role="assistant", content="b"),
        ]

    result = await create_agent(name="A", model=FunctionModel(respond)).run("q")
    assert result.text == "a\nb"
    with pytest.raises(TypeError, match="cannot answer with int"):
        await create_agent(name="B", model=FunctionModel(lambda call: 5)).run("q")  # type: ignore[arg-type,return-value]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_the_executor_and_the_fake_provider_listen_where_they_are_told() -> None:
    api_port, provider_port = _free_port(), _free_port()
    async with LocalExecutor(host="127.0.0.1", port=api_port) as executor:
        assert executor.api_url == f"http://127.0.0.1:{api_port}"
        async with httpx.AsyncClient() as http:  # its event API answers there
            answer = await http.post(f"{executor.api_url}/e/key", json={"name": "x", "data": {}})
        assert answer.status_code == 200
    fake = FakeProvider()
    fake.reply(text("hi"))
    with fake.serve(host="127.0.0.1", port=provider_port) as server:
        assert server.url == f"http://127.0.0.1:{provider_port}"
        model = openai("gpt-test", base_url=f"{server.url}/v1", api_key="test")
        result = await create_agent(name="A", model=model).run("hello")
    assert result.text == "hi" and fake.bodies("openai")[0]["messages"][-1]["content"] == "hello"
