"""The records a local executor keeps.

The records a :class:`~agentkit_inngest.testing.executor.LocalExecutor` keeps: its runs, the app
calls it made, the retries it scheduled, API reads, event waits, checkpoints and queue items.

They live apart from the executor so that its parts (the checkpoint endpoint) can
use them without importing the executor itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Literal

from ._step_metadata import StepView

__all__ = [
    "ApiRead",
    "Checkpoint",
    "Cut",
    "Dispatch",
    "Pause",
    "QueueItem",
    "RequestRecord",
    "Retry",
    "Run",
    "RunFailed",
    "RunStatus",
]

RunStatus = Literal["running", "waiting", "completed", "failed", "cancelled", "stalled"]


class RunFailed(AssertionError):
    """Raised by :meth:`LocalExecutor.run` (``check=True``) when a run fails."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run {run.id} of {run.fn_id} failed: {run.error}")
        self.run = run


@dataclasses.dataclass
class RequestRecord:
    """One call of the app, as the executor made it."""

    index: int
    run_id: str
    fn_id: str
    step: str
    attempt: int
    status: int | None
    ops: list[tuple[str, str]]
    bytes_sent: int
    bytes_received: int
    seconds: float
    dropped: bool = False
    reconnects: int = 0
    request_body: bytes | None = None
    response_body: bytes | None = None
    signature: str | None = None
    use_api: bool = False
    """The call carried no memos: the SDK had to fetch them from the API."""
    request_id: str | None = None
    qi_id: str | None = None
    checkpoints: int = 0
    """Checkpoints the app made while handling this call."""


@dataclasses.dataclass
class Retry:
    """A retry the executor scheduled.

    After ``attempt`` (0-based) of ``step`` failed, the next attempt waited ``delay`` seconds
    (``retry_after``: what the app asked).
    """

    run_id: str
    step: str
    attempt: int
    delay: float
    retry_after: str | None = None


@dataclasses.dataclass
class ApiRead:
    """A fetch of a run's memos (``actions``) or events (``batch``) through the API."""

    run_id: str
    what: str
    status: int
    bytes_sent: int


@dataclasses.dataclass
class Pause:
    """A run waiting for an event."""

    run_id: str
    step_id: str
    name: str
    event: str
    if_exp: str | None
    future: asyncio.Future[Any]


@dataclasses.dataclass
class Run:
    """One function run driven by the executor."""

    id: str
    fn_id: str
    event: dict[str, Any]
    max_attempts: int
    memos: dict[str, Any] = dataclasses.field(default_factory=dict)
    stack: list[str] = dataclasses.field(default_factory=list)
    state_bytes: int = 0
    """Bytes of JSON of every stored memo (the server's ``state_size``)."""
    started: float = 0.0
    status: RunStatus = "running"
    output: Any = None
    error: Any = None
    disable_immediate: bool = False
    requests: int = 0
    step_names: dict[str, str] = dataclasses.field(default_factory=dict)
    step_views: dict[str, StepView] = dataclasses.field(default_factory=dict)
    """What the server kept of each checkpointed step's ``opts`` and ``metadata``."""
    history: list[str] = dataclasses.field(default_factory=list)
    """Readable ids of the steps the server recorded as run, in the order it recorded
    them: each ``StepRun`` an answer reported, and each step a checkpoint saved."""
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def view_of(self, display_name: str) -> StepView:
        """What the server kept of the ``opts``/``metadata`` of a checkpointed step.

        What the server kept of the ``opts``/``metadata`` of the checkpointed step
        ``display_name`` (an empty view for a step reported the ordinary way).
        """
        for hashed, name in self.step_names.items():
            if name == display_name:
                return self.step_views.get(hashed, StepView())
        raise KeyError(display_name)

    def memo_for(self, display_name: str) -> Any:
        """The memo of the step whose readable id is ``display_name``."""
        for hashed, name in self.step_names.items():
            if name == display_name and hashed in self.memos:
                return self.memos[hashed]
        raise KeyError(display_name)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    async def wait(self, timeout: float | None = 60.0) -> Run:
        await asyncio.wait_for(self.done.wait(), timeout)
        return self


@dataclasses.dataclass
class Checkpoint:
    """One call of the checkpoint API, whatever its answer."""

    run_id: str
    ops: list[tuple[str, str]]
    """``(opcode, display name)`` of each op sent."""
    bytes_received: int
    status: int = 0
    error: str | None = None
    saved: list[str] = dataclasses.field(default_factory=list)
    """Display names of the steps stored by this call, in order."""
    skipped: list[str] = dataclasses.field(default_factory=list)
    """Steps already stored (first write wins)."""
    request_id: str | None = None
    qi_id: str | None = None
    generation_id: int | None = None
    request_index: int | None = None
    """:attr:`RequestRecord.index` of the app request that sent it, when known."""
    dropped: bool = False
    """Saved, then the connection dropped before the answer (:meth:`CheckpointAPI.drop_next`)."""


@dataclasses.dataclass
class QueueItem:
    """A queue item (job) of a run: one step to call, retried under the same id."""

    id: str
    run_id: str
    ref: str
    generation: int = 1
    attempt: int = 0
    dispatches: dict[str, Dispatch] = dataclasses.field(default_factory=dict)


class Cut(asyncio.Event):
    """Set to cut a call; :attr:`closed` is set once its connection is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = asyncio.Event()


@dataclasses.dataclass
class Dispatch:
    """One call of the app for a queue item (one generation of it)."""

    request_id: str
    job: QueueItem
    generation: int
    record: RequestRecord | None = None
    checkpoints: int = 0
    cut: Cut = dataclasses.field(default_factory=Cut)
