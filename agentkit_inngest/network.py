"""Networks of agents and the network loop.

A network run asks its router which agent(s) to call, calls them one after the
other, appends each result to the shared state and asks the router again, until
the router returns nothing or ``max_iter`` agent calls have been made.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import ConfigurationError, InputError
from .messages import TextMessage, Usage
from .routing import Router, check_router, route
from .state import AgentResult, State
from .steps import InlineRunner, StepRunner

if TYPE_CHECKING:
    from .agent import Agent
    from .history import ContextWindow, HistoryStore
    from .models import Model

__all__ = ["Network", "NetworkRun", "create_network"]

T = TypeVar("T")
logger = logging.getLogger("agentkit_inngest")


class Network(Generic[T]):
    """Agents sharing state, a router and a default model. Build with :func:`create_network`."""

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        agents: Sequence[Agent],
        default_model: Model | None = None,
        router: Router | None = None,
        max_iter: int = 0,
        default_state: State[T] | None = None,
        history: HistoryStore | None = None,
        context_window: ContextWindow | None = None,
        fast_turns: bool = False,
    ) -> None:
        from .agent import Agent

        if not name or not name.strip():
            raise ConfigurationError("network name must not be empty")
        if max_iter < 0:
            raise ConfigurationError(f"network {name!r}: max_iter must be >= 0")
        self.name = name
        self.description = description
        self.agents: dict[str, Agent] = {}
        for agent in agents:
            if not isinstance(agent, Agent):
                raise ConfigurationError(
                    f"network {name!r}: agents must be Agent objects, got {type(agent).__name__}"
                )
            if agent.name in self.agents:
                raise ConfigurationError(f"network {name!r} has two agents named {agent.name!r}")
            self.agents[agent.name] = agent
        if not self.agents:
            raise ConfigurationError(f"network {name!r} needs at least one agent")
        self.default_model = default_model
        check_router(router, where=f"network {name!r}")
        self.router = router
        self.max_iter = max_iter
        self.default_state: State[T] = default_state if default_state is not None else State()
        self.history = history
        self.context_window = context_window
        self.fast_turns = fast_turns

    def __repr__(self) -> str:
        return f"Network(name={self.name!r}, agents={list(self.agents)!r})"

    def new_state(self, state: State[Any] | dict[str, Any] | None = None) -> State[Any]:
        """The state a run starts from: ``state`` (a State or its JSON), else a copy of
        the default state."""
        if state is None:
            return self.default_state.clone()
        if isinstance(state, State):
            return state
        if isinstance(state, dict):
            return State.from_json(state, data_type=self.default_state.data_type)
        raise InputError(f"state must be a State or a JSON object, got {type(state).__name__}")

    async def run(
        self,
        input: str,
        *,
        state: State[Any] | dict[str, Any] | None = None,
        router: Router | None = None,
        runner: StepRunner | None = None,
    ) -> NetworkRun:
        """Run the network on ``input``.

        Args:
            input: the user's message.
            state: start from this state (it is changed in place) or its JSON;
                default: a copy of ``default_state``.
            router: use this router for this run instead of the network's.
            runner: how steps run; default :class:`InlineRunner` (plain Python).
        """
        if not isinstance(input, str):
            raise InputError(f"input must be a string, got {type(input).__name__}")
        if router is not None:
            check_router(router, where="network.run(router=...)")
        run = NetworkRun(
            network=self,
            state=self.new_state(state),
            runner=runner if runner is not None else InlineRunner(),
            input=input,
            router=router if router is not None else self.router,
        )
        await run.execute()
        return run

    def run_sync(self, input: str, **options: Any) -> NetworkRun:
        """:meth:`run` for code without an event loop."""
        return asyncio.run(self.run(input, **options))


class NetworkRun:
    """One run of a network: what routers, tools and system prompts see as ``network``.

    Attributes:
        network: the network definition.
        state: the run's state.
        runner: how the run's steps execute.
        input: the user's message.
        call_count: agent calls made so far in this run.
        stack: agents scheduled to run next.
    """

    def __init__(
        self,
        *,
        network: Network[Any],
        state: State[Any],
        runner: StepRunner,
        input: str,
        router: Router | None,
        standalone: bool = False,
    ) -> None:
        self.network = network
        self.state = state
        self.runner = runner
        self.input = input
        self.router = router
        self.is_standalone = standalone
        self.call_count = 0
        self.stack: list[Agent] = []
        self.routing_usage = Usage()
        self.cache: dict[str, Any] = {}
        self._first_result = len(state.results)
        self._cleanups: list[Callable[[], Awaitable[None]]] = []

    @classmethod
    def for_agent(
        cls, *, state: State[Any] | None, runner: StepRunner | None, input: str
    ) -> NetworkRun:
        """The run wrapped around an agent called on its own (outside any network)."""
        return cls(
            network=_StandaloneNetwork(),
            state=state if state is not None else State(),
            runner=runner if runner is not None else InlineRunner(),
            input=input,
            router=None,
            standalone=True,
        )

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

    @property
    def history(self) -> HistoryStore | None:
        return getattr(self.network, "history", None)

    # -- read-only views ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def agents(self) -> dict[str, Agent]:
        return self.network.agents

    @property
    def default_model(self) -> Model | None:
        return self.network.default_model

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

    async def available_agents(self) -> list[Agent]:
        """Agents whose ``enabled`` hook allows them now."""
        return [agent for agent in self.agents.values() if await agent.is_enabled(self)]

    def to_json(self) -> dict[str, Any]:
        """The run as JSON: final state, this run's results, output text and usage."""
        return {
            "network": self.name,
            "output": self.output,
            "state": self.state.to_json(),
            "results": [r.model_dump(mode="json", exclude={"raw"}) for r in self.results],
            "usage": {**self.usage.model_dump(), "total_tokens": self.usage.total_tokens},
        }

    # -- the loop -------------------------------------------------------------------

    def _check_models(self) -> None:
        from .routing import RoutingAgent

        missing = [
            a.name for a in self.agents.values() if a.model is None and not self.default_model
        ]
        if missing:
            raise ConfigurationError(
                f"network {self.name!r}: agent(s) {', '.join(repr(m) for m in missing)} have no "
                "model and the network has no default_model; pass model= to create_agent or "
                "default_model= to create_network"
            )
        router = self.router
        if router is None and self.default_model is None:
            raise ConfigurationError(
                f"network {self.name!r} has no router, and the default routing agent needs a "
                "model: pass router= or default_model= to create_network"
            )
        if isinstance(router, RoutingAgent) and router.model is None and not self.default_model:
            raise ConfigurationError(
                f"network {self.name!r}: routing agent {router.name!r} has no model and the "
                "network has no default_model"
            )

    async def execute(self) -> None:
        self._check_models()
        if not await self.available_agents():
            raise ConfigurationError(f"network {self.name!r}: no agent is enabled")
        stream = self.runner.stream
        await stream.emit("run.started", input=self.input, network=self.name)
        try:
            store = self.history
            if store is not None:
                from .history import open_thread, save_results

                await open_thread(self, store, self.input)
            await self._loop()
            if store is not None:
                await save_results(self, store, self.results)
        except Exception as err:
            await stream.fail(err)
            raise
        finally:
            await self.close()
        await stream.emit(
            "run.completed",
            output=self.output,
            usage={**self.usage.model_dump(), "total_tokens": self.usage.total_tokens},
        )

    async def _loop(self) -> None:
        if self.input:
            self.state.messages.append(TextMessage(role="user", content=self.input))
        limit = self.network.max_iter
        self.stack.extend(await route(self, self._last_result()))
        while self.stack and (limit == 0 or self.call_count < limit):
            agent = self.stack.pop(0)
            result = await agent.run(self.input, network=self)
            self.state.append_result(result)
            self.call_count += 1
            if limit and self.call_count >= limit:
                break
            self.stack.extend(await route(self, result))

    def _last_result(self) -> AgentResult | None:
        return self.state.results[-1] if self.state.results else None


class _StandaloneNetwork(Network[Any]):
    """The implicit network of an agent called on its own."""

    def __init__(self) -> None:
        self.name = "standalone"
        self.description = ""
        self.agents = {}
        self.default_model = None
        self.router = None
        self.max_iter = 0
        self.default_state = State()
        self.history = None
        self.context_window = None
        self.fast_turns = False


def create_network(
    *,
    name: str,
    description: str = "",
    agents: Sequence[Agent],
    default_model: Model | None = None,
    router: Router | None = None,
    max_iter: int = 0,
    default_state: State[T] | None = None,
    history: HistoryStore | None = None,
    context_window: ContextWindow | None = None,
    fast_turns: bool = False,
) -> Network[T]:
    """Build a :class:`Network`.

    Args:
        name: the network's name (its Inngest function is ``network-<slug>``).
        description: what it does.
        agents: the agents it may call (unique names).
        default_model: the model of agents without one, and of the default router.
        router: a code router (a function), a routing agent, or ``None`` for the
            default routing agent (which needs ``default_model``).
        max_iter: the most agent calls per run (``0``: no limit).
        default_state: the state each run starts from (copied per run).
        history: a thread store: runs continue the thread named by the state's
            ``thread_id`` (see :mod:`agentkit_inngest.history`).
        context_window: trims the conversation sent to each model call.
        fast_turns: one step per agent turn for agents that do not say otherwise
            (see :func:`~agentkit_inngest.create_agent`).
    """
    return Network(
        name=name,
        description=description,
        agents=agents,
        default_model=default_model,
        router=router,
        max_iter=max_iter,
        default_state=default_state,
        history=history,
        context_window=context_window,
        fast_turns=fast_turns,
    )
