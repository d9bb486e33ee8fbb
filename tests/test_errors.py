"""Error classification helpers shared by the adapters."""

from __future__ import annotations

import email.utils
import time

import inngest
import pytest

from agentkit_inngest import FatalProviderError, RetriableProviderError, to_inngest_error
from agentkit_inngest.errors import MAX_RETRY_AFTER, ConfigurationError, ToolRetry
from agentkit_inngest.models._common import (
    as_dict,
    error_detail,
    retry_after_seconds,
    status_error,
)


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After-Ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_seconds({"retry-after": future}) or 0) <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after-ms": "x", "retry-after": "2"}) == 2
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "nested"}}, "nested"),
        ({"error": "flat"}, "flat"),
        ({"message": "top"}, "top"),
        (b'{"error": {"message": "bytes"}}', "bytes"),
        ("not json", "not json"),
        ({"weird": 1}, '{"weird": 1}'),
        (None, ""),
    ],
)
def test_error_detail(body: object, expected: str) -> None:
    assert error_detail(body) == expected


def test_status_classification() -> None:
    assert isinstance(status_error("p", 529, "overloaded"), RetriableProviderError)
    assert isinstance(status_error("p", 503, ""), RetriableProviderError)
    fatal = status_error("p", 404, "x" * 600)
    assert isinstance(fatal, FatalProviderError) and "model name and base_url" in str(fatal)
    assert len(str(fatal)) < 700
    assert isinstance(status_error("p", 418, "teapot"), FatalProviderError)
    with pytest.raises(RetriableProviderError, match="instead of a JSON object"):
        as_dict([1], "p")


def test_mapping_to_inngest_errors() -> None:
    import inngest

    assert isinstance(to_inngest_error(ConfigurationError("bad")), inngest.NonRetriableError)
    assert isinstance(to_inngest_error(ToolRetry("later", retry_after=3)), inngest.RetryAfterError)
    plain = RetriableProviderError("busy", provider="p")
    assert to_inngest_error(plain) is plain


@pytest.mark.parametrize("asked", [1e308, float("inf"), 10**400, -1.0, float("nan")])
def test_a_tool_retry_delay_is_bounded_like_a_providers(asked: float) -> None:
    err = ToolRetry("later", retry_after=asked)
    assert err.retry_after is None or 0 <= err.retry_after <= MAX_RETRY_AFTER
    mapped = to_inngest_error(err)  # an unbounded delay overflowed timedelta here
    if err.retry_after:
        assert isinstance(mapped, inngest.RetryAfterError)
