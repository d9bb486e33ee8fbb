"""An agent whose tools come from an MCP server.

The server (``examples/mcp_travel_server.py``, built with the official ``mcp`` SDK)
is started over stdio; its tools ``distance`` and ``convert`` become the agent's
tools ``travel-distance`` and ``travel-convert``. Run it::

    python examples/mcp_agent.py "How far is Paris from Berlin, in miles?"

With ``ANTHROPIC_API_KEY`` (or ``OPENAI_API_KEY``) set it uses that provider;
otherwise an embedded offline model picks the tools, so the example runs anywhere.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

from agentkit_inngest import MCPServer, Model, ToolResultMessage, create_agent
from agentkit_inngest.models import from_environment
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, text, tool_call

QUESTION = "How far is Paris from Berlin, in miles?"
SERVER_SCRIPT = Path(__file__).with_name("mcp_travel_server.py")

travel = MCPServer.stdio(
    "travel",
    command=sys.executable,
    args=[str(SERVER_SCRIPT)],
    connect_timeout=30,
    call_timeout=10,
)


# -- the offline model ---------------------------------------------------------------------

_KNOWN = ["Amsterdam", "Berlin", "Madrid", "Paris", "Rome", "Vienna"]


def _offline(call: ModelCall) -> Reply:
    """Plan like a model would: look the distance up, convert it if asked, answer."""
    question = next((m.content for m in call.messages if m.role == "user"), "")
    asked = str(question)
    results = [m for m in call.messages if isinstance(m, ToolResultMessage)]
    if not results:
        found = sorted((m.start(), city) for city in _KNOWN if (m := re.search(city, asked, re.I)))
        cities = [city for _, city in found][:2]
        if len(cities) < 2:
            cities = ["Paris", "Berlin"]
        return tool_call("travel-distance", {"from_city": cities[0], "to_city": cities[1]})
    last = results[-1]
    if last.is_error:
        return text(f"The travel server could not answer: {last.content}")
    if last.name == "travel-distance" and re.search(r"\bmiles?\b", asked, re.I):
        return tool_call(
            "travel-convert", {"value": last.content["km"], "from_unit": "km", "to_unit": "mi"}
        )
    if last.name == "travel-convert":
        km = results[0].content
        return text(
            f"{km['from_city']} to {km['to_city']} is {km['km']} km, "
            f"about {last.content['result']} miles."
        )
    return text(
        f"{last.content['from_city']} to {last.content['to_city']} is {last.content['km']} km."
    )


def pick_model() -> tuple[Model, str]:
    """A real provider when a key is set, else the embedded offline model."""
    return from_environment(FunctionModel(_offline, model="offline-travel"))


model, model_description = pick_model()

agent = create_agent(
    name="Travel planner",
    system=(
        "You answer questions about distances between European capitals. Use the travel "
        "tools to look distances up and to convert units; never guess a number."
    ),
    model=model,
    mcp_servers=[travel],
    max_iter=4,
)


def main(argv: list[str]) -> int:
    question = " ".join(argv) or QUESTION
    print(f"Model: {model_description}")
    print(f"MCP server: {travel!r}\n")
    print(f"Question: {question}\n")
    result = asyncio.run(agent.run(question))
    for call in result.tool_calls:
        flag = " (error)" if call.is_error else ""
        print(f"- {call.name}{flag} -> {json.dumps(call.content)}")
    print(f"\nAnswer: {result.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
