"""Threads in a SQLite file: the embedded default store.

Python's own :mod:`sqlite3` runs on one worker thread per store, off the event loop.
One thread means one connection, so the tasks of a process never contend for
SQLite's lock among themselves; processes sharing the file take turns through
SQLite's write lock (``BEGIN IMMEDIATE`` plus a busy timeout). The file is put in
WAL mode, so readers never wait for a writer.

Schema (created on first use)::

    agentkit_threads(thread_id PK, metadata JSON, last_seq, created_at, updated_at)
    agentkit_messages(thread_id, seq, message_id, agent_name, message JSON, created_at)
        PRIMARY KEY (thread_id, seq), UNIQUE (thread_id, message_id)

``seq`` numbers a thread's messages 1, 2, 3...; it is read from and written back to
the thread row inside the append's write transaction, so concurrent appends cannot
take the same number, and a message id already stored is skipped.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import ConfigurationError, HistoryStoreError, InputError
from ..messages import Message
from ._store import (
    HistoryStore,
    StoredMessage,
    check_limit,
    check_thread_id,
    decode_messages,
    encode_messages,
    metadata_json,
)

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

_SCHEMA = (
    f"""
    CREATE TABLE IF NOT EXISTS agentkit_threads (
        thread_id  TEXT PRIMARY KEY,
        metadata   TEXT NOT NULL DEFAULT '{{}}',
        last_seq   INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT ({_NOW}),
        updated_at TEXT NOT NULL DEFAULT ({_NOW})
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS agentkit_messages (
        thread_id  TEXT NOT NULL REFERENCES agentkit_threads (thread_id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        agent_name TEXT,
        message    TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT ({_NOW}),
        PRIMARY KEY (thread_id, seq),
        UNIQUE (thread_id, message_id)
    )
    """,
)

_INSERT_MESSAGE = (
    "INSERT INTO agentkit_messages (thread_id, seq, message_id, agent_name, message) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id, message_id) DO NOTHING"
)

_BUSY_ERRORS = ("SQLITE_BUSY", "SQLITE_LOCKED")
# SQLite's result codes for a file that is not usable as a database at all
_SETUP_ERRORS = ("SQLITE_CANTOPEN", "SQLITE_NOTADB", "SQLITE_READONLY", "SQLITE_PERM")
_SETUP_PHRASES = ("unable to open", "not a database", "readonly database", "permission")


class SQLiteStore(HistoryStore):
    """Threads in the SQLite file at ``path`` (created, with its tables, on first use).

    Args:
        path: the database file; its directory must exist. Several processes may
            share one file (on a local disk: SQLite's locks do not hold on network
            file systems).
        load_limit: the most messages a run loads (see :attr:`HistoryStore.load_limit`).
        busy_timeout: seconds to wait for another process's write before giving up
            with a (retried) :class:`~agentkit_inngest.errors.HistoryStoreError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        load_limit: int | None = None,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = os.fspath(path)
        if not isinstance(self.path, str) or not self.path:
            raise ConfigurationError("SQLiteStore needs the path of a database file")
        if busy_timeout < 0:
            raise ConfigurationError("SQLiteStore busy_timeout must be at least 0 seconds")
        self.load_limit = check_limit(load_limit, name="load_limit")
        self.busy_timeout = busy_timeout
        self._guard = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None  # used on the worker thread only

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- the worker thread ----------------------------------------------------------

    async def _call(self, what: str, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._guard:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="agentkit-sqlite")
            executor = self._executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self._on_worker, what, work)

    def _on_worker(self, what: str, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            self._connection = self._open()
        try:
            return work(self._connection)
        except sqlite3.Error as err:
            raise self._classify(err, what) from err
        except UnicodeEncodeError as err:  # encode_messages keeps such text out
            raise InputError(f"SQLite history store cannot {what}: {err}") from None

    def _open(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=True
            )
        except sqlite3.Error as err:
            raise self._classify(err, "open the database") from err
        try:
            self._enable_wal(connection)
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute("COMMIT")
            except sqlite3.Error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as err:
            connection.close()
            raise self._classify(err, "create the history tables", setup=True) from err
        return connection

    def _enable_wal(self, connection: sqlite3.Connection) -> None:
        """Switch the file to WAL.

        The switch needs the file to itself and SQLite does not wait for it (no busy handler), so
        stores opening a new file at once retry it here, within ``busy_timeout`` (this runs on the
        store's worker thread).
        """
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as err:
                busy = "locked" in str(err) or "busy" in str(err)
                if not busy or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _classify(self, err: sqlite3.Error, what: str, *, setup: bool = False) -> Exception:
        """The error to raise for a database failure.

        A store error (retried) for a busy or failing database; a configuration
        error (not retried) for a file that cannot hold the history tables.
        """
        code = getattr(err, "sqlite_errorname", "")
        text = str(err).lower()
        busy = code in _BUSY_ERRORS or "locked" in text or "busy" in text
        if (setup and not busy) or (
            code in _SETUP_ERRORS or any(phrase in text for phrase in _SETUP_PHRASES)
        ):
            return ConfigurationError(
                f"SQLite history store cannot {what} in {self.path!r}: {err}. Give "
                "SQLiteStore the path of a SQLite file (or of a new one) in an existing "
                "directory this process may write to"
            )
        return HistoryStoreError(f"SQLite history store {self.path!r} failed to {what}: {err}")

    # -- the store ------------------------------------------------------------------

    async def create_thread(self, thread_id: str, *, metadata: Mapping[str, Any]) -> None:
        check_thread_id(thread_id)
        metadata_text = metadata_json(metadata)

        def create(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO agentkit_threads (thread_id, metadata) VALUES (?, ?) "
                "ON CONFLICT (thread_id) DO NOTHING",
                (thread_id, metadata_text),
            )

        await self._call(f"create thread {thread_id!r}", create)

    async def load(self, thread_id: str, *, limit: int | None = None) -> list[Message]:
        check_thread_id(thread_id)
        limit = check_limit(limit)

        def load(connection: sqlite3.Connection) -> list[str]:
            if limit is None:
                cursor = connection.execute(
                    "SELECT message FROM agentkit_messages WHERE thread_id = ? ORDER BY seq",
                    (thread_id,),
                )
            else:
                cursor = connection.execute(
                    "SELECT message FROM (SELECT seq, message FROM agentkit_messages "
                    "WHERE thread_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                    (thread_id, limit),
                )
            return [text for (text,) in cursor.fetchall()]

        return decode_messages(await self._call(f"load thread {thread_id!r}", load))

    async def append(self, thread_id: str, messages: Sequence[StoredMessage]) -> None:
        check_thread_id(thread_id)
        rows = encode_messages(messages)
        if not rows:
            return

        def append(connection: sqlite3.Connection) -> None:
            connection.execute("BEGIN IMMEDIATE")  # the write lock, before reading last_seq
            try:
                connection.execute(
                    "INSERT INTO agentkit_threads (thread_id) VALUES (?) "
                    "ON CONFLICT (thread_id) DO NOTHING",
                    (thread_id,),
                )
                (last,) = connection.execute(
                    "SELECT last_seq FROM agentkit_threads WHERE thread_id = ?", (thread_id,)
                ).fetchone()
                for message_id, text, agent_name in rows:
                    inserted = connection.execute(
                        _INSERT_MESSAGE, (thread_id, last + 1, message_id, agent_name, text)
                    ).rowcount
                    last += inserted
                connection.execute(
                    f"UPDATE agentkit_threads SET last_seq = ?, updated_at = {_NOW} "
                    "WHERE thread_id = ?",
                    (last, thread_id),
                )
                connection.execute("COMMIT")
            except Exception:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

        await self._call(f"append to thread {thread_id!r}", append)

    async def close(self) -> None:
        """Close the connection and stop the worker thread (a later call reopens them)."""
        with self._guard:
            executor, self._executor = self._executor, None
        if executor is None:
            return

        def close(_: object = None) -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(executor, close)
        executor.shutdown(wait=True)
