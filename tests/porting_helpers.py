"""Shared pieces of the porting tests (tests/test_porting_*.py): each of those files
ports the TypeScript samples of one AgentKit docs page the way a porting user would
write them (docs/porting.md maps every sample to its test)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import inngest

from agentkit_inngest import create_server
from agentkit_inngest.messages import ToolResultMessage
from agentkit_inngest.streaming import StreamEvent
from agentkit_inngest.testing import LocalExecutor, ModelCall


@contextlib.asynccontextmanager
async def inngest_dev(
    app_id: str = "my-agentkit-network", **executor_options: Any
) -> AsyncIterator[tuple[LocalExecutor, inngest.Inngest]]:
    """A local Inngest server (the testing kit's executor) and a client of it: what
    ``npx inngest-cli dev`` and ``new Inngest({ id })`` are to a TypeScript user."""
    async with LocalExecutor(**executor_options) as executor:
        yield executor, executor.client(app_id)


async def serve_app(executor: LocalExecutor, **server: Any) -> None:
    """``createServer({...}).listen()``: serve the app and sync it with the executor."""
    await executor.attach(create_server(**server))


def tool_results(call: ModelCall) -> list[ToolResultMessage]:
    """The tool results a model has been sent so far."""
    return [m for m in call.messages if isinstance(m, ToolResultMessage)]


def point_providers_at(monkeypatch: Any, url: str) -> None:
    """Point every provider's default base URL at the local fake provider, so models
    are written as in the TypeScript samples (``openai("gpt-4o")``, no base URL)."""
    monkeypatch.setenv("OPENAI_BASE_URL", f"{url}/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    monkeypatch.setenv("GEMINI_BASE_URL", f"{url}/v1beta")
    monkeypatch.setenv("XAI_BASE_URL", f"{url}/v1")


async def collect_until(
    stream: AsyncIterator[StreamEvent], *final: str, timeout: float = 30.0
) -> list[StreamEvent]:
    """The events of a broker subscription up to the first of type ``final`` (default:
    a run's end), failing after ``timeout`` seconds rather than waiting forever."""
    ends = set(final or ("run.completed", "run.failed"))

    async def read() -> list[StreamEvent]:
        seen: list[StreamEvent] = []
        async for event in stream:
            seen.append(event)
            if event.type in ends:
                break
        return seen

    return await asyncio.wait_for(read(), timeout)
