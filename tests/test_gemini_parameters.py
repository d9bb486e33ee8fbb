"""Gemini's ``default_parameters``: the flat sampling settings a TypeScript AgentKit
user (or an OpenAI user) writes go inside ``generationConfig``, the native shape is
kept, and a field Gemini would reject is a clear error when the model is defined.

The requests go through ``gemini()``'s real HTTP call to the fake Gemini endpoint,
which answers HTTP 400 to unknown top-level fields as Gemini does."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit_inngest import ConfigurationError, create_agent
from agentkit_inngest.models import gemini
from agentkit_inngest.models._gemini_config import GENERATION_FIELDS, REQUEST_FIELDS
from agentkit_inngest.testing import text
from agentkit_inngest.testing.fake_providers import FakeProvider


def _gemini(url: str, **parameters: Any) -> Any:
    return gemini(
        "gemini-2.5-flash",
        base_url=f"{url}/v1beta",
        api_key="gem-test",
        default_parameters=parameters,
    )


async def test_the_typescript_flat_temperature_reaches_gemini_in_generation_config(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    # AgentKit TS: gemini({ model, defaultParameters: { temperature: 0.5 } })
    fake_provider.reply(text("Bonjour."))
    agent = create_agent(
        name="Translator",
        system="Translate to French.",
        model=_gemini(provider_url, temperature=0.5),
    )
    result = await agent.run("Hello.")
    assert result.text == "Bonjour."
    (request,) = fake_provider.requests
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.body["generationConfig"] == {"temperature": 0.5}
    assert "temperature" not in request.body
    assert set(request.body) == {"contents", "systemInstruction", "generationConfig"}


async def test_openai_style_names_are_mapped_and_merged_with_the_native_shape(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text("ok"))
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    model = _gemini(
        provider_url,
        top_p=0.9,
        topK=40,
        max_tokens=256,
        stop="END",
        seed=7,
        frequency_penalty=0.5,
        response_mime_type="text/plain",
        generationConfig={"candidateCount": 1},
        safety_settings=safety,
    )
    await create_agent(name="A", model=model).run("q")
    body = fake_provider.bodies()[0]
    assert body["generationConfig"] == {
        "candidateCount": 1,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
        "seed": 7,
        "frequencyPenalty": 0.5,
        "responseMimeType": "text/plain",
    }
    assert body["safetySettings"] == safety and "safety_settings" not in body


async def test_the_native_shape_is_sent_as_it_is(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(text("ok"))
    native = {
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 1024},
        "safetySettings": [],
        "cachedContent": "cachedContents/abc",
    }
    model = _gemini(provider_url, **native)
    assert model.default_parameters == native
    await create_agent(name="A", model=model).run("q")
    body = fake_provider.bodies()[0]
    assert {k: body[k] for k in native} == native


def test_the_fake_gemini_rejects_unknown_fields_as_gemini_does(provider_url: str) -> None:
    answer = httpx.post(
        f"{provider_url}/v1beta/models/g:generateContent",
        json={"contents": [], "temperature": 0.5},
    )
    assert answer.status_code == 400
    assert 'Unknown name "temperature"' in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"temprature": 0.5}, r"does not accept: 'temprature'\. Accepted: the request fields"),
        ({"contents": []}, r"'contents' set by the adapter"),
        ({"tools": []}, r"'tools' set by the adapter"),
        ({"temperature": 0.5, "generationConfig": {"temperature": 0.1}}, "'temperature' twice"),
        ({"max_tokens": 10, "maxOutputTokens": 20}, "'maxOutputTokens' twice"),
        ({"temperature": "hot"}, r"\['temperature'\] must be a number, got 'hot'"),
        ({"temperature": math.nan}, "must be a number"),
        ({"max_tokens": 1.5}, "must be an integer"),
        ({"max_tokens": True}, "must be an integer"),
        ({"seed": 2**40}, "must be an integer"),
        ({"stop": ["a", 1]}, "must be a list of strings"),
        ({"generationConfig": "hot"}, "must be a JSON object"),
        ({"safetySettings": {}}, "must be a list"),
        ({"generationConfig": {"temperature": math.inf}}, "cannot be sent as JSON"),
        ({"labels": {"team": "\ud800"}}, "cannot be sent as JSON"),
    ],
)
def test_what_gemini_would_reject_fails_when_the_model_is_defined(
    parameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        gemini("g", api_key="k", default_parameters=parameters)
    assert str(caught.value).startswith("gemini/g: default_parameters")


# -- hostile values --------------------------------------------------------------------

_names = st.sampled_from(
    [*REQUEST_FIELDS, *GENERATION_FIELDS, "max_tokens", "stop", "top_p", "generation_config"]
) | st.text(max_size=12)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=4)
    | st.sampled_from(["\ud800", "\x00", "x" * 300])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)


_text = st.text(max_size=8) | st.sampled_from(["\ud800", "\x00", "x" * 300])
_well_formed = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "topK": st.integers(1, 100),
        "max_tokens": st.integers(1, 8192),
        "stop": _text | st.lists(_text, max_size=3),
        "seed": st.integers(-(2**31), 2**31 - 1),
        "response_mime_type": st.sampled_from(["text/plain", "application/json"]),
        "thinking_config": st.dictionaries(st.text(max_size=6), _values, max_size=2),
        "generationConfig": st.dictionaries(
            st.sampled_from(sorted(GENERATION_FIELDS)), _values, max_size=3
        ),
        "safety_settings": st.lists(st.dictionaries(_text, _text, max_size=2), max_size=2),
        "cachedContent": _text,
    },
)
_parameters = (
    _well_formed
    | st.dictionaries(_names | st.integers(), _values, max_size=5)
    | st.builds(
        lambda good, bad: {**good, **bad},
        _well_formed,
        st.dictionaries(_names, _values, max_size=1),
    )
)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(_parameters)
def test_any_default_parameters_give_a_sendable_request_or_a_configuration_error(
    parameters: dict[Any, Any],
) -> None:
    try:
        model = gemini("g", api_key="k", default_parameters=parameters)
    except ConfigurationError as err:
        refused = str(err)
        assert refused.startswith("gemini/g: default_parameters"), refused
        return
    sent = model.default_parameters
    assert set(sent) <= set(REQUEST_FIELDS)
    json.dumps(sent, allow_nan=False, ensure_ascii=False).encode("utf-8")
    aliases = {"max_tokens": "maxOutputTokens", "stop": "stopSequences", "top_p": "topP"}
    for name in parameters:
        field = aliases.get(name, name)
        if field in GENERATION_FIELDS:  # given flat: moved into generationConfig
            assert field in sent["generationConfig"] and field not in sent
