"""Kept for the old import path.

Use ``from agentkit_inngest.history import PostgresStore`` (it needs the ``postgres`` extra: ``pip
install 'agentkit-inngest[postgres]'``).
"""

from ._postgres import PostgresStore

__all__ = ["PostgresStore"]
