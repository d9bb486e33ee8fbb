"""What an Inngest function returns.

Runs and agent results as the JSON this package's own functions return.

AgentKit's TypeScript functions end with ``return network.run(input)``. Here a
:class:`~agentkit_inngest.NetworkRun` or :class:`~agentkit_inngest.AgentResult`
returned by a function (alone, or inside the dicts and lists it returns) becomes
the JSON :func:`~agentkit_inngest.network_function` and
:func:`~agentkit_inngest.agent_function` return, within the run's output limit.
Anything else that is not JSON fails the run once, non-retriably, saying what to
return: retrying cannot make it serializable.
"""

from __future__ import annotations

import json
from typing import Any

import inngest

from .._context import NetworkRun
from .._limits import Limits
from .._state import AgentResult, State
from ._payload import bounded_output

__all__ = ["agent_output", "function_output", "unserializable_output"]

_MAX_DEPTH = 100


def agent_output(result: AgentResult, state: State[Any] | None) -> dict[str, Any]:
    """An agent call as JSON: ``agent_function``'s output (``state`` when known).

    Each message once: what the call added (:meth:`AgentResult.to_json`) and the state's
    ``data``, ``kv`` and ``thread_id``, not the conversation before the call.
    """
    output: dict[str, Any] = {
        "agent": result.agent_name,
        "output": result.text,
        "result": result.to_json(),
    }
    if state is not None:
        output["state"] = state.to_json(conversation=False)
    output["usage"] = {**result.usage.model_dump(), "total_tokens": result.usage.total_tokens}
    output["cost_usd"] = result.cost_usd
    output["answer"] = result.model_dump(mode="json", include={"answer"})["answer"]
    return output


def function_output(value: Any, limits: Limits | None = None, *, depth: int = 0) -> Any:
    """``value`` with every run and agent result in it replaced by its JSON."""
    if isinstance(value, NetworkRun):
        return bounded_output(value.to_json(), value.runner.limits, where=f"run {value.name!r}")
    if isinstance(value, AgentResult):
        bound = limits if limits is not None else Limits()
        return bounded_output(agent_output(value, None), bound, where=f"agent {value.agent_name!r}")
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {key: function_output(item, limits, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [function_output(item, limits, depth=depth + 1) for item in value]
    return value


def unserializable_output(value: Any, where: str) -> inngest.NonRetriableError | None:
    """The error of an output the SDK cannot send as JSON (``None`` when it can)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError) as err:
        return inngest.NonRetriableError(
            f"{where} returned a value that is not JSON ({err}); return plain JSON: a "
            "NetworkRun or AgentResult is converted for you, call .to_json() or "
            ".model_dump(mode='json') on other objects"
        )
    return None
