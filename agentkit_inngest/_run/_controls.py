"""The run policies of one agent call, behind one object the agent loop calls.

:class:`CallControls` gathers the call's budget (:mod:`._budget`), its typed answer
(:mod:`._output_policy`) and its guardrails (:mod:`._guardrails`), so the agent
loop (:mod:`._agent_loop`) only calls small hooks: at the start of the call, for
each request, after each answer and each turn, and at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._context import NetworkRun
from .._state import AgentResult
from ..errors import ConfigurationError
from ..messages import Message, TextMessage, ToolCall, Usage
from ..models import Model, ModelRequest, ToolDefinition
from ..tools import Tool
from ._budget import CallBudget
from ._guardrails import GuardrailContext, Verdict, run_guardrails
from ._output import contract_for
from ._output_policy import OutputPolicy
from ._specs import AgentSpec

__all__ = ["AGENT_OUTPUT", "CallControls"]

AGENT_OUTPUT: Any = object()
"""Marks "the agent's own ``output_type``" (a network may ask for another)."""


class CallControls:
    """Budget, typed answer and guardrails of one agent call (``scope``: ``Writer#1``)."""

    def __init__(
        self,
        agent: AgentSpec,
        run: NetworkRun,
        scope: str,
        model: Model,
        *,
        output: Any = AGENT_OUTPUT,
        retries: int | None = None,
    ) -> None:
        self.agent = agent
        self.run = run
        self.scope = scope
        self.budget = CallBudget(agent, run, scope)
        wanted = agent.output_type if output is AGENT_OUTPUT else output
        contract = contract_for(wanted, where=f"agent {agent.name!r}")
        self.output = (
            None
            if contract is None
            else OutputPolicy(
                contract,
                agent=agent.name,
                retries=agent.output_retries if retries is None else retries,
                model=model,
            )
        )

    @property
    def extra_turns(self) -> int:
        """Inferences the call may make beyond ``max_iter``: its output retries."""
        return self.output.retries if self.output is not None else 0

    # -- the start and the end of the call ----------------------------------------------

    async def start(self, input: str, history: list[Message]) -> list[Message]:
        """Start the call's clock and run its input guardrails.

        The clock starts when the call's budget caps time. Returns the history, with the user's
        message rewritten if a guardrail did.
        """
        await self.budget.start(f"{self.scope}/budget/clock")
        if not any(g.kind == "input" for g in self.agent.guardrails):
            return history
        verdict = await self._guard("input", input)
        if verdict.action != "rewrite":
            return history
        return _rewritten_input(history, input, str(verdict.value))

    async def finish(self, result: AgentResult, inferences: int) -> AgentResult:
        """Finish the call's answer: typed answer, output guardrails, cost.

        Put the typed answer on ``result`` (or fail), run the output guardrails, and
        put the call's estimated cost on the result.
        """
        if self.output is not None:
            self.output.finish(result, inferences)
        if any(g.kind == "output" for g in self.agent.guardrails):
            verdict = await self._guard("output", result.text, answer=result.answer, result=result)
            if verdict.action == "rewrite":
                result = rewritten_output(result, verdict.value, self.output)
        tally = self.budget.tally
        result.cost_usd = None if tally.unpriced else round(tally.cost, 8)
        return result

    async def _guard(
        self, kind: str, text: str, *, answer: Any = None, result: AgentResult | None = None
    ) -> Verdict:
        base = GuardrailContext(
            guardrail="",
            kind="input" if kind == "input" else "output",
            network=self.run,
            agent=self.agent,
            text=text,
            answer=answer,
            result=result,
        )
        return await run_guardrails(
            self.agent.guardrails,
            base.kind,
            base,
            prefix=f"{self.scope}/",
            record=self.budget.record_guardrail,
        )

    # -- each request -------------------------------------------------------------------

    def tools(self, tools: Mapping[str, Tool]) -> Mapping[str, Tool]:
        """The call's tools (with the final-answer tool of a typed answer)."""
        return tools if self.output is None else self.output.tools(tools)

    def request(
        self, messages: list[Message], tools: list[ToolDefinition], tool_choice: str
    ) -> ModelRequest:
        """The request of one inference; its budget is checked first."""
        if self.output is None:
            return ModelRequest(messages=messages, tools=tools, tool_choice=tool_choice)
        return ModelRequest(
            messages=messages,
            tools=tools,
            tool_choice=self.output.tool_choice(tool_choice),
            output=self.output.schema(),
        )

    def before_inference(self, model: Model) -> None:
        """Before a request to ``model``: the caps that can be known before it."""
        self.budget.before_inference(model)

    def in_step(self) -> None:
        """Inside an inference's, a turn's or a tool's step body: the time caps."""
        if self.budget.timed:
            self.budget.check_clock()

    def count(self, model: Model, raw: dict[str, Any], usage: Usage) -> None:
        """Count a memoized answer of ``model`` and check the token and cost caps.

        The answer is counted outside its step (it was memoized).
        """
        self.budget.record(model.answered_by(raw), usage)
        self.budget.after_inference()

    def usage_fields(self, model: Model, raw: dict[str, Any], usage: Usage) -> dict[str, Any]:
        """What a ``usage`` event says besides the tokens: the model and the cost."""
        used = model.answered_by(raw)
        price = self.budget.price(used)
        return {"model": used.label, "cost_usd": None if price is None else price.cost(usage)}

    # -- each turn ----------------------------------------------------------------------

    def tool_count(self, calls: Sequence[ToolCall]) -> int:
        """How many of ``calls`` count as tool calls (the final-answer tool does not)."""
        if self.output is None or self.output.native:
            return len(calls)
        return sum(1 for call in calls if call.name != self.output.contract.name)

    def tools_fit(self, calls: Sequence[ToolCall]) -> bool:
        """Whether ``calls`` stay within the tool-call caps (inside a fast turn)."""
        return self.budget.tools_fit(self.tool_count(calls))

    def before_tools(self, calls: Sequence[ToolCall]) -> None:
        """Check, then count, a turn's tool calls (before they run)."""
        count = self.tool_count(calls)
        if count:
            self.budget.check_tools(count)
            self.budget.record_tools(count)

    def after_turn(self, output: list[Message], results: list[Any]) -> list[Message]:
        """Messages the next turn adds (a wrong typed answer's feedback)."""
        return [] if self.output is None else self.output.after_turn(output, results)

    def continues(self, tools_ran: bool) -> bool:
        """Whether another inference follows.

        Until a typed answer is given, else while tools ran.
        """
        return not self.output.answered if self.output is not None else tools_ran


def _rewritten_input(history: list[Message], original: str, text: str) -> list[Message]:
    """``history`` with its last user message ``original`` replaced by ``text``."""
    changed = list(history)
    for index in range(len(changed) - 1, -1, -1):
        message = changed[index]
        if (
            isinstance(message, TextMessage)
            and message.role == "user"
            and message.content == original
        ):
            changed[index] = message.model_copy(update={"content": text})
            return changed
    return [*changed, TextMessage(role="user", content=text)]


def rewritten_output(result: AgentResult, value: Any, output: OutputPolicy | None) -> AgentResult:
    """``result`` with an output guardrail's rewrite applied.

    A text replaces the result's last text (or is added); another value is the new typed answer
    (validated).
    """
    if not isinstance(value, str):
        if output is None:
            raise ConfigurationError(
                f"an output guardrail of agent {result.agent_name!r} rewrote its answer with "
                f"a {type(value).__name__}, but the agent has no output_type: rewrite the text"
            )
        answer = output.contract.validate_value(value)
        return result.model_copy(update={"answer": answer})
    messages = list(result.output)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, TextMessage) and message.role == "assistant":
            messages[index] = message.model_copy(update={"content": value})
            return result.model_copy(update={"output": messages})
    messages.append(TextMessage(role="assistant", content=value, stop_reason="stop"))
    return result.model_copy(update={"output": messages})
