"""The typed answer of one agent call.

How it is asked for (the final-answer tool, or natively), what a wrong answer sends back to the
model, and the retries left.

Everything here reads the call's turns as the memoized steps recorded them, so a
replay accepts (or refuses) the same answers and asks the model nothing again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from .._state import AgentResult
from ..errors import ConfigurationError, OutputValidationError
from ..messages import Message, TextMessage, ToolCallMessage, ToolResultMessage
from ..models import Model, OutputSchema
from ..tools import Tool
from ..tools._signature import _InvalidArguments
from ._output import MAX_FEEDBACK, OutputContract, feedback

__all__ = ["OutputPolicy"]


class OutputPolicy:
    """The typed answer of one agent call.

    How it is asked for, what a wrong answer sends back, and how many retries are left.
    """

    def __init__(self, contract: OutputContract, *, agent: str, retries: int, model: Model) -> None:
        self.contract = contract
        self.agent = agent
        self.retries = retries
        self.native = contract.native and model.native_output
        self.failures = 0
        self.answered = False
        self.answer: Any = None
        self.problem = ""

    def tools(self, tools: Mapping[str, Tool]) -> dict[str, Tool]:
        """The call's tools, with the final-answer tool (unless native)."""
        if self.native:
            return dict(tools)
        if self.contract.name in tools:
            raise ConfigurationError(
                f"agent {self.agent!r} has a tool named {self.contract.name!r}, the name of its "
                "final-answer tool; rename one (output_type=ToolOutput(T, name=...))"
            )
        return {**tools, self.contract.name: self.contract.tool}

    def tool_choice(self, choice: str) -> str:
        """``"any"`` instead of ``"auto"`` when the answer comes through the tool."""
        return choice if self.native or choice != "auto" else "any"

    def schema(self) -> OutputSchema | None:
        """The schema to ask for natively, if the answer comes that way."""
        return self.contract.output_schema() if self.native else None

    def after_turn(self, output: list[Message], results: list[ToolResultMessage]) -> list[Message]:
        """Read a turn: accept a valid answer or count a wrong one.

        For a wrong one, returns what the model is told (nothing more when a tool error already told
        it).

        Raises:
            OutputValidationError: the retries are spent.
        """
        calls = [call for m in output if isinstance(m, ToolCallMessage) for call in m.tools]
        if self.native:
            return [] if calls else self._check_text(output)
        finals = [call for call in calls if call.name == self.contract.name]
        if finals:
            outcomes = {r.tool_call_id: r for r in results}
            for call in finals:
                outcome = outcomes.get(call.id)
                if outcome is not None and not outcome.is_error:
                    self._accept(self.contract.validate_arguments(call.arguments))
                    return []
            errors = [outcomes[c.id].content_text() for c in finals if c.id in outcomes]
            self._fail(f"its {self.contract.name} arguments were invalid: " + "; ".join(errors))
            return []
        if calls:
            return []
        self._fail(f"it answered in text instead of calling {self.contract.name}")
        return [
            TextMessage(
                role="user",
                content=f"Give your final answer by calling the {self.contract.name} tool.",
            )
        ]

    def _check_text(self, output: list[Message]) -> list[Message]:
        text = "\n".join(m.content for m in output if isinstance(m, TextMessage))
        try:
            self._accept(self.contract.validate_text(text))
            return []
        except (pydantic.ValidationError, _InvalidArguments) as err:
            why = feedback(err)
        self._fail(f"its answer did not validate: {why}")
        return [
            TextMessage(
                role="user",
                content=f"Your answer could not be read as the JSON asked for: {why}. "
                "Answer again with only that JSON.",
            )
        ]

    def _accept(self, value: Any) -> None:
        self.answered = True
        self.answer = value

    def _fail(self, why: str) -> None:
        self.failures += 1
        self.problem = why[:MAX_FEEDBACK]
        if self.failures > self.retries:
            raise OutputValidationError(
                f"agent {self.agent!r} gave no valid answer of type "
                f"{_type_name(self.contract.spec.type)} after {self.retries} retries "
                f"(output_retries): {self.problem}",
                agent=self.agent,
            )

    def finish(self, result: AgentResult, inferences: int) -> None:
        """Put the answer on ``result``.

        Raises:
            OutputValidationError: the call ended without a valid answer.
        """
        if not self.answered:
            raise OutputValidationError(
                f"agent {self.agent!r} gave no answer of type "
                f"{_type_name(self.contract.spec.type)} in {inferences} inferences (its "
                f"max_iter plus output_retries); {self.problem or 'it kept calling tools'}",
                agent=self.agent,
            )
        result.answer = self.answer


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", None) or repr(kind)
