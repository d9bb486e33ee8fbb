"""The workload of the checkpointing tests: one agent, ``turns`` turns, the ``openai``
model over real HTTP against the local fake provider, and a tool that counts its
executions (the app runs in the test's event loop, so the counts are exact)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import inngest

from agentkit_inngest import (
    ToolContext,
    create_agent,
    create_network,
    create_server,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.models import openai
from agentkit_inngest.testing import LocalExecutor, text, tool_call, tool_calls
from agentkit_inngest.testing.executor import Run
from agentkit_inngest.testing.fake_providers import FakeProvider, RecordedRequest

FN = "network-work"


def answers(turns: int, *, first: int = 1) -> Callable[[RecordedRequest], Any]:
    """The model: ``first`` parallel calls of ``bump`` in turn 1, one call in each turn
    after, then ``"done"`` once ``turns`` turns asked for tools (read from the request's
    conversation, so a repeated inference gets the same answer)."""

    def respond(request: RecordedRequest) -> Any:
        messages = request.body["messages"]
        asked = sum(1 for m in messages if m.get("role") == "assistant" and m.get("tool_calls"))
        if asked >= turns:
            return text(f"done after {asked} turns")
        if asked == 0 and first > 1:
            return tool_calls(*(("bump", {"n": 0, "slot": s}, f"c0-{s}") for s in range(first)))
        return tool_call("bump", {"n": asked, "slot": 0}, id=f"c{asked}")

    return respond


class Workload:
    """A network of one agent, ``Worker``, that calls ``bump`` for ``turns`` turns."""

    def __init__(
        self,
        fake: FakeProvider,
        provider_url: str,
        turns: int,
        *,
        first: int = 1,
        respond: Callable[[RecordedRequest], Any] | None = None,
        inference: Any = "in_process",
    ) -> None:
        self.turns = turns
        self.first = first
        self.effects: collections.Counter[tuple[int, int]] = collections.Counter()
        self.gate: asyncio.Event | None = None
        """When set, the first turn's parallel calls wait for each other here."""
        self.started: list[int] = []
        self.on_tool: Callable[[int, int], None] | None = None
        """Called as each tool call starts (it may raise, e.g. ``ToolRetry``)."""
        fake.reply(*([respond or answers(turns, first=first)] * (4 * turns + 20)))
        self.model = openai(
            "gpt-test", api_key="test", base_url=f"{provider_url}/v1", inference=inference
        )

    @property
    def tool_calls(self) -> int:
        return self.first + self.turns - 1

    def network(self, *, name: str = "Work", tools: Sequence[Any] = (), **options: Any) -> Any:
        workload = self

        @tool
        async def bump(n: int, slot: int, ctx: ToolContext) -> dict[str, int]:
            """Count one tool call."""
            if workload.on_tool is not None:
                workload.on_tool(n, slot)
            workload.effects[(n, slot)] += 1
            workload.started.append(slot)
            if workload.gate is not None and n == 0:
                if len(workload.started) >= workload.first:
                    workload.gate.set()
                await asyncio.wait_for(workload.gate.wait(), 10)
            ctx.state.kv.set("last", n)
            return {"n": n, "slot": slot}

        agent = create_agent(
            name="Worker",
            system="You are Worker.",
            model=self.model,
            tools=[bump, *tools],
            max_iter=self.turns + 2,
        )
        return create_network(name=name, agents=[agent], router=route_in_order(agent), **options)

    def exactly_once(self) -> bool:
        expected = {(0, s) for s in range(self.first)} | {(n, 0) for n in range(1, self.turns)}
        return self.effects == collections.Counter(dict.fromkeys(expected, 1))


@contextlib.asynccontextmanager
async def served(
    workload: Workload,
    *,
    executor: LocalExecutor | None = None,
    checkpointing: Any = True,
    client_options: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[LocalExecutor, inngest.Inngest]]:
    """An executor driving the workload's network as ``network-work``."""
    async with contextlib.AsyncExitStack() as stack:
        if executor is None:
            executor = await stack.enter_async_context(LocalExecutor())
        client = executor.client("ckpt", **(client_options or {}))
        function = network_function(workload.network(), client=client, checkpointing=checkpointing)
        await executor.attach(create_server(client=client, functions=[function], **options))
        yield executor, client


def checkpoints_of(executor: LocalExecutor, run: Run) -> list[Any]:
    return [c for c in executor.checkpoints if c.run_id == run.id]


async def plain_output(fake: FakeProvider, provider_url: str, turns: int, first: int = 1) -> Any:
    """The same network's output, served without checkpointing (split turns)."""
    workload = Workload(fake, provider_url, turns, first=first)
    async with served(workload, checkpointing=False) as (executor, _):
        run = await executor.run(FN, {"input": "go"})
        assert not checkpoints_of(executor, run)
        return run.output, sorted(run.step_names.values())
