"""The run policies of a whole network run.

Its budget, its input and output guardrails, and its typed final answer.

The network loop (:mod:`._entry`) calls these once per run: :func:`configure`
before anything runs, :func:`check_input` before the user's message is stored,
:func:`finish` after the router stops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_core

from .._context import NetworkRun
from .._ledger import DEFAULT_NETWORK_BUDGET
from .._state import AgentResult
from ..errors import ConfigurationError, OutputValidationError
from ..messages import TextMessage
from ..models._prices import price_table
from ._budget import record_guardrail_usage, start_clock
from ._controls import rewritten_output
from ._guardrails import GuardrailContext, Verdict, run_guardrails
from ._output import OutputContract, contract_for
from ._specs import AgentSpec, NetworkSpec, is_agent

__all__ = ["FinalCall", "check_input", "configure", "finish"]

FinalCall = Callable[[AgentSpec, Any, int], Awaitable[AgentResult]]
"""Calls an agent once more for the run's typed answer: ``(agent, output_type, retries)``."""


async def configure(network: NetworkSpec, run: NetworkRun) -> None:
    """Set the run's budget and prices, and start its clock.

    The budget is the network's, or the default when it has neither ``budget`` nor ``max_iter``; the
    clock starts only when time is capped.
    """
    budget = network.budget
    if budget is None and network.max_iter is None:
        budget = DEFAULT_NETWORK_BUDGET
    run.ledger.budget = budget
    run.ledger.prices = price_table(network.prices, where=f"network {network.name!r}")
    if budget is not None and budget.seconds is not None:
        run.ledger.started = await start_clock(run, "budget/clock")


async def check_input(network: NetworkSpec, run: NetworkRun) -> None:
    """Run the network's input guardrails on the user's message.

    The network's input guardrails, on the user's message (which a rewrite
    replaces before it is stored or sent to any model).
    """
    if not any(g.kind == "input" for g in network.guardrails):
        return
    verdict = await _guard(network, run, "input", run.input)
    if verdict.action == "rewrite":
        run.input = str(verdict.value)


async def finish(network: NetworkSpec, run: NetworkRun, call_again: FinalCall) -> None:
    """The typed answer and output guardrails, once the router stopped.

    After the router stopped: the typed answer (calling the last agent once more
    when its answer does not validate), then the output guardrails.
    """
    contract = contract_for(network.output_type, where=f"network {network.name!r}")
    if contract is not None:
        run.answer = await _answer(network, run, contract, call_again)
    if not any(g.kind == "output" for g in network.guardrails):
        return
    last = run.results[-1] if run.results else None
    verdict = await _guard(network, run, "output", run.output, answer=run.answer, result=last)
    if verdict.action != "rewrite":
        return
    if last is None:
        raise ConfigurationError(
            f"network {network.name!r}: an output guardrail rewrote an answer the run never gave"
        )
    if not isinstance(verdict.value, str):
        if contract is None:
            raise ConfigurationError(
                f"network {network.name!r}: an output guardrail rewrote the answer with a "
                f"{type(verdict.value).__name__}, but the network has no output_type"
            )
        run.answer = contract.validate_value(verdict.value)
        return
    _replace_result(run, last, rewritten_output(last, verdict.value, None))


async def _answer(
    network: NetworkSpec, run: NetworkRun, contract: OutputContract, call_again: FinalCall
) -> Any:
    last = run.results[-1] if run.results else None
    if last is None:
        raise OutputValidationError(
            f"network {network.name!r} made no agent call, so it has no answer of its output_type",
            agent=network.name,
        )
    found = _accepted(contract, last)
    if found is not None:
        return found[0]
    agent = run.agents.get(last.agent_name)
    if not is_agent(agent):
        raise OutputValidationError(
            f"network {network.name!r}: the last answer (of {last.agent_name!r}) is not of the "
            "network's output_type, and that agent is not in the network to be asked again",
            agent=last.agent_name,
        )
    result = await call_again(agent, network.output_type, network.output_retries)
    return result.answer


def _accepted(contract: OutputContract, result: AgentResult) -> tuple[Any] | None:
    """The run's answer read off ``result``: its typed answer, or its text as JSON."""
    attempts: list[Callable[[], Any]] = []
    if result.answer is not None:
        attempts.append(lambda: contract.validate_value(contract_json(result.answer)))
    if result.text.strip():
        attempts.append(lambda: contract.validate_text(result.text))
    for attempt in attempts:
        try:
            return (attempt(),)
        except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
            continue
    return None


def contract_json(value: Any) -> Any:
    """A typed answer in its JSON form (another type's model validates from it)."""
    return pydantic_core.to_jsonable_python(value)


async def _guard(
    network: NetworkSpec,
    run: NetworkRun,
    kind: str,
    text: str,
    *,
    answer: Any = None,
    result: AgentResult | None = None,
) -> Verdict:
    base = GuardrailContext(
        guardrail="",
        kind="input" if kind == "input" else "output",
        network=run,
        agent=None,
        text=text,
        answer=answer,
        result=result,
    )

    def record(entry: dict[str, Any]) -> None:
        record_guardrail_usage(run, f"{network.name} (guardrails)", entry, [])

    return await run_guardrails(network.guardrails, base.kind, base, prefix="", record=record)


def _replace_result(run: NetworkRun, old: AgentResult, new: AgentResult) -> None:
    """Put ``new`` in ``old``'s place in the state: its result and its messages."""
    results = run.state.results
    results[len(results) - 1 - results[::-1].index(old)] = new
    old_texts = [m for m in old.output if isinstance(m, TextMessage)]
    new_texts = [m for m in new.output if isinstance(m, TextMessage)]
    messages = run.state.messages
    for before, after in zip(old_texts, new_texts, strict=False):
        if before is not after:
            for index in range(len(messages) - 1, -1, -1):
                if messages[index] is before:
                    messages[index] = after
                    break
    added = new_texts[len(old_texts) :]
    messages.extend(added)
