"""Kept for the old import path: use ``from agentkit_inngest.history import SQLiteStore``."""

from ._sqlite import SQLiteStore

__all__ = ["SQLiteStore"]
