"""A guard that keeps tests from reaching real providers.

Inside :func:`block_real_providers`, sockets may only connect to loopback
addresses (and Unix sockets), and the providers' API-key variables are replaced by
sentinels, so a test that forgot to point a model at a local fake fails at once
instead of spending money or leaking a real key.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

__all__ = ["PROVIDER_KEY_VARIABLES", "RealNetworkBlocked", "block_real_providers"]

PROVIDER_KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "XAI_API_KEY",
)
_URL_VARIABLES = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL", "XAI_BASE_URL")


class RealNetworkBlocked(ConnectionError):
    """A test tried to open a connection beyond this machine."""


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # Unix socket path
        return True
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def block_real_providers(*, sentinel_keys: bool = True) -> Iterator[None]:
    """Refuse non-loopback connections for the duration of the block.

    Refuse non-loopback connections (and, by default, swap provider keys for
    ``"test-key-<VAR>"`` sentinels) for the duration of the block.
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_local(address):
            raise RealNetworkBlocked(f"tests may not connect to {address!r} (only loopback)")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_local(address):
            raise RealNetworkBlocked(f"tests may not connect to {address!r} (only loopback)")
        return original_connect_ex(self, address)

    saved = {name: os.environ.get(name) for name in (*PROVIDER_KEY_VARIABLES, *_URL_VARIABLES)}
    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    if sentinel_keys:
        for name in PROVIDER_KEY_VARIABLES:
            os.environ[name] = f"test-key-{name}"
        for name in _URL_VARIABLES:
            os.environ.pop(name, None)
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
