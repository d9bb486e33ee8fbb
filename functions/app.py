"""The deployable app.

Serve it with ``uvicorn functions.app:app --port 8000`` and point an Inngest dev
server at it (``npx inngest-cli@latest dev -u http://127.0.0.1:8000/api/inngest``),
or deploy it and sync it with Inngest Cloud (``INNGEST_SIGNING_KEY`` and
``INNGEST_EVENT_KEY`` set, ``INNGEST_DEV`` unset).

``INNGEST_APP_ID`` names the app (default ``agentkit-inngest``); a network's event
is ``<app id>/network-<slug>``, e.g. ``agentkit-inngest/network-devops-team``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so `examples` imports when served from elsewhere
    sys.path.insert(0, str(ROOT))

from agentkit_inngest.functions import network_function  # noqa: E402
from agentkit_inngest.server import create_client, create_server  # noqa: E402
from examples import quick_start  # noqa: E402

APP_ID = os.environ.get("INNGEST_APP_ID", "agentkit-inngest")

client = create_client(APP_ID)

functions = [
    network_function(quick_start.network, client=client, retries=3),
]

app = create_server(client=client, functions=functions)
