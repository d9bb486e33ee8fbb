from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentkit_inngest.testing import block_real_providers
from agentkit_inngest.testing.fake_providers import FakeProvider
from agentkit_inngest.testing.servers import RunningServer, serve


@pytest.fixture(autouse=True)
def _no_real_providers() -> Iterator[None]:
    """Every test runs with loopback-only sockets and sentinel provider keys."""
    with block_real_providers():
        yield


@pytest.fixture(scope="session")
def _provider_server() -> Iterator[tuple[FakeProvider, RunningServer]]:
    fake = FakeProvider()
    with serve(fake.app) as server:
        yield fake, server


@pytest.fixture
def fake_provider(_provider_server: tuple[FakeProvider, RunningServer]) -> Iterator[FakeProvider]:
    fake, _ = _provider_server
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture
def provider_url(_provider_server: tuple[FakeProvider, RunningServer]) -> str:
    return _provider_server[1].url
