"""Thread hooks: the run layer's side of conversation history.

At the start of a run with a :class:`~agentkit_inngest.history.HistoryStore` the
run opens its thread (creates it, or loads it unless the caller sent the history)
and records the user's message; at the end it appends the new results. Each store
call is a step, so a replay neither reloads nor writes twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._context import NetworkRun
from .._state import AgentResult
from ..history import HistoryStore, thread_id_for
from ..history._windows import from_turn_start
from ..messages import TextMessage, dump_history, load_history

__all__ = ["open_thread", "save_results"]


async def open_thread(run: NetworkRun, store: HistoryStore, input: str) -> None:
    """Open the run's thread: create it or load it, then record the user's message."""
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
                    loaded = from_turn_start(loaded)
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
    """Append the run's new results to its thread."""
    thread_id = run.state.thread_id
    if thread_id is None or not results:
        return
    run_id = run.runner.run_id
    saved = list(results)

    async def append_results() -> None:
        await store.append_results(thread_id, saved, id_prefix=run_id)

    await run.runner.run("history/append-results", append_results)
