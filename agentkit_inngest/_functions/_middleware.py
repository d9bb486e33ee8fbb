"""Middleware for your own Inngest functions.

Runs inside your own Inngest functions: the middleware that lets them find the function they
belong to, and turns a returned run into JSON.

:class:`AgentKitMiddleware` is added to a client by
:func:`~agentkit_inngest.create_server` and :func:`~agentkit_inngest.create_client`;
add it yourself to a client you build and serve otherwise::

    client = inngest.Inngest(app_id="my-app", middleware=[AgentKitMiddleware])

In every function of that client, ``await network.run(input)`` and
``await agent.run(input)`` then run as the function's steps (no ``runner=`` needed),
stream to the server's broker or Realtime when it has one, and ``return run``
returns the JSON :func:`~agentkit_inngest.network_function` returns (so does a step
whose whole output is a run or an agent result; deeper inside a step's output,
call ``.to_json()``). The
middleware is asynchronous: the client's functions must be ``async``.
"""

from __future__ import annotations

import weakref
from typing import Any

import inngest

from .._context import NetworkRun
from .._limits import Limits
from .._state import AgentResult
from .._steps import DEFAULT_ATTEMPTS, FunctionScope, enter_scope, to_inngest_error
from ..errors import AgentKitError
from ..streaming._publishers import Publisher
from ._outputs import function_output, unserializable_output

__all__ = ["AgentKitMiddleware", "install_middleware", "serve_streams"]

_PUBLISHERS: weakref.WeakKeyDictionary[inngest.Inngest, Publisher] = weakref.WeakKeyDictionary()


def serve_streams(client: inngest.Inngest, publisher: Publisher | None) -> None:
    """Runs started in ``client``'s functions stream with ``publisher``."""
    if publisher is None:
        _PUBLISHERS.pop(client, None)
    else:
        _PUBLISHERS[client] = publisher


def publisher_of(client: inngest.Inngest) -> Publisher | None:
    """The publisher runs in ``client``'s functions stream with, if any."""
    return _PUBLISHERS.get(client)


def attempts_of(function: inngest.Function[Any]) -> int:
    """Attempts Inngest makes of a step of ``function`` (its ``retries`` + 1)."""
    options = getattr(function, "_opts", None)  # inngest 0.5 keeps the options here
    retries = getattr(options, "retries", None)
    return retries + 1 if isinstance(retries, int) and retries >= 0 else DEFAULT_ATTEMPTS


class AgentKitMiddleware(inngest.Middleware):
    """Lets runs find the Inngest function they run in; turns returned runs into JSON.

    See the module docstring. Added to a client (``inngest.Inngest(middleware=[...])``
    or ``client.add_middleware``) or to one function
    (``client.create_function(..., middleware=[...])``).
    """

    def __init__(self, client: inngest.Inngest, raw_request: object) -> None:
        super().__init__(client, raw_request)
        self._scope: FunctionScope | None = None
        self._name = "the function"

    async def transform_input(
        self,
        ctx: inngest.Context | inngest.ContextSync,
        function: inngest.Function[Any],
        steps: inngest.StepMemos,  # noqa: ARG002 - inngest.Middleware.transform_input's shape
    ) -> None:
        """Record the function's context for the runs it starts (this request)."""
        self._name = f"function {function.local_id!r}"
        if not isinstance(ctx, inngest.Context):
            return  # a synchronous function cannot await a run
        self._scope = FunctionScope(
            ctx, max_attempts=attempts_of(function), publisher=publisher_of(self.client)
        )
        enter_scope(self._scope)

    async def transform_output(self, result: inngest.TransformOutputResult) -> None:
        """Convert returned runs to JSON.

        Publish what the runs' streams still hold when the function has returned, or
        ``run.failed`` when it failed for good.
        """
        if result.error is not None:
            if (
                result.step is None
                and self._scope is not None
                and self._scope.ends_run(result.error)
            ):
                await self._scope.fail(result.error)
            return
        if not result.has_output():
            return
        in_step = result.step is not None
        if in_step and not isinstance(result.output, (NetworkRun, AgentResult)):
            return  # any other step output is the SDK's to send (walking each one costs)
        if not in_step and self._scope is not None:
            await self._scope.finish()
        try:
            result.output = function_output(result.output, Limits())
        except AgentKitError as err:  # an output over its limit even without the conversation
            result.error, result.output = to_inngest_error(err), _EMPTY
            return
        if in_step:
            return
        error = unserializable_output(result.output, self._name)
        if error is not None:
            result.error, result.output = error, _EMPTY


def install_middleware(client: inngest.Inngest) -> inngest.Inngest:
    """Add :class:`AgentKitMiddleware` to ``client`` (once) and return it."""
    if AgentKitMiddleware not in client.middleware:
        client.add_middleware(AgentKitMiddleware)
    return client


def _empty() -> object:
    from inngest._internal import types  # the SDK's "no output" marker

    return types.empty_sentinel


_EMPTY = _empty()
