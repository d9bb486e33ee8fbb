"""Memoized steps read straight from the SDK's request state: the replay fast path.

Under Inngest every request replays the run from the top, and every replayed step asks
the SDK for its memo. ``inngest`` 0.5's ``Step.run`` then parses the id, builds a
pydantic ``StepInfo``, a ``ReportedStep`` and two futures, and copies the request's whole
memo table to drop one entry (so a request holding M memos copies M entries M times).
:class:`MemoReader` hands back the memo of a step the request holds with the SDK's own
bookkeeping and nothing else:

- the id is counted as the SDK counts it (a reused id hashes as ``id:1``, ``id:2``...,
  and a later ``step.run`` of the same id gets the next index), and as a checkpointed
  ``ctx.step`` counts it;
- the memo leaves the table, and when the last one does, the SDK's ``before_execution``
  middleware hook runs, as ``Step.run`` would run it;
- a memoized failure is raised as ``inngest.StepError``, as ``Step.run`` raises it.

Whatever it cannot do exactly as the SDK does, it leaves to the SDK: a step the request
does not hold, a step inside another step (the SDK reports nesting), a memo without
data, or step objects that do not hold the state ``inngest`` 0.5 keeps where it keeps it
(then :meth:`of` returns ``None`` and every step goes through ``Step.run``). The module
imports the SDK's private modules it reads (``step_lib.base``, ``execution_lib.models``);
the package pins ``inngest`` below 0.6, and ``test_memo_reader.py`` fails if a release
moves what the reader needs.
"""

from __future__ import annotations

from typing import Any, Final

import inngest
from inngest._internal import types as _sdk_types
from inngest._internal.execution_lib import models as _execution_models
from inngest._internal.step_lib import base as _step_base

from .._checkpoint import hashed_step_id

__all__ = ["MISSING", "MemoReader"]

MISSING: Final = object()
"""What :meth:`MemoReader.take` returns for a step the request does not hold."""


class MemoReader:
    """Reads the memos of one request's ``ctx.step`` (see the module docstring)."""

    __slots__ = ("_counter", "_memos", "_middleware", "_wrapper_counts")

    def __init__(
        self,
        memos: _step_base.StepMemos,
        counter: _step_base.StepIDCounter,
        middleware: Any,
        wrapper_counts: dict[str, int] | None,
    ) -> None:
        self._memos = memos
        self._counter = counter
        self._middleware = middleware
        self._wrapper_counts = wrapper_counts

    @classmethod
    def of(cls, step: object) -> MemoReader | None:
        """The reader of ``step`` (the SDK's ``ctx.step`` or a checkpointed one), or ``None``.

        ``None`` when the SDK's internals are not the ones this reader knows.
        """
        wrapper_counts = getattr(step, "step_counts", None)
        sdk = getattr(step, "sdk_step", step)
        execution = getattr(sdk, "_execution", None)
        memos = getattr(execution, "_memos", None)
        counter = getattr(sdk, "_step_id_counter", None)
        middleware = getattr(execution, "_middleware", None)
        known = (
            isinstance(memos, _step_base.StepMemos)
            and isinstance(getattr(memos, "_memos", None), dict)
            and isinstance(counter, _step_base.StepIDCounter)
            and isinstance(getattr(counter, "_counts", None), dict)
            and callable(getattr(middleware, "before_execution", None))
            and (wrapper_counts is None or isinstance(wrapper_counts, dict))
        )
        if not known:
            return None
        assert isinstance(memos, _step_base.StepMemos)
        assert isinstance(counter, _step_base.StepIDCounter)
        return cls(memos, counter, middleware, wrapper_counts)

    async def take(self, step_id: str) -> Any:
        """The memoized output of step ``step_id``, or :data:`MISSING`.

        Raises:
            inngest.StepError: the step's memo is its final failure.
        """
        table: dict[str, _step_base.Output] = self._memos._memos
        if not table or _execution_models._in_step.get():
            return MISSING
        counts = self._counter._counts
        index = counts.get(step_id, 0)
        hashed = hashed_step_id(step_id if index == 0 else f"{step_id}:{index}")
        memo = table.get(hashed)
        if memo is None or (memo.error is None and isinstance(memo.data, _sdk_types.EmptySentinel)):
            return MISSING
        # as StepIDCounter.increment, without its lock: an async handler's steps all run on
        # the event loop's one thread
        counts[step_id] = index + 1
        if self._wrapper_counts is not None:
            self._wrapper_counts[step_id] = self._wrapper_counts.get(step_id, 0) + 1
        del table[hashed]
        if not table:  # the rest of the function is new code: the SDK's hook
            await self._middleware.before_execution()
        if memo.error is not None:
            raise inngest.StepError(
                message=memo.error.message, name=memo.error.name, stack=memo.error.stack
            )
        return memo.data
