"""The served app (kept for the old import path).

Import these from :mod:`agentkit_inngest` instead: ``from agentkit_inngest import
create_client, create_server``. This module stays for one version so that existing
imports work.
"""

from ._server import DEFAULT_MAX_BODY_BYTES, StreamAuth, create_client, create_server

__all__ = ["DEFAULT_MAX_BODY_BYTES", "StreamAuth", "create_client", "create_server"]
