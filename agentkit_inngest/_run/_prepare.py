"""What an agent call starts from: its model, tools, prompt and history."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping

from .._context import NetworkRun
from ..errors import ConfigurationError
from ..messages import Message, TextMessage
from ..models import Model
from ..tools import Tool
from ..tools._tool import tool_names
from ._keywords import call_system
from ._specs import AgentSpec

__all__ = [
    "check_tool_choice",
    "fast_turns_for",
    "prompt_and_history",
    "resolve_model",
    "resolve_tools",
    "system_prompt",
]


def resolve_model(agent: AgentSpec, model: Model | None, run: NetworkRun | None) -> Model:
    """The model of a call: the call's own, the agent's, the network's default.

    Raises:
        ConfigurationError: none of them is set.
    """
    found = model if model is not None else agent.model
    if found is None and run is not None:
        found = run.default_model
    if found is None:
        raise ConfigurationError(
            f"agent {agent.name!r} has no model: pass model= to create_agent, "
            "to agent.run, or default_model= to the network"
        )
    return found


def fast_turns_for(agent: AgentSpec, run: NetworkRun, model: Model) -> bool:
    """Whether a turn is one step here.

    It is when one is asked for (by the agent, else the network) and the inference runs in process.
    """
    wanted = agent.fast_turns
    if wanted is None:
        wanted = run.network.fast_turns if run.network is not None else False
    return wanted and model.inference == "in_process"


def check_tool_choice(agent: AgentSpec, tools: Mapping[str, Tool]) -> None:
    """Raise :class:`ConfigurationError` when ``tool_choice`` names no tool of ``tools``."""
    if agent.tool_choice not in ("auto", "any") and agent.tool_choice not in tools:
        raise ConfigurationError(
            f"agent {agent.name!r}: tool_choice {agent.tool_choice!r} is not among its "
            f"tools ({tool_names(list(tools.values()))})"
        )


async def resolve_tools(agent: AgentSpec, run: NetworkRun) -> dict[str, Tool]:
    """The agent's tools for a call: its own and its tool sources' (MCP servers)."""
    tools = {tool.name: tool for tool in agent.tools}
    if not agent.mcp_servers:
        return tools
    for source in agent.mcp_servers:
        for found in await source.list_tools(run):
            if found.name in tools:
                raise ConfigurationError(
                    f"agent {agent.name!r}: tool {found.name!r} from {source.name!r} "
                    "clashes with another tool of the same name"
                )
            tools[found.name] = found
    check_tool_choice(agent, tools)
    return tools


async def system_prompt(agent: AgentSpec, run: NetworkRun) -> str:
    """The agent's system prompt for this call."""
    if callable(agent.system):
        text: object = call_system(agent.system, run)
        if inspect.isawaitable(text):
            text = await text
        return str(text)
    return agent.system


@functools.lru_cache(maxsize=256)
def _system_message(text: str) -> TextMessage:
    """The system message of ``text``.

    Messages are frozen: one is shared by the calls, and by the replays, that use the
    same prompt.
    """
    return TextMessage(role="system", content=text)


async def prompt_and_history(
    agent: AgentSpec, run: NetworkRun, input: str
) -> tuple[list[Message], list[Message]]:
    """The system prompt and the conversation a call starts from.

    The run's messages (plus ``input`` for an agent run on its own), trimmed by the context
    window in force, with the agent's assistant prefill at the end.
    """
    system = await system_prompt(agent, run)
    prompt: list[Message] = [_system_message(system)] if system else []
    history = run.state.format_history()
    if run.is_standalone and input:
        history.append(TextMessage(role="user", content=input))
    window = agent.context_window
    if window is None and run.network is not None:
        window = run.network.context_window
    if window is not None:
        history = window(history)
    if agent.assistant:
        history.append(TextMessage(role="assistant", content=agent.assistant))
    return prompt, history
