"""Optional dependencies name their extra; hostile option values get a clear error.

Each extra's library is hidden from the import system (``sys.modules[name] = None``
makes ``import name`` fail as if it were not installed) and the feature that needs
it is used: the error says which extra to install, and it is both a
``ConfigurationError`` and an ``ImportError``.
"""

from __future__ import annotations

import datetime
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import agentkit_inngest.cli
from agentkit_inngest import (
    ConfigurationError,
    MCPServer,
    MissingExtraError,
    create_agent,
    create_network,
    parse_duration,
)
from agentkit_inngest._extras import require

T = TypeVar("T")


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` (and whatever imported them) look uninstalled."""
    for name in list(sys.modules):
        if name in modules or any(name.startswith(m + ".") for m in modules):
            monkeypatch.delitem(sys.modules, name)
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def _forget(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Import ``modules`` afresh next time (they import an extra's library)."""
    for name in modules:
        if name in sys.modules:
            monkeypatch.delitem(sys.modules, name)


def test_require_names_the_extra_and_is_both_kinds_of_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _hide(monkeypatch, "asyncpg")
    with pytest.raises(MissingExtraError) as caught:
        require("asyncpg", extra="postgres", feature="PostgresStore")
    error = caught.value
    assert isinstance(error, ConfigurationError) and isinstance(error, ImportError)
    assert error.extra == "postgres" and error.name == "asyncpg"
    assert "pip install 'agentkit-inngest[postgres]'" in str(error)
    assert "PostgresStore" in str(error)


def test_the_postgres_store_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "asyncpg")
    _forget(monkeypatch, "agentkit_inngest.history._postgres", "agentkit_inngest.history.postgres")
    with pytest.raises(ImportError, match=r"agentkit-inngest\[postgres\]"):
        from agentkit_inngest.history import PostgresStore  # noqa: F401
    with pytest.raises(MissingExtraError, match=r"agentkit-inngest\[postgres\]"):
        import agentkit_inngest.history.postgres  # noqa: F401
    # the other stores need nothing more
    from agentkit_inngest.history import MemoryStore, SQLiteStore

    assert MemoryStore() and SQLiteStore(":memory:")


def test_the_redis_broker_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "redis")
    _forget(monkeypatch, "agentkit_inngest.streaming._redis")
    from agentkit_inngest.streaming._redis import RedisBroker

    with pytest.raises(MissingExtraError, match=r"agentkit-inngest\[redis\]") as caught:
        RedisBroker("redis://127.0.0.1:6379/0")
    assert caught.value.extra == "redis" and "RedisBroker" in str(caught.value)
    # the broker of one process needs nothing more
    from agentkit_inngest.streaming import MemoryBroker

    assert MemoryBroker()


def test_mcp_over_a_websocket_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "websockets")
    # the mcp SDK is a core dependency: the other transports need nothing more
    assert MCPServer.stdio("calc", command="python", args=["server.py"])
    _forget(monkeypatch, "agentkit_inngest.mcp._websocket", "agentkit_inngest.mcp_websocket")
    with pytest.raises(ImportError, match=r"websocket_app.*agentkit-inngest\[websocket\]"):
        from agentkit_inngest.mcp import websocket_app  # noqa: F401


def test_the_command_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _hide(monkeypatch, "typer")
    _forget(
        monkeypatch,
        "agentkit_inngest.cli._app",
        "agentkit_inngest.cli._common",
        "agentkit_inngest.cli._inspect",
    )
    with pytest.raises(SystemExit) as caught:
        agentkit_inngest.cli.main()
    assert caught.value.code == 2
    error = capsys.readouterr().err
    assert "pip install 'agentkit-inngest[cli]'" in error and "Traceback" not in error


# -- hostile option values ----------------------------------------------------------------

HOSTILE = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()  # NaN and infinities included
    | st.text()  # lone surrogates and NUL included
    | st.binary(max_size=8)
    | st.lists(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.timedeltas()
)
EXAMPLES = settings(max_examples=300, derandomize=True, deadline=None, database=None)


def _outcome(build: Callable[[], T]) -> T | ConfigurationError:
    """What ``build()`` returns, or the :class:`ConfigurationError` it raises."""
    try:
        return build()
    except ConfigurationError as err:
        return err


@EXAMPLES
@given(value=HOSTILE)
@example(value=float("inf"))
@example(value=float("nan"))
@example(value=10**30)
@example(value="99999999999999d")
@example(value="0s")
@example(value="\ud800s")
def test_any_duration_is_a_positive_timedelta_or_a_clear_error(value: Any) -> None:
    parsed = _outcome(lambda: parse_duration(value, field="timeout"))
    if isinstance(parsed, ConfigurationError):
        assert str(parsed).startswith("timeout:")
    else:
        assert parsed > datetime.timedelta(0)


@EXAMPLES
@given(name=HOSTILE, max_iter=HOSTILE)
@example(name="A", max_iter="3")
@example(name=5, max_iter=1)
def test_any_agent_options_build_an_agent_or_a_clear_error(name: Any, max_iter: Any) -> None:
    agent = _outcome(lambda: create_agent(name=name, max_iter=max_iter))
    if isinstance(agent, ConfigurationError):
        assert str(agent)
    else:
        assert isinstance(agent.name, str) and agent.max_iter >= 1


@EXAMPLES
@given(agents=HOSTILE, max_iter=HOSTILE, router=HOSTILE)
def test_any_network_options_build_a_network_or_a_clear_error(
    agents: Any, max_iter: Any, router: Any
) -> None:
    valid = [create_agent(name="A")]
    for options in ({"agents": agents}, {"agents": valid, "max_iter": max_iter, "router": router}):
        network = _outcome(functools.partial(create_network, name="N", **options))
        if isinstance(network, ConfigurationError):
            assert str(network)
        else:
            assert network.max_iter is None or network.max_iter >= 1
