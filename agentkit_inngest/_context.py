"""The leaf run context: what tools, system prompts, hooks and routers receive.

A :class:`NetworkRun` is the state of one run as the code called during it sees it:
the run's :class:`~agentkit_inngest.State`, its step runner, the user's input, the
agent calls made so far, and read-only views of the network's definition. The
loops that drive a run live in the run layer (``agentkit_inngest._run``) and
change it; nothing here imports them. An agent run on its own gets a context too,
with no network (:attr:`NetworkRun.network` is ``None``).

Agents and networks are definitions of a higher layer; this module sees them
through two small protocols, :class:`AgentView` and :class:`NetworkView`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Protocol, TypeAlias, runtime_checkable

import pydantic_core

from ._ledger import Ledger
from ._state import AgentResult, State
from ._steps import StepRunner, StepTools, default_runner
from .history import ContextWindow, HistoryStore
from .messages import ToolCall, Usage
from .models import Model
from .streaming._topics import Topic, custom_event_data
from .tools import Tool

__all__ = [
    "AgentView",
    "NetworkRun",
    "NetworkView",
    "SystemPrompt",
    "ToolContext",
    "ToolSource",
]

logger = logging.getLogger("agentkit_inngest")


class AgentView(Protocol):
    """What the run context, tools, routers and prompts read of an agent definition."""

    @property
    def name(self) -> str:
        """Unique within a network."""
        ...

    @property
    def description(self) -> str:
        """What the agent does (routing agents read it)."""
        ...

    @property
    def tools(self) -> Sequence[Tool]:
        """The agent's own tools."""
        ...

    async def is_enabled(self, network: NetworkRun) -> bool:
        """Whether the agent may be called now (its ``enabled`` hook)."""
        ...


class NetworkView(Protocol):
    """What the run context reads of a network definition."""

    @property
    def name(self) -> str:
        """The network's name."""
        ...

    @property
    def agents(self) -> Sequence[AgentView]:
        """Its agents."""
        ...

    @property
    def default_model(self) -> Model | None:
        """The model of agents without one."""
        ...

    @property
    def history(self) -> HistoryStore | None:
        """Its thread store."""
        ...

    @property
    def context_window(self) -> ContextWindow | None:
        """What part of the conversation each model call gets."""
        ...

    @property
    def fast_turns(self) -> bool:
        """One step per agent turn, for agents that do not say otherwise."""
        ...


SystemPrompt: TypeAlias = "str | Callable[..., str | Awaitable[str]]"
"""A system prompt: text, or a (sync or async) function of the run: ``fn(run)``, or
``fn(*, network)`` as AgentKit writes it (``({ network }) => ...``)."""


class NetworkRun:
    """One run of a network, or of an agent on its own.

    One run of a network (or of an agent on its own): what routers, tools and system prompts see
    as ``network``.

    Attributes:
        network: the network definition (``None`` for an agent run on its own).
        state: the run's state.
        runner: how the run's steps execute.
        input: the user's message.
        call_count: agent calls made so far in this run.
        stack: agents scheduled to run next.
        routing_usage: tokens used by routing agents.
        cache: per-run values of tool sources (MCP connections and tool lists).
        ledger: what the run spent (requests, tokens, tool calls, estimated cost),
            in total, per model and per agent, and its budget.
        answer: the run's typed final answer, for a network with ``output_type``.
    """

    def __init__(
        self,
        *,
        network: NetworkView | None,
        state: State[Any],
        runner: StepRunner,
        input: str,
    ) -> None:
        self.network = network
        self.state = state
        self.runner = runner
        self.input = input
        self.call_count = 0
        self.stack: list[AgentView] = []
        self.routing_usage = Usage()
        self.cache: dict[str, Any] = {}
        self._first_result = len(state.results)
        self._agents: Mapping[str, AgentView] | None = None
        self._cleanups: list[Callable[[], Awaitable[None]]] = []
        self.ledger = Ledger()
        self.answer: Any = None

    @classmethod
    def for_agent(
        cls, *, state: State[Any] | None, runner: StepRunner | None, input: str
    ) -> NetworkRun:
        """The context of an agent called on its own (outside any network)."""
        start = state if state is not None else State()
        return cls(
            network=None,
            state=start,
            runner=(
                runner
                if runner is not None
                else default_runner("agent.run()", thread_id=start.thread_id)
            ),
            input=input,
        )

    def __repr__(self) -> str:
        return f"NetworkRun(name={self.name!r}, calls={self.call_count})"

    @property
    def is_standalone(self) -> bool:
        """Whether this is the run of an agent called on its own."""
        return self.network is None

    def add_cleanup(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run ``cleanup`` when the run (or, under Inngest, this request) ends."""
        self._cleanups.append(cleanup)

    async def close(self) -> None:
        """Run the cleanups, newest first; a failing cleanup is logged, not raised."""
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                await cleanup()
            except Exception:  # cleanup must not mask the run's outcome
                logger.exception("cleanup of network run %r failed", self.name)

    def with_state(self, state: State[Any]) -> NetworkRun:
        """This run seen with another state object (a tool's working copy)."""
        twin = copy.copy(self)
        twin.state = state
        return twin

    # -- read-only views ------------------------------------------------------------

    @property
    def name(self) -> str:
        """The network's name (``"standalone"`` for an agent run on its own)."""
        return self.network.name if self.network is not None else "standalone"

    @property
    def agents(self) -> Mapping[str, AgentView]:
        """The network's agents by name."""
        if self._agents is None:
            found = self.network.agents if self.network is not None else ()
            self._agents = {agent.name: agent for agent in found}
        return self._agents

    @property
    def default_model(self) -> Model | None:
        """The network's default model."""
        return self.network.default_model if self.network is not None else None

    @property
    def history(self) -> HistoryStore | None:
        """The network's thread store."""
        return self.network.history if self.network is not None else None

    @property
    def results(self) -> list[AgentResult]:
        """The agent results produced by this run."""
        return self.state.results[self._first_result :]

    @property
    def output(self) -> str:
        """The text of the last agent result of this run."""
        results = self.results
        return results[-1].text if results else ""

    @property
    def usage(self) -> Usage:
        """Tokens used by this run: its agents' and its routing agents' inferences."""
        total = self.routing_usage
        for result in self.results:
            total = total + result.usage
        return total

    async def publish(
        self,
        topic: str | Topic[Any],
        data: object,
        *,
        agent: str | None = None,
        tool_call_id: str | None = None,
    ) -> None:
        """Publish a custom event on the run's stream.

        ``topic`` and JSON ``data`` (validated when ``topic`` is a
        :class:`~agentkit_inngest.streaming.Topic`).

        It is delivered like the built-in events: once per step across replays, over
        SSE and Realtime (nowhere when the run streams nowhere). Tools call
        ``ctx.publish``; hooks and routers call this.

        Raises:
            InputError: a bad topic name, or data that is not JSON (or not the
                topic's model).
        """
        payload = custom_event_data(topic, data, tool_call_id=tool_call_id)
        await self.runner.stream.emit("custom", agent=agent, **payload)

    async def available_agents(self) -> list[AgentView]:
        """Agents whose ``enabled`` hook allows them now."""
        return [agent for agent in self.agents.values() if await agent.is_enabled(self)]

    def to_json(self) -> dict[str, Any]:
        """The run as JSON, as a network function returns it.

        The run as JSON (what a network function returns): the output text, the state's
        ``data``, ``kv`` and ``thread_id``, this run's results (what each agent call added:
        :meth:`AgentResult.to_json`), usage, what it spent (``cost``) and its typed ``answer``
        (``None`` without one). Each message appears once, so it grows linearly with the run;
        the whole conversation is ``state.to_json()`` (or a history store).
        """
        return {
            "network": self.name,
            "output": self.output,
            "state": self.state.to_json(conversation=False),
            "results": [r.to_json() for r in self.results],
            "usage": {**self.usage.model_dump(), "total_tokens": self.usage.total_tokens},
            "cost": self.ledger.to_json(),
            "answer": pydantic_core.to_jsonable_python(self.answer),
        }


@dataclasses.dataclass
class ToolContext:
    """What a handler gets besides its input.

    Attributes:
        agent: the agent that called the tool.
        network: the run (of the network, or of the agent on its own); its ``state``
            is the same object as :attr:`state`.
        state: the state the handler may change. Changes are recorded in the tool's
            step and re-applied on replay.
        step: the step API, for tools declared with ``uses_steps=True`` (other tools
            already run inside a step; calling it from them raises a clear error).
        call: the model's tool call (id, name, raw arguments).
    """

    # a handler parameter annotated with this class receives the context (tools' CONTEXT_MARKER)
    __agentkit_tool_context__: ClassVar[bool] = True

    agent: AgentView
    network: NetworkRun
    state: State[Any]
    step: StepTools
    call: ToolCall

    async def publish(self, topic: str | Topic[Any], data: object) -> None:
        """Publish a custom event on the run's stream.

        Publish a custom event (``topic``, JSON ``data``) on the run's stream, as AgentKit's
        ``publish(channel.topic(data))``: once per step, over SSE and Realtime. ``topic`` may be
        a :class:`~agentkit_inngest.streaming.Topic` that types the data. See
        :meth:`NetworkRun.publish`.
        """
        await self.network.publish(topic, data, agent=self.agent.name, tool_call_id=self.call.id)


@runtime_checkable
class ToolSource(Protocol):
    """Tools an agent discovers at run time (an MCP server, for instance).

    ``list_tools`` is called at the start of each agent call; it must make its own
    I/O through ``network.runner`` steps (so replays read the memo) and may cache
    per run in ``network.cache``. Cleanups go to ``network.add_cleanup``.
    """

    name: str

    async def list_tools(self, network: NetworkRun) -> list[Tool]:
        """The source's tools for this run."""
        ...
