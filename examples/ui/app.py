"""A chat page that shows an agent network working, live.

The page (``static/``, plain HTML and JavaScript) keeps its thread's id in the
browser (``localStorage``), shows the conversation so far (``GET
/threads/<thread>/messages``, read from the network's history store), opens a
server-sent-events stream for the thread (``GET /streams/<thread>``), then posts
each question to ``POST /chat``, which sends the network's event to Inngest. Inngest runs the
network by calling this same app; each step publishes its progress to the
in-process broker, and the page shows it as it comes: which agent runs, its text
as it is written, tool calls and their results, token usage, the final answer.

The network is a small "Weather desk": a Forecaster looks the forecast up with a
tool (which publishes the forecast at once as a custom ``forecast`` event, typed by
``ForecastCard``: ``GET /stream-schema.json`` and ``GET /stream-types.d.ts`` describe
the stream to clients), then an Advisor says what to wear. Without an API key an offline model
answers (and types its words out slowly, so the streaming shows); with
``ANTHROPIC_API_KEY`` or ``OPENAI_API_KEY`` set a real model does.

Run it on its own, with the local executor from the testing kit standing in for
Inngest (no other program needed)::

    python -m examples.ui.app --local          # then open http://127.0.0.1:8000/

Several replicas of it share their streams and threads when ``AGENTKIT_REDIS_URL``
(a :class:`RedisBroker`) and ``AGENTKIT_POSTGRES_DSN`` (a :class:`PostgresStore`) are
set: ``docker compose --profile selfhosted up`` runs two behind a load balancer
(docs/deployment.md).

Or under the Inngest dev server::

    INNGEST_DEV=1 uvicorn --factory examples.ui.app:build_app --port 8000
    npx inngest-cli@latest dev -u http://127.0.0.1:8000/api/inngest --no-discovery
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import fastapi
import inngest
import pydantic
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from agentkit_inngest import (
    Agent,
    Model,
    Network,
    ToolContext,
    create_agent,
    create_client,
    create_network,
    create_server,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.history import HistoryStore, MemoryStore, PostgresStore
from agentkit_inngest.messages import TextMessage
from agentkit_inngest.models import Price, TextSink, anthropic, openai
from agentkit_inngest.streaming import (
    Broker,
    BrokerPublisher,
    MemoryBroker,
    RedisBroker,
    Topic,
    stream_schema,
    typescript_types,
)
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call

APP_ID = os.environ.get("INNGEST_APP_ID", "agentkit-ui")
STATIC = Path(__file__).resolve().parent / "static"
THREAD_ID = r"^[A-Za-z0-9_-]{1,64}$"
RESTORED_MESSAGES = 200  # the most messages a reloaded page shows
EXAMPLES = [
    "What should I wear in Oslo tomorrow?",
    "Will I need an umbrella in Tokyo tomorrow?",
    "Is it T-shirt weather in Lisbon tomorrow?",
]

# -- the network ---------------------------------------------------------------------------

_KNOWN = {
    "lisbon": (22, "sunny", 5),
    "oslo": (4, "sleet", 80),
    "tokyo": (17, "cloudy", 40),
    "nairobi": (25, "scattered showers", 60),
    "reykjavik": (1, "windy with snow", 70),
}


def forecast_for(city: str) -> dict[str, Any]:
    """Tomorrow's forecast. Made-up data (the same for the same city), so the
    example runs offline: swap in a weather API for real use."""
    key = city.strip().lower()
    if key in _KNOWN:
        celsius, sky, rain = _KNOWN[key]
    else:
        digest = hashlib.sha256(key.encode()).digest()
        celsius, sky, rain = digest[0] % 30 - 2, ("clear", "overcast", "rainy")[digest[1] % 3], 0
        rain = digest[2] % 100 if sky != "clear" else 0
    return {"city": city.strip().title(), "celsius": celsius, "sky": sky, "rain_chance": rain}


class ForecastCard(pydantic.BaseModel):
    """What the page shows as soon as the forecast is known (a custom stream event)."""

    city: str
    celsius: int
    sky: str
    rain_chance: int


FORECAST = Topic("forecast", ForecastCard, description="tomorrow's forecast for a city")
"""The Forecaster's own stream messages; the page renders them, and
``GET /stream-schema.json`` / ``GET /stream-types.d.ts`` describe them to clients."""


@tool
async def get_forecast(city: str, ctx: ToolContext) -> str:
    """Get tomorrow's weather forecast for a city."""
    found = forecast_for(city)
    await ctx.publish(FORECAST, found)  # shown at once, before the model has written a word
    return json.dumps(found)


def _city(question: str) -> str:
    for name in _KNOWN:
        if name in question.lower():
            return name.title()
    found = re.search(r"\b(?:in|for|to|at)\s+([A-Z][\w-]+)", question)
    return found.group(1) if found else "Lisbon"


def _offline(call: ModelCall) -> Reply:
    """The offline model: the Forecaster calls the tool and sums it up; the Advisor
    reads that summary and advises."""
    last = call.last
    if call.system.startswith("You are the forecaster"):
        if last is not None and last.kind == "tool_result":
            data = json.loads(last.content)
            return text(
                f"Tomorrow in {data['city']}: {data['celsius']}°C, {data['sky']}, "
                f"{data['rain_chance']}% chance of rain."
            )
        question = next(
            (m.content for m in reversed(call.messages) if isinstance(m, TextMessage)), ""
        )
        return tool_call("get_forecast", {"city": _city(question)})
    notes = next(
        (
            m.content
            for m in reversed(call.messages)
            if isinstance(m, TextMessage) and m.role == "assistant"
        ),
        "",
    )
    degrees = re.search(r"(-?\d+)°C", notes)
    rain = re.search(r"(\d+)% chance", notes)
    celsius = int(degrees.group(1)) if degrees else 15
    advice = "a warm coat, gloves and a hat" if celsius < 10 else "a light jacket"
    if celsius >= 20:
        advice = "a T-shirt and sunglasses"
    if rain and int(rain.group(1)) >= 50:
        advice += ", and take an umbrella"
    return text(f"{notes} Wear {advice}. Have a good day!")


class TypingModel(FunctionModel):
    """A function model that streams its words with a pause between them, the way
    a real model's tokens arrive (``delay`` 0 streams at once)."""

    def __init__(self, function: Any, *, delay: float) -> None:
        super().__init__(function, model="offline-weather")
        self.delay = delay

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        sink = on_text
        if sink is not None and self.delay > 0:

            async def typed(piece: str) -> None:
                await asyncio.sleep(self.delay)
                await sink(piece)

            return await super().request(body, on_text=typed)
        return await super().request(body, on_text=sink)


def pick_model(*, delay: float = 0.04) -> tuple[Model, str]:
    """A real provider when a key is set, else the offline model."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        model = anthropic("claude-3-5-haiku-latest", default_parameters={"max_tokens": 800})
        return model, "Anthropic claude-3-5-haiku-latest"
    if os.environ.get("OPENAI_API_KEY"):
        return openai("gpt-4o-mini"), "OpenAI gpt-4o-mini"
    return TypingModel(_offline, delay=delay), "the offline model (set an API key for a real one)"


def build_network(model: Model, *, history: HistoryStore | None = None) -> Network[Any]:
    forecaster: Agent = create_agent(
        name="Forecaster",
        description="Looks up tomorrow's weather",
        system=(
            "You are the forecaster. Call get_forecast for the city the user asks about, "
            "then state the forecast in one sentence with the numbers."
        ),
        model=model,
        tools=[get_forecast],
        max_iter=3,
    )
    advisor: Agent = create_agent(
        name="Advisor",
        description="Says what to wear",
        system=(
            "You are the advisor. Using the forecaster's sentence, repeat the forecast and "
            "say in one or two sentences what to wear."
        ),
        model=model,
    )
    return create_network(
        name="Weather desk",
        agents=[forecaster, advisor],
        router=route_in_order(forecaster, advisor),
        history=history or MemoryStore(),
        prices={"offline-weather": Price(input=0.0, output=0.0)},  # the offline model is free
    )


# -- the app -------------------------------------------------------------------------------


class ChatRequest(pydantic.BaseModel):
    """What the page posts."""

    model_config = pydantic.ConfigDict(extra="forbid")

    message: str = pydantic.Field(min_length=1, max_length=4000)
    thread_id: str | None = pydantic.Field(
        default=None, pattern=THREAD_ID, description="letters, digits, - and _"
    )

    @pydantic.field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the message is blank")
        return value.strip()


class ChatStarted(pydantic.BaseModel):
    thread_id: str
    stream: str
    event_ids: list[str]


class ThreadMessages(pydantic.BaseModel):
    """A thread's conversation as the history store keeps it (newest last)."""

    thread_id: str
    messages: list[dict[str, Any]]


def shared_stores() -> tuple[Broker, HistoryStore | None]:
    """What several replicas of the app share, from the environment:
    ``AGENTKIT_REDIS_URL`` (streams: a :class:`RedisBroker`, else one in memory)
    and ``AGENTKIT_POSTGRES_DSN`` (thread history: a :class:`PostgresStore`, else
    one in memory). docker-compose.yml's ``selfhosted`` profile sets both."""
    redis_url = os.environ.get("AGENTKIT_REDIS_URL")
    dsn = os.environ.get("AGENTKIT_POSTGRES_DSN")
    broker: Broker = RedisBroker(redis_url) if redis_url else MemoryBroker()
    return broker, PostgresStore(dsn) if dsn else None


def build_app(
    *,
    client: inngest.Inngest | None = None,
    broker: Broker | None = None,
    model: Model | None = None,
    history: HistoryStore | None = None,
) -> fastapi.FastAPI:
    """The chat app: the page, ``POST /chat``, the network at ``/api/inngest``, its
    progress at ``GET /streams/{thread}`` and a thread's messages at
    ``GET /threads/{thread}/messages``. Without a broker or history store given,
    :func:`shared_stores` picks them from the environment. In production mode the
    streams are public only with ``AGENTKIT_PUBLIC_STREAMS=1`` (the page's thread
    ids are 128-bit random values: knowing one is the only way in)."""
    client = client or create_client(APP_ID)
    if broker is None or history is None:
        found_broker, found_history = shared_stores()
        broker, history = broker or found_broker, history or found_history
    if model is None:
        model, described = pick_model()
    else:
        described = model.label
    network = build_network(model, history=history)
    function = network_function(
        network, client=client, retries=2, publisher=BrokerPublisher(broker)
    )
    app = fastapi.FastAPI(title="agentkit-inngest chat")
    public = os.environ.get("AGENTKIT_PUBLIC_STREAMS", "") == "1" and client.is_production
    create_server(
        client=client, functions=[function], broker=broker, app=app, allow_public_streams=public
    )
    event_name = f"{client.app_id}/{function.local_id}"

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/config")
    async def config() -> dict[str, Any]:
        return {"model": described, "network": network.name, "examples": EXAMPLES}

    @app.get("/stream-schema.json")
    async def schema() -> dict[str, Any]:
        # the JSON Schema of every stream event, the Forecaster's "forecast" topic typed
        return stream_schema([FORECAST])

    @app.get("/stream-types.d.ts", response_class=PlainTextResponse)
    async def types() -> str:
        return typescript_types([FORECAST])

    @app.get("/threads/{thread_id}/messages")
    async def thread_messages(
        thread_id: Annotated[str, fastapi.Path(pattern=THREAD_ID)],
    ) -> ThreadMessages:
        # what the runs of the thread saved: the users' questions, the agents' text,
        # tool calls and results (an unknown thread has none)
        store = network.history
        messages = [] if store is None else await store.load(thread_id, limit=RESTORED_MESSAGES)
        return ThreadMessages(
            thread_id=thread_id,
            messages=[
                message.model_dump(mode="json")
                for message in messages
                if not (isinstance(message, TextMessage) and message.role == "system")
            ],
        )

    @app.post("/chat")
    async def chat(request: ChatRequest) -> ChatStarted:
        thread_id = request.thread_id or uuid.uuid4().hex
        try:
            ids = await client.send(
                inngest.Event(
                    name=event_name, data={"input": request.message, "thread_id": thread_id}
                )
            )
        except Exception as err:
            raise fastapi.HTTPException(
                502,
                f"could not send the event to Inngest ({err}). Is the Inngest dev server "
                "running (with INNGEST_DEV=1 here), or INNGEST_EVENT_KEY set for Inngest "
                "Cloud? examples/ui/app.py shows the commands",
            ) from err
        return ChatStarted(thread_id=thread_id, stream=f"/streams/{thread_id}", event_ids=ids)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.broker = broker
    app.state.network = network
    return app


# -- running it ----------------------------------------------------------------------------


async def serve_local(*, host: str, port: int) -> None:
    """Serve the app with the testing kit's local executor standing in for Inngest."""
    from agentkit_inngest.testing import LocalExecutor
    from agentkit_inngest.testing.servers import serve_async

    async with LocalExecutor() as executor:
        app = build_app(client=executor.client(APP_ID))
        async with serve_async(app, host=host, port=port) as server:
            await executor.sync(f"{server.url}/api/inngest")
            print(f"Chat page: {server.url}/  (local executor; Ctrl-C to stop)", flush=True)
            await asyncio.Event().wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", action="store_true", help="run without an Inngest server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args(argv)
    if options.local:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_local(host=options.host, port=options.port))
        return 0
    import uvicorn

    os.environ.setdefault("INNGEST_DEV", "1")
    uvicorn.run(build_app(), host=options.host, port=options.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
