"""The deployable app: every example's agents, networks and functions, served at
/api/inngest (the MCP agent and the chat page's "Weather desk" network included).

Serve it and point an Inngest dev server at it::

    INNGEST_DEV=1 uvicorn functions.app:app --port 8000       # or: agentkit-inngest serve --dev
    npx inngest-cli@latest dev -u http://127.0.0.1:8000/api/inngest

(``docker compose up`` does both.) Deployed, it syncs with Inngest Cloud when
``INNGEST_SIGNING_KEY`` and ``INNGEST_EVENT_KEY`` are set and ``INNGEST_DEV`` is not.

``INNGEST_APP_ID`` names the app (default ``agentkit-inngest``). It prefixes the
function ids and the events of the network functions, e.g. the quick start runs on
``agentkit-inngest/network-devops-team``. ``agentkit-inngest functions`` lists them all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so `examples` imports when served from elsewhere
    sys.path.insert(0, str(ROOT))

from agentkit_inngest import (  # noqa: E402
    agent_function,
    create_client,
    create_server,
    network_function,
)
from agentkit_inngest.errors import ConfigurationError  # noqa: E402
from examples import (  # noqa: E402
    mcp_agent,
    multi_step_tool,
    multitenancy,
    quick_start,
    state_routing,
    support_agent,
    ticket_triage,
)
from examples.ui import app as chat_page  # noqa: E402

APP_ID = os.environ.get("INNGEST_APP_ID", "agentkit-inngest")

client = create_client(APP_ID)

functions = [
    # quick start: the DevOps network, triggered by <app id>/network-devops-team
    network_function(quick_start.network, client=client, retries=3),
    # ... and its two agents on their own, with the same typed state
    # (<app id>/agent-database-administrator, <app id>/agent-database-security-expert)
    agent_function(quick_start.dba_agent, client=client),
    agent_function(quick_start.security_agent, client=client),
    # human in the loop: triggered by app/support.ticket.created
    support_agent.support_agent_workflow,
    # deterministic state routing: <app id>/network-code-writing-network
    network_function(state_routing.network, client=client),
    # a multi-step tool: the research function and the network whose agent invokes it
    multi_step_tool.research_web_tool,
    network_function(multi_step_tool.network, client=client),
    # multi-tenancy and retries: deep-research-network/run, per-user limits
    multitenancy.deep_research,
    # MCP: the travel planner and its stdio MCP server (<app id>/agent-travel-planner)
    agent_function(mcp_agent.agent, client=client),
    # the chat page's network (<app id>/network-weather-desk); the page itself, with its
    # stream, is examples/ui/app.py
    network_function(chat_page.build_network(chat_page.pick_model()[0]), client=client),
    # a typed answer, a budget and a guardrail: <app id>/network-ticket-triage
    network_function(ticket_triage.network, client=client),
]

# The examples define their functions with clients of the same app id; a function
# with another prefix would be registered under an id this app does not answer to.
for _function in functions:
    if not _function.id.startswith(f"{APP_ID}-"):
        raise ConfigurationError(
            f"function {_function.id!r} was defined for another app id than {APP_ID!r}; "
            "define it with a client of this app id (INNGEST_APP_ID)"
        )

app = create_server(client=client, functions=functions)
