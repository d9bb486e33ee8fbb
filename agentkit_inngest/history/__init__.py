"""Conversation history across runs: threads kept in a store, and context windows.

A :class:`HistoryStore` keeps the messages of threads. Give one to a network (or an
agent) and every run:

1. uses the state's ``thread_id`` (from the event's ``data.thread_id``), or creates a
   new thread and records its id in the state;
2. loads the thread's messages into the state, unless the caller already sent the
   history itself (client-authoritative mode: the store is not read);
3. appends the user's message;
4. runs, then appends the messages of the new agent results.

Each store call is a step (``history/create``, ``history/load``,
``history/append-user``, ``history/append-results``), so replays neither reload nor
write twice. The thread id and message ids are derived from the run id inside those
steps, so even a step that runs again after a lost response writes nothing twice
(stores upsert by id).

Stores: :class:`MemoryStore` (tests), :class:`SQLiteStore` (one machine) and
:class:`PostgresStore` (needs the ``postgres`` extra:
``pip install 'agentkit-inngest[postgres]'``).

A *context window* caps what is sent to the model: :func:`last_turns`,
:func:`last_messages` or :func:`token_budget`, given to
``create_network(context_window=...)`` or ``create_agent(context_window=...)``.

A store's ``load_limit`` caps what a run loads: the ``history/load`` step's output is
memoized by Inngest, which refuses step outputs over 4 MB, so an unbounded thread
would eventually make every run on it fail.
"""

from __future__ import annotations

import typing

from ._memory import MemoryStore
from ._sqlite import SQLiteStore
from ._store import (
    HistoryStore,
    StoredMessage,
    check_limit,
    check_thread_id,
    decode_messages,
    encode_messages,
    metadata_json,
    thread_id_for,
)
from ._windows import ContextWindow, last_messages, last_turns, token_budget

if typing.TYPE_CHECKING:
    from ._postgres import PostgresStore

__all__ = [
    "ContextWindow",
    "HistoryStore",
    "MemoryStore",
    "PostgresStore",
    "SQLiteStore",
    "StoredMessage",
    "check_limit",
    "check_thread_id",
    "decode_messages",
    "encode_messages",
    "last_messages",
    "last_turns",
    "metadata_json",
    "thread_id_for",
    "token_budget",
]


def __getattr__(name: str) -> object:
    """``PostgresStore`` is imported on first use: it needs the ``postgres`` extra."""
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
