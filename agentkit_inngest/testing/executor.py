"""A local executor that speaks the Inngest server's protocol to a served app.

It does what the Inngest dev server does for one app, over real HTTP:

- **sync**: ``PUT /api/inngest``; the app registers its functions with the
  executor's own API (``/fn/register``) out of band, as it does for the Inngest
  server (signed with ``{"url": ...}`` in production mode, as the self-hosted
  server signs it, and the registration must carry the signing key's hash), or,
  with ``in_band=True``, answers a signed in-band sync as for Inngest Cloud;
- **call**: ``POST /api/inngest?fnId=...&stepId=...`` with the event, the memoized
  step outputs (every memo has crossed JSON) and the run context as newer servers
  send it: ULID run id, the function's UUID (``ctx.fn_id``), the queue item
  (``ctx.qi_id``; a retry bumps its generation) and a request id (``ctx.request_id``,
  ``x-request-id``);
- **opcodes**: ``StepRun`` (memoize, call again), ``StepPlanned`` (call each planned
  step, concurrently, then discover), ``StepError`` / ``StepFailed`` (retry with
  ``attempt + 1`` or memoize the error), ``Sleep``, ``WaitForEvent`` (resolved by
  events sent to :meth:`LocalExecutor.send` or to the event API, or expired with
  :meth:`LocalExecutor.expire_waits`), ``InvokeFunction`` (runs the child),
  ``AIGateway`` (the executor calls the provider, as the Inngest server would),
  ``RunComplete`` (the run's output, as an op: what the TypeScript SDK sends);
- **checkpoints**: ``POST /v1/checkpoint/{run_id}/async`` (steps an SDK ran without
  returning to the server) with the real server's rules, stale-dispatch 409 and
  attempt reset included (``testing/_checkpoints.py`` lists them); the saved steps
  are memos of the next call in the order they arrived. :attr:`LocalExecutor.checkpoint_api`
  holds the switches and faults, :attr:`LocalExecutor.checkpoints` records each call;
- **retries**: function-level 500s and failed steps are retried up to the
  function's ``retries + 1`` attempts; ``x-inngest-no-retry`` fails the run;
- **faults**: :meth:`LocalExecutor.drop_requests` drops chosen requests (the app
  never answers, like a crash), which the executor retries like the server does;
  with ``reconnect_timeout`` a request whose connection is refused (the app is
  restarting) is tried again until the app is back, as the server's backoff allows;
- **limits**: a step output or function output over ``output_limit`` (Inngest's
  4 MB) fails the run, as the server refuses it;
- **memos through the API**: once a run's stored step outputs pass 4 MB - 1 KB,
  calls say ``use_api: true`` and carry none of them; the SDK fetches them from
  ``GET /v0/runs/{id}/actions`` and ``/v0/runs/{id}/batch``, served here with the
  server's authentication (:attr:`LocalExecutor.api_reads` records each fetch);
- **JSON as the server writes it**: every value the app receives has been through
  Go's JSON (lone surrogates arrive as U+FFFD, numbers as 64-bit floats, JCS);
- **backoff**: retries are immediate by default; ``backoff="inngest"`` waits as the
  server does (15 s, 30 s, 1 min ... plus jitter, or as ``retry-after`` says) on an
  injectable ``clock``, and :attr:`LocalExecutor.retries` records each delay;
- **cancellation**: a function's ``cancel`` entries cancel its running runs when a
  matching event arrives (the step in flight finishes; nothing after it runs);
- **flow control**: ``concurrency`` (per key and scope: calls in flight) and
  ``throttle`` (run starts, GCRA per key) as the server enforces them
  (``testing/_flow_control.py``; :attr:`LocalExecutor.flow` records peaks and
  delays); ``rateLimit``, ``debounce``, ``priority``, ``singleton`` and
  ``idempotency`` are not enforced;
- **parallel steps**: with ``seed`` set, the memos of parallel steps are stored in
  a shuffled order, as they arrive interleaved at the real server;
- **signatures**: with ``signing_key`` every request is signed as the Inngest
  server signs it (the MAC covers the exact bytes sent, the JCS form of the body,
  then the Unix time in seconds), and every response signature is checked.

It also serves the event API (``POST /e/{key}``: triggers functions and resolves
waits) and a Realtime publish endpoint, and records every request in
:attr:`LocalExecutor.requests` (and every checkpoint in
:attr:`LocalExecutor.checkpoints`) for assertions (which steps ran, how often, bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import itertools
import json
import random
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Literal

import httpx
import inngest
import jcs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from ._checkpoints import Checkpoint, CheckpointAPI, Dispatch, post_unless_cut
from ._flow_control import FlowLimits
from ._records import ApiRead, Pause, RequestRecord, Retry, Run, RunFailed
from ._traces import TraceAPI
from .expressions import evaluate
from .server_rules import (
    INLINE_STATE_BYTES,
    Clock,
    SystemClock,
    cancels,
    go_json,
    inngest_backoff,
    new_ulid,
    parse_retry_after,
    read_json,
    request_body,
    server_value,
)
from .servers import RunningServer, serve_async

__all__ = [
    "ApiRead",
    "Checkpoint",
    "LocalExecutor",
    "Pause",
    "RequestRecord",
    "Retry",
    "Run",
    "RunFailed",
]

DEFAULT_RETRIES = 4
FUNCTION_FAILED = "inngest/function.failed"
FUNCTION_CANCELLED = "inngest/function.cancelled"
MAX_REQUESTS_PER_RUN = 20_000
INNGEST_OUTPUT_LIMIT = 4 * 1024 * 1024
RECONNECT_POLL = 0.05


@dataclasses.dataclass(frozen=True)
class _Item:
    step: str
    attempt: int = 0
    job: str = ""
    """The queue item a retry belongs to ("" for new work)."""


class LocalExecutor:
    """Drive a served app like the Inngest server does.

    Use as an async context manager; it serves its own API (register, events, realtime) on
    127.0.0.1.

    Args:
        signing_key: sign requests (production-mode apps need it); responses are
            then checked too.
        retry_delay: seconds to wait before a retry, with ``backoff="none"``.
        honour_retry_after: with ``backoff="none"``, wait as long as a
            ``retry-after`` header asks (capped at ``max_retry_after``) instead of
            only recording it.
        backoff: ``"none"`` (default) retries at once, for fast tests; ``"inngest"``
            waits as the server does: its backoff table plus up to 30 s of jitter,
            or what ``retry-after`` asks (1 s to 24 h). Each delay is recorded in
            :attr:`retries`.
        clock: the clock retries wait on (default the real one); a
            :class:`~agentkit_inngest.testing.server_rules.ManualClock` makes every
            wait instant while recording it.
        seed: seeds the jitter; when given, the memos of parallel steps are also
            stored in a shuffled order (the real server stores them as they arrive).
        inline_limit: above this many bytes of stored memos a call carries none of
            them (``use_api``) and the SDK fetches them from the API (the server's
            4 MB - 1 KB).
        request_timeout: seconds to wait for the app to answer one call.
        reconnect_timeout: seconds to keep trying a call whose connection is refused
            (the app is down or restarting) before counting it as a failed attempt.
        output_limit: bytes of JSON a step or function output may have (Inngest's 4 MB);
            a larger one fails the run like the server does; ``None`` for no limit.
        keep_bodies: keep every request and response body in :attr:`requests`
            (what the Inngest server would see), for inspection.
        concurrency: at most this many calls of the app at once (runs beyond it
            queue, as under an Inngest concurrency limit); ``None`` for no limit. Many
            concurrent runs need it: an unbounded queue of calls in the HTTP client's
            pool costs time quadratic in its length. (Each function's own
            ``concurrency`` and ``throttle`` are enforced as well, see :attr:`flow`.)
        host: the interface the executor's API (registration, events, Realtime,
            checkpoints) listens on; default loopback.
        port: its port (default: a free one; :attr:`api_url` says which).
    """

    def __init__(
        self,
        *,
        signing_key: str | None = None,
        retry_delay: float = 0.0,
        honour_retry_after: bool = False,
        max_retry_after: float = 5.0,
        request_timeout: float = 120.0,
        reconnect_timeout: float = 0.0,
        output_limit: int | None = INNGEST_OUTPUT_LIMIT,
        keep_bodies: bool = False,
        concurrency: int | None = None,
        backoff: Literal["none", "inngest"] = "none",
        clock: Clock | None = None,
        seed: int | None = None,
        inline_limit: int = INLINE_STATE_BYTES,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if backoff not in ("none", "inngest"):
            raise ValueError(f"backoff must be 'none' or 'inngest', got {backoff!r}")
        self.backoff = backoff
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.host, self.port = host, port
        self.flow = FlowLimits(self.clock)
        """The functions' concurrency and throttle state: peaks per limit, delays."""
        self.seed = seed
        self._rng = random.Random(seed)
        self.inline_limit = inline_limit
        self.retries: list[Retry] = []
        self.api_reads: list[ApiRead] = []
        self.signing_key = signing_key
        self.retry_delay = retry_delay
        self.honour_retry_after = honour_retry_after
        self.max_retry_after = max_retry_after
        self.request_timeout = request_timeout
        self.reconnect_timeout = reconnect_timeout
        self.output_limit = output_limit
        self.keep_bodies = keep_bodies
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self.functions: dict[str, dict[str, Any]] = {}
        self.app_url: str | None = None
        self.runs: dict[str, Run] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[RequestRecord] = []
        self.checkpoint_api = CheckpointAPI(self)
        self.checkpoints: list[Checkpoint] = self.checkpoint_api.records
        self.traces = TraceAPI(self)
        self._id_rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self.registrations = 0
        self.registered_urls: list[str] = []
        self.published: list[tuple[str, str, Any]] = []
        self.retry_after_seen: list[str] = []
        self.pauses: list[Pause] = []
        self._ids = itertools.count(1)
        self._drop: Callable[[RequestRecord], bool] | None = None
        self._subscribers: list[asyncio.Queue[tuple[str, str, Any]]] = []
        self._server: RunningServer | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._http: httpx.AsyncClient | None = None
        self.api = Starlette(
            routes=[
                Route("/fn/register", self._register, methods=["POST"]),
                Route("/e/{key}", self._event_api, methods=["POST"]),
                Route("/v1/realtime/publish", self._publish, methods=["POST"]),
                Route("/v1/realtime/token", self._token, methods=["POST"]),
                *self.checkpoint_api.routes(),
                *self.traces.routes(),
                Route("/v0/runs/{run_id}/actions", self._run_api, methods=["GET"]),
                Route("/v0/runs/{run_id}/batch", self._run_api, methods=["GET"]),
            ]
        )

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> LocalExecutor:
        """Start the executor's own API server and its HTTP client."""
        self._stack = contextlib.AsyncExitStack()
        self._server = await self._stack.enter_async_context(
            serve_async(self.api, host=self.host, port=self.port)
        )
        size = self.concurrency
        limits = (
            httpx.Limits(max_connections=size, max_keepalive_connections=size)
            if size
            else httpx.Limits()
        )
        self._http = await self._stack.enter_async_context(
            httpx.AsyncClient(timeout=self.request_timeout, limits=limits)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Cancel the runs still going, then close what the executor opened."""
        for run in self.runs.values():
            if run.task is not None and not run.task.done():
                run.task.cancel()
        for run in self.runs.values():
            if run.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run.task
        if self._stack is not None:
            await self._stack.aclose()

    @property
    def api_url(self) -> str:
        """Where apps send registrations and events (their ``INNGEST_DEV`` / base URL)."""
        if self._server is None:
            raise RuntimeError("use the executor inside 'async with'")
        return self._server.url

    def client(
        self, app_id: str, *, signing_key: str | None = None, **options: Any
    ) -> inngest.Inngest:
        """An Inngest client for an app driven by this executor.

        An Inngest client for an app driven by this executor (dev mode unless a signing key is
        given).
        """
        return inngest.Inngest(
            app_id=app_id,
            api_base_url=self.api_url,
            event_api_base_url=self.api_url,
            is_production=signing_key is not None,
            signing_key=signing_key,
            **options,
        )

    # -- the API apps call ----------------------------------------------------------

    async def _register(self, request: Request) -> JSONResponse:
        if self.signing_key and not hmac.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {_hashed_key(self.signing_key)}"
        ):
            # the server authenticates a registration by the hash of the signing key
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.json()
        self._store_functions(body.get("functions") or [])
        self.registrations += 1
        self.registered_urls.append(str(body.get("url")))
        return JSONResponse({"ok": True})

    def _store_functions(self, functions: Iterable[dict[str, Any]]) -> None:
        for config in functions:
            self.functions[config["id"]] = config

    async def _event_api(self, request: Request) -> JSONResponse:
        body = await request.json()
        events = body if isinstance(body, list) else [body]
        try:
            ids = await self.send(events)
        except ValueError as err:  # the server's event API refuses what it cannot read
            return JSONResponse({"error": str(err), "status": 400}, status_code=400)
        return JSONResponse({"ids": ids, "status": 200})

    async def _run_api(self, request: Request) -> Response:
        """Serve the memos and events the SDK fetches when a call says ``use_api``.

        ``GET /v0/runs/{id}/actions`` (the memos) and ``/batch`` (the events): what the SDK
        fetches when a call says ``use_api``. With a signing key the caller must send
        ``Authorization: Bearer <sha256 of the key>``, as the SDK does.
        """
        run_id = request.path_params["run_id"]
        what = request.url.path.rsplit("/", 1)[-1]
        status, body = 200, b""
        run = self.runs.get(run_id)
        if self.signing_key and request.headers.get("authorization") != (
            f"Bearer {_hashed_key(self.signing_key)}"
        ):
            status, body = 401, go_json({"error": "unauthorized"})
        elif run is None:
            status, body = 404, go_json({"error": f"no run {run_id!r}"})
        else:
            body = go_json(run.memos if what == "actions" else [run.event])
        self.api_reads.append(ApiRead(run_id, what, status, len(body)))
        return Response(body, status_code=status, media_type="application/json")

    async def _publish(self, request: Request) -> JSONResponse:
        channel = request.query_params.get("channel", "")
        topic = request.query_params.get("topic", "")
        data = await request.json()
        message = (channel, topic, data)
        self.published.append(message)
        for queue in self._subscribers:
            queue.put_nowait(message)
        return JSONResponse({"ok": True})

    async def _token(self, request: Request) -> JSONResponse:
        topics = await request.json()
        channel = topics[0]["channel"] if topics else ""
        return JSONResponse({"jwt": f"local-token-{channel}"})

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[tuple[str, str, Any]]]:
        """Receive ``(channel, topic, data)`` for every Realtime publish from now on."""
        queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            yield queue
        finally:
            self._subscribers.remove(queue)

    async def attach(
        self, app: ASGIApp, *, path: str = "/api/inngest", host: str = "127.0.0.1", port: int = 0
    ) -> str:
        """Serve ``app`` for the executor's lifetime and sync it.

        Serve ``app`` on ``host``:``port`` (default: loopback, a free port) for the executor's
        lifetime and sync it; returns its Inngest URL.
        """
        if self._stack is None:
            raise RuntimeError("use the executor inside 'async with'")
        server = await self._stack.enter_async_context(serve_async(app, host=host, port=port))
        url = f"{server.url}{path}"
        await self.sync(url)
        return url

    # -- sync -----------------------------------------------------------------------

    async def sync(self, app_url: str, *, in_band: bool = False) -> dict[str, dict[str, Any]]:
        """Register the app served at ``app_url`` (its ``/api/inngest`` URL).

        As the Inngest server does (``pkg/deploy/deploy.go`` ``Ping`` in
        ``inngest/inngest``): a ``PUT`` (signed, with ``{"url": ...}``, when the
        executor has a signing key), after which the app registers out of band. With
        ``in_band`` (a signing key needed), the app answers with its configuration
        instead, as for Inngest Cloud's in-band sync (``pkg/appsync``).
        """
        assert self._http is not None
        self.app_url = app_url
        if in_band and not self.signing_key:
            raise RuntimeError("an in-band sync is signed: give the executor a signing_key")
        kind = "cloud" if self.signing_key else "dev"
        body, signature = self._signed(json.dumps({"url": app_url}, separators=(",", ":")).encode())
        headers = {"content-type": "application/json", "x-inngest-server-kind": kind, **signature}
        if in_band:
            headers["x-inngest-sync-kind"] = "in_band"
            response = await self._http.put(app_url, content=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"sync failed: HTTP {response.status_code} {response.text}")
            self._check_response_signature(response)
            self._store_functions(response.json().get("functions") or [])
            return self.functions
        # the Python SDK answers with the registration response, the TypeScript
        # SDK with its own message: what counts is that the app registered
        registered = self.registrations
        if not self.signing_key:
            body, headers = b"", {"x-inngest-server-kind": kind}
        response = await self._http.put(app_url, content=body, headers=headers)
        if response.status_code != 200 or self.registrations == registered:
            raise RuntimeError(f"sync failed: HTTP {response.status_code} {response.text}")
        return self.functions

    # -- events, runs ---------------------------------------------------------------

    def _new_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        stored: dict[str, Any] = server_value(
            {
                "name": str(event["name"]),
                "data": dict(event.get("data") or {}),
                "id": str(event.get("id") or f"evt-{next(self._ids)}"),
                "ts": int(event.get("ts") or time.time() * 1000),
                "user": dict(event.get("user") or {}),
            }
        )
        return stored

    async def send(self, events: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[str]:
        """Accept events like the event API: resolve matching waits, start triggered runs.

        An event the server could not read (NaN, a number beyond 64-bit floats) raises
        ``ValueError`` and nothing of the batch is accepted, as the event API answers 400.
        """
        batch = [events] if isinstance(events, Mapping) else list(events)
        stored = [self._new_event(raw) for raw in batch]
        ids: list[str] = []
        for event in stored:
            self.events.append(event)
            ids.append(event["id"])
            self._cancel_runs(event)
            self._resume_pauses(event)
            for fn_id, config in list(self.functions.items()):
                if self._triggered_by(config, event):
                    self.start(fn_id, event=event)
        return ids

    def _triggered_by(self, config: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
        for trigger in config.get("triggers") or []:
            if trigger.get("event") != event["name"]:
                continue
            expression = trigger.get("expression")
            if expression is None or evaluate(expression, {"event": event}):
                return True
        return False

    def function_id(self, fn_id: str) -> str:
        """The fully-qualified id of a function given its local or full id."""
        if fn_id in self.functions:
            return fn_id
        matches = [f for f in self.functions if f.endswith(f"-{fn_id}")]
        if len(matches) != 1:
            raise KeyError(
                f"no single registered function matches {fn_id!r}: {sorted(self.functions)}"
            )
        return matches[0]

    def start(
        self,
        fn_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        event: Mapping[str, Any] | None = None,
    ) -> Run:
        """Start a run of ``fn_id`` (local or full id) with ``data`` or a whole event."""
        full_id = self.function_id(fn_id)
        config = self.functions[full_id]
        if event is None:
            triggers = [t["event"] for t in config.get("triggers") or [] if "event" in t]
            event = self._new_event(
                {"name": triggers[0] if triggers else "manual", "data": data or {}}
            )
        retries = ((config.get("steps") or {}).get("step") or {}).get("retries") or {}
        attempts = int(retries.get("attempts", DEFAULT_RETRIES)) + 1
        run = Run(
            id=new_ulid(int(self.clock.now() * 1000), self._id_rng.randbytes(10)),
            fn_id=full_id,
            event=server_value(dict(event)),  # stored as the server stores events
            max_attempts=attempts,
            started=self.clock.now(),
        )
        self.runs[run.id] = run
        run.task = asyncio.create_task(self._drive(run))
        return run

    async def run(
        self,
        fn_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        event: Mapping[str, Any] | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> Run:
        """Start a run and wait for it to end.

        With ``check`` a failure raises :class:`RunFailed`.
        """
        run = await self.start(fn_id, data, event=event).wait(timeout)
        if check and run.status != "completed":
            raise RunFailed(run)
        return run

    # -- cancellation ---------------------------------------------------------------

    def _cancel_runs(self, event: dict[str, Any]) -> None:
        """Cancel every unfinished run whose function's ``cancel`` matches ``event``."""
        now = self.clock.now()
        for run in list(self.runs.values()):
            if run.status not in ("running", "waiting"):
                continue
            config = self.functions.get(run.fn_id) or {}
            if cancels(config, run.event, event, started=run.started, now=now):
                self.cancel(run)

    def cancel(self, run: Run) -> None:
        """Cancel ``run`` as the server does.

        A call in flight finishes but its result is dropped, a wait ends, and no further step
        runs.
        """
        if run.status not in ("running", "waiting"):
            return
        run.status = "cancelled"
        run.error = {"name": "Error", "message": "function cancelled"}
        for pause in [p for p in self.pauses if p.run_id == run.id]:
            self.pauses.remove(pause)
            if not pause.future.done():
                pause.future.set_result(None)

    # -- pauses ---------------------------------------------------------------------

    def _resume_pauses(self, event: dict[str, Any]) -> None:
        for pause in list(self.pauses):
            if pause.event != event["name"] or pause.future.done():
                continue
            run = self.runs[pause.run_id]
            if pause.if_exp and not evaluate(pause.if_exp, {"event": run.event, "async": event}):
                continue
            self.pauses.remove(pause)
            pause.future.set_result(event)

    async def wait_for_pause(self, run: Run | None = None, *, timeout: float = 30.0) -> Pause:
        """Wait until a run (any run by default) is paused on an event wait."""

        async def poll() -> Pause:
            while True:
                for pause in self.pauses:
                    if run is None or pause.run_id == run.id:
                        return pause
                if run is not None and run.done.is_set():
                    raise RuntimeError(f"run {run.id} ended ({run.status}) without waiting")
                await asyncio.sleep(0.005)

        return await asyncio.wait_for(poll(), timeout)

    def expire_waits(self, run: Run | None = None) -> int:
        """Time out pending waits (of one run, or all): the steps get ``null``."""
        expired = 0
        for pause in list(self.pauses):
            if run is None or pause.run_id == run.id:
                self.pauses.remove(pause)
                pause.future.set_result(None)
                expired += 1
        return expired

    # -- faults ---------------------------------------------------------------------

    def drop_requests(self, when: Callable[[RequestRecord], bool] | None) -> None:
        """Drop every request for which ``when(record)`` is true.

        Drop every request for which ``when(record)`` is true, as if the app had crashed before
        answering; the executor retries it like Inngest would.
        """
        self._drop = when

    # -- driving a run --------------------------------------------------------------

    async def _drive(self, run: Run) -> None:
        try:
            config = self.functions.get(run.fn_id) or {}
            await self.flow.admit(run.id, run.fn_id, config, run.event)
            work = [_Item("step")]
            while work and run.status == "running":
                stored = len(run.stack)
                results = await asyncio.gather(*(self._process(run, item) for item in work))
                if self.seed is not None and len(work) > 1:
                    self._interleave(run, stored)
                work = _following(run, results)
        except Exception as err:  # noqa: BLE001 - an executor bug must not hang the test
            if run.status == "running":
                run.status, run.error = "failed", {"name": type(err).__name__, "message": str(err)}
        finally:
            for pause in [p for p in self.pauses if p.run_id == run.id]:
                self.pauses.remove(pause)
            run.done.set()
        await self._announce_end(run)

    async def _announce_end(self, run: Run) -> None:
        """Send the server's event for a run that was cancelled or failed.

        As on the Inngest server, the failure event lets ``on_failure`` handlers run.
        """
        if run.status == "cancelled":
            name = FUNCTION_CANCELLED
        elif run.status == "failed" and run.event.get("name") != FUNCTION_FAILED:
            name = FUNCTION_FAILED
        else:
            return
        data = {"function_id": run.fn_id, "run_id": run.id, "error": run.error, "event": run.event}
        await self.send({"name": name, "data": data})

    def _interleave(self, run: Run, stored: int) -> None:
        """Shuffle the memos stored since ``stored`` (parallel steps of one round).

        Shuffle the memos stored since ``stored`` (parallel steps of one round), as they reach
        the real server in whatever order the steps finish.
        """
        fresh = run.stack[stored:]
        if len(fresh) < 2:
            return
        self._rng.shuffle(fresh)
        run.stack[stored:] = fresh
        moved = {step: run.memos.pop(step) for step in fresh if step in run.memos}
        run.memos.update(moved)

    def _request_body(self, run: Run, item: _Item) -> tuple[bytes, bool]:
        """The encoded call, and whether its memos are left to the API (``use_api``)."""
        dispatch = self.checkpoint_api.current(run, item.job, item.attempt)
        ctx = {
            "fn_id": self.checkpoint_api.function_uuid(run.fn_id),
            "run_id": run.id,
            "env": "",
            "step_id": item.step,
            "attempt": item.attempt,
            "max_attempts": run.max_attempts,
            "stack": {"stack": run.stack, "current": len(run.stack)},
            "disable_immediate_execution": run.disable_immediate,
            "qi_id": dispatch.job.ref,
            "request_id": dispatch.request_id,
            "job_id": dispatch.job.id,
        }
        return request_body(
            event=run.event,
            memos=run.memos,
            state_bytes=run.state_bytes,
            ctx=ctx,
            inline_limit=self.inline_limit,
        )

    def _signed(self, body: bytes) -> tuple[bytes, dict[str, str]]:
        """The bytes to send and their signature header.

        Like the Inngest server (``MarshalV1`` then ``httpdriver.Sign``): the JCS form of the
        body, and an HMAC-SHA256 over those bytes then the Unix time in seconds.
        """
        if not self.signing_key:
            return body, {}
        key = re.sub(r"^signkey-\w+-", "", self.signing_key).encode()
        stamp = str(int(time.time()))
        canonical = jcs.canonicalize(json.loads(body)) if body else b""
        digest = hmac.new(key, canonical + stamp.encode(), hashlib.sha256).hexdigest()
        return canonical, {"x-inngest-signature": f"t={stamp}&s={digest}"}

    def _check_response_signature(self, response: httpx.Response) -> None:
        if not self.signing_key:
            return
        header = response.headers.get("x-inngest-signature")
        if not header:
            raise RuntimeError("the app did not sign its response")
        parsed = urllib.parse.parse_qs(header)
        key = re.sub(r"^signkey-\w+-", "", self.signing_key).encode()
        expected = hmac.new(key, response.content + parsed["t"][0].encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), parsed["s"][0]):
            raise RuntimeError("the app's response signature does not verify")

    async def _post(
        self, run: Run, item: _Item, dispatch: Dispatch
    ) -> tuple[RequestRecord, httpx.Response | None]:
        assert self._http is not None
        assert self.app_url is not None
        run.requests += 1
        if run.requests > MAX_REQUESTS_PER_RUN:
            raise RuntimeError(f"run {run.id} made more than {MAX_REQUESTS_PER_RUN} requests")
        encoded, use_api = self._request_body(run, item)
        body, signature = self._signed(encoded)
        record = RequestRecord(
            index=len(self.requests) + 1,
            run_id=run.id,
            fn_id=run.fn_id,
            step=item.step,
            attempt=item.attempt,
            status=None,
            ops=[],
            bytes_sent=len(body),
            bytes_received=0,
            seconds=0.0,
            use_api=use_api,
            request_id=dispatch.request_id,
            qi_id=dispatch.job.ref,
        )
        self.checkpoint_api.bind(dispatch, record)
        if self.keep_bodies:
            record.request_body = body
            record.signature = signature.get("x-inngest-signature")
        self.requests.append(record)
        if self._drop is not None and self._drop(record):
            record.dropped = True
            return record, None
        query = urllib.parse.urlencode({"fnId": run.fn_id, "stepId": item.step})
        headers = {
            "x-inngest-server-kind": "cloud" if self.signing_key else "dev",
            **self.checkpoint_api.headers(dispatch),
            **self.traces.headers(run),
            **signature,
        }
        config = self.functions.get(run.fn_id) or {}
        slots = self._slots if self._slots is not None else contextlib.nullcontext()
        async with self.flow.slot(run.fn_id, config, run.event), slots:
            return await self._call(record, f"{self.app_url}?{query}", body, headers)

    async def _call(
        self, record: RequestRecord, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[RequestRecord, httpx.Response | None]:
        assert self._http is not None
        cut = self.checkpoint_api.watch(record)
        started = time.perf_counter()
        deadline = time.monotonic() + self.reconnect_timeout
        try:
            while True:
                try:
                    response = await post_unless_cut(self._http, url, body, headers, cut)
                    break
                except httpx.ConnectError:
                    if time.monotonic() >= deadline:
                        raise
                    record.reconnects += 1
                    await asyncio.sleep(RECONNECT_POLL)
        except httpx.TransportError:
            record.dropped = True
            return record, None
        finally:
            record.seconds = time.perf_counter() - started
        record.status = response.status_code
        record.bytes_received = len(response.content)
        if self.keep_bodies:
            record.response_body = response.content
        if response.status_code < 400:
            self._check_response_signature(response)
        return record, response

    def _fail(self, run: Run, error: Any) -> list[_Item]:
        run.status, run.error = "failed", error
        return []

    async def _retry(
        self, run: Run, item: _Item, error: Any, retry_after: str | None = None
    ) -> list[_Item]:
        if self._attempt(item) + 1 >= run.max_attempts:
            return self._fail(run, error)
        return await self._again(run, item, retry_after)

    def _attempt(self, item: _Item) -> int:
        """The attempt count of ``item``'s queue item (a checkpoint sets it back to 0)."""
        return self.checkpoint_api.attempt(item.job, item.attempt)

    async def _again(self, run: Run, item: _Item, retry_after: str | None = None) -> list[_Item]:
        """Back off, then the next attempt of ``item``'s queue item."""
        attempt = self._attempt(item)
        await self._back_off(run, item, retry_after)
        return [] if run.cancelled else [_Item(item.step, attempt + 1, item.job)]

    async def _back_off(self, run: Run, item: _Item, retry_after: str | None = None) -> None:
        """Wait before the attempt after ``item``, as the server would (``backoff``)."""
        delay: float | None = None
        attempt = self._attempt(item)
        if self.backoff == "inngest":
            if retry_after:
                delay = parse_retry_after(retry_after, self.clock.now())
            if delay is None:
                delay = inngest_backoff(attempt, self._rng)
        else:
            delay = self.retry_delay
            if retry_after and self.honour_retry_after:
                delay = max(delay, min(_seconds_until(retry_after), self.max_retry_after))
        self.retries.append(Retry(run.id, item.step, attempt, delay, retry_after))
        if delay > 0:
            await self.clock.sleep(delay)

    async def _process(self, run: Run, item: _Item) -> list[_Item]:
        """Make one call of ``run`` to the app and act on its answer; returns the next calls."""
        dispatch = self.checkpoint_api.begin(run, item.attempt, item.job)
        item = dataclasses.replace(item, job=dispatch.job.id)
        record, response = await self._post(run, item, dispatch)
        if run.cancelled:
            return []  # the step in flight finished; its result is dropped
        if response is None:
            return await self._retry(run, item, {"name": "ConnectionError", "message": "no answer"})
        if response.status_code not in (200, 206):
            return await self._on_error(run, item, response)
        try:
            answer = read_json(response.content)
        except ValueError as err:  # the server cannot read it: a failed attempt
            return await self._retry(run, item, {"name": "InvalidJSON", "message": str(err)})
        if response.status_code == 200:
            if not self._too_large(run, "the function's output", response.content):
                run.status, run.output = "completed", answer
            return []
        no_retry = response.headers.get("x-inngest-no-retry") == "true"
        return await self._run_ops(run, item, record, answer, no_retry)

    async def _run_ops(
        self, run: Run, item: _Item, record: RequestRecord, ops: list[Any], no_retry: bool
    ) -> list[_Item]:
        """Handle the ops of a ``206`` answer (all at once); returns the calls they lead to."""
        record.ops = [(op.get("op", ""), op.get("displayName", "")) for op in ops]
        run.history.extend(name for kind, name in record.ops if kind == "StepRun")
        if self.checkpoint_api.stalls(run, ops):
            return []
        if len(ops) > 1:
            run.disable_immediate = True
        results = await asyncio.gather(*(self._op(run, item, op, no_retry) for op in ops))
        return [next_item for items in results for next_item in items]

    async def _on_error(self, run: Run, item: _Item, response: httpx.Response) -> list[_Item]:
        """A call answered with an error: fail the run when it says not to retry, else retry."""
        error = _json_or_text(response)
        no_retry = response.headers.get("x-inngest-no-retry") == "true"
        if no_retry or response.status_code in (401, 403):
            return self._fail(run, error)
        retry_after = response.headers.get("retry-after")
        if retry_after:
            self.retry_after_seen.append(retry_after)
        return await self._retry(run, item, error, retry_after)

    def _too_large(self, run: Run, what: str, value: Any) -> bool:
        """Fail ``run`` when ``value`` (JSON bytes, or a value to encode) is over the limit."""
        if self.output_limit is None:
            return False
        size = len(value) if isinstance(value, bytes) else len(json.dumps(value).encode())
        if size <= self.output_limit:
            return False
        self._fail(
            run,
            {
                "name": "OutputTooLarge",
                "message": f"{what} is {size} bytes, over the limit of {self.output_limit} bytes",
            },
        )
        return True

    def _memoize(self, run: Run, op: Mapping[str, Any], value: Any) -> None:
        step_id = str(op["id"])
        stored = server_value(value)  # what the server hands back: Go's JSON, JCS numbers
        run.memos[step_id] = stored
        run.stack.append(step_id)
        run.state_bytes += len(go_json(stored))

    async def _op(
        self, run: Run, item: _Item, op: Mapping[str, Any], no_retry: bool
    ) -> list[_Item]:
        """Act on one op of a ``206`` answer; returns the calls it leads to."""
        kind = op.get("op")
        step_id = str(op.get("id"))
        run.step_names[step_id] = str(op.get("displayName") or op.get("name") or step_id)
        if kind == "StepError":
            if no_retry or self._attempt(item) + 1 >= run.max_attempts:
                self._memoize(run, op, {"error": op.get("error")})
                return []
            return await self._again(run, item)
        if kind == "WaitForEvent":
            return await self._wait_for_event(run, op, step_id)
        if kind == "InvokeFunction":
            self._memoize(run, op, await self._invoke(run, op))
            return []
        if kind == "AIGateway":
            return await self._ai_gateway(run, item, op)
        return self._reported(run, op, kind, step_id)

    def _reported(self, run: Run, op: Mapping[str, Any], kind: Any, step_id: str) -> list[_Item]:
        """Record an op that reports what the app did (or plans): no work for the executor."""
        if kind == "StepRun":
            if step_id in run.memos:  # already saved (checkpointed): the first write wins
                return []
            if self._too_large(run, f"step {run.step_names[step_id]!r}", op.get("data")):
                return []
            self._memoize(run, op, {"data": op.get("data")})
            return []
        if kind == "RunComplete":
            run.status, run.output = "completed", op.get("data")
            return []
        if kind == "StepPlanned":
            return [] if step_id in run.memos else [_Item(step_id)]
        if kind == "StepFailed":
            self._memoize(run, op, {"error": op.get("error")})
            return []
        if kind == "Sleep":
            self._memoize(run, op, None)
            return []
        return self._fail(run, {"name": "UnknownOpcode", "message": f"unknown opcode {kind!r}"})

    async def _wait_for_event(self, run: Run, op: Mapping[str, Any], step_id: str) -> list[_Item]:
        """Pause the run until a matching event arrives (or the wait ends); memoize what came."""
        opts = op.get("opts") or {}
        pause = Pause(
            run_id=run.id,
            step_id=step_id,
            name=run.step_names[step_id],
            event=str(opts.get("event") or op.get("name")),
            if_exp=opts.get("if"),
            future=asyncio.get_running_loop().create_future(),
        )
        self.pauses.append(pause)
        run.status = "waiting"
        try:
            value = await pause.future
        finally:
            run.status = "running" if run.status == "waiting" else run.status
        if run.cancelled:
            return []
        self._memoize(run, op, value)
        return []

    async def _ai_gateway(self, run: Run, item: _Item, op: Mapping[str, Any]) -> list[_Item]:
        """Make the model request of a ``step.ai.infer`` op; retry the call while attempts last."""
        ok, value = await self._ai_call(op.get("opts") or {})
        if ok:
            self._memoize(run, op, {"data": value})
            return []
        if self._attempt(item) + 1 < run.max_attempts:
            return await self._again(run, item)
        self._memoize(run, op, {"error": value})
        return []

    async def _invoke(self, run: Run, op: Mapping[str, Any]) -> Any:
        opts = op.get("opts") or {}
        target = str(opts.get("function_id"))
        payload = opts.get("payload") or {}
        if target not in self.functions:
            return {"error": {"name": "FunctionNotFound", "message": f"no function {target!r}"}}
        data = dict(payload.get("data") or {})
        data["_inngest"] = {
            "fn_id": target,
            "correlation_id": f"{run.id}.{op.get('id')}",
            "source_fn_id": run.fn_id,
            "name": op.get("displayName"),
        }
        child = self.start(target, event={"name": "inngest/function.invoked", "data": data})
        await child.wait(timeout=None)
        if child.status == "completed":
            return {"data": child.output}
        error = child.error if isinstance(child.error, dict) else {"message": str(child.error)}
        return {
            "error": {
                "name": str(error.get("name") or "Error"),
                "message": str(error.get("message") or error),
            }
        }

    async def _ai_call(self, opts: Mapping[str, Any]) -> tuple[bool, Any]:
        assert self._http is not None
        url = str(opts.get("url"))
        headers = {"content-type": "application/json", **dict(opts.get("headers") or {})}
        key = str(opts.get("auth_key") or "")
        if opts.get("format") == "anthropic":
            headers.setdefault("x-api-key", key)
        elif opts.get("format") != "gemini" and key:
            headers.setdefault("authorization", f"Bearer {key}")
        try:
            response = await self._http.post(url, json=opts.get("body") or {}, headers=headers)
        except httpx.TransportError as err:
            return False, {"name": "AIGatewayError", "message": f"Error making AI request: {err}"}
        if 200 <= response.status_code < 300:
            try:
                return True, response.json()
            except ValueError:
                return False, {
                    "name": "AIGatewayError",
                    "message": "Error making AI request: the response is not JSON",
                    "stack": response.text,
                }
        return False, {
            "name": "AIGatewayError",
            "message": f"Error making AI request: unsuccessful status code: {response.status_code}",
            "stack": response.text,
        }

    async def replay(self, run: Run) -> httpx.Response:
        """Call the app once more with everything ``run`` has memoized.

        Call the app once more with everything ``run`` has memoized, as a replay after the last
        step would. Nothing may run again: a finished run answers with the same output, without
        touching tools or models.
        """
        assert self._http is not None
        assert self.app_url is not None
        dispatch = self.checkpoint_api.begin(run, 0)
        encoded, _ = self._request_body(run, _Item("step", 0, dispatch.job.id))
        body, signature = self._signed(encoded)
        query = urllib.parse.urlencode({"fnId": run.fn_id, "stepId": "step"})
        headers = {**self.checkpoint_api.headers(dispatch), **self.traces.headers(run), **signature}
        return await self._http.post(f"{self.app_url}?{query}", content=body, headers=headers)

    # -- reading results ------------------------------------------------------------

    def requests_for(self, run: Run) -> list[RequestRecord]:
        """The app calls made for ``run``, in order."""
        return [r for r in self.requests if r.run_id == run.id]

    def executed(self, run: Run) -> list[str]:
        """Readable ids of the steps the app executed, in the order the server recorded them.

        Once per report: each ``StepRun`` an answer reported and each step a checkpoint
        saved (as ``CheckpointAsyncSteps`` in ``inngest/inngest`` saves each checkpointed
        step and writes its span, skipping a step already saved).
        """
        return list(run.history)


def _following(run: Run, results: list[list[_Item]]) -> list[_Item]:
    """The calls of the next round.

    Each distinct call the last round asked for, but a planned step already memoized; a
    discovery call when none is left and the run goes on.
    """
    following: list[_Item] = []
    for items in results:
        for item in items:
            planned_done = item.step != "step" and item.attempt == 0 and item.step in run.memos
            if item not in following and not planned_done:
                following.append(item)
    if not following and run.status == "running":
        following = [_Item("step")]
    return following


def _hashed_key(signing_key: str) -> str:
    """What an SDK sends as its bearer token: SHA-256 of the key's bytes (hex part)."""
    hex_part = re.sub(r"^signkey-\w+-", "", signing_key)
    try:
        return hashlib.sha256(bytes.fromhex(hex_part)).hexdigest()
    except ValueError:  # not a hex key: the SDK could not hash it either
        return ""


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"message": response.text}


def _seconds_until(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        import datetime

        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return max(0.0, when.timestamp() - time.time())
    except ValueError:
        return 0.0
