"""Reading a model's answer into neutral messages, once per answer in a process.

Under Inngest every request replays the run from the top, and each replayed
inference hands back its memo: the provider's raw answer, which the agent loop reads
into messages again (parse, then plain tool-call arguments) on every request. A
step's memo never changes once the server holds it, so a long-running app keeps the
last answers it read, keyed by run and step, and reuses one when the memo it is
handed is equal to the answer it read (so a step that ran again, with another
answer, is read anew). A process that serves one request (serverless) gains
nothing and loses nothing.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

from .._steps import StepRunner
from ..models import Model, ModelResponse
from ._plain import plain_calls

__all__ = ["ANSWERS_KEPT", "read_answer"]

ANSWERS_KEPT = 4096
"""Answers a process keeps (the most recently read)."""

_Key = tuple[str, str, Model]
_KEPT: collections.OrderedDict[_Key, tuple[dict[str, Any], ModelResponse]] = (
    collections.OrderedDict()
)
_LOCK = threading.Lock()


def read_answer(
    runner: StepRunner, model: Model, raw: dict[str, Any], step_id: str
) -> ModelResponse:
    """``raw`` (the answer of step ``step_id``) as neutral messages, tool-call
    arguments made plain JSON. Raises what ``model.parse_response`` raises."""
    key: _Key | None = (runner.run_id, step_id, model) if runner.durable else None
    if key is not None:
        with _LOCK:
            found = _KEPT.get(key)
        if found is not None and found[0] == raw:
            return dataclasses.replace(found[1], output=list(found[1].output))
    response = runner.parse_answer(model, raw)
    response = dataclasses.replace(response, output=plain_calls(response.output))
    if key is not None:
        with _LOCK:
            _KEPT[key] = (raw, dataclasses.replace(response, output=list(response.output)))
            _KEPT.move_to_end(key)
            while len(_KEPT) > ANSWERS_KEPT:
                _KEPT.popitem(last=False)
    return response
