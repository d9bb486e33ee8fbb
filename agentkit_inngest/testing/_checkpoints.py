"""The checkpoint API of the local executor, and its queue items.

The checkpoint API of :class:`~agentkit_inngest.testing.executor.LocalExecutor`, and the queue
items whose dispatches it checks, as the Inngest server has them.

``POST /v1/checkpoint/{run_id}/async`` follows ``pkg/api/apiv1/checkpoint.go``
(``CheckpointAsyncSteps``) and ``pkg/execution/checkpoint/checkpoint.go``
(``checkpointAsyncSteps``, ``validateAsyncDispatch``) in ``inngest/inngest``:

1. **401** ``Authentication failed`` when the executor has a signing key and the bearer
   token is neither the key nor its hash (``pkg/authn``); no key is needed in dev mode.
2. **400** ``invalid request body`` when the JSON does not decode into the server's
   struct: not JSON, a ``run_id`` that is not a ULID, an ``fn_id`` that is not a UUID, a
   field of the wrong type, an unknown opcode (``_checkpoint_body.py``). The path's
   run id is ignored: the body's ``run_id`` and ``fn_id`` name the run.
3. **400** ``Failed to checkpoint steps`` when the run is unknown, finished, or of
   another function, or when any op is asynchronous (``Sleep``, ``WaitForEvent``,
   ``InvokeFunction``, ``AIGateway``, ``StepError``...): nothing is saved.
   The dispatch ids: each call of the app carries a request id (a ULID whose entropy
   comes from the run id and the queue item's generation), and a retry of a queue
   item bumps its generation (:meth:`CheckpointAPI.begin`).
4. **409** on a stale dispatch (:attr:`CheckpointAPI.stale_dispatch`, on by default):
   the body names a ``request_id`` and the request started 10 s ago or more (or did not
   say when), and that id is not the current dispatch of the queue item ``qi_id`` names
   (the item was retried since, so a newer request owns the run). Nothing is saved
   unless :attr:`CheckpointAPI.save_on_stale` (server versions differ).
5. Ops are applied in order: ``StepRun`` / ``Step`` are saved (a step id already saved
   is skipped: the first write wins and the stack is not extended), ``DeferAdd`` /
   ``DeferAbort`` are accepted, and any other op answers **400** with the ops before
   it saved.
6. **200 with an empty body**; the queue item's attempt count goes back to 0.
7. A saved op's ``opts`` (its run type, ``step.ai.wrap`` for an AI call made in the
   app) and ``metadata`` (with :attr:`CheckpointAPI.step_metadata`) are kept on the run
   as the server keeps them (``_step_metadata.py``; :meth:`Run.view_of`).

Switches and faults for tests: :attr:`CheckpointAPI.step_limit` refuses a step whose
JSON is over that many bytes; :meth:`CheckpointAPI.fail_next` answers the next calls
with a status and saves nothing; :meth:`CheckpointAPI.drop_next` saves and then drops
the connection (the client sees a transport error); :meth:`CheckpointAPI.cut_request_after`
drops the app's request after it has made k checkpoints (its connection is closed
before the k-th checkpoint is answered), and the executor retries it;
:attr:`CheckpointAPI.stall_on_duplicate` makes a 206 ``StepRun`` for a step already
saved stall the run, as ``handleGeneratorStep`` schedules nothing on a duplicate.
Every call is recorded in :attr:`CheckpointAPI.records`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ._checkpoint_body import BadBody, decode_body, refused_ops, stale_dispatch
from ._records import Checkpoint, Cut, Dispatch, QueueItem, RequestRecord, Run
from ._step_metadata import step_view
from .server_rules import (
    Clock,
    api_key_accepted,
    decode_queue_ref,
    dispatch_request_id,
    go_json,
    queue_ref,
)

__all__ = ["Checkpoint", "CheckpointAPI", "Dispatch", "QueueItem", "post_unless_cut"]

SHARD = "local"
CUT_WAIT = 5.0
"""Seconds a cutting checkpoint waits for the call's connection to close."""
CHECKPOINT_STEP_LIMIT = 4 * 1024 * 1024
"""``consts.MaxStepOutputSize``: the value tests give :attr:`CheckpointAPI.step_limit`."""

_FINISHED = ("completed", "failed", "cancelled", "stalled")


class _DroppedAnswer(Response):
    """Start an answer and never finish it.

    The server closes the connection and the client sees a transport error, as when the network
    drops an answer on the way.
    """

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        # an ASGI response's shape: it answers whatever the request was
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )


class _Executor(Protocol):
    """What the checkpoint endpoint needs of its executor."""

    clock: Clock
    signing_key: str | None
    runs: dict[str, Run]

    def _memoize(self, run: Run, op: Mapping[str, Any], value: Any) -> None: ...


class CheckpointAPI:
    """The checkpoint endpoint and queue-item bookkeeping of one executor."""

    def __init__(self, executor: _Executor) -> None:
        self._executor = executor
        self.records: list[Checkpoint] = []
        self.stale_dispatch = True
        """Answer 409 to a stale dispatch (the account flag ``AllowAsyncDispatchValidation``)."""
        self.save_on_stale = False
        """Save the steps of a stale dispatch before answering 409 (as some server versions do)."""
        self.step_limit: int | None = None
        """Refuse (400, nothing saved) a step whose JSON is over this many bytes."""
        self.stall_on_duplicate = False
        """A 206 carrying only ``StepRun`` ops for steps already saved stalls the run."""
        self.step_metadata = False
        """Write the ops' step metadata (the account flag ``AllowStepMetadata``)."""
        self._jobs: dict[str, QueueItem] = {}
        self._watched: dict[int, Dispatch] = {}
        self._job_ids = itertools.count(1)
        self._fail: list[int] = []
        self._drop = 0
        self._cut: tuple[int, bool] | None = None
        self._cuts_left = 0

    # -- faults -------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        """Answer the next ``count`` checkpoints with ``status`` and save nothing."""
        self._fail.extend([status] * count)

    def drop_next(self, count: int = 1) -> None:
        """Save the next ``count`` checkpoints, then drop each connection unanswered."""
        self._drop += count

    def cut_request_after(self, checkpoints: int, *, ack: bool = True, times: int = 1) -> None:
        """Drop the app's request after ``checkpoints`` checkpoints, ``times`` times.

        The executor stops waiting and retries the request, as after a timeout or crash. The
        last checkpoint is saved; with ``ack=False`` its answer is dropped too.
        """
        self._cut, self._cuts_left = (checkpoints, ack), times

    @property
    def cutting(self) -> bool:
        """Whether a request may be cut (the executor then watches for it)."""
        return self._cut is not None and self._cuts_left > 0

    # -- queue items and dispatches -----------------------------------------------------

    def function_uuid(self, fn_id: str) -> str:
        """The internal UUID of a function (``ctx.fn_id``): fixed for its id."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"agentkit-local-executor/{fn_id}"))

    def begin(self, run: Run, attempt: int, job_id: str = "") -> Dispatch:
        """Start a call: a retry of queue item ``job_id``, or a new queue item.

        A retry's generation goes up, so an earlier call still running is stale.
        """
        job = self._jobs.get(job_id)
        if job is None:
            new_id = f"{run.id}-{next(self._job_ids)}"
            job = QueueItem(id=new_id, run_id=run.id, ref=queue_ref(new_id, SHARD))
            self._jobs[new_id] = job
        else:
            job.generation += 1
        job.attempt = attempt
        ms = int(self._executor.clock.now() * 1000)
        request_id = dispatch_request_id(run.id, job.id, job.generation, ms)
        dispatch = Dispatch(request_id, job, job.generation)
        job.dispatches[dispatch.request_id] = dispatch
        return dispatch

    def current(self, run: Run, job_id: str, attempt: int) -> Dispatch:
        """The latest call of queue item ``job_id``, or a new item's first call."""
        job = self._jobs.get(job_id)
        if job is None or not job.dispatches:
            return self.begin(run, attempt, job_id)
        return list(job.dispatches.values())[-1]

    def attempt(self, job_id: str, default: int) -> int:
        """The attempt count of a queue item (a checkpoint sets it back to 0)."""
        job = self._jobs.get(job_id)
        return job.attempt if job is not None else default

    def bind(self, dispatch: Dispatch, record: RequestRecord) -> None:
        """Tie ``dispatch`` to the record of its call (checkpoints are counted on it)."""
        dispatch.record = record
        self._watched[record.index] = dispatch

    def watch(self, record: RequestRecord) -> asyncio.Event | None:
        """What cuts the call of ``record``, while :meth:`cut_request_after` is armed."""
        dispatch = self._watched.pop(record.index, None)
        return dispatch.cut if dispatch is not None and self.cutting else None

    def headers(self, dispatch: Dispatch) -> dict[str, str]:
        """The headers of a call (its ids besides the body's ``ctx``)."""
        return {
            "content-type": "application/json",
            "x-request-id": dispatch.request_id,
            "x-inngest-job-id": dispatch.job.id,
            "x-inngest-generation-id": str(dispatch.generation),
        }

    def stalls(self, run: Run, ops: list[Any]) -> bool:
        """Whether the run stalls on a 206 of ops that are all saved already.

        With :attr:`stall_on_duplicate`: a 206 of ``StepRun`` ops that are all saved already
        schedules nothing, so the run stalls (``handleGeneratorStep``).
        """
        if not self.stall_on_duplicate or not ops:
            return False
        if not all(op.get("op") == "StepRun" and str(op.get("id")) in run.memos for op in ops):
            return False
        names = [str(op.get("displayName") or op.get("id")) for op in ops]
        run.status = "stalled"
        run.error = {
            "name": "RunStalled",
            "message": f"StepRun for steps already saved ({names}): nothing was scheduled",
        }
        return True

    # -- the endpoint -------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The endpoint under its public prefix and the old beta one (``/http/runs``)."""
        return [
            Route(f"/v1/{prefix}/{{run_id}}/async", self.handle, methods=["POST"])
            for prefix in ("checkpoint", "http/runs")
        ]

    async def handle(self, request: Request) -> Response:
        """``POST /v1/checkpoint/{run_id}/async``."""
        raw = await request.body()
        record = Checkpoint(run_id="", ops=[], bytes_received=len(raw))
        self.records.append(record)
        body = self._read(request, raw, record)
        if isinstance(body, Response):
            return body
        if self._fail:
            return self._answer(record, self._fail.pop(0), "injected checkpoint failure")
        run = self._executor.runs.get(body["run_id"])
        if run is None or run.status in _FINISHED or body["fn_id"] != self.function_uuid(run.fn_id):
            return self._answer(record, 400, "Failed to checkpoint steps", "run not found")
        refused = refused_ops(body["steps"], self.step_limit)
        if refused:
            return self._answer(record, 400, "Failed to checkpoint steps", refused)
        stale = None
        if self.stale_dispatch:
            stale = stale_dispatch(body, self._executor.clock.now(), self._jobs)
        if stale and not self.save_on_stale:
            return self._answer(record, 409, "Failed to checkpoint steps", stale)
        error = self._save(run, body["steps"], record)
        if stale:
            return self._answer(record, 409, "Failed to checkpoint steps", stale)
        if error:
            return self._answer(record, 400, "Failed to checkpoint steps", error)
        return await self._acknowledge(body, record)

    def _read(self, request: Request, raw: bytes, record: Checkpoint) -> dict[str, Any] | Response:
        """The checkpoint's decoded body (noted in ``record``), or the answer refusing it.

        A request without the signing key gets ``401``, an undecodable body ``400``.
        """
        key = self._executor.signing_key
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key and not api_key_accepted(bearer, key):
            return self._answer(record, 401, "Authentication failed")
        try:
            body = decode_body(raw)
        except BadBody as err:
            return self._answer(record, 400, f"invalid request body: {err}")
        ops: list[dict[str, Any]] = body["steps"]
        record.run_id, record.ops = body["run_id"], [(op["op"], _name(op)) for op in ops]
        record.request_id, record.qi_id = body["request_id"] or None, body["qi_id"] or None
        record.generation_id = body["generation_id"]
        return body

    async def _acknowledge(self, body: Mapping[str, Any], record: Checkpoint) -> Response:
        """Answer a saved checkpoint with ``200``, unless a test drops or cuts the answer."""
        dispatch = self._count(body)
        if dispatch is not None and dispatch.record is not None:
            record.request_index = dispatch.record.index
        if self._drop:
            self._drop -= 1
            record.status, record.dropped = 200, True
            return _DroppedAnswer()
        if dispatch is not None and self._cut_due(dispatch):
            dispatch.cut.set()  # the call's connection is closed before this answer goes
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dispatch.cut.closed.wait(), CUT_WAIT)
            if not self._cut_ack():
                record.status, record.dropped = 200, True
                return _DroppedAnswer()
        record.status = 200
        return Response(b"", status_code=200)

    def _answer(
        self, record: Checkpoint, status: int, message: str, detail: str | None = None
    ) -> Response:
        record.status, record.error = status, detail or message
        if status == 401:
            return Response(f"{message}\n".encode(), status_code=401, media_type="text/plain")
        body = {"code": "", "error": message, "data": {"run_id": record.run_id}, "status": status}
        return Response(go_json(body) + b"\n", status_code=status, media_type="application/json")

    def _save(self, run: Run, ops: list[dict[str, Any]], record: Checkpoint) -> str | None:
        """Apply ``ops`` in order; the error that stopped them, if any."""
        for op in ops:
            kind = op["op"]
            if kind in ("StepRun", "Step"):
                step_id, name = str(op.get("id") or ""), _name(op)
                if step_id in run.memos:
                    record.skipped.append(name)
                    continue
                run.step_names[step_id] = name
                value = {"data": op.get("data")} if kind == "StepRun" else op.get("data")
                self._executor._memoize(run, op, value)
                run.step_views[step_id] = step_view(op, metadata_enabled=self.step_metadata)
                run.history.append(name)
                record.saved.append(name)
            elif kind not in ("DeferAdd", "DeferAbort"):
                return f"cannot checkpoint opcode: {kind}"
        return None

    def _count(self, body: Mapping[str, Any]) -> Dispatch | None:
        """Reset the queue item's attempts and count the checkpoint on its dispatch."""
        ref = decode_queue_ref(body["qi_id"])
        job = self._jobs.get(ref[0]) if ref is not None else None
        if job is None:
            return None
        job.attempt = 0
        dispatch = job.dispatches.get(body["request_id"]) if body["request_id"] else None
        if dispatch is None and not body["request_id"] and job.dispatches:
            dispatch = list(job.dispatches.values())[-1]
        if dispatch is not None:
            dispatch.checkpoints += 1
            if dispatch.record is not None:
                dispatch.record.checkpoints += 1
        return dispatch

    def _cut_due(self, dispatch: Dispatch) -> bool:
        if not self.cutting or dispatch.cut.is_set():
            return False
        assert self._cut is not None
        if dispatch.checkpoints < self._cut[0]:
            return False
        self._cuts_left -= 1
        return True

    def _cut_ack(self) -> bool:
        return self._cut is None or self._cut[1]


def _name(op: Mapping[str, Any]) -> str:
    return str(op.get("displayName") or op.get("name") or op.get("id") or "")


async def post_unless_cut(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    cut: asyncio.Event | None,
) -> httpx.Response:
    """POST, giving up if ``cut`` is set first.

    POST, giving up (``httpx.ReadError``) if ``cut`` is set first: the connection is closed
    under the app, as when the server's request times out or the host dies.
    """
    post = http.post(url, content=body, headers=headers)
    if cut is None:
        return await post
    sending = asyncio.ensure_future(post)
    watching = asyncio.ensure_future(cut.wait())
    try:
        await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watching.cancel()
    if sending.done():
        return sending.result()
    sending.cancel()
    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
        await sending
    if isinstance(cut, Cut):
        cut.closed.set()
    raise httpx.ReadError("the executor cut the request after its checkpoints")
