"""Provider adapters end to end: the official SDK clients (and httpx for Gemini) talk
HTTP to a local fake that speaks each provider's wire format."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest

from agentkit_inngest import (
    FatalProviderError,
    Message,
    Model,
    ProviderError,
    RetriableProviderError,
    State,
    TextMessage,
    ToolCall,
    ToolCallMessage,
    ToolContext,
    ToolResultMessage,
    create_agent,
    tool,
)
from agentkit_inngest.models import ModelRequest, anthropic, gemini, grok, openai
from agentkit_inngest.testing import text, tool_call, tool_calls
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault


class Forecast(pydantic.BaseModel):
    city: str
    days: int | None = None


@tool
def forecast(params: Forecast, ctx: ToolContext) -> dict[str, object]:
    """Forecast the weather."""
    ctx.state.kv.set(params.city, "sunny")
    return {"city": params.city, "sky": "sunny"}


def _model(kind: str, url: str, **kw: Any) -> Model:
    if kind == "openai":
        return openai("gpt-test", base_url=f"{url}/v1", api_key="sk-test", **kw)
    if kind == "grok":
        return grok("grok-test", base_url=f"{url}/v1", api_key="xai-test", **kw)
    if kind == "anthropic":
        return anthropic("claude-test", base_url=url, api_key="ant-test", **kw)
    return gemini("gemini-test", base_url=f"{url}/v1beta", api_key="gem-test", **kw)


KINDS = ["openai", "anthropic", "gemini", "grok"]


@pytest.mark.parametrize("kind", KINDS)
async def test_text_answer(kind: str, fake_provider: FakeProvider, provider_url: str) -> None:
    fake_provider.reply(text("Hello there."))
    agent = create_agent(name="A", system="Be nice.", model=_model(kind, provider_url))
    result = await agent.run("Hi")
    assert result.text == "Hello there."
    first = result.output[0]
    assert isinstance(first, TextMessage)
    assert first.stop_reason == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (10, 5)
    (request,) = fake_provider.requests
    body = request.body
    if kind in ("openai", "grok"):
        assert request.path == "/v1/chat/completions"
        assert request.headers["authorization"].startswith("Bearer ")
        assert body["messages"] == [
            {"role": "system", "content": "Be nice."},
            {"role": "user", "content": "Hi"},
        ]
    elif kind == "anthropic":
        assert request.path == "/v1/messages"
        assert body["system"] == "Be nice." and body["max_tokens"] == 4096
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    else:
        assert request.path == "/v1beta/models/gemini-test:generateContent"
        assert request.headers["x-goog-api-key"] == "gem-test"
        assert body["systemInstruction"] == {"parts": [{"text": "Be nice."}]}
        assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_round_trip_with_parallel_calls(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        tool_calls(
            ("forecast", {"city": "Rome"}, "c1"), ("forecast", {"city": "Paris", "days": 2}, "c2")
        ),
        text("Both sunny."),
    )
    state: State[dict[str, object]] = State()
    agent = create_agent(name="A", model=_model(kind, provider_url), tools=[forecast], max_iter=2)
    result = await agent.run("Weather in Rome and Paris?", state=state)
    assert result.text == "Both sunny."
    assert state.kv.all() == {"Rome": "sunny", "Paris": "sunny"}
    calls = next(m for m in result.output if isinstance(m, ToolCallMessage)).tools
    assert [c.name for c in calls] == ["forecast", "forecast"]
    assert [c.arguments["city"] for c in calls] == ["Rome", "Paris"]
    first, second = fake_provider.bodies()
    if kind in ("openai", "grok"):
        spec = first["tools"][0]["function"]
        assert spec["name"] == "forecast" and spec["description"] == "Forecast the weather."
        if kind == "openai":
            assert spec["strict"] is True
            assert spec["parameters"]["properties"]["days"]["anyOf"][-1] == {"type": "null"}
        else:
            assert spec["strict"] is False and spec["parameters"]["required"] == ["city"]
        assert first["tool_choice"] == "auto"
        assistant, r1, r2 = second["messages"][-3:]
        assert [c["id"] for c in assistant["tool_calls"]] == ["c1", "c2"]
        assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {
            "city": "Paris",
            "days": 2,
        }
        assert r1 == {
            "role": "tool",
            "tool_call_id": "c1",
            "content": '{"city":"Rome","sky":"sunny"}',
        }
        assert r2["tool_call_id"] == "c2"
    elif kind == "anthropic":
        assert first["tools"][0]["input_schema"]["required"] == ["city"]
        assert first["tool_choice"] == {"type": "auto"}
        assistant, results = second["messages"][-2:]
        assert [b["type"] for b in assistant["content"]] == ["tool_use", "tool_use"]
        assert results["role"] == "user"
        assert [b["tool_use_id"] for b in results["content"]] == ["c1", "c2"]
    else:
        declaration = first["tools"][0]["functionDeclarations"][0]
        assert "additionalProperties" not in json.dumps(declaration)
        assert first["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
        model_turn, user_turn = second["contents"][-2:]
        assert [p["functionCall"]["args"]["city"] for p in model_turn["parts"]] == ["Rome", "Paris"]
        assert user_turn["parts"][0]["functionResponse"] == {
            "name": "forecast",
            "response": {"city": "Rome", "sky": "sunny"},
        }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("any", {"openai": "required", "anthropic": {"type": "any"}, "gemini": {"mode": "ANY"}}),
        (
            "forecast",
            {
                "openai": {"type": "function", "function": {"name": "forecast"}},
                "anthropic": {"type": "tool", "name": "forecast"},
                "gemini": {"mode": "ANY", "allowedFunctionNames": ["forecast"]},
            },
        ),
    ],
)
async def test_tool_choice_mapping(
    kind: str,
    choice: str,
    expected: dict[str, object],
    fake_provider: FakeProvider,
    provider_url: str,
) -> None:
    fake_provider.reply(tool_call("forecast", {"city": "Oslo"}))
    agent = create_agent(
        name="A", model=_model(kind, provider_url), tools=[forecast], tool_choice=choice
    )
    await agent.run("q")
    body = fake_provider.bodies()[0]
    if kind == "gemini":
        assert body["toolConfig"]["functionCallingConfig"] == expected["gemini"]
    else:
        assert (
            body["tool_choice"] == expected["openai" if kind in ("openai", "grok") else "anthropic"]
        )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "error", "fragment"),
    [
        (400, FatalProviderError, "HTTP 400"),
        (401, FatalProviderError, "check the API key"),
        (429, RetriableProviderError, "HTTP 429 (will retry)"),
        (500, RetriableProviderError, "HTTP 500 (will retry)"),
    ],
)
async def test_http_errors_are_classified(
    kind: str,
    status: int,
    error: type[ProviderError],
    fragment: str,
    fake_provider: FakeProvider,
    provider_url: str,
) -> None:
    headers = {"retry-after": "7"} if status == 429 else {}
    fake_provider.reply(Fault(status=status, message="the fake says no", headers=headers))
    model = _model(kind, provider_url)
    body = model.build_body(ModelRequest(messages=[TextMessage(role="user", content="q")]))
    with pytest.raises(error) as caught:
        await model.complete(body)
    assert fragment in str(caught.value) and "the fake says no" in str(caught.value)
    assert caught.value.status_code == status
    assert "sk-test" not in str(caught.value) and "ant-test" not in str(caught.value)
    if status == 429:
        assert caught.value.retry_after == 7
    assert len(fake_provider.requests) == 1  # SDK retries are off: Inngest retries steps


@pytest.mark.parametrize("kind", KINDS)
async def test_timeouts_and_unreadable_answers_are_retriable(
    kind: str, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(Fault(status=None, delay=1.0), Fault(status=200, body="<html>oops</html>"))
    model = _model(kind, provider_url, timeout=0.2)
    body = model.build_body(ModelRequest(messages=[TextMessage(role="user", content="q")]))
    with pytest.raises(RetriableProviderError, match="timed out"):
        await model.complete(body)
    with pytest.raises(RetriableProviderError):
        await model.complete(body)


@pytest.mark.parametrize("kind", KINDS)
async def test_unreachable_provider_is_retriable(kind: str) -> None:
    model = _model(kind, "http://127.0.0.1:9")  # nothing listens on the discard port
    body = model.build_body(ModelRequest(messages=[TextMessage(role="user", content="q")]))
    with pytest.raises(RetriableProviderError, match=r"could not be reached|timed out"):
        await model.complete(body)


async def test_openai_malformed_tool_arguments_go_back_to_the_model(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "bad",
                                "type": "function",
                                "function": {"name": "forecast", "arguments": "{city: Rome"},
                            }
                        ],
                    },
                }
            ],
        },
        text("sorry"),
    )
    agent = create_agent(
        name="A", model=_model("openai", provider_url), tools=[forecast], max_iter=2
    )
    result = await agent.run("q")
    error = result.tool_calls[0]
    assert error.is_error and "could not be read" in error.content["message"]
    echoed = fake_provider.bodies()[1]["messages"][-2]["tool_calls"][0]["function"]["arguments"]
    assert echoed == "{city: Rome"  # the model sees exactly what it sent


def test_stop_reasons_and_refusals_are_mapped() -> None:
    oa = openai("m", api_key="k")
    raw: dict[str, Any] = {
        "choices": [{"finish_reason": "length", "message": {"content": "cut"}}],
        "usage": {},
    }
    assert oa.parse_response(raw).stop_reason == "length"
    raw = {"choices": [{"finish_reason": "content_filter", "message": {"refusal": "no"}}]}
    refused = oa.parse_response(raw).output[0]
    assert isinstance(refused, TextMessage)
    assert refused.stop_reason == "content_filter"
    with pytest.raises(FatalProviderError, match="returned an error"):
        oa.parse_response({"error": {"message": "bad"}})
    an = anthropic("m", api_key="k")
    raw = {
        "content": [{"type": "thinking", "thinking": "..."}, {"type": "text", "text": "hi"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 1, "output_tokens": 2, "cache_read_input_tokens": 3},
    }
    parsed = an.parse_response(raw)
    assert parsed.stop_reason == "length" and parsed.usage.input_tokens == 4
    ge = gemini("m", api_key="k")
    blocked = ge.parse_response({"promptFeedback": {"blockReason": "SAFETY"}})
    assert blocked.stop_reason == "content_filter"
    raw = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "x", "thought": True},
                        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "sig"},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    parsed = ge.parse_response(raw)
    calls = parsed.output[0]
    assert isinstance(calls, ToolCallMessage)
    call = calls.tools[0]
    assert parsed.stop_reason == "tool" and call.meta == {"thoughtSignature": "sig"}
    assert ge.parse_response(raw).output == parsed.output  # ids derive from the answer: stable


def test_history_conversion_merges_roles() -> None:
    history: list[Message] = [
        TextMessage(role="system", content="s1"),
        TextMessage(role="system", content="s2"),
        TextMessage(role="user", content="q"),
        TextMessage(role="assistant", content="looking"),
        ToolCallMessage(
            tools=(ToolCall(id="t", name="f", arguments={"a": 1}, meta={"thoughtSignature": "s"}),)
        ),
        ToolResultMessage(tool_call_id="t", name="f", content="boom", is_error=True),
        TextMessage(role="assistant", content="fine"),
    ]
    request = ModelRequest(messages=history)
    body = anthropic("m", api_key="k").build_body(request)
    assert body["system"] == "s1\n\ns2"
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant"]
    assert body["messages"][2]["content"][0]["is_error"] is True
    oa = openai("m", api_key="k").build_body(request)["messages"]
    assert oa[3] == {
        "role": "assistant",
        "content": "looking",
        "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
        ],
    }
    ge = gemini("m", api_key="k").build_body(request)["contents"]
    assert ge[1]["parts"][1]["thoughtSignature"] == "s"
    assert ge[2]["parts"][0]["functionResponse"]["response"] == {"error": "boom"}


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1/")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:2/v1")
    assert openai("m").base_url == "http://127.0.0.1:1/v1"
    assert anthropic("m").base_url == "http://127.0.0.1:2"
    assert openai("m", base_url="http://x/v1").base_url == "http://x/v1"
    assert grok("m").base_url == "https://api.x.ai/v1"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        openai("m").api_key()
    monkeypatch.delenv("XAI_API_KEY")
    with pytest.raises(Exception, match="XAI_API_KEY"):
        grok("m").api_key()
    assert (
        anthropic("m", default_parameters={"max_tokens": 10}).default_parameters["max_tokens"] == 10
    )
    with pytest.raises(Exception, match="max_tokens"):
        anthropic("m", default_parameters={"max_tokens": 0})


def test_offload_adapters_point_at_the_right_endpoints() -> None:
    adapter = anthropic(
        "claude", api_key="k", base_url="http://h", beta_headers=["b1", "b2"]
    ).ai_adapter()
    assert adapter.url_infer() == "http://h/v1/messages" and adapter.format() == "anthropic"
    assert adapter.headers()["anthropic-beta"] == "b1,b2"
    assert (
        openai("gpt", api_key="k", base_url="http://h/v1").ai_adapter().url_infer()
        == "http://h/v1/chat/completions"
    )
    assert grok("g", api_key="k").ai_adapter().url_infer() == "https://api.x.ai/v1/chat/completions"
    assert "models/gm:generateContent" in gemini("gm", api_key="k").ai_adapter().url_infer()


def test_from_environment_picks_the_provider_whose_key_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentkit_inngest.models import AnthropicModel, OpenAIModel, from_environment
    from agentkit_inngest.testing import ScriptedModel

    offline = ScriptedModel()
    model, said = from_environment(offline)  # the guard sets sentinel keys
    assert isinstance(model, AnthropicModel) and "ANTHROPIC_API_KEY is set" in said
    assert model.default_parameters["max_tokens"] == 1000
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    model, said = from_environment(offline, openai_model="gpt-test")
    assert isinstance(model, OpenAIModel) and model.model == "gpt-test"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert from_environment(offline) == (offline, from_environment(offline)[1])
    assert "embedded offline model" in from_environment(offline)[1]
