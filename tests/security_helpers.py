"""Helpers for the security tests: raw HTTP over a socket, request signing as the
Inngest server does it, and a production-mode app whose one function counts its calls.

Raw sockets let a test send what ``httpx`` refuses to (NUL or non-ASCII bytes in a
header, a chunked body left unfinished, a ``Content-Length`` with no body behind it)
and read the answer before the rest of a body is sent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

import inngest
import jcs
import pytest

SIGNING_KEY = "signkey-prod-" + "5e7e1a11" * 8
FALLBACK_KEY = "signkey-prod-" + "fa11bacc" * 8
OTHER_KEY = "signkey-prod-" + "0badc0de" * 8
APP_ID = "guarded"
FUNCTION_ID = f"{APP_ID}-count"
TARGET = f"/api/inngest?fnId={FUNCTION_ID}&stepId=step"


def mac(body: bytes, stamp: int | str, key: str = SIGNING_KEY) -> str:
    """The MAC the Inngest server puts in ``s=``: HMAC-SHA256 over the body, then the
    timestamp, keyed with the signing key's part after ``signkey-<env>-``."""
    secret = key.split("-", 2)[2].encode()
    return hmac.new(secret, body + str(stamp).encode(), hashlib.sha256).hexdigest()


def signature(body: bytes, *, age: float = 0.0, key: str = SIGNING_KEY) -> str:
    """A signature header value for ``body``, made ``age`` seconds ago."""
    stamp = int(time.time() - age)
    return f"t={stamp}&s={mac(body, stamp, key)}"


def call_body(run_id: str = "01HOSTILE", **event_data: Any) -> bytes:
    """A genuine first call of the counting function, as the server sends it (JCS bytes)."""
    event = {"name": "count", "data": event_data, "id": "evt-1", "ts": 1, "user": {}}
    return bytes(
        jcs.canonicalize(
            {
                "event": event,
                "events": [event],
                "steps": {},
                "ctx": {
                    "fn_id": FUNCTION_ID,
                    "run_id": run_id,
                    "env": "",
                    "step_id": "step",
                    "attempt": 0,
                    "max_attempts": 1,
                    "stack": {"stack": [], "current": 0},
                    "disable_immediate_execution": False,
                    "use_api": False,
                },
                "version": 2,
                "use_api": False,
            }
        )
    )


def counting_function(client: inngest.Inngest, calls: list[Any]) -> inngest.Function[Any]:
    """A function that records every call of its handler (a side effect outside steps)."""

    @client.create_function(fn_id="count", trigger=inngest.TriggerEvent(event="count"))
    async def count(ctx: inngest.Context) -> str:
        calls.append(ctx.event.data)
        return "counted"

    return count


def production_client(*, fallback: str | None = None, **options: Any) -> inngest.Inngest:
    """A production-mode client (with ``fallback`` as its fallback signing key, which
    the SDK reads from ``INNGEST_SIGNING_KEY_FALLBACK`` only)."""
    with pytest.MonkeyPatch.context() as env:
        if fallback is None:
            env.delenv("INNGEST_SIGNING_KEY_FALLBACK", raising=False)
        else:
            env.setenv("INNGEST_SIGNING_KEY_FALLBACK", fallback)
        return inngest.Inngest(
            app_id=APP_ID,
            is_production=True,
            signing_key=SIGNING_KEY,
            api_base_url="http://127.0.0.1:9",  # nothing listens: no test registers through it
            **options,
        )


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def head(method: str, target: str, headers: Sequence[tuple[bytes, bytes]], *, port: int) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), f"host: 127.0.0.1:{port}".encode()]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def chunked(body: bytes, *, size: int = 16384, finish: bool = True) -> bytes:
    """``body`` framed as chunks (without the last, empty chunk unless ``finish``)."""
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + (b"0\r\n\r\n" if finish else b"")


def exchange(port: int, request: bytes) -> Answer:
    """Send ``request`` (a head, and what the test wants of a body), read the answer.

    A test sends only what the app must read before it decides: the head alone when
    the app refuses on the headers, a body cut just past the bound when it refuses
    on size. Bytes the app never reads would turn its close into a reset that can
    lose the answer.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        return _parse(_read_all(sock))


def _read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _parse(raw: bytes) -> Answer:
    header_block, _, body = raw.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/1.1 ") else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = b"".join(_unchunk(body))
    return Answer(status=status, headers=headers, body=body)


def _unchunk(data: bytes) -> Iterator[bytes]:
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return
        yield rest[:size]
        data = rest[size + 2 :]
