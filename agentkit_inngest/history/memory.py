"""Kept for the old import path: use ``from agentkit_inngest.history import MemoryStore``."""

from ._memory import MemoryStore

__all__ = ["MemoryStore"]
