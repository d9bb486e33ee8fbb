"""``agentkit-inngest run``: one plain-Python run of a network or agent.

The run is shown live from its stream events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console

from .._agent import Agent
from .._network import Network
from .._state import State
from .._steps import EventWait, InlineRunner, StepRunner
from ..streaming import FanOut
from .live import RunView
from .shared import ask_reply

__all__ = ["agent_names", "run_target", "wait_answerer"]


def agent_names(target: Network[Any] | Agent) -> list[str]:
    """The names of the agents a run of ``target`` calls (others are routing agents)."""
    return [a.name for a in target.agents] if isinstance(target, Network) else [target.name]


def wait_answerer(
    view: RunView,
    console: Console,
    *,
    replies: list[dict[str, Any]],
    interactive: bool,
) -> Callable[[EventWait], Awaitable[dict[str, Any] | None]]:
    """An ``on_wait_for_event`` for :class:`InlineRunner` that answers from the terminal.

    An ``on_wait_for_event`` for :class:`InlineRunner`: the next ``--reply`` value,
    else (``interactive``) what the user types, else ``None`` (the wait times out).
    """

    async def answer(wait: EventWait) -> dict[str, Any] | None:
        tool = view.waiting(wait)
        reply: dict[str, Any] | None = None
        if replies:
            reply = {"name": wait.event, "data": replies.pop(0)}
        elif interactive:
            with view.paused():
                reply = await ask_reply(console, wait, tool)
        view.answered(wait, reply)
        return reply

    return answer


def _attach(runner: StepRunner, view: RunView) -> None:
    """Stream ``runner``'s events to ``view`` too (a runner given with ``--runner``)."""
    stream = runner.stream
    if stream.publisher is None:
        stream.configure(view)
    else:
        stream.configure(
            FanOut(stream.publisher, view), channel=stream.channel, thread_id=stream.thread_id
        )


async def run_target(
    target: Network[Any] | Agent,
    input: str,
    *,
    state: State[Any],
    view: RunView,
    runner: StepRunner | None,
    replies: list[dict[str, Any]],
    interactive: bool,
) -> dict[str, Any]:
    """Run ``target`` on ``input`` from ``state``, showing its events.

    ``state`` is changed in place and the events go to ``view``; returns the run's JSON.
    """
    if runner is None:

        async def send(events: list[dict[str, Any]]) -> list[str]:
            view.note(f"not sent (plain-Python run): {[e.get('name') for e in events]}")
            return [f"local-{index}" for index, _ in enumerate(events, 1)]

        runner = InlineRunner(
            on_wait_for_event=wait_answerer(
                view, view.console, replies=replies, interactive=interactive
            ),
            on_send_event=send,
            publisher=view,
        )
    else:
        _attach(runner, view)
    if isinstance(target, Network):
        network_run = await target.run(input, state=state, runner=runner)
        return network_run.to_json()
    result = await target.run(input, state=state, runner=runner)
    return {
        "agent": target.name,
        "output": result.text,
        "state": state.to_json(),
        "usage": {**result.usage.model_dump(), "total_tokens": result.usage.total_tokens},
        "cost_usd": result.cost_usd,
        "answer": result.model_dump(mode="json", include={"answer"})["answer"],
    }
