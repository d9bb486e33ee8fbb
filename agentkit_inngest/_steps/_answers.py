"""Answers already read, kept by run and step in a long-running app.

Under Inngest every request replays the run from the top, and each replayed
inference hands back its memo: the provider's raw answer, which would be read into
messages again (and, offloaded, checked again) on every request. A step's memo never
changes once the server holds it, so a process keeps the answers it has read, keyed by
run and step, and one is reused only when the memo handed back is equal to the answer
kept (a step that ran again, with another answer, is read anew). Once a memo was found
equal, the kept answer is the server's, which never changes: later replays reuse it
without comparing the whole answer again. A process that serves one request
(serverless) gains nothing and loses nothing.
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


@dataclasses.dataclass
class _Kept:
    raw: dict[str, Any]
    response: ModelResponse
    verified: bool = False
    """Whether a memo handed back was found equal to ``raw``: it is the server's answer."""


_KEPT: collections.OrderedDict[_Key, _Kept] = collections.OrderedDict()
_LOCK = threading.Lock()


def kept_answer(
    run_id: str, step_id: str, model: Model, raw: dict[str, Any]
) -> ModelResponse | None:
    """The messages kept for step ``step_id`` of run ``run_id``, or ``None``.

    The messages kept for step ``step_id`` of run ``run_id`` when its answer was ``raw`` (a
    fresh copy of the list), or ``None``.
    """
    key = (run_id, step_id, model)
    with _LOCK:
        found = _KEPT.get(key)
    if found is None:
        return None
    if not found.verified and found.raw is not raw:
        if found.raw != raw:
            return None
        found.verified = True
    return _copied(found.response)


def keep_answer(
    run_id: str, step_id: str, model: Model, raw: dict[str, Any], response: ModelResponse
) -> None:
    """Keep ``response``, read from ``raw``, for step ``step_id`` of run ``run_id``."""
    key = (run_id, step_id, model)
    with _LOCK:
        _KEPT[key] = _Kept(raw, _copied(response))
        _KEPT.move_to_end(key)
        while len(_KEPT) > ANSWERS_KEPT:
            _KEPT.popitem(last=False)


def _copied(response: ModelResponse) -> ModelResponse:
    """``response`` with a list of messages of its own (a caller may extend it)."""
    if type(response) is ModelResponse:  # the common case, without dataclasses.replace
        return ModelResponse(
            output=list(response.output), stop_reason=response.stop_reason, usage=response.usage
        )
    return dataclasses.replace(response, output=list(response.output))
