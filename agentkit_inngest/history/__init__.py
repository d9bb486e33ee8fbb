"""Conversation history across runs: threads kept in a store.

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

A *context window* caps what is sent to the model: :func:`last_turns`,
:func:`last_messages` or :func:`token_budget`, given to
``create_network(context_window=...)`` or ``create_agent(context_window=...)``.

A store's ``load_limit`` caps what a run loads: the ``history/load`` step's output is
memoized by Inngest, which refuses step outputs over 4 MB, so an unbounded thread
would eventually make every run on it fail.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import InputError
from ..messages import (
    Message,
    TextMessage,
    ToolCallMessage,
    ToolResultMessage,
    dump_history,
    load_history,
)
from ._encoding import check_key, decode_texts, encode_rows, json_text

if TYPE_CHECKING:
    from ..network import NetworkRun
    from ..state import AgentResult

__all__ = [
    "ContextWindow",
    "HistoryStore",
    "StoredMessage",
    "check_limit",
    "check_thread_id",
    "decode_messages",
    "encode_messages",
    "last_messages",
    "last_turns",
    "metadata_json",
    "token_budget",
]

_NAMESPACE = uuid.UUID("6b1d3c2e-8c1f-4f4e-9d8a-2b7f0f6b5a11")

StoredMessage: TypeAlias = "tuple[str, Message, str | None]"
"""``(message_id, message, agent_name)`` as appended to a store."""


class HistoryStore(ABC):
    """Where threads live. Implementations must make appends idempotent by
    ``message_id`` and keep each thread's messages in append order."""

    load_limit: int | None = None
    """The most messages a run loads from a thread (the newest ones, starting at a
    user message); ``None`` loads them all. Set it for long-lived threads: the loaded
    history is one step output, and Inngest caps a step output at 4 MB."""

    @abstractmethod
    async def create_thread(self, thread_id: str, *, metadata: Mapping[str, Any]) -> None:
        """Create the thread if it does not exist (an upsert)."""

    @abstractmethod
    async def load(self, thread_id: str, *, limit: int | None = None) -> list[Message]:
        """The thread's messages in order (empty for an unknown thread); with
        ``limit``, only the newest ``limit`` of them (still oldest first)."""

    @abstractmethod
    async def append(self, thread_id: str, messages: Sequence[StoredMessage]) -> None:
        """Append messages in order, creating the thread if needed; a ``message_id``
        already stored in the thread (or repeated in the batch) is skipped."""

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


async def open_thread(run: NetworkRun, store: HistoryStore, input: str) -> None:
    """Steps 1-3 above, at the start of a run."""
    state = run.state
    runner = run.runner
    run_id = runner.run_id
    if state.thread_id is None:

        async def create() -> str:
            thread_id = thread_id_for(run_id)
            await store.create_thread(thread_id, metadata={"created_by_run": run_id})
            return thread_id

        state.thread_id = await runner.run("history/create", create)
    else:
        thread_id = state.thread_id
        client_sent_history = bool(state.messages) or bool(state.results)
        if client_sent_history:

            async def upsert() -> None:
                await store.create_thread(thread_id, metadata={})

            await runner.run("history/upsert", upsert)
        else:

            async def load() -> list[dict[str, Any]]:
                await store.create_thread(thread_id, metadata={})
                limit = store.load_limit
                loaded = await store.load(thread_id, limit=limit)
                if limit is not None and len(loaded) >= limit:
                    loaded = _from_turn_start(loaded)
                return dump_history(loaded)

            state.messages = load_history(await runner.run("history/load", load))
    if input:
        thread = state.thread_id
        message = TextMessage(role="user", content=input)

        async def append_user() -> None:
            await store.append_user_message(thread, message, message_id=f"{run_id}:user")

        await runner.run("history/append-user", append_user)


async def save_results(
    run: NetworkRun, store: HistoryStore, results: Sequence[AgentResult]
) -> None:
    """Step 4: append the run's new results."""
    thread_id = run.state.thread_id
    if thread_id is None or not results:
        return
    run_id = run.runner.run_id
    saved = list(results)

    async def append_results() -> None:
        await store.append_results(thread_id, saved, id_prefix=run_id)

    await run.runner.run("history/append-results", append_results)


def check_limit(limit: int | None, *, name: str = "limit") -> int | None:
    """Validate a message-count limit (for store authors)."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{name} must be a whole number of at least 1 (or None), got {limit!r}")
    return limit


def check_thread_id(thread_id: object) -> str:
    """Validate a thread id (for store authors): a non-empty string of at most 256
    characters, without NUL or lone surrogates (no database can key by those alike)."""
    if not isinstance(thread_id, str) or not thread_id or len(thread_id) > 256:
        raise InputError(
            f"a thread id must be a non-empty string of at most 256 characters, got {thread_id!r}"
        )
    return check_key(thread_id, "a thread id")


def encode_messages(messages: Sequence[StoredMessage]) -> list[tuple[str, str, str | None]]:
    """``(message_id, message JSON, agent_name)`` rows for a database, one per distinct
    ``message_id`` (the first wins), in order (for store authors).

    A message PostgreSQL's ``jsonb`` could not hold as it is (NUL, lone surrogates,
    floats it would turn into integers) is kept as its JSON text in an envelope that
    :func:`decode_messages` opens; ids with NUL or lone surrogates and content JSON
    cannot express are refused with :class:`~agentkit_inngest.errors.InputError`
    (see docs/history.md)."""
    return encode_rows(messages)


def decode_messages(texts: Sequence[str]) -> list[Message]:
    """Messages from the JSON texts :func:`encode_messages` made (for store authors)."""
    return decode_texts(texts)


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """A thread's metadata as the JSON text a database keeps (for store authors)."""
    return json_text(dict(metadata), "thread metadata must be JSON-serializable")


# -- context windows -------------------------------------------------------------------

ContextWindow: TypeAlias = Callable[[list[Message]], list[Message]]
"""Trims the conversation sent to the model."""


def _is_user_text(message: Message) -> bool:
    return isinstance(message, TextMessage) and message.role == "user"


def _from_turn_start(messages: list[Message]) -> list[Message]:
    """A cut history, starting at its first user message (or at least with no orphans)."""
    for index, message in enumerate(messages):
        if _is_user_text(message):
            return messages[index:]
    return _drop_orphans(messages)


def _drop_orphans(messages: list[Message]) -> list[Message]:
    """Remove tool results whose call was cut off, and calls whose results were."""
    calls = {c.id for m in messages if isinstance(m, ToolCallMessage) for c in m.tools}
    results = {m.tool_call_id for m in messages if isinstance(m, ToolResultMessage)}
    kept: list[Message] = []
    for message in messages:
        if isinstance(message, ToolResultMessage) and message.tool_call_id not in calls:
            continue
        unanswered = isinstance(message, ToolCallMessage) and not all(
            c.id in results for c in message.tools
        )
        # a trailing call keeps its place: its results follow in this very turn
        if unanswered and message is not messages[-1]:
            continue
        kept.append(message)
    return kept


def last_messages(count: int) -> ContextWindow:
    """Keep the last ``count`` messages (never splitting a tool call from its results)."""
    if count < 1:
        raise ValueError("last_messages needs a count of at least 1")

    def window(messages: list[Message]) -> list[Message]:
        return _drop_orphans(messages[-count:])

    return window


def last_turns(count: int) -> ContextWindow:
    """Keep the last ``count`` turns: a turn is a user message and everything the
    agents did in answer to it (their text, tool calls and tool results).

    This is the "last N results" policy at a grain that survives storage: a thread
    keeps messages, not agent results, and cutting at a user message never splits a
    tool call from its result nor starts the conversation with an answer to a
    question the model cannot see. The turn being answered counts as one.
    """
    if count < 1:
        raise ValueError("last_turns needs a count of at least 1")

    def window(messages: list[Message]) -> list[Message]:
        starts = [index for index, message in enumerate(messages) if _is_user_text(message)]
        if len(starts) <= count:
            return list(messages)
        return _drop_orphans(messages[starts[-count] :])

    return window


def _approximate_tokens(message: Message) -> int:
    if isinstance(message, TextMessage):
        text = message.content
    elif isinstance(message, ToolCallMessage):
        text = "".join(f"{c.name}{c.arguments}" for c in message.tools)
    else:
        text = message.content_text()
    return len(text) // 4 + 4


def token_budget(
    max_tokens: int, *, count: Callable[[Message], int] = _approximate_tokens
) -> ContextWindow:
    """Keep the most recent messages whose token count fits ``max_tokens``.

    ``count`` estimates one message's tokens (default: characters / 4, plus a little
    per message); pass a real tokenizer's count for precision.
    """
    if max_tokens < 1:
        raise ValueError("token_budget needs max_tokens of at least 1")

    def window(messages: list[Message]) -> list[Message]:
        kept: list[Message] = []
        used = 0
        for message in reversed(messages):
            cost = count(message)
            if kept and used + cost > max_tokens:
                break
            kept.append(message)
            used += cost
        return _drop_orphans(list(reversed(kept)))

    return window
