"""Helpers shared by the provider adapters.

Error classification, redaction, the call deadline and answer checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import json
import re
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

from ..errors import (
    FatalProviderError,
    ProviderError,
    RetriableProviderError,
    bounded_retry_after,
)
from ..messages import Message, TextMessage

T = TypeVar("T")


def split_system(
    messages: list[Message],
    parts_of: Callable[[Message], list[tuple[str, dict[str, Any]]]],
    key: str,
) -> tuple[str, list[dict[str, Any]]]:
    """``(system, turns)``: the system texts joined, every other message as role turns.

    ``parts_of`` gives the parts a message becomes, each with its role; consecutive parts
    of one role go into one turn (``{"role": ..., key: [...]}``), as Anthropic and Gemini
    want them.
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, TextMessage) and message.role == "system":
            if message.content:
                system.append(message.content)
            continue
        for role, part in parts_of(message):
            if turns and turns[-1]["role"] == role:
                turns[-1][key].append(part)
            else:
                turns.append({"role": role, key: [part]})
    return "\n\n".join(system), turns


RETRIABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})

_HINTS = {
    400: "the provider rejected the request; check the model name, parameters and tool schemas",
    401: "authentication failed; check the API key",
    403: "the API key is not allowed to use this model or endpoint",
    404: "the model or endpoint was not found; check the model name and base_url",
    413: "the request is too large; shorten the history or tool results",
    422: "the provider could not process the request; check parameters and tool schemas",
}


_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")
_MAX_HEADER = 64  # the longest legal retry-after value (an HTTP date) has 29 characters


def decimal_seconds(value: str) -> float | None:
    """A plain ASCII decimal, else ``None``.

    A plain ASCII decimal (``"7"``, ``"1.5"``); ``None`` for anything else (signs,
    exponents, ``nan``, ``inf``, non-ASCII digits, ``_`` separators...).
    """
    value = value.strip()
    if not _DECIMAL.fullmatch(value):
        return None
    return float(value)


def _http_date(value: str, now: float) -> float | None:
    """Seconds from ``now`` until an HTTP date.

    The date may be an IMF-fixdate, RFC 850 or asctime; 0 for a date in the past, ``None`` for
    anything that is not a date.
    """
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:  # asctime: HTTP dates are always GMT
            when = when.replace(tzinfo=datetime.timezone.utc)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """The wait a provider asked for, in seconds, capped at :data:`MAX_RETRY_AFTER`.

    Reads ``retry-after-ms`` (milliseconds, sent by OpenAI) first, then
    ``retry-after`` as delta-seconds or an HTTP date (RFC 9110, section 10.2.3).
    A value in none of these forms (negative, ``nan``, ``1e308``, non-ASCII, too
    long) is ignored: ``None``, as if the header were absent.
    """
    if not headers:
        return None
    now = time.time() if now is None else now
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lowered.get(name, "")
        if not value or len(value) > _MAX_HEADER or not value.isascii():
            continue
        number = decimal_seconds(value)
        if number is not None:
            return bounded_retry_after(number / scale)
        if scale == 1.0:
            delay = _http_date(value.strip(), now)
            if delay is not None:
                return bounded_retry_after(delay)
    return None


_KEEP = 500  # characters of a provider's error detail kept in a message
REDACTED = "[redacted]"
MIN_SECRET = 8
"""Secrets shorter than this are not redacted (too likely to occur by chance), and
fragments of a secret this long or longer are redacted wherever they appear."""


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret of ``secrets`` (and every fragment of one) redacted.

    A fragment is 8 characters or more of a secret: a key's prefix, a cut key, a key split across a
    line. Each is replaced by ``[redacted]``.
    """
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        if len(secret) < MIN_SECRET:
            continue
        grams = {secret[i : i + MIN_SECRET] for i in range(len(secret) - MIN_SECRET + 1)}
        for gram in grams:
            start = text.find(gram)
            while start != -1:
                spans.append((start, start + MIN_SECRET))
                start = text.find(gram, start + 1)
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    done = 0
    first, last = spans[0]
    for start, end in spans[1:]:
        if start <= last:
            last = max(last, end)
            continue
        out += [text[done:first], REDACTED]
        done, (first, last) = last, (start, end)
    out += [text[done:first], REDACTED, text[last:]]
    return "".join(out)


def clipped(detail: str, secrets: Sequence[str] = ()) -> str:
    """A provider's error detail fit for a message.

    Redacted, then cut to its first 500 characters (in that order, so that a secret at the cut
    leaves no fragment).
    """
    longest = max((len(s) for s in secrets), default=0)
    detail = redact(detail[: _KEEP + longest], secrets).strip() or "no details"
    if len(detail) > _KEEP:
        detail = detail[: _KEEP - 3] + "..."
    return detail


def status_error(
    provider: str,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
    secrets: Sequence[str] = (),
) -> ProviderError:
    """The error for an HTTP failure: retriable for 408/409/429/5xx, fatal otherwise.

    ``detail`` is redacted (``secrets``) before it is cut to its first 500
    characters, so a secret at the cut cannot leave a fragment behind.
    """
    detail = clipped(detail, secrets)
    if retry_after is None:
        retry_after = retry_after_seconds(headers)
    if status in RETRIABLE_STATUS or status >= 500:
        return RetriableProviderError(
            f"{provider} answered HTTP {status} (will retry): {detail}",
            provider=provider,
            status_code=status,
            retry_after=retry_after,
        )
    hint = _HINTS.get(status, "the request cannot succeed as it is")
    return FatalProviderError(
        f"{provider} answered HTTP {status}: {detail} ({hint})",
        provider=provider,
        status_code=status,
    )


def transport_error(provider: str, err: BaseException, *, timeout: bool) -> ProviderError:
    """The retriable error for a call that timed out or could not connect."""
    kind = "timed out" if timeout else "could not be reached"
    return RetriableProviderError(
        f"{provider} {kind} (will retry): {type(err).__name__}: {err}",
        provider=provider,
    )


def stream_cut(provider: str, missing: str) -> RetriableProviderError:
    """The error for a stream that ended before the end-of-answer signal.

    The stream ended cleanly, so the answer may be cut anywhere: it is never used.
    """
    return RetriableProviderError(
        f"{provider}'s stream ended before the answer was complete (no {missing}); "
        "the partial answer was dropped (will retry)",
        provider=provider,
    )


async def within_deadline(provider: str, seconds: float, call: Awaitable[T]) -> T:
    """``call``, given ``seconds`` in all: connecting, every read, the whole stream.

    The HTTP clients' own timeouts apply to each read, so a provider sending a byte
    (or a keep-alive comment) now and then would hold a call for ever without this.
    """
    try:
        return await asyncio.wait_for(call, seconds)
    except ProviderError as err:
        release_frames(err)
        raise
    except asyncio.TimeoutError:
        raise RetriableProviderError(
            f"{provider} timed out: no complete answer within the call's deadline of "
            f"{seconds:g} s (will retry)",
            provider=provider,
        ) from None


def release_frames(err: BaseException) -> None:
    """Drop the local variables of the finished frames in the tracebacks of ``err``.

    The exceptions it was raised from too; file, line and function stay.

    An SDK that fails inside its stream generator leaves the generators it was
    reading suspended, referenced only by that generator's frame in the traceback;
    held by the error, they would be finalized by the garbage collector at a random
    time, in any thread. Released here, they are closed at once, on their loop.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__


@contextlib.asynccontextmanager
async def sdk_events(stream: Any) -> AsyncIterator[AsyncIterator[Any]]:
    """The events of an ``openai`` / ``anthropic`` SDK stream, closed however reading ends.

    However reading ends (the answer is whole, cut, unreadable, or past its deadline), the SDK's
    event generators are closed here and the response with them: left to the garbage collector, a
    generator stopped mid-stream is finalized at a random time, in any thread.
    """
    events = stream.__aiter__()
    try:
        yield events
    finally:
        await events.aclose()
        inner = getattr(stream, "_iterator", None)  # the SDKs' own generator of events
        if inner is not None and hasattr(inner, "aclose"):
            await inner.aclose()
        await stream.close()


@contextlib.contextmanager
def sdk_errors(provider: str, sdk: ModuleType, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Translate the ``openai`` / ``anthropic`` SDKs' exceptions into :class:`ProviderError` s.

    Translate the official ``openai`` / ``anthropic`` SDKs' exceptions (they share
    their shape) into :class:`ProviderError` s, classified for retries; the provider's
    words are redacted of ``secrets``.
    """
    try:
        yield
    except sdk.APIStatusError as err:
        detail = error_detail(err.body) or err.message
        if err.status_code == 200:  # an error event inside a stream
            raise RetriableProviderError(
                f"{provider} failed while streaming (will retry): {clipped(detail, secrets)}",
                provider=provider,
            ) from err
        raise status_error(
            provider, err.status_code, detail, dict(err.response.headers), secrets=secrets
        ) from err
    except sdk.APITimeoutError as err:
        raise transport_error(provider, err, timeout=True) from err
    except sdk.APIConnectionError as err:
        raise transport_error(provider, err, timeout=False) from err
    except sdk.APIError as err:  # an error object inside a stream
        raise RetriableProviderError(
            f"{provider} failed while streaming (will retry): {clipped(err.message, secrets)}",
            provider=provider,
        ) from err
    except (ValueError, RecursionError) as err:  # the answer's body is not JSON
        reason = clipped(f"{type(err).__name__}: {err}", secrets)
        raise status_error(provider, 502, f"the answer is not JSON ({reason})") from err
    except UNREADABLE as err:  # a stream's events of the wrong shape
        raise unreadable(provider, err, secrets) from err


UNREADABLE = (
    ValueError,  # not JSON, not UTF-8, a bad number
    TypeError,
    AttributeError,
    KeyError,
    IndexError,
    RecursionError,  # JSON nested past what the parser can follow
    OverflowError,
)
"""What reading a malformed answer raises (in the SDKs, the stream accumulators)."""


def unreadable(provider: str, err: BaseException, secrets: Sequence[str] = ()) -> ProviderError:
    """The retriable error for an answer that cannot be read."""
    reason = clipped(f"{type(err).__name__}: {err}", secrets)
    return RetriableProviderError(
        f"{provider} answered with a response that cannot be read (will retry): {reason}",
        provider=provider,
    )


def error_detail(body: object) -> str:
    """The human message inside a provider's error body, whatever its shape."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            return text
    if isinstance(body, dict):
        message = _body_message(body)
        if message is not None:
            return message
    if body is None:
        return ""
    try:  # whole: the caller redacts it, then cuts it
        return json.dumps(body)
    except (ValueError, TypeError, RecursionError):
        return repr(body)


def _body_message(body: dict[Any, Any]) -> str | None:
    """``error.message``, a string ``error``, or ``message`` of an error body, else ``None``."""
    inner = body.get("error", body)
    if isinstance(inner, str):
        return inner
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        message: str = inner["message"]
        return message
    top = body.get("message")
    return top if isinstance(top, str) else None


def as_dict(value: Any, provider: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RetriableProviderError(
            f"{provider} answered with {type(value).__name__} instead of a JSON object "
            "(will retry)",
            provider=provider,
        )
    return value
