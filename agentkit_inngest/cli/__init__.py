"""The ``agentkit-inngest`` command line.

``agentkit-inngest``: serve the app, run a network or chat with it, send events,
list functions (needs the ``cli`` extra: ``pip install 'agentkit-inngest[cli]'``).

::

    agentkit-inngest serve --dev                        # functions.app:app on :8000
    agentkit-inngest run examples.quick_start:network "How do I scale Postgres?"
    agentkit-inngest chat examples.quick_start:network  # turn after turn, one thread
    agentkit-inngest send app/support.ticket.created --data '{"ticketId": "T-1001"}'
    agentkit-inngest functions                          # ids, triggers, flow control

This package imports its libraries (``typer``, ``rich``) only when used, so the
console script can say which extra is missing instead of failing on an import.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .._extras import MissingExtraError

if TYPE_CHECKING:
    from ._app import app, function_configs

__all__ = ["app", "function_configs", "main"]


def main() -> None:
    """The console script's entry point."""
    try:
        from ._app import app
    except MissingExtraError as error:
        print(f"agentkit-inngest: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    app()


def __getattr__(name: str) -> object:
    """``app`` and ``function_configs`` are imported on first use (they need the extra)."""
    if name in ("app", "function_configs"):
        from . import _app

        return getattr(_app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
