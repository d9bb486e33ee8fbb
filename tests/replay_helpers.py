"""The network the replay tests run: one agent called ``turns`` times, one tool call a turn.

``bump`` counts each turn in ``effects`` (so a test sees every tool call ran once); with
``fail_at`` it asks for a retry at that turn every time, until the step's attempts are
spent and its failure is memoized.
"""

from __future__ import annotations

import collections
from typing import Any

from agentkit_inngest import (
    ToolRetry,
    create_agent,
    create_network,
    create_server,
    network_function,
    tool,
)
from agentkit_inngest.models import ModelRequest
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call
from agentkit_inngest.testing.executor import Run
from agentkit_inngest.testing.fake_providers import RecordedRequest


class CountingModel(FunctionModel):
    """Counts how often a request body is built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies = 0

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        self.bodies += 1
        return super().build_body(request)


def turns_network(
    turns: int, effects: collections.Counter[int], model: Any = None, *, fail_at: int = 0
) -> tuple[Any, CountingModel]:
    """The network, and its model (a :class:`CountingModel` unless ``model`` is given)."""

    @tool
    def bump(turn: int) -> str:
        """Count a turn."""
        effects[turn] += 1
        if turn == fail_at:
            raise ToolRetry(f"turn {turn} cannot be counted yet")
        return f"turn {turn}"

    def respond(call: ModelCall) -> Any:
        done = sum(1 for m in call.messages if m.kind == "tool_result")
        if done < turns:
            return tool_call("bump", {"turn": done + 1}, id=f"c{done + 1}")
        return text("done")

    model = model if model is not None else CountingModel(respond)
    worker = create_agent(name="Worker", model=model, tools=[bump])

    def router(*, call_count: int) -> Any:
        return worker if call_count < turns else None

    return create_network(name="Turns", agents=[worker], router=router), model


def provider_turns(turns: int) -> Any:
    """The fake provider's answer to every request of the network: the next turn's call."""

    def respond(request: RecordedRequest) -> Any:
        done = sum(1 for m in request.body["messages"] if m.get("role") == "tool")
        return tool_call("bump", {"turn": done + 1}, id=f"c{done}") if done < turns else text("ok")

    return respond


async def run_turns(
    network: Any, *, app: str, checkpointing: bool, retries: int | None = None
) -> tuple[LocalExecutor, Run]:
    """One run of ``network`` (from :func:`turns_network`) served as its function alone.

    The checkpointing option is the function's own; the executor is closed, its records kept.
    """
    async with LocalExecutor() as executor:
        client = executor.client(app)
        function = network_function(
            network, client=client, checkpointing=checkpointing, retries=retries
        )
        await executor.attach(create_server(client=client, functions=[function]))
        run = await executor.run("network-turns", {"input": "go"}, check=False)
    return executor, run
