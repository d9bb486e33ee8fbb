"""Thread stores: the storage half of conversation history.

A :class:`HistoryStore` keeps the messages of threads; the run layer opens a
thread at the start of a run and appends the new results at its end (each call a
step). A store's ``load_limit`` caps what a run loads: the ``history/load`` step's
output is memoized by Inngest, which refuses step outputs over 4 MB, so an
unbounded thread would eventually make every run on it fail.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from .._state import AgentResult
from ..errors import InputError
from ..messages import Message, TextMessage
from ._encoding import check_key, decode_texts, encode_rows, json_text

__all__ = [
    "HistoryStore",
    "StoredMessage",
    "check_limit",
    "check_thread_id",
    "decode_messages",
    "encode_messages",
    "metadata_json",
    "thread_id_for",
]

_NAMESPACE = uuid.UUID("6b1d3c2e-8c1f-4f4e-9d8a-2b7f0f6b5a11")

StoredMessage: TypeAlias = "tuple[str, Message, str | None]"
"""``(message_id, message, agent_name)`` as appended to a store."""


class HistoryStore(ABC):
    """Where threads live.

    Implementations must make appends idempotent by ``message_id`` and keep each thread's messages
    in append order.
    """

    load_limit: int | None = None
    """The most messages a run loads from a thread (the newest ones, starting at a
    user message); ``None`` loads them all. Set it for long-lived threads: the loaded
    history is one step output, and Inngest caps a step output at 4 MB."""

    @abstractmethod
    async def create_thread(self, thread_id: str, *, metadata: Mapping[str, Any]) -> None:
        """Create the thread if it does not exist (an upsert)."""

    @abstractmethod
    async def load(self, thread_id: str, *, limit: int | None = None) -> list[Message]:
        """The thread's messages in order.

        Empty for an unknown thread; with ``limit``, only the newest ``limit`` of them (still oldest
        first).
        """

    @abstractmethod
    async def append(self, thread_id: str, messages: Sequence[StoredMessage]) -> None:
        """Append messages in order, skipping ids already stored.

        The thread is created if needed; a ``message_id`` already stored in the thread (or repeated
        in the batch) is skipped.
        """

    async def append_user_message(
        self, thread_id: str, message: TextMessage, *, message_id: str
    ) -> None:
        """Record the user's message of a run."""
        await self.append(thread_id, [(message_id, message, None)])

    async def append_results(
        self, thread_id: str, results: Sequence[AgentResult], *, id_prefix: str
    ) -> None:
        """Record the messages of new agent results."""
        rows: list[tuple[str, Message, str | None]] = []
        for result in results:
            for index, message in enumerate(result.messages()):
                rows.append((f"{id_prefix}:{result.id}:{index}", message, result.agent_name))
        if rows:
            await self.append(thread_id, rows)

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (optional)."""


def thread_id_for(run_id: str) -> str:
    """The id of the thread a run creates: stable for the run, unique across runs."""
    return str(uuid.uuid5(_NAMESPACE, run_id))


def check_limit(limit: int | None, *, name: str = "limit") -> int | None:
    """Validate a message-count limit (for store authors)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{name} must be a whole number of at least 1 (or None), got {limit!r}")
    return limit


def check_thread_id(thread_id: object) -> str:
    """Validate a thread id (for store authors).

    A non-empty string of at most 256 characters, without NUL or lone surrogates (no database can
    key by those alike).
    """
    if not isinstance(thread_id, str) or not thread_id or len(thread_id) > 256:
        raise InputError(
            f"a thread id must be a non-empty string of at most 256 characters, got {thread_id!r}"
        )
    return check_key(thread_id, "a thread id")


def encode_messages(messages: Sequence[StoredMessage]) -> list[tuple[str, str, str | None]]:
    """Rows for a database, one per distinct ``message_id`` (for store authors).

    ``(message_id, message JSON, agent_name)`` rows for a database, one per distinct
    ``message_id`` (the first wins), in order (for store authors).

    A message PostgreSQL's ``jsonb`` could not hold as it is (NUL, lone surrogates,
    floats it would turn into integers) is kept as its JSON text in an envelope that
    :func:`decode_messages` opens; ids with NUL or lone surrogates and content JSON
    cannot express are refused with :class:`~agentkit_inngest.errors.InputError`
    (see docs/history.md).
    """
    return encode_rows(messages)


def decode_messages(texts: Sequence[str]) -> list[Message]:
    """Messages from the JSON texts :func:`encode_messages` made (for store authors)."""
    return decode_texts(texts)


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """A thread's metadata as the JSON text a database keeps (for store authors)."""
    return json_text(dict(metadata), "thread metadata must be JSON-serializable")
