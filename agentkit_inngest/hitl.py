"""Human in the loop (kept for the old import path).

Import these from :mod:`agentkit_inngest` instead: ``from agentkit_inngest import
create_human_tool``. This module stays for one version so that existing imports work.
"""

from ._hitl import HumanQuestion, create_human_tool

__all__ = ["HumanQuestion", "create_human_tool"]
