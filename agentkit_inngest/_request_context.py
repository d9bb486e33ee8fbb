"""What the Inngest server says about the request being handled, which the Python SDK drops.

The server's call of the app carries a ``ctx`` object (``pkg/execution/driver/request.go``
``SDKRequestContext`` in ``inngest/inngest``) with the function's internal UUID
(``fn_id``), the leased queue item (``qi_id``), a request id per call (``request_id``,
also the ``x-request-id`` header), the attempt and ``disable_immediate_execution``;
newer servers also send the queue item's generation (``x-inngest-generation-id``, the
header the TypeScript SDK reads). The ``inngest`` 0.5.x SDK keeps only the attempt,
the run id and the stack, but every middleware it builds gets the raw framework
request, whose body FastAPI has already read and cached. :class:`RequestContextMiddleware`
reads that body again in ``transform_input`` (which runs in the task that then runs
the handler) and stores a :class:`RequestContext` that :func:`current_request_context`
returns for the rest of the request. The checkpoint API needs these values: a step
reported there is tied to the run (``fn_id``), the queue item (``qi_id``, whose
attempts the server resets) and this dispatch (``request_id``, to detect a stale one).

Only FastAPI/Starlette requests are read in full; with another framework the context
holds what the SDK's own ``Context`` has, and :attr:`RequestContext.can_checkpoint`
is false. The middleware is async, so the client (or function) it is added to must
serve async functions only.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import inngest

__all__ = [
    "RequestContext",
    "RequestContextMiddleware",
    "current_disconnect_probe",
    "current_request_context",
    "install_request_context",
    "read_request_context",
]

_CONTEXT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "agentkit_inngest_request_context", default=None
)
_PROBE: contextvars.ContextVar[Callable[[], Awaitable[bool]] | None] = contextvars.ContextVar(
    "agentkit_inngest_disconnect_probe", default=None
)
_DECODER = json.JSONDecoder()
_INT64 = 2**63


@dataclasses.dataclass(frozen=True)
class RequestContext:
    """The run context of one call of the app, as the server sent it."""

    run_id: str
    fn_id: str | None = None
    """The function's internal UUID (not its slug)."""
    qi_id: str | None = None
    """The leased queue item, to echo unchanged."""
    request_id: str | None = None
    """This call's id (``ctx.request_id``, else the ``x-request-id`` header)."""
    generation_id: int | None = None
    """The queue item's generation (``ctx.generation_id``, else ``x-inngest-generation-id``)."""
    job_id: str | None = None
    attempt: int = 0
    max_attempts: int | None = None
    disable_immediate_execution: bool = False
    target_step: str | None = None
    """The hashed step id the call targets (``stepId``); ``None`` for a discovery call."""
    use_api: bool = False
    started_at_ms: int = 0
    """Unix milliseconds when the app started handling the call."""
    stack: tuple[str, ...] = ()
    """Hashed ids of the steps the server holds for the run, in order (``ctx.stack``)."""

    @functools.cached_property
    def memoized(self) -> frozenset[str]:
        """:attr:`stack` as a set."""
        return frozenset(self.stack)

    @property
    def can_checkpoint(self) -> bool:
        """Whether steps of this call may be checkpointed.

        Whether steps of this call may be checkpointed (the TypeScript SDK's rule): the server
        named the function and the queue item, the call targets no step, and immediate execution
        is allowed (it is not after parallel steps).
        """
        return (
            bool(self.run_id and self.fn_id and self.qi_id)
            and self.target_step is None
            and not self.disable_immediate_execution
        )


def current_disconnect_probe() -> Callable[[], Awaitable[bool]] | None:
    """Tells whether the server has closed the call being handled (it gave up waiting).

    ``None`` when the framework cannot tell (Starlette requests can).
    """
    return _PROBE.get()


def current_request_context() -> RequestContext | None:
    """The context of the call being handled, or ``None`` outside one.

    The context of the call being handled, or ``None`` outside one (or when
    :class:`RequestContextMiddleware` is not installed).
    """
    return _CONTEXT.get()


def read_request_context(
    body: bytes | str,
    headers: Mapping[str, str],
    query: Mapping[str, str] | None = None,
    *,
    started_at_ms: int,
) -> RequestContext | None:
    """Read the run context from a call's raw ``body``, ``headers`` and ``query`` parameters.

    ``None`` when the body has no usable ``ctx`` (not JSON, no run id).

    Only the top-level ``ctx`` member is decoded when it comes first, as it does in the
    server's canonical (key-sorted) JSON, so a body of large memos costs little.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        ctx = _top_level_member(text, "ctx")
    except (ValueError, IndexError, RecursionError):
        return None
    if not isinstance(ctx, dict):
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    run_id = _text(ctx.get("run_id"))
    if not run_id:
        return None
    target = (query or {}).get("stepId")
    generation = _integer(ctx.get("generation_id"))
    if generation is None:
        generation = _integer(lower.get("x-inngest-generation-id", "").strip() or None)
    return RequestContext(
        run_id=run_id,
        fn_id=_text(ctx.get("fn_id")),
        qi_id=_text(ctx.get("qi_id")),
        request_id=_text(ctx.get("request_id")) or lower.get("x-request-id") or None,
        generation_id=generation,
        job_id=_text(ctx.get("job_id")) or lower.get("x-inngest-job-id") or None,
        attempt=_integer(ctx.get("attempt")) or 0,
        max_attempts=_integer(ctx.get("max_attempts")),
        disable_immediate_execution=ctx.get("disable_immediate_execution") is True,
        target_step=target if target and target != "step" else None,
        use_api=ctx.get("use_api") is True,
        started_at_ms=started_at_ms,
        stack=_stack(ctx.get("stack")),
    )


class RequestContextMiddleware(inngest.Middleware):
    """Reads the run context of each call (see the module docstring).

    The time it is built is the call's start: for client middleware, before the SDK parses the
    body.
    """

    def __init__(self, client: inngest.Inngest, raw_request: object) -> None:
        super().__init__(client, raw_request)
        self._started_at_ms = int(time.time() * 1000)

    async def transform_input(
        self,
        ctx: inngest.Context | inngest.ContextSync,
        function: inngest.Function[Any],  # noqa: ARG002 - inngest.Middleware.transform_input's
        steps: inngest.StepMemos,  # noqa: ARG002 - shape (the context comes from the request)
    ) -> None:
        """Store the context for :func:`current_request_context`."""
        context = await self._read()
        if context is None:
            context = RequestContext(
                run_id=str(ctx.run_id),
                request_id=ctx.request_id,
                job_id=ctx.job_id,
                attempt=ctx.attempt,
                started_at_ms=self._started_at_ms,
            )
        _CONTEXT.set(context)

    async def _read(self) -> RequestContext | None:
        request = self.raw_request
        read_body = getattr(request, "body", None)
        headers = getattr(request, "headers", None)
        if not callable(read_body) or headers is None:
            return None
        try:
            body = await read_body()
        except Exception:  # noqa: BLE001 - a body already consumed elsewhere: no context
            return None
        if not isinstance(body, bytes):
            return None
        query = getattr(request, "query_params", None)
        probe = getattr(request, "is_disconnected", None)
        _PROBE.set(probe if callable(probe) else None)
        return read_request_context(
            body,
            dict(headers.items()),
            dict(query.items()) if query is not None else None,
            started_at_ms=self._started_at_ms,
        )


def install_request_context(client: inngest.Inngest) -> inngest.Inngest:
    """Add :class:`RequestContextMiddleware` to ``client`` (once) and return it."""
    if RequestContextMiddleware not in client.middleware:
        client.add_middleware(RequestContextMiddleware)
    return client


def _top_level_member(text: str, key: str) -> Any:
    """The value of ``key`` in the JSON object ``text``, decoding only what comes before it.

    ``None`` when the object has no such member.
    """
    at = _skip(text, 0)
    if text[at] != "{":
        raise ValueError("not a JSON object")
    at = _skip(text, at + 1)
    if text[at] == "}":
        return None
    while True:
        if text[at] != '"':
            raise ValueError("a member name is not a string")
        name, at = _DECODER.raw_decode(text, at)
        at = _skip(text, at)
        if text[at] != ":":
            raise ValueError("expected ':'")
        value, at = _DECODER.raw_decode(text, _skip(text, at + 1))
        if name == key:
            return value
        at = _skip(text, at)
        if text[at] == "}":
            return None
        if text[at] != ",":
            raise ValueError("expected ','")
        at = _skip(text, at + 1)


def _skip(text: str, at: int) -> int:
    """The index of the first non-space character from ``at``."""
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def _stack(value: Any) -> tuple[str, ...]:
    """The hashed step ids of ``ctx.stack`` (``{"stack": [...], "current": n}``)."""
    found = value.get("stack") if isinstance(value, dict) else None
    if not isinstance(found, list):
        return ()
    return tuple(item for item in found if isinstance(item, str))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _integer(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        return None
    return value
