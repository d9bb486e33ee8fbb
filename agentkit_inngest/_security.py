"""What the served app checks before the Inngest SDK or a stream sees a request.

:class:`InngestRequestGuard` wraps the Inngest endpoint (``/api/inngest``):

- a body larger than ``max_body_bytes`` is refused with ``413`` as soon as its
  declared length (``Content-Length``) or the bytes read so far (chunked bodies
  too) pass the bound, before the rest is read;
- in production mode, a request must carry exactly one well-formed
  ``X-Inngest-Signature: t=<unix seconds>&s=<hex HMAC-SHA256>``, whose timestamp is
  at most ``max_age`` seconds old and at most :data:`SIGNATURE_FUTURE_SKEW` seconds
  ahead of the app's clock, and whose MAC verifies over the exact bytes received
  with the signing key or the fallback key. Anything else gets ``401`` before a
  byte is parsed. The one exception is an unsigned ``PUT`` (an out-of-band sync)
  when unsigned syncs are allowed.

The Inngest server signs the bytes it sends: the body of a call is the JCS
(RFC 8785) form it marshals, and the MAC covers those bytes then the timestamp
(``pkg/execution/driver/driver.go`` ``MarshalV1`` and
``pkg/execution/driver/httpdriver/util.go`` ``Sign`` in ``inngest/inngest``), so
the MAC can be checked on the raw body. The SDK checks the signature again after
this (over the JCS form of the parsed body); it checks no age.

:func:`stream_authorizer` turns a user's hook into the check the stream endpoints
run before they answer.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import fastapi
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "SIGNATURE_FUTURE_SKEW",
    "SIGNATURE_MAX_AGE",
    "InngestRequestGuard",
    "StreamAuth",
    "stream_authorizer",
]

logger = logging.getLogger("agentkit_inngest.server")

MIB = 1024 * 1024
INNGEST_REQUEST_BYTES = 4 * MIB
"""The most the Inngest server puts in one call (``MaxSDKRequestBodySize``): while
a run's memos total under 4 MiB - 1 KiB they are inlined, and a body over 4 MiB is
sent again without memos or events (``use_api``), for the SDK to fetch them."""

INNGEST_EVENT_BYTES = 3 * MIB
"""Inngest's absolute event size limit (``AbsoluteMaxEventSize``; 512 KiB by default)."""

DEFAULT_MAX_BODY_BYTES = 8 * MIB
"""The default bound on a request body: above the largest call a server sends
(4 MiB), with room for a first event at the absolute event limit (3 MiB) beside
the memos and the run context, as an older server that checked only the memos'
size could send. A hostile body costs the app at most this much memory."""

SIGNATURE_MAX_AGE = 300.0
"""Seconds a signature stays valid: Inngest's SDKs (inngest-js) refuse older ones."""

SIGNATURE_FUTURE_SKEW = 60.0
"""Seconds a signature's timestamp may be ahead of the app's clock (clock skew)."""

SIGNATURE_HEADER = b"x-inngest-signature"
_STAMP = re.compile(r"[0-9]{1,12}")
_MAC = re.compile(r"[0-9a-f]{64}")
_KEY_PREFIX = re.compile(r"^signkey-\w+-")


class _Refused(Exception):
    def __init__(self, status: int, reason: str, *, level: int = logging.INFO) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.level = level  # WARNING when the app's setup (its clock) may be at fault


def _parse_signature(values: Sequence[bytes]) -> tuple[str, str]:
    """``(timestamp, mac)`` from the signature header(s), or :class:`_Refused`."""
    if not values:
        raise _Refused(401, "the request is not signed (no X-Inngest-Signature header)")
    if len(values) > 1:
        raise _Refused(401, "the request has more than one X-Inngest-Signature header")
    try:
        text = values[0].decode("ascii")
    except UnicodeDecodeError:
        raise _Refused(401, "the X-Inngest-Signature header is not ASCII") from None
    fields: dict[str, list[str]] = {}
    for part in text.split("&"):
        name, sep, value = part.partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    stamps, macs = fields.get("t", []), fields.get("s", [])
    if len(stamps) != 1 or len(macs) != 1:
        raise _Refused(
            401, "the X-Inngest-Signature header needs exactly one t=<timestamp> and one s=<mac>"
        )
    if not _STAMP.fullmatch(stamps[0]) or not _MAC.fullmatch(macs[0]):
        raise _Refused(401, "the X-Inngest-Signature header is malformed")
    return stamps[0], macs[0]


def _route_path(scope: Any) -> str:
    """The path the app routes on: without the prefix it is mounted under, if any."""
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _mac_key(signing_key: str) -> bytes:
    return _KEY_PREFIX.sub("", signing_key).encode()


class InngestRequestGuard:
    """ASGI middleware bounding and authenticating requests to the Inngest endpoint.

    Args:
        app: the ASGI app to call with requests that pass.
        path: the Inngest endpoint's path; other paths pass untouched.
        max_body_bytes: the largest body accepted.
        signing_keys: the signing key and the fallback key (``None`` entries are
            skipped); ``None`` in dev mode, where nothing is signed.
        allow_unsigned_sync: let an unsigned ``PUT`` (an out-of-band sync) through.
        max_age: seconds a signature stays valid.
        clock: the current Unix time.
    """

    def __init__(
        self,
        app: Any,
        *,
        path: str,
        max_body_bytes: int,
        signing_keys: Sequence[str | None] | None,
        allow_unsigned_sync: bool = False,
        max_age: float = SIGNATURE_MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.path = path
        self.max_body_bytes = max_body_bytes
        self.keys = (
            None if signing_keys is None else [_mac_key(k) for k in signing_keys if k is not None]
        )
        self.allow_unsigned_sync = allow_unsigned_sync
        self.max_age = max_age
        self.clock = clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or _route_path(scope) != self.path:
            await self.app(scope, receive, send)
            return
        try:
            signature = self._check_head(scope)
            body = await self._read_body(receive)
            if body is None:
                return  # the client went away
            if signature is not None:
                self._check_mac(body, *signature)
        except _Refused as refused:
            logger.log(
                refused.level, "refused %s %s: %s", scope.get("method"), self.path, refused.reason
            )
            message = "Unauthorized" if refused.status == 401 else "Payload Too Large"
            response = JSONResponse(
                {"message": message, "reason": refused.reason},
                status_code=refused.status,
                headers={"connection": "close"} if refused.status == 413 else None,
            )
            await response(scope, receive, send)
            return
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _check_head(self, scope: Any) -> tuple[str, str] | None:
        """Refuse on the headers alone; returns the signature to verify, if any."""
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        lengths = [value for name, value in headers if name == b"content-length"]
        for length in lengths:
            if length.isdigit() and int(length) > self.max_body_bytes:
                raise _Refused(413, self._too_large(f"{int(length)} bytes declared"))
        if self.keys is None:
            return None
        values = [value for name, value in headers if name == SIGNATURE_HEADER]
        if not values and scope.get("method") == "PUT" and self.allow_unsigned_sync:
            return None
        stamp, mac = _parse_signature(values)
        age = self.clock() - int(stamp)
        if age > self.max_age:
            raise _Refused(
                401,
                f"the signature expired: it is {age:.0f} s old, over {self.max_age:.0f} s "
                "(a replayed request, or the app's clock is wrong)",
                level=logging.WARNING,
            )
        if -age > SIGNATURE_FUTURE_SKEW:
            raise _Refused(
                401,
                f"the signature's timestamp is {-age:.0f} s ahead of the app's clock "
                f"(at most {SIGNATURE_FUTURE_SKEW:.0f} s allowed)",
                level=logging.WARNING,
            )
        return stamp, mac

    async def _read_body(self, receive: Any) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _Refused(413, self._too_large(f"over {self.max_body_bytes} bytes sent"))
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _check_mac(self, body: bytes, stamp: str, mac: str) -> None:
        assert self.keys is not None
        for key in self.keys:
            expected = hmac.new(key, body, hashlib.sha256)
            expected.update(stamp.encode())
            if hmac.compare_digest(expected.hexdigest(), mac):
                return
        raise _Refused(401, "the signature does not match the body and the signing key")

    def _too_large(self, what: str) -> str:
        return (
            f"the body is too large ({what}); this app accepts at most {self.max_body_bytes} "
            "bytes (create_server(max_body_bytes=...))"
        )


StreamAuth = Callable[[fastapi.Request, str], "bool | Awaitable[bool]"]
"""A stream authorization hook: gets the request and the thread id (the channel),
returns ``True`` to let the request read it. Sync or async."""


def stream_authorizer(hook: StreamAuth) -> Callable[[fastapi.Request, str], Awaitable[None]]:
    """The check the stream endpoints run: ``403`` unless ``hook`` returns ``True``.

    An async hook is awaited; a sync one runs in a worker thread (it may block on
    a database). Exceptions it raises (e.g. ``fastapi.HTTPException(401)``) pass.
    """
    call = getattr(hook, "__call__", hook)  # noqa: B004 - async callable objects too
    is_async = inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(call)

    async def authorize(request: fastapi.Request, thread_id: str) -> None:
        if is_async:
            allowed = await hook(request, thread_id)  # type: ignore[misc]
        else:
            allowed = await run_in_threadpool(hook, request, thread_id)
            if inspect.isawaitable(allowed):
                allowed = await allowed
        if allowed is not True:
            raise fastapi.HTTPException(403, "not allowed to read this stream")

    return authorize
