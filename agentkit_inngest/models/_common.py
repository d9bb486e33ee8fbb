"""Helpers shared by the provider adapters: error classification and client caching."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, Generic, TypeVar

from ..errors import FatalProviderError, ProviderError, RetriableProviderError

C = TypeVar("C")

RETRIABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})

_HINTS = {
    400: "the provider rejected the request; check the model name, parameters and tool schemas",
    401: "authentication failed; check the API key",
    403: "the API key is not allowed to use this model or endpoint",
    404: "the model or endpoint was not found; check the model name and base_url",
    413: "the request is too large; shorten the history or tool results",
    422: "the provider could not process the request; check parameters and tool schemas",
}


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_error(
    provider: str,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
) -> ProviderError:
    """The error for an HTTP failure: retriable for 408/409/429/5xx, fatal otherwise."""
    detail = detail.strip() or "no details"
    if len(detail) > 500:
        detail = detail[:497] + "..."
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
    kind = "timed out" if timeout else "could not be reached"
    return RetriableProviderError(
        f"{provider} {kind} (will retry): {type(err).__name__}: {err}",
        provider=provider,
    )


@contextlib.contextmanager
def sdk_errors(provider: str, sdk: ModuleType) -> Iterator[None]:
    """Translate the official ``openai`` / ``anthropic`` SDKs' exceptions (they share
    their shape) into :class:`ProviderError` s, classified for retries."""
    try:
        yield
    except sdk.APIStatusError as err:
        detail = error_detail(err.body) or err.message
        if err.status_code == 200:  # an error event inside a stream
            raise RetriableProviderError(
                f"{provider} failed while streaming (will retry): {detail}", provider=provider
            ) from err
        raise status_error(provider, err.status_code, detail, dict(err.response.headers)) from err
    except sdk.APITimeoutError as err:
        raise transport_error(provider, err, timeout=True) from err
    except sdk.APIConnectionError as err:
        raise transport_error(provider, err, timeout=False) from err
    except sdk.APIError as err:  # an error object inside a stream
        raise RetriableProviderError(
            f"{provider} failed while streaming (will retry): {err.message}", provider=provider
        ) from err
    except ValueError as err:  # the answer's body is not JSON
        raise status_error(provider, 502, f"the answer is not JSON ({err})") from err


def error_detail(body: object) -> str:
    """The human message inside a provider's error body, whatever its shape."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(text)
        except ValueError:
            return text
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            inner_message = inner.get("message")
            if isinstance(inner_message, str):
                return inner_message
        elif isinstance(inner, str):
            return inner
        top_message = body.get("message")
        if isinstance(top_message, str):
            return top_message
    return json.dumps(body)[:500] if body is not None else ""


class LoopLocal(Generic[C]):
    """One client per running event loop (HTTP connection pools belong to their loop)."""

    def __init__(self, factory: Callable[[], C]) -> None:
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, C] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> C:
        loop = asyncio.get_running_loop()
        client = self._by_loop.get(loop)
        if client is None:
            client = self._factory()
            self._by_loop[loop] = client
        return client


def as_dict(value: Any, provider: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RetriableProviderError(
            f"{provider} answered with {type(value).__name__} instead of a JSON object "
            "(will retry)",
            provider=provider,
        )
    return value
