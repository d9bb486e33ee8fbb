"""An in-process thread store (for tests and single-process apps)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ..messages import Message
from ._store import HistoryStore, StoredMessage, check_limit

__all__ = ["MemoryStore"]


class MemoryStore(HistoryStore):
    """Threads in a dict; appends are idempotent by message id.

    Not shared between processes: use the SQLite or PostgreSQL store for that.
    """

    def __init__(self, *, load_limit: int | None = None) -> None:
        self.load_limit = check_limit(load_limit, name="load_limit")
        self.threads: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[tuple[str, Message, str | None]]] = {}
        self._lock = asyncio.Lock()
        self.calls: list[str] = []

    async def create_thread(self, thread_id: str, *, metadata: Mapping[str, Any]) -> None:
        self.calls.append(f"create:{thread_id}")
        async with self._lock:
            self.threads.setdefault(thread_id, dict(metadata))
            self.messages.setdefault(thread_id, [])

    async def load(self, thread_id: str, *, limit: int | None = None) -> list[Message]:
        self.calls.append(f"load:{thread_id}")
        stored = self.messages.get(thread_id, [])
        limit = check_limit(limit)
        if limit is not None:
            stored = stored[-limit:]
        return [message for _, message, _ in stored]

    async def append(self, thread_id: str, messages: Sequence[StoredMessage]) -> None:
        self.calls.append(f"append:{thread_id}:{len(messages)}")
        async with self._lock:
            stored = self.messages.setdefault(thread_id, [])
            known = {message_id for message_id, _, _ in stored}
            for row in messages:
                if row[0] not in known:  # also a repeated id within one batch
                    known.add(row[0])
                    stored.append(row)
