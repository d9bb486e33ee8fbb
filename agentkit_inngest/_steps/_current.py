"""The Inngest function a run belongs to, found without being passed.

AgentKit's TypeScript ``network.run(input)`` inside an Inngest function uses that
function's steps by itself. Here the same holds: while an Inngest function is
being executed, a :class:`FunctionScope` for its context is kept in a context
variable, set by the functions this package builds and by
:class:`~agentkit_inngest.AgentKitMiddleware` (which
:func:`~agentkit_inngest.create_server` and :func:`~agentkit_inngest.create_client`
install on the client) for every other function of the client. A run given no
runner then gets :func:`default_runner`: an :class:`InngestRunner` on that
function's context, so every inference and tool call is a memoized step.

A run never falls back to steps run inline while an Inngest function is executing
(the SDK says so through its own step context): that would redo every inference
and tool call on each replay. Without a scope it fails, saying what to pass. Code
running inside a step's body (a tool's handler, ``ctx.step.run``) runs inline, as
steps cannot nest.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import inngest

from .._limits import Limits
from ..errors import AgentKitError, ConfigurationError
from ._inline import InlineRunner
from ._inngest import InngestRunner
from ._runner import StepRunner

if TYPE_CHECKING:
    from ..streaming._publishers import Publisher

__all__ = [
    "DEFAULT_ATTEMPTS",
    "FunctionScope",
    "current_scope",
    "default_runner",
    "enter_scope",
    "function_scope",
]

DEFAULT_ATTEMPTS = 5
"""Attempts of a step when the function does not say (Inngest's default: 4 retries)."""


@dataclasses.dataclass
class FunctionScope:
    """The Inngest function being executed, as runs started in it see it.

    Attributes:
        ctx: the function's context.
        max_attempts: attempts Inngest makes of a step (the function's retries + 1).
        publisher: where runs started in the function stream their events.
        limits: size limits of those runs.
        runners: the runners made for runs started in this request so far.
    """

    ctx: inngest.Context
    max_attempts: int = DEFAULT_ATTEMPTS
    publisher: Publisher | None = None
    limits: Limits | None = None
    runners: list[InngestRunner] = dataclasses.field(default_factory=list)
    _own: InngestRunner | None = None

    def new_runner(self, *, thread_id: str | None = None) -> InngestRunner:
        """A runner on the function's steps for one more run.

        The first run of a request uses bare step IDs (``Agent#1/infer``); later ones are
        prefixed ``run#2/``, ``run#3/``... so two runs in one function never share an ID.
        """
        number = len(self.runners) + 1
        prefix = "" if number == 1 else f"run#{number}"
        runner = InngestRunner(
            self.ctx, prefix=prefix, limits=self.limits, max_attempts=self.max_attempts
        )
        if self.publisher is not None:
            runner.stream.configure(self.publisher, thread_id=thread_id or _event_thread(self.ctx))
        self.runners.append(runner)
        return runner

    def own_steps(self) -> InngestRunner:
        """The runner of steps the function's code starts itself.

        The runner of steps the function's code starts itself through this package
        (:func:`~agentkit_inngest.infer`): one per request, bare step IDs.
        """
        if self._own is None:
            self._own = InngestRunner(self.ctx, limits=self.limits, max_attempts=self.max_attempts)
        return self._own

    async def finish(self) -> None:
        """The function returned: publish what its runs' streams still hold.

        The function returned: publish the stream events its runs still hold (``run.completed``
        and what came after their last step).
        """
        for runner in self.runners:
            await runner.stream.flush()

    def ends_run(self, error: BaseException) -> bool:
        """Whether the function failing with ``error`` ends the run (no retry follows)."""
        if isinstance(error, inngest.NonRetriableError):
            return True
        if isinstance(error, AgentKitError) and not error.retriable:
            return True
        return self.ctx.attempt + 1 >= self.max_attempts

    async def fail(self, error: BaseException) -> None:
        """The function failed for good: end its runs' streams.

        The function failed for good: its runs' streams end with ``run.failed`` (what
        ``network_function``'s failure handler publishes for its own runs).
        """
        for runner in self.runners:
            await runner.stream.publish_final(
                "run.failed", error=str(error) or type(error).__name__
            )


_SCOPE: contextvars.ContextVar[FunctionScope | None] = contextvars.ContextVar(
    "agentkit_function_scope", default=None
)


def current_scope() -> FunctionScope | None:
    """The scope of the Inngest function being executed in this task, if any."""
    scope = _SCOPE.get()
    if scope is None:
        return None
    running = _sdk_step()
    own = getattr(scope.ctx.step, "sdk_step", scope.ctx.step)  # a checkpointed ctx wraps it
    if running is not None and running is not own:
        return None  # left over from another function call in this task
    return scope


def enter_scope(scope: FunctionScope) -> None:
    """Set ``scope`` for the rest of this task (a middleware's call, which ends with it)."""
    _SCOPE.set(scope)


@contextlib.contextmanager
def function_scope(
    ctx: inngest.Context,
    *,
    max_attempts: int = DEFAULT_ATTEMPTS,
    publisher: Publisher | None = None,
    limits: Limits | None = None,
) -> Iterator[FunctionScope]:
    """Runs started in the block use ``ctx``'s steps (see :func:`default_runner`)."""
    scope = FunctionScope(ctx, max_attempts=max_attempts, publisher=publisher, limits=limits)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def default_runner(what: str, *, thread_id: str | None = None, own: bool = False) -> StepRunner:
    """The runner of a run given none.

    The Inngest function's steps when one is executing (see the module docstring), else an
    :class:`InlineRunner`.

    Args:
        what: the call, for the error (``"network.run()"``).
        thread_id: the run's thread, the channel its events stream on.
        own: for a single step of the function's own code (not a run): the
            function's one :meth:`FunctionScope.own_steps` runner.

    Raises:
        ConfigurationError: an Inngest function is executing but its context
            cannot be found; the message says what to pass.
    """
    if _in_sdk_step():
        return InlineRunner()  # inside a step's body: steps cannot nest
    scope = current_scope()
    if scope is not None:
        return scope.own_steps() if own else scope.new_runner(thread_id=thread_id)
    running = _sdk_step()
    if running is not None:
        raise ConfigurationError(
            f"{what} is called inside an Inngest function, but the function's context "
            "cannot be found, so its inferences and tool calls would not be steps and every "
            "replay would run them again: pass runner=InngestRunner(ctx), or serve the "
            "function with agentkit_inngest.create_server (its client then carries "
            "AgentKitMiddleware), or add the middleware yourself: "
            "inngest.Inngest(..., middleware=[AgentKitMiddleware])"
        )
    return InlineRunner()


def _sdk_step() -> object | None:
    """The step API of the Inngest function the SDK is executing in this task, if any."""
    from inngest.experimental import get_step_context

    try:
        return get_step_context()
    except LookupError:
        return None


def _in_sdk_step() -> bool:
    """Whether a step's body is running in this task (the SDK's own flag: steps cannot nest).

    ``False`` if this SDK version keeps it elsewhere.
    """
    from inngest._internal.execution_lib import models

    flag: Any = getattr(models, "_in_step", None)
    return isinstance(flag, contextvars.ContextVar) and flag.get() is True


def _event_thread(ctx: inngest.Context) -> str | None:
    """The thread id of the triggering event (``data.thread_id`` or ``data.threadId``)."""
    data = ctx.event.data if isinstance(ctx.event.data, dict) else {}
    for key in ("thread_id", "threadId"):
        found = data.get(key)
        if isinstance(found, str) and found:
            return found
    return None
