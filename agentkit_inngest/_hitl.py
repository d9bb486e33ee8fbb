"""Human in the loop: a tool that asks a person and waits for their reply event.

Under Inngest the wait is a ``step.wait_for_event``: the run sleeps (holding no
compute) until a matching event arrives or the timeout passes. The reply is an
ordinary Inngest event, sent from any backend, the CLI or the dev server UI::

    ask_developer = create_human_tool(
        name="ask_developer",
        description="Ask a developer when you need their input",
        event="app/support.ticket.developer-response",
        match="data.ticketId",
        timeout="4h",
    )

With ``match="data.ticketId"`` the reply must carry the same ``data.ticketId`` as
the event that started the run. On a timeout the model receives a tool error that
says so, and decides what to do next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic

from ._context import ToolContext
from ._durations import Duration, parse_duration
from ._steps import match_expression
from .errors import ConfigurationError
from .tools import Tool, create_tool

__all__ = ["HumanQuestion", "create_human_tool"]


class HumanQuestion(pydantic.BaseModel):
    """The default parameters of a human-in-the-loop tool."""

    question: str = pydantic.Field(description="The question for the person, self-contained")
    context: str | None = pydantic.Field(
        default=None, description="What you already know or tried, to help them answer"
    )


def create_human_tool(
    *,
    event: str,
    name: str = "ask_human",
    description: str = "Ask a person for input and wait for their answer.",
    match: str | None = None,
    if_exp: str | None = None,
    timeout: Duration = "1h",
    parameters: type[pydantic.BaseModel] = HumanQuestion,
    request_event: str | None = None,
    reply: Callable[[dict[str, Any]], object] | None = None,
) -> Tool:
    """A tool that waits for a reply event.

    Args:
        event: the name of the reply event.
        name: the tool's name.
        description: when the model should use it.
        match: a field path (``"data.ticketId"``) that must be equal in the reply and
            in the event that triggered the run.
        if_exp: a full Inngest expression instead of ``match``
            (``"async.data.ticketId == event.data.ticketId"``).
        timeout: how long to wait (``"4h"``, a timedelta or milliseconds).
        parameters: the tool's input model (default: a question and its context).
        request_event: if set, an event of this name is sent first carrying the
            question (and the tool call id), so a UI or a chat bot can show it.
        reply: turns the reply event into the tool result; default: its ``data``.
    """
    expression = match_expression(match, if_exp, where=f"tool {name!r}")
    if not event.strip():
        raise ConfigurationError(f"tool {name!r}: the reply event name must not be empty")
    wait = parse_duration(timeout, field=f"tool {name!r} timeout")

    async def ask(params: pydantic.BaseModel, ctx: ToolContext) -> Any:
        if request_event is not None:
            await ctx.step.send_event(
                "request",
                [
                    {
                        "name": request_event,
                        "data": {
                            **params.model_dump(mode="json"),
                            "tool": name,
                            "tool_call_id": ctx.call.id,
                            "agent": ctx.agent.name,
                        },
                    }
                ],
            )
        answer = await ctx.step.wait_for_event("wait", event=event, if_exp=expression, timeout=wait)
        if answer is None:
            raise TimeoutError(
                f"No reply ({event}) arrived within {wait}. Continue without it, or tell the "
                "user that a person could not be reached."
            )
        if reply is not None:
            return reply(answer)
        return answer.get("data", {})

    return create_tool(
        name=name,
        description=description,
        parameters=parameters,
        handler=ask,
        uses_steps=True,
    )
