"""Answers already read, kept by run and step in a long-running app.

Under Inngest every request replays the run from the top, and each replayed
inference hands back its memo: the provider's raw answer, which would be read into
messages again (and, offloaded, checked again) on every request. A step's memo never
changes once the server holds it, so a process keeps the answers it has read, keyed by
run and step, and one is reused only when the memo handed back is equal to the answer
kept (a step that ran again, with another answer, is read anew). A process that serves
one request (serverless) gains nothing and loses nothing.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

from ..models import Model, ModelResponse

__all__ = ["ANSWERS_KEPT", "keep_answer", "kept_answer"]

ANSWERS_KEPT = 4096
"""Answers a process keeps (the most recently read)."""

_Key = tuple[str, str, Model]
_KEPT: collections.OrderedDict[_Key, tuple[dict[str, Any], ModelResponse]] = (
    collections.OrderedDict()
)
_LOCK = threading.Lock()


def kept_answer(
    run_id: str, step_id: str, model: Model, raw: dict[str, Any]
) -> ModelResponse | None:
    """The messages kept for step ``step_id`` of run ``run_id``, or ``None``.

    The messages kept for step ``step_id`` of run ``run_id`` when its answer was ``raw`` (a
    fresh copy of the list), or ``None``.
    """
    with _LOCK:
        found = _KEPT.get((run_id, step_id, model))
    if found is None or found[0] != raw:
        return None
    return dataclasses.replace(found[1], output=list(found[1].output))


def keep_answer(
    run_id: str, step_id: str, model: Model, raw: dict[str, Any], response: ModelResponse
) -> None:
    """Keep ``response``, read from ``raw``, for step ``step_id`` of run ``run_id``."""
    key = (run_id, step_id, model)
    with _LOCK:
        _KEPT[key] = (raw, dataclasses.replace(response, output=list(response.output)))
        _KEPT.move_to_end(key)
        while len(_KEPT) > ANSWERS_KEPT:
            _KEPT.popitem(last=False)
