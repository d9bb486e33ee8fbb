"""The chat example (examples/ui) over HTTP: the page, POST /chat, the stream of a
run it starts, and threads that remember."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import inngest
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentkit_inngest.testing import LocalExecutor
from agentkit_inngest.testing.servers import serve_async

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
ui = importlib.import_module("examples.ui.app")
ANSWER = (
    "Tomorrow in Oslo: 4°C, sleet, 80% chance of rain. "
    "Wear a warm coat, gloves and a hat, and take an umbrella. Have a good day!"
)


@contextlib.asynccontextmanager
async def chat_app() -> AsyncIterator[tuple[LocalExecutor, Any, httpx.AsyncClient]]:
    model = ui.TypingModel(ui._offline, delay=0)
    async with LocalExecutor() as executor:
        app = ui.build_app(client=executor.client("agentkit-ui"), model=model)
        url = await executor.attach(app)
        base = url.removesuffix("/api/inngest")
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            yield executor, app, http


@contextlib.asynccontextmanager
async def in_process(client: inngest.Inngest | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The app called in process: enough for what happens before an event is sent."""
    client = client or inngest.Inngest(app_id="agentkit-ui", is_production=False)
    app = ui.build_app(client=client, model=ui.TypingModel(ui._offline, delay=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ui") as http:
        yield http


async def _one_run(http: httpx.AsyncClient, thread: str) -> list[dict[str, Any]]:
    """The events of the thread's next run, read as the page reads them."""
    events: list[dict[str, Any]] = []
    async with http.stream("GET", f"/streams/{thread}", params={"until": "done"}) as response:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind != "ready":
                events.append(json.loads(line[5:]))
    return events


async def test_the_page_and_its_assets_are_served() -> None:
    async with in_process() as http:
        page = await http.get("/")
        script = await http.get("/static/chat.js")
        markdown = await http.get("/static/markdown.js")
        style = await http.get("/static/chat.css")
        config = (await http.get("/config")).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="question"' in page.text and "/static/chat.js" in page.text
    assert script.status_code == 200 and "new EventSource" in script.text
    assert style.status_code == 200
    assert markdown.status_code == 200 and "innerHTML" not in markdown.text + script.text
    assert config == {
        "model": "test/offline-weather",
        "network": "Weather desk",
        "examples": ui.EXAMPLES,
    }


async def test_a_question_starts_a_run_whose_progress_streams() -> None:
    async with chat_app() as (_, app, http):
        # like the page: subscribe to the thread first, then ask
        listening = asyncio.create_task(_one_run(http, "t-ui"))
        await asyncio.wait_for(app.state.broker.wait_for_subscribers("t-ui"), 30)
        started = await http.post("/chat", json={"message": "Oslo tomorrow?", "thread_id": "t-ui"})
        assert started.status_code == 200
        assert started.json()["thread_id"] == "t-ui"
        assert started.json()["stream"] == "/streams/t-ui"
        events = await asyncio.wait_for(listening, 30)
        fresh = (await http.post("/chat", json={"message": "Lisbon?"})).json()
    assert len(fresh["thread_id"]) == 32 and fresh["stream"] == f"/streams/{fresh['thread_id']}"
    types = [e["type"] for e in events]
    assert types[0] == "run.started" and types[-1] == "run.completed"
    assert [e["agent"] for e in events if e["type"] == "agent.started"] == [
        "Forecaster",
        "Advisor",
    ]
    call = next(e for e in events if e["type"] == "tool.call")
    assert (call["agent"], call["data"]["name"], call["data"]["arguments"]) == (
        "Forecaster",
        "get_forecast",
        {"city": "Oslo"},
    )
    result = next(e for e in events if e["type"] == "tool.result")
    assert json.loads(result["data"]["content"]) == ui.forecast_for("Oslo")
    advisor_text = "".join(
        e["data"]["delta"] for e in events if e["type"] == "text.delta" and e["agent"] == "Advisor"
    )
    assert advisor_text == events[-1]["data"]["output"] == ANSWER
    assert types.count("text.delta") > 10  # word by word


async def test_a_thread_remembers_earlier_questions() -> None:
    async with chat_app() as (executor, app, http):
        for question in ("What about Oslo?", "And Tokyo?"):
            await http.post("/chat", json={"message": question, "thread_id": "trip-1"})
            for run in list(executor.runs.values()):
                await run.wait()
        model = app.state.network.agent("Forecaster").model
    forecaster_calls = [c for c in model.calls if c.system.startswith("You are the forecaster")]
    said = [getattr(m, "content", "") for m in forecaster_calls[-2].messages]
    assert "What about Oslo?" in said and "And Tokyo?" in said
    tool_results = [m for m in forecaster_calls[-1].messages if m.kind == "tool_result"]
    assert "Tokyo" in tool_results[-1].content


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"message": "   "}, "message", "the message is blank"),
        ({}, "message", "Field required"),
        ({"message": "hi", "thread_id": "a/b"}, "thread_id", "should match pattern"),
        ({"message": "hi", "thread": "x"}, "thread", "Extra inputs are not permitted"),
    ],
)
async def test_bad_questions_get_a_422_naming_the_field(
    body: dict[str, Any], field: str, message: str
) -> None:
    async with in_process() as http:
        response = await http.post("/chat", json=body)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"][-1] == field and message in error["msg"]


async def test_an_event_inngest_refuses_is_a_502_that_says_what_to_check() -> None:
    async def refuse(request: Request) -> JSONResponse:
        return JSONResponse({"error": "Event key not found"}, status_code=401)

    event_api = Starlette(routes=[Route("/e/{key}", refuse, methods=["POST"])])
    async with serve_async(event_api) as server:
        client = inngest.Inngest(
            app_id="agentkit-ui", is_production=False, event_api_base_url=server.url
        )
        async with in_process(client) as http:
            response = await http.post("/chat", json={"message": "Oslo?"})
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "could not send the event to Inngest" in detail
    assert "INNGEST_EVENT_KEY" in detail and "dev server" in detail


def test_the_forecast_is_made_up_but_stable() -> None:
    assert ui.forecast_for("Lisbon")["sky"] == "sunny"
    made_up = ui.forecast_for("Atlantis")
    assert made_up == ui.forecast_for("atlantis ") and made_up["city"] == "Atlantis"


def test_a_key_picks_a_real_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    offline, _ = ui.pick_model()
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    openai_model, _ = ui.pick_model()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    anthropic_model, _ = ui.pick_model()
    assert isinstance(offline, ui.TypingModel) and offline.delay > 0
    assert (openai_model.provider, anthropic_model.provider) == ("openai", "anthropic")


def test_main_rejects_unknown_options() -> None:
    with pytest.raises(SystemExit):
        ui.main(["--bogus"])


async def test_a_thread_s_messages_can_be_read_back() -> None:
    async with chat_app() as (executor, _, http):
        await http.post("/chat", json={"message": "Oslo tomorrow?", "thread_id": "reload-1"})
        for run in list(executor.runs.values()):
            await run.wait()
        stored = (await http.get("/threads/reload-1/messages")).json()
        unknown = (await http.get("/threads/never-used/messages")).json()
        bad = await http.get("/threads/a.b/messages")
    assert stored["thread_id"] == "reload-1"
    kinds = [(m["kind"], m["role"]) for m in stored["messages"]]
    assert kinds == [
        ("text", "user"),
        ("tool_call", "assistant"),
        ("tool_result", "tool_result"),
        ("text", "assistant"),
        ("text", "assistant"),
    ]
    assert stored["messages"][0]["content"] == "Oslo tomorrow?"
    assert stored["messages"][-1]["content"] == ANSWER
    assert unknown == {"thread_id": "never-used", "messages": []}
    assert bad.status_code == 422


async def test_the_forecast_is_a_typed_custom_event_and_the_stream_is_described() -> None:
    import jsonschema

    async with chat_app() as (_, app, http):
        listening = asyncio.create_task(_one_run(http, "t-custom"))
        await asyncio.wait_for(app.state.broker.wait_for_subscribers("t-custom"), 30)
        await http.post("/chat", json={"message": "Oslo tomorrow?", "thread_id": "t-custom"})
        events = await asyncio.wait_for(listening, 30)
        schema = (await http.get("/stream-schema.json")).json()
        types = await http.get("/stream-types.d.ts")
    custom = [e for e in events if e["type"] == "custom"]
    assert [(e["agent"], e["data"]["topic"], e["data"]["data"]) for e in custom] == [
        ("Forecaster", "forecast", ui.forecast_for("Oslo"))
    ]
    # it comes before the tool's result: published inside the tool's step
    kinds = [e["type"] for e in events]
    assert kinds.index("custom") < kinds.index("tool.result")
    for event in events:
        jsonschema.validate(event, schema)
    assert "export type ForecastCard = " in types.text
    assert types.headers["content-type"].startswith("text/plain")
