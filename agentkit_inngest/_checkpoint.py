"""Report step results to the Inngest server without ending the request (checkpoints).

``POST {api origin}/v1/checkpoint/{run_id}/async`` with the body of the server's
``checkpointAsyncSteps`` (``pkg/api/apiv1/checkpoint_types.go`` in ``inngest/inngest``;
the fields the TypeScript SDK sends in ``api.ts`` ``checkpointStepsAsync``): ``run_id``,
``fn_id`` and ``qi_id`` from the call's context, the steps as ``StepRun`` opcodes under
their hashed ids, ``ts``, and ``request_id`` / ``request_started_at`` /
``generation_id`` so that the server can tell a stale dispatch (409).

:class:`CheckpointClient` takes the API origin, signing keys and environment from the
``inngest.Inngest`` client, so ``INNGEST_API_BASE_URL``, ``INNGEST_BASE_URL``,
``INNGEST_DEV`` and ``api_base_url=`` apply exactly as for the SDK's own API calls
(``client_lib/utils.py`` ``get_api_origin``). It authenticates as the SDK does
(``net.fetch_with_auth_fallback``): ``Authorization: Bearer <sha256 of the hex-decoded
key>``, once more with the fallback key on 401/403, and no header without a key (dev
server). It retries transport errors, 5xx and 429 a few times with a short backoff;
the server skips a step it already saved, so a retry after an answer lost on the way
saves nothing twice. It never retries 409 (the request no longer owns the run) or
another 4xx. A step whose JSON is over 4 MiB is not sent. The answer is a
:class:`CheckpointOutcome`: acknowledged, stale, or failed with a reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import hashlib
import importlib.metadata
import json
import re
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import httpx
import inngest

from ._request_context import RequestContext
from .errors import ConfigurationError

__all__ = [
    "CHECKPOINT_STEP_LIMIT",
    "CheckpointClient",
    "CheckpointOutcome",
    "CheckpointStatus",
    "CheckpointStep",
    "hashed_step_id",
]

CHECKPOINT_STEP_LIMIT = 4 * 1024 * 1024
"""Bytes of JSON a checkpointed step may have (the server's ``MaxStepOutputSize``)."""
_KEY_PREFIX = re.compile(r"^signkey-\w+-")
_SDK = f"inngest-py:v{importlib.metadata.version('inngest')}"
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@functools.lru_cache(maxsize=4096)
def hashed_step_id(step_id: str) -> str:
    """The id the server knows a step by: SHA-1 of its id, as ``step.run`` hashes it.

    Kept for the ids seen last: every replay asks again for the same ids (and runs of
    one network share most of them).
    """
    return hashlib.sha1(step_id.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class CheckpointStep:
    """A step that ran in the app, to report as a ``StepRun`` opcode."""

    step_id: str
    """The step's readable id (as given to ``step.run``; hashed on the wire)."""
    data: Any
    """Its output: JSON-serializable, as ``step.run`` would return it."""
    started_at: float | None = None
    """Unix seconds when it started; with ``ended_at`` it becomes the op's ``timing``."""
    ended_at: float | None = None
    hashed_id: str | None = None
    """The id the server knows it by, when the SDK suffixed a reused id (``id:1``...);
    default :func:`hashed_step_id` of :attr:`step_id`."""
    index: int | None = None
    """The reuse index of the id (``userland.index``), when it was reused."""
    opts: dict[str, Any] | None = None
    """The op's ``opts`` (``{"type": "step.ai.wrap"}`` marks an AI call made in the app)."""
    metadata: list[dict[str, Any]] | None = None
    """Step metadata entries (``{"scope", "kind", "op", "values"}``) sent with the op."""


class CheckpointStatus(enum.Enum):
    """How a checkpoint ended."""

    ACKED = "acked"
    """The server saved the steps (2xx): they are memos from now on."""
    STALE = "stale"
    """409: the server retried this request elsewhere; stop running steps in it."""
    FAILED = "failed"
    """Not acknowledged (see the reason): report the steps the ordinary way."""


@dataclasses.dataclass(frozen=True)
class CheckpointOutcome:
    """The result of :meth:`CheckpointClient.checkpoint`."""

    status: CheckpointStatus
    reason: str = ""
    http_status: int | None = None
    """The last HTTP status received (``None`` when no answer came)."""
    calls: int = 0
    """HTTP calls made (retries and the fallback key included)."""

    @property
    def acked(self) -> bool:
        return self.status is CheckpointStatus.ACKED

    @property
    def stale(self) -> bool:
        return self.status is CheckpointStatus.STALE

    @property
    def failed(self) -> bool:
        return self.status is CheckpointStatus.FAILED


class CheckpointClient:
    """Posts checkpoints for the functions of one ``inngest.Inngest`` client.

    Args:
        client: where the API origin, signing keys and environment come from.
        timeout: seconds for one HTTP call (connect, send and read).
        retries: further calls after a transport error, 5xx or 429.
        backoff: seconds before the first retry; doubled before each next one.
        step_limit: bytes of JSON a step may have to be sent.
        transport: an ``httpx`` transport (tests).
    """

    def __init__(
        self,
        client: inngest.Inngest,
        *,
        timeout: float = 3.0,
        retries: int = 2,
        backoff: float = 0.05,
        step_limit: int = CHECKPOINT_STEP_LIMIT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0 or retries < 0 or backoff < 0 or step_limit <= 0:
            raise ConfigurationError(
                "checkpoint client: timeout and step_limit must be positive, "
                "retries and backoff not negative"
            )
        self.api_origin = client.api_origin
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.step_limit = step_limit
        keys = [_hashed_key(k) for k in (client.signing_key, client.signing_key_fallback) if k]
        self._keys: list[str] = keys
        self._headers = {"content-type": "application/json", "x-inngest-sdk": _SDK}
        if client.env:
            self._headers["x-inngest-env"] = client.env
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def url(self, run_id: str) -> str:
        """Where the steps of ``run_id`` are posted (joined to the origin as the SDK does)."""
        path = f"/v1/checkpoint/{urllib.parse.quote(run_id, safe='')}/async"
        return urllib.parse.urljoin(self.api_origin, path)

    def body(self, context: RequestContext, steps: Sequence[CheckpointStep]) -> bytes:
        """The JSON body for ``steps`` of the call ``context``.

        Raises ``ValueError`` for a step that is not JSON or is over ``step_limit``.
        """
        ops = [self._op(step) for step in steps]
        head: dict[str, Any] = {
            "run_id": context.run_id,
            "fn_id": context.fn_id,
            "qi_id": context.qi_id,
            "ts": int(time.time() * 1000),
            "request_started_at": context.started_at_ms,
        }
        if context.request_id:
            head["request_id"] = context.request_id
        if context.generation_id is not None:
            head["generation_id"] = context.generation_id
        text = json.dumps(head, separators=(",", ":"))
        return (text[:-1] + ',"steps":[' + ",".join(ops) + "]}").encode()

    def _op(self, step: CheckpointStep) -> str:
        try:
            data = json.dumps(step.data, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as err:
            raise ValueError(f"step {step.step_id!r}: its output is not JSON: {err}") from err
        if len(data) > self.step_limit:  # ASCII: escapes keep every character one byte
            raise ValueError(
                f"step {step.step_id!r}: its output is {len(data)} bytes of JSON, "
                f"over the checkpoint limit of {self.step_limit}; return it the ordinary way"
            )
        userland: dict[str, Any] = {"id": step.step_id}
        if step.index is not None:
            userland["index"] = step.index
        op: dict[str, Any] = {
            "id": step.hashed_id or hashed_step_id(step.step_id),
            "op": "StepRun",
            "name": step.step_id,
            "displayName": step.step_id,
            "userland": userland,
        }
        if step.opts:
            op["opts"] = step.opts
        if step.metadata:
            op["metadata"] = step.metadata
        if step.started_at is not None and step.ended_at is not None:
            start_ns = int(step.started_at * 1e9)
            op["timing"] = {"a": start_ns, "b": max(0, int(step.ended_at * 1e9) - start_ns)}
        text = json.dumps(op, separators=(",", ":"))
        return text[:-1] + ',"data":' + data + "}"

    async def checkpoint(
        self, context: RequestContext, steps: Sequence[CheckpointStep]
    ) -> CheckpointOutcome:
        """Report ``steps``, run while handling the call ``context``.

        Never raises for the server's or the network's sake: every failure is an outcome.
        """
        if not steps:
            raise ValueError("checkpoint: no steps given")
        if not (context.run_id and context.fn_id and context.qi_id):
            return _failed("the call carries no ctx.fn_id / ctx.qi_id: this server cannot take it")
        try:
            body = self.body(context, steps)
        except ValueError as err:
            return _failed(str(err))
        return await self._send(self.url(context.run_id), body)

    async def _send(self, url: str, body: bytes) -> CheckpointOutcome:
        """POST ``body`` to ``url``, retrying (with backoff) while the failure may pass."""
        http = self._client()
        calls = 0
        outcome = CheckpointOutcome(CheckpointStatus.FAILED)
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            outcome, final = await self._attempt(http, url, body)
            calls += outcome.calls
            if final:
                break
        return dataclasses.replace(outcome, calls=calls)

    async def _attempt(
        self, http: httpx.AsyncClient, url: str, body: bytes
    ) -> tuple[CheckpointOutcome, bool]:
        """One attempt: the POST with each signing key in turn while the server refuses it.

        Returns the outcome and whether it is final; a transport error or a status in
        ``_RETRY_STATUS`` is not.
        """
        calls, status, reason = 0, None, ""
        keys: list[str | None] = [*self._keys] if self._keys else [None]
        for key in keys:
            headers = dict(self._headers)
            if key is not None:
                headers["authorization"] = f"Bearer {key}"
            calls += 1
            try:
                response = await http.post(url, content=body, headers=headers)
            except httpx.TransportError as err:
                reason = f"{type(err).__name__}: {err}"
                return CheckpointOutcome(CheckpointStatus.FAILED, reason, None, calls), False
            status = response.status_code
            if status in (401, 403) and key is not None and key != self._keys[-1]:
                continue  # the next key: the server may have rotated to the fallback
            if 200 <= status < 300:
                self._prefer(key)
                return CheckpointOutcome(CheckpointStatus.ACKED, "", status, calls), True
            reason = f"HTTP {status}: {response.text[:300]}".strip()
            if status == 409:
                return CheckpointOutcome(CheckpointStatus.STALE, reason, status, calls), True
            final = status not in _RETRY_STATUS
            return CheckpointOutcome(CheckpointStatus.FAILED, reason, status, calls), final
        return CheckpointOutcome(CheckpointStatus.FAILED, reason, status, calls), False

    def _prefer(self, key: str | None) -> None:
        """Keep using ``key`` first: the one the server just accepted."""
        if key is not None and key != self._keys[0]:
            self._keys.remove(key)
            self._keys.insert(0, key)

    async def saved(self, context: RequestContext, hashed_ids: Sequence[str]) -> bool | None:
        """Whether the server holds every step of ``hashed_ids`` for the run.

        Whether the server holds every step of ``hashed_ids`` for ``context``'s run, read from
        ``GET /v0/runs/{run_id}/actions`` (where the SDK fetches memos); ``None`` when that
        cannot be read. After a checkpoint whose answer was lost, this tells a step the server
        saved (it must not be reported again: the server schedules nothing for a duplicate) from
        one it did not.
        """
        path = f"/v0/runs/{urllib.parse.quote(context.run_id, safe='')}/actions"
        url = urllib.parse.urljoin(self.api_origin, path)
        keys: list[str | None] = [*self._keys] if self._keys else [None]
        for key in keys:
            headers = {k: v for k, v in self._headers.items() if k != "content-type"}
            if key is not None:
                headers["authorization"] = f"Bearer {key}"
            try:
                response = await self._client().get(url, headers=headers)
            except httpx.TransportError:
                return None
            if response.status_code in (401, 403) and key is not None:
                continue
            if response.status_code != 200:
                return None
            try:
                memos = response.json()
            except ValueError:
                return None
            if not isinstance(memos, dict):
                return None
            return all(hashed in memos for hashed in hashed_ids)
        return None

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            self._http = httpx.AsyncClient(timeout=self.timeout, transport=self._transport)
            self._loop = loop
        return self._http

    async def aclose(self) -> None:
        """Close the connections (call from the loop that used them)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> CheckpointClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _hashed_key(key: str) -> str:
    hex_part = _KEY_PREFIX.sub("", key.strip())
    try:
        return hashlib.sha256(bytes.fromhex(hex_part)).hexdigest()
    except ValueError as err:
        raise ConfigurationError(
            "the Inngest signing key is not a hex string (expected 'signkey-<env>-<hex>'): "
            "check INNGEST_SIGNING_KEY / INNGEST_SIGNING_KEY_FALLBACK"
        ) from err


def _failed(reason: str) -> CheckpointOutcome:
    return CheckpointOutcome(CheckpointStatus.FAILED, reason)
