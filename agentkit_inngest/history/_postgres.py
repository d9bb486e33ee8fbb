"""Threads in PostgreSQL, through an ``asyncpg`` connection pool.

Schema (created on first use, under an advisory lock so that several processes
starting at once do not race)::

    agentkit_threads(thread_id PK, metadata jsonb, last_seq, created_at, updated_at)
    agentkit_messages(thread_id, seq, message_id, agent_name, message jsonb, created_at)
        PRIMARY KEY (thread_id, seq), UNIQUE (thread_id, message_id)

An append is one transaction that first upserts the thread row
(``INSERT ... ON CONFLICT DO UPDATE``), which locks that row: concurrent appends to
one thread queue there, read the ``last_seq`` the previous one committed and number
their messages after it, so no two take the same ``seq`` and a reader never sees a
later message before an earlier one. Appends to different threads do not wait for
each other. Message ids already stored are skipped, so an append that runs again
(a step retried after a lost response) writes nothing twice. Readers order by
``seq`` and never assume it has no gaps.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from .._extras import missing
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

try:
    import asyncpg
except ModuleNotFoundError as err:  # the [postgres] extra
    raise missing("asyncpg", extra="postgres", feature="PostgresStore") from err


__all__ = ["PostgresStore"]

logger = logging.getLogger("agentkit_inngest")

_SCHEMA_LOCK = 0x6167_656E_746B_6974  # "agentkit": one advisory lock for schema creation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentkit_threads (
    thread_id  text PRIMARY KEY,
    metadata   jsonb NOT NULL DEFAULT '{}',
    last_seq   bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS agentkit_messages (
    thread_id  text NOT NULL REFERENCES agentkit_threads (thread_id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    message_id text NOT NULL,
    agent_name text,
    message    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (thread_id, seq),
    UNIQUE (thread_id, message_id)
);
"""

_LOCK_THREAD = (
    "INSERT INTO agentkit_threads AS t (thread_id) VALUES ($1) "
    "ON CONFLICT (thread_id) DO UPDATE SET updated_at = now() RETURNING t.last_seq"
)

_KNOWN_IDS = (
    "SELECT message_id FROM agentkit_messages WHERE thread_id = $1 AND message_id = ANY($2::text[])"
)

_INSERT_MESSAGES = """
INSERT INTO agentkit_messages (thread_id, seq, message_id, agent_name, message)
SELECT $1, row.seq, row.message_id, row.agent_name, row.message::jsonb
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])
    AS row (seq, message_id, agent_name, message)
ON CONFLICT (thread_id, message_id) DO NOTHING
"""

# SQLSTATEs that mean the setup is wrong (retrying cannot help): authorization,
# unknown database or schema, missing privileges
_SETUP_STATES = ("28", "3D000", "3F000", "42501")


# SQLSTATE class 22, data exceptions: the same data fails the same way every time
_DATA_STATES = ("22",)

_DATABASE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _redacted(dsn: str) -> str:
    """The DSN without its password, for error messages."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        if parts.password is None:
            return dsn
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[-1]
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "<the DSN given>"


class PostgresStore(HistoryStore):
    """Threads in the PostgreSQL database at ``dsn`` (tables created on first use).

    The pool opens on first use, on the event loop of that use, and serves that loop
    only: create the store where your app starts (or one per loop), and
    :meth:`close` it when the app stops. (Used again after its loop has ended
    without :meth:`close`, the store logs a warning and opens a new pool.)

    Args:
        dsn: ``postgresql://user:password@host:port/database``; extra query
            parameters become server settings (``?search_path=chat`` keeps the
            tables in schema ``chat``).
        load_limit: the most messages a run loads (see :attr:`HistoryStore.load_limit`).
        min_size, max_size: connections kept and allowed in the pool.
        connect_timeout: seconds to wait for a connection.
        pool_options: further keyword arguments for ``asyncpg.create_pool``
            (``statement_cache_size=0`` behind PgBouncer in transaction mode...).
    """

    def __init__(
        self,
        dsn: str,
        *,
        load_limit: int | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        pool_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(dsn, str) or not dsn.startswith(("postgresql://", "postgres://")):
            got = (
                "a string that does not start with postgresql://"
                if isinstance(dsn, str)
                else (type(dsn).__name__)
            )
            raise ConfigurationError(
                "PostgresStore needs a DSN like postgresql://user:password@host:5432/database "
                f"(got {got})"
            )
        if not 0 < min_size <= max_size:
            raise ConfigurationError("PostgresStore needs 0 < min_size <= max_size")
        self.dsn = dsn
        self.load_limit = check_limit(load_limit, name="load_limit")
        self._pool_options: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": connect_timeout,
            **dict(pool_options or {}),
        }
        self._pool: asyncpg.Pool | None = None
        self._opening: asyncio.Task[asyncpg.Pool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({_redacted(self.dsn)!r})"

    # -- the pool -------------------------------------------------------------------

    async def _get_pool(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                raise ConfigurationError(
                    f"{self!r} is already in use on another event loop; an asyncpg pool "
                    "serves one loop: create one PostgresStore per event loop"
                )
            if self._pool is not None:
                logger.warning(
                    "%r: the event loop of its pool closed before store.close(); its "
                    "connections are abandoned and a new pool is opened. Await "
                    "store.close() before the loop ends (asyncio.run ends it).",
                    self,
                )
            self._loop, self._pool, self._opening = loop, None, None
        if self._pool is not None:
            return self._pool
        if self._opening is None:
            self._opening = loop.create_task(self._open())
        opening = self._opening
        try:
            self._pool = await asyncio.shield(opening)
        except Exception:
            if self._opening is opening:
                self._opening = None
            raise
        return self._pool

    async def _open(self) -> asyncpg.Pool:
        try:
            pool = await asyncpg.create_pool(self.dsn, **self._pool_options)
        except Exception as err:
            raise self._classify(err, "connect") from err
        try:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await connection.execute(_SCHEMA)
        except Exception as err:
            await pool.close()
            raise self._classify(err, "create the history tables") from err
        return pool

    def _classify(self, err: Exception, what: str) -> Exception:
        where = _redacted(self.dsn)
        state = str(getattr(err, "sqlstate", "") or "")
        if state.startswith(_DATA_STATES):
            # the data itself is refused (encode_messages keeps such values out)
            return InputError(f"PostgreSQL history store refused the data to {what}: {err}")
        if isinstance(err, (ValueError, asyncpg.InterfaceError)) or state.startswith(_SETUP_STATES):
            return ConfigurationError(
                f"PostgreSQL history store cannot {what} at {where}: {err}. Check the DSN "
                "(user, password, database) and that the user may create tables there"
            )
        if isinstance(err, (OSError, asyncio.TimeoutError)):
            return HistoryStoreError(
                f"PostgreSQL history store cannot {what} at {where}: {err!r}. Is the server "
                "running and reachable at that host and port?"
            )
        return HistoryStoreError(f"PostgreSQL history store failed to {what} at {where}: {err}")

    async def _run(self, what: str, work: Any) -> Any:
        pool = await self._get_pool()
        try:
            async with pool.acquire() as connection:
                return await work(connection)
        except _DATABASE_ERRORS as err:
            raise self._classify(err, what) from err

    # -- the store ------------------------------------------------------------------

    async def create_thread(self, thread_id: str, *, metadata: Mapping[str, Any]) -> None:
        check_thread_id(thread_id)
        metadata_text = metadata_json(metadata)

        async def create(connection: asyncpg.Connection) -> None:
            await connection.execute(
                "INSERT INTO agentkit_threads (thread_id, metadata) VALUES ($1, $2::jsonb) "
                "ON CONFLICT (thread_id) DO NOTHING",
                thread_id,
                metadata_text,
            )

        await self._run(f"create thread {thread_id!r}", create)

    async def load(self, thread_id: str, *, limit: int | None = None) -> list[Message]:
        check_thread_id(thread_id)
        limit = check_limit(limit)

        async def load(connection: asyncpg.Connection) -> list[str]:
            if limit is None:
                rows = await connection.fetch(
                    "SELECT message::text FROM agentkit_messages WHERE thread_id = $1 ORDER BY seq",
                    thread_id,
                )
            else:
                rows = await connection.fetch(
                    "SELECT message FROM (SELECT seq, message::text FROM agentkit_messages "
                    "WHERE thread_id = $1 ORDER BY seq DESC LIMIT $2) AS newest ORDER BY seq",
                    thread_id,
                    limit,
                )
            return [row[0] for row in rows]

        texts: list[str] = await self._run(f"load thread {thread_id!r}", load)
        return decode_messages(texts)

    async def append(self, thread_id: str, messages: Sequence[StoredMessage]) -> None:
        check_thread_id(thread_id)
        rows = encode_messages(messages)
        if not rows:
            return

        async def append(connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                last: int = await connection.fetchval(_LOCK_THREAD, thread_id)
                known = {
                    record[0]
                    for record in await connection.fetch(
                        _KNOWN_IDS, thread_id, [message_id for message_id, _, _ in rows]
                    )
                }
                new = [row for row in rows if row[0] not in known]
                if not new:
                    return
                await connection.execute(
                    _INSERT_MESSAGES,
                    thread_id,
                    list(range(last + 1, last + 1 + len(new))),
                    [message_id for message_id, _, _ in new],
                    [agent_name for _, _, agent_name in new],
                    [text for _, text, _ in new],
                )
                await connection.execute(
                    "UPDATE agentkit_threads SET last_seq = $2 WHERE thread_id = $1",
                    thread_id,
                    last + len(new),
                )

        await self._run(f"append to thread {thread_id!r}", append)

    async def close(self) -> None:
        """Close the pool (a later call opens a new one)."""
        pool, self._pool, self._opening, self._loop = self._pool, None, None, None
        if pool is not None:
            await pool.close()
