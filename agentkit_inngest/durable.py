"""The Inngest side of the step seam (kept for the old import path).

Import these from :mod:`agentkit_inngest` instead: ``from agentkit_inngest import
InngestRunner``. This module stays for one version so that existing imports work.
"""

from ._steps import InngestRunner, count_fetched_memos, to_inngest_error

__all__ = ["InngestRunner", "count_fetched_memos", "to_inngest_error"]
