"""AgentKit docs, concepts/models and reference/model-*: every model sample, sent to
the local fake provider through the real adapters, checking what reaches the wire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentkit_inngest import create_agent, create_network, route_in_order
from agentkit_inngest.models import Model, anthropic, gemini, grok, openai
from agentkit_inngest.testing import text, tool_call
from agentkit_inngest.testing.fake_providers import FakeProvider, RecordedRequest

from .porting_helpers import point_providers_at


@pytest.fixture
def providers(fake_provider: FakeProvider, provider_url: str, monkeypatch: Any) -> FakeProvider:
    point_providers_at(monkeypatch, provider_url)
    return fake_provider


Check = Callable[[RecordedRequest, str], None]


def _openai_key(key: str) -> Check:
    def check(sent: RecordedRequest, url: str) -> None:
        assert sent.headers["authorization"] == f"Bearer {key}"

    return check


def _body(**fields: Any) -> Check:
    def check(sent: RecordedRequest, url: str) -> None:
        for name, value in fields.items():
            assert sent.body[name] == value, name

    return check


def _header(name: str, value: str) -> Check:
    def check(sent: RecordedRequest, url: str) -> None:
        assert sent.headers[name] == value

    return check


SAMPLES: list[tuple[str, Callable[[str], Model], list[Check]]] = [
    # concepts/models
    (
        "models/openai-create",
        lambda url: openai("gpt-3.5-turbo", api_key="sk-test"),
        [_openai_key("sk-test"), _body(model="gpt-3.5-turbo")],
    ),
    (
        "models/anthropic-create",
        lambda url: anthropic(
            "claude-3-5-haiku-latest",
            beta_headers=["prompt-caching-2024-07-31"],
            api_key="ak-test",
            default_parameters={"max_tokens": 4096},
        ),
        [
            _header("anthropic-beta", "prompt-caching-2024-07-31"),
            _header("authorization", "Bearer ak-test"),
            _body(max_tokens=4096),
        ],
    ),
    ("models/gemini-create", lambda url: gemini("gemini-1.5-flash"), []),
    (
        "models/openai-params",
        lambda url: openai("gpt-3.5-turbo", default_parameters={"temperature": 0.5}),
        [_body(temperature=0.5)],
    ),
    (
        "models/anthropic-params",
        lambda url: anthropic(
            "claude-3-5-haiku-latest", default_parameters={"temperature": 0.5, "max_tokens": 4096}
        ),
        [_body(temperature=0.5, max_tokens=4096)],
    ),
    (
        "models/gemini-params",
        lambda url: gemini(
            "gemini-1.5-flash", default_parameters={"temperature": 0.5}
        ),  # TS's flat shape
        [_body(generationConfig={"temperature": 0.5})],
    ),
    # reference/model-*
    (
        "ref-openai/config",
        lambda url: openai(
            "gpt-4",
            api_key="sk-ref",
            base_url=f"{url}/v1/",
            default_parameters={"temperature": 0.5},
        ),
        [_openai_key("sk-ref"), _body(model="gpt-4", temperature=0.5)],
    ),
    (
        "ref-anthropic/config",
        lambda url: anthropic(
            "claude-3-opus",
            api_key="ak-ref",
            base_url=f"{url}/v1/",
            beta_headers=["computer-vision"],
            default_parameters={"temperature": 0.5, "max_tokens": 4096},
        ),
        [
            _header("anthropic-beta", "computer-vision"),
            _body(model="claude-3-opus", max_tokens=4096),
        ],
    ),
    (
        "ref-gemini/config",
        lambda url: gemini(
            "gemini-pro",
            api_key="g-ref",
            base_url=f"{url}/v1beta/",
            default_parameters={"generationConfig": {"temperature": 1.5}},
        ),  # the native shape
        [_body(generationConfig={"temperature": 1.5}), _header("x-goog-api-key", "g-ref")],
    ),
    (
        "ref-grok/config",
        lambda url: grok(
            "grok-4-latest",
            api_key="xai-ref",
            base_url=f"{url}/v1",
            default_parameters={"temperature": 0.5},
        ),
        [_openai_key("xai-ref"), _body(model="grok-4-latest", temperature=0.5)],
    ),
]


@pytest.mark.parametrize(("sample", "build", "checks"), SAMPLES, ids=[s[0] for s in SAMPLES])
async def test_each_model_sample_reaches_its_provider_as_written(
    providers: FakeProvider,
    provider_url: str,
    sample: str,
    build: Callable[[str], Model],
    checks: list[Check],
) -> None:
    providers.reply(text("Hello"))
    # TS: createAgent({ model: openai({ model: "gpt-3.5-turbo" }), name, system, tools })
    agent = create_agent(name="Agent", system="You are helpful.", model=build(provider_url))
    result = await agent.run("Hi")
    assert result.text == "Hello"
    (sent,) = providers.requests
    for check in checks:
        check(sent, provider_url)


async def test_the_basic_reference_models_and_a_network_default_model(
    providers: FakeProvider,
) -> None:
    # ref-*/basic: openai("gpt-4"), anthropic("claude-3-opus", max_tokens), gemini, grok
    models = [
        openai("gpt-4"),
        anthropic("claude-3-opus", default_parameters={"max_tokens": 4096}),
        gemini("gemini-pro"),
        grok("grok-4-latest"),
    ]
    agents = [create_agent(name=f"A{i}", model=m) for i, m in enumerate(models)]
    default = create_agent(name="Default")  # models/network-default-model: no model of its own
    providers.reply(*(text(f"answer {i}") for i in range(5)))
    network = create_network(
        name="Models",
        agents=[*agents, default],
        default_model=openai("gpt-4o"),
        router=route_in_order(*agents, default),
    )
    run = await network.run("Hi")
    assert [r.text for r in run.results] == [f"answer {i}" for i in range(5)]
    assert [r.provider for r in providers.requests] == [
        "openai",
        "anthropic",
        "gemini",
        "openai",
        "openai",
    ]
    assert providers.bodies()[-1]["model"] == "gpt-4o"


async def test_an_agent_model_with_tools(providers: FakeProvider) -> None:
    from agentkit_inngest import tool

    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return f"{city}: sunny"

    # models/agent-model: createAgent({ model: openai({ model: "gpt-3.5-turbo" }), tools })
    agent = create_agent(name="Weather", model=openai("gpt-3.5-turbo"), tools=[lookup], max_iter=2)
    providers.reply(tool_call("lookup", {"city": "Oslo"}), text("Sunny in Oslo."))
    result = await agent.run("Oslo weather?")
    assert result.tool_calls[0].content == "Oslo: sunny" and result.text == "Sunny in Oslo."
    assert providers.bodies("openai")[0]["tools"][0]["function"]["name"] == "lookup"
