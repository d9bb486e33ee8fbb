"""AgentKit docs, concepts/deployment: the network served in production mode with the
keys the page names (``INNGEST_SIGNING_KEY``; its ``INNGEST_API_KEY`` is the event key,
``INNGEST_EVENT_KEY`` here), synced and run by a signing server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentkit_inngest import create_agent, create_client, create_network, create_server
from agentkit_inngest.errors import ConfigurationError
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text

SIGNING_KEY = "signkey-prod-" + "0123abcd" * 8


def my_network() -> Any:
    helper = create_agent(name="Helper", model=ScriptedModel([text("Deployed and answering.")]))
    return create_network(
        name="My Network",
        agents=[helper],
        router=lambda *, call_count: helper if call_count == 0 else None,
    )


def test_production_mode_needs_the_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INNGEST_DEV", raising=False)
    monkeypatch.delenv("INNGEST_SIGNING_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="set INNGEST_SIGNING_KEY"):
        create_client("my-app")


async def test_the_network_served_in_production_runs_only_signed_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INNGEST_DEV", raising=False)
    monkeypatch.setenv("INNGEST_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("INNGEST_EVENT_KEY", "event-key-test")
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        monkeypatch.setenv("INNGEST_BASE_URL", executor.api_url)
        client = create_client("my-app")  # production mode, keys from the environment
        assert client.is_production
        # TS: createServer({ networks: [network] }).listen(3010); sync URL + /api/inngest
        url = await executor.attach(create_server(client=client, networks=[my_network()]))
        run = await executor.run("network-my-network", {"input": "Are you there?"})
        async with httpx.AsyncClient(timeout=30) as http:
            unsigned = await http.post(f"{url}?fnId={run.fn_id}&stepId=step", json={})
    assert run.output["output"] == "Deployed and answering."
    assert unsigned.status_code == 401
