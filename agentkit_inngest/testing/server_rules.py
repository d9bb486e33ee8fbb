r"""Rules of the real Inngest server that the local executor follows.

Rules of the real Inngest server that :class:`~agentkit_inngest.testing.executor.LocalExecutor`
follows, each taken from the server's source (``inngest/inngest``):

- **JSON as Go writes it** (:func:`go_json`, :func:`server_value`): compact, keys
  sorted and numbers as 64-bit floats (the server canonicalizes every request with
  JCS), and no lone UTF-16 surrogates: Go's JSON decoder turns an unpaired
  ``\ud800`` into U+FFFD, so nothing the server sends carries one. Answers with
  ``NaN`` or ``Infinity`` are not JSON to it (:func:`read_json`).
- **Memos inline or through the API** (:func:`request_body`, from
  ``pkg/execution/driver/driver.go`` ``MarshalV1``): the memoized step outputs travel
  in the request only while the run's stored state is at most 4 MB - 1 KB
  (``consts.MaxBodySize - 1024``); above that the request says ``use_api: true``
  with no memos, and the SDK fetches them from ``GET /v0/runs/{id}/actions`` (and
  the events from ``/v0/runs/{id}/batch``). If the request is still over 4 MB, the
  events are left out too.
- **The retry schedule** (:func:`inngest_backoff`, from ``pkg/backoff/backoff.go``
  ``TableBackoff``): after failed attempt *n* (0-based) the next one waits
  15 s, 30 s, 1 min, 2 min, 5 min, 10 min, 20 min, 40 min, 1 h, then 2 h, plus a
  random 0-30 s; a ``retry-after`` answer replaces it (:func:`parse_retry_after`,
  from ``pkg/execution/driver/httpdriver/parse.go`` ``ParseRetry``: whole seconds
  up to 7 characters, or a date; clipped to between 1 s and 24 h).
- **Cancellation** (:func:`cancels`): a function's ``cancel`` entries listen for an
  event from the run's start; an event with that name whose ``if`` expression holds
  (``event`` is the run's trigger, ``async`` the new event) within the entry's
  ``timeout`` cancels the run. A step already running finishes; no later step runs.
- **Run, function and dispatch ids** (:func:`new_ulid`, :func:`parse_ulid`,
  :func:`dispatch_request_id`, :func:`queue_ref`, :func:`is_uuid`): runs are ULIDs,
  functions have an internal UUID (``ctx.fn_id``), ``ctx.qi_id`` is base64 of
  ``<job id>::<shard>`` (``pkg/execution/executor/queueref``), and each outbound call
  carries a request id that is a ULID whose entropy is the first 10 bytes of
  SHA-256 of the run, the queue item and its generation
  (``pkg/execution/driver/request.go`` ``DispatchRequestID``, ``pkg/util``
  ``DeterministicULID``): the checkpoint API compares that entropy to tell a stale
  dispatch from the current one.
- **API keys** (:func:`api_key_accepted`, from ``pkg/authn`` ``HandleSigningKey``):
  a bearer token is accepted if, with any ``signkey-<env>-`` prefix removed, it is
  the signing key itself or the hex SHA-256 of its hex-decoded bytes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import email.utils
import hashlib
import hmac
import json
import random
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import jcs

from .expressions import evaluate

__all__ = [
    "BACKOFF_TABLE",
    "Clock",
    "INLINE_STATE_BYTES",
    "MAX_BODY_BYTES",
    "ManualClock",
    "SystemClock",
    "api_key_accepted",
    "cancels",
    "decode_queue_ref",
    "dispatch_request_id",
    "dispatch_request_id_entropy",
    "go_json",
    "inngest_backoff",
    "is_uuid",
    "new_ulid",
    "parse_retry_after",
    "parse_ulid",
    "queue_ref",
    "read_json",
    "request_body",
    "server_value",
]

MAX_BODY_BYTES = 4 * 1024 * 1024
"""``consts.MaxBodySize``: the largest request the server sends to an app."""

INLINE_STATE_BYTES = MAX_BODY_BYTES - 1024
"""Above this much stored step state, memos are fetched through the API (``use_api``)."""

BACKOFF_TABLE = (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)
"""Seconds between a failed attempt and the next (``backoff.BackoffTable``)."""

JITTER_SECONDS = 30.0
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 24 * 3600.0

_SURROGATE = re.compile("[\ud800-\udfff]")


def go_json(value: Any) -> bytes:
    """``value`` encoded as the Inngest server sends JSON.

    Compact, keys sorted, UTF-8, every unpaired surrogate replaced by U+FFFD (a pair given as two
    characters is joined into one, as the SDK's escapes would be read).
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        return _SURROGATE.sub("\ufffd", joined).encode("utf-8")


def server_value(value: Any) -> Any:
    """``value`` as the server hands it back after storing it.

    Through Go's JSON (:func:`go_json`), then JCS, whose numbers are 64-bit floats (``1.0`` comes
    back as ``1``; an integer beyond 2**53 loses its last digits). A value the server cannot read
    (NaN, a number beyond 64-bit floats, bytes) raises ``ValueError``.
    """
    try:
        plain = json.loads(go_json(value))
        return json.loads(jcs.canonicalize(plain))
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"not JSON the Inngest server accepts: {err}") from err


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(raw: bytes | str) -> Any:
    """Parse an app's answer as the server does: ``NaN`` and ``Infinity`` are not JSON."""
    return json.loads(raw, parse_constant=_reject_constant)


def request_body(
    *,
    event: Mapping[str, Any],
    memos: Mapping[str, Any],
    state_bytes: int,
    ctx: dict[str, Any],
    inline_limit: int = INLINE_STATE_BYTES,
) -> tuple[bytes, bool]:
    """The body of a call of the app, and whether it tells the SDK to fetch the memos (``use_api``).

    ``state_bytes`` is the run's stored state (the sum of its memos' JSON sizes, as the server
    counts it).
    """
    use_api = state_bytes > inline_limit
    body: dict[str, Any] = {
        "event": event,
        "events": [event],
        "steps": {} if use_api else dict(memos),
        "ctx": {**ctx, "use_api": use_api},
        "version": 2,
        "use_api": use_api,
    }
    encoded = go_json(body)
    if len(encoded) > MAX_BODY_BYTES:
        body.update(events=[], steps={}, use_api=True, ctx={**ctx, "use_api": True})
        return go_json(body), True
    return encoded, use_api


# -- retries -----------------------------------------------------------------------------


class Clock(Protocol):
    """Time as the executor sees it: real by default; tests inject a :class:`ManualClock`."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Seconds since the epoch, from :func:`time.time`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` for real."""
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock whose sleeps return at once and move its time forward.

    :attr:`sleeps` records every wait asked for, so a test asserts on the schedule, not on wall
    time.

    Args:
        start: the clock's first time, in seconds since the epoch.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        """The clock's time: its start plus every sleep so far."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Record the wait, move the time forward and yield to the event loop once."""
        self.sleeps.append(seconds)
        self._now += max(0.0, seconds)
        await asyncio.sleep(0)


def inngest_backoff(attempt: int, rng: random.Random) -> float:
    """Seconds to wait after failed attempt ``attempt`` (0-based), jitter included."""
    base = BACKOFF_TABLE[min(max(attempt, 0), len(BACKOFF_TABLE) - 1)]
    return base + rng.randrange(int(JITTER_SECONDS * 1000)) / 1000


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds until a ``retry-after`` value, clipped as the server clips it.

    The value is whole seconds or a date, clipped to 1 s - 24 h as the server clips it; ``None``
    when it cannot be read.
    """
    value = value.strip()
    at: float | None = None
    if 0 < len(value) <= 7 and value.isdigit() and int(value) > 0:
        at = float(int(now)) + int(value)
    else:
        at = _parse_date(value)
    if at is None:
        return None
    return min(max(at - now, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def _parse_date(value: str) -> float | None:
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


# -- cancellation ------------------------------------------------------------------------


def cancels(
    config: Mapping[str, Any],
    trigger: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    started: float,
    now: float,
) -> bool:
    """Whether ``event`` cancels a run of the function ``config``.

    The run was started by ``trigger`` at ``started`` (seconds since the epoch).
    """
    for entry in config.get("cancel") or []:
        if entry.get("event") != event.get("name"):
            continue
        timeout = entry.get("timeout")
        if timeout and now > started + _duration(str(timeout)):
            continue
        expression = entry.get("if")
        if not expression or evaluate(expression, {"event": trigger, "async": event}):
            return True
    return False


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(text: str) -> float:
    """Seconds of a Go-style duration string (``"1h30m"``, ``"10s"``)."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"cannot read the duration {text!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


# -- ids ----------------------------------------------------------------------------------

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUES = {c: i for i, c in enumerate(_CROCKFORD)} | {
    c.lower(): i for i, c in enumerate(_CROCKFORD)
}
_SIGNING_KEY_PREFIX = re.compile(r"^signkey-\w+-")


def new_ulid(ms: int, entropy: bytes) -> str:
    """A ULID: 48 bits of Unix milliseconds then 80 bits of ``entropy`` (10 bytes)."""
    if len(entropy) != 10:
        raise ValueError("a ULID takes 10 bytes of entropy")
    value = int.from_bytes((ms & (2**48 - 1)).to_bytes(6, "big") + entropy, "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def parse_ulid(text: str) -> bytes | None:
    """The 16 bytes of a ULID, or ``None`` where the server's decoder fails.

    It wants 26 characters and a first one no higher than ``7`` (``oklog/ulid`` ``Parse``).
    """
    if len(text) != 26 or text[0] > "7":
        return None
    value = 0
    for char in text:
        digit = _CROCKFORD_VALUES.get(char)
        if digit is None:  # the lenient decoder reads garbage: it can match nothing
            return None
        value = (value << 5) | digit
    return value.to_bytes(16, "big")


def dispatch_request_id_entropy(run_id: str, job_id: str, generation: int) -> bytes:
    """The 10 bytes that identify a dispatch.

    The first 10 of SHA-256 of ``<run id>:<queue item id>:<generation>`` (``DeterministicULID``'s
    seed padding included). Server versions seed ``DispatchRequestID`` with the run and the
    generation, or with the queue item's id too; the executor takes the item, so that parallel calls
    of one run (generation 1, same millisecond) differ.
    """
    seed = f"{run_id}:{job_id}:{generation}".encode().ljust(10, b"\0")
    return hashlib.sha256(seed).digest()[:10]


def dispatch_request_id(run_id: str, job_id: str, generation: int, ms: int) -> str:
    """The request id of the call that ``generation`` of queue item ``job_id`` makes.

    ``ms`` is when: a ULID whose entropy alone identifies the dispatch.
    """
    return new_ulid(ms, dispatch_request_id_entropy(run_id, job_id, generation))


def queue_ref(job_id: str, shard: str) -> str:
    """``ctx.qi_id``: base64 of ``<job id>::<shard>``."""
    return base64.b64encode(f"{job_id}::{shard}".encode()).decode()


def decode_queue_ref(ref: str) -> tuple[str, str] | None:
    """(job id, shard) of a ``qi_id``.

    ``None`` when it does not decode (the checkpoint then resets no attempts and a stale-dispatch
    check fails).
    """
    try:
        parts = base64.b64decode(ref, validate=True).decode().split("::")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (parts[0], parts[1]) if len(parts) == 2 else None


def is_uuid(text: str) -> bool:
    """Whether Go's ``uuid.Parse`` reads ``text``.

    It reads 36 characters, 38 with braces, 45 as a URN, or 32 hex characters.
    """
    if len(text) not in (32, 36, 38, 45):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def api_key_accepted(token: str, signing_key: str) -> bool:
    """Whether the bearer ``token`` authenticates against ``signing_key``."""
    given = _SIGNING_KEY_PREFIX.sub("", token)
    key = _SIGNING_KEY_PREFIX.sub("", signing_key)
    if not given:
        return False
    try:
        hashed = hashlib.sha256(bytes.fromhex(key)).hexdigest()
    except ValueError:
        hashed = ""
    return hmac.compare_digest(given.encode(), key.encode()) or (
        bool(hashed) and hmac.compare_digest(given.encode(), hashed.encode())
    )
