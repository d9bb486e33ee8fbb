"""Reading a model's answer into neutral messages.

Reading a model's answer into neutral messages, once per answer in a long-running app (the
answers are kept by run and step: ``_steps/_answers.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .._steps import StepRunner
from .._steps._answers import keep_answer, kept_answer
from ..models import Model, ModelResponse
from ._plain import plain_calls

__all__ = ["read_answer"]


def read_answer(
    runner: StepRunner, model: Model, raw: dict[str, Any], step_id: str
) -> ModelResponse:
    """``raw``, the answer of step ``step_id``, as neutral messages.

    ``raw`` (the answer of step ``step_id``) as neutral messages, tool-call arguments made plain
    JSON. Raises what ``model.parse_response`` raises.
    """
    key = runner.step_key(step_id)  # two runners in one function: prefixes tell them apart
    if runner.durable:
        found = runner.verified_answer(model, raw)
        if found is None:
            found = kept_answer(runner.run_id, key, model, raw)
        if found is not None:
            return found
    response = runner.parse_answer(model, raw)
    response = dataclasses.replace(response, output=plain_calls(response.output))
    if runner.durable:
        keep_answer(runner.run_id, key, model, raw, response)
    return response
