"""Function definitions: ids, events, flow-control validation, serving."""

from __future__ import annotations

import datetime
from typing import Any

import inngest
import pydantic
import pytest

from agentkit_inngest import (
    ConfigurationError,
    EventPayload,
    FlowControl,
    agent_function,
    create_agent,
    create_client,
    create_function,
    create_human_tool,
    create_network,
    create_server,
    function_tool,
    network_function,
    parse_duration,
    route_in_order,
)
from agentkit_inngest._functions import served_functions, slugify
from agentkit_inngest.testing import LocalExecutor, ScriptedModel, text

CLIENT = inngest.Inngest(app_id="unit", is_production=False)


def _network(name: str = "DevOps team") -> Any:
    agent = create_agent(name="A", model=ScriptedModel())
    return create_network(name=name, agents=[agent], router=route_in_order(agent))


def test_ids_and_events_follow_agentkit_conventions() -> None:
    assert slugify("DevOps team") == "devops-team"
    assert slugify("  Support: Tier 2!! ") == "support-tier-2"
    with pytest.raises(ConfigurationError, match="cannot make a function id"):
        slugify("!!!")
    fn = network_function(_network(), client=CLIENT)
    assert fn.id == "unit-network-devops-team" and fn.name == "DevOps team"
    trigger = fn._triggers[0]
    assert isinstance(trigger, inngest.TriggerEvent)
    assert trigger.event == "unit/network-devops-team"
    agent_fn = agent_function(create_agent(name="Database administrator"), client=CLIENT)
    assert agent_fn.id == "unit-agent-database-administrator"
    custom = network_function(
        _network(), client=CLIENT, fn_id="custom", event="app/custom.run", name="X"
    )
    trigger = custom._triggers[0]
    assert isinstance(trigger, inngest.TriggerEvent)
    assert custom.id == "unit-custom" and trigger.event == "app/custom.run"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30s", datetime.timedelta(seconds=30)),
        ("4h", datetime.timedelta(hours=4)),
        ("1.5m", datetime.timedelta(seconds=90)),
        ("2w", datetime.timedelta(weeks=2)),
        (1500, datetime.timedelta(milliseconds=1500)),
        (datetime.timedelta(days=1), datetime.timedelta(days=1)),
    ],
)
def test_durations(value: object, expected: datetime.timedelta) -> None:
    assert parse_duration(value, field="f") == expected


@pytest.mark.parametrize("value", ["soon", "-1s", 0, True, None, [1]])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ConfigurationError, match="f:"):
        parse_duration(value, field="f")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "concurrency: limit must be an integer >= 1"),
        ({"concurrency": True}, "concurrency: expected a limit"),
        ({"concurrency": [1, 2, 3]}, "at most 2 concurrency limits"),
        ({"concurrency": {"limit": 2, "scope": "galaxy"}}, "scope must be"),
        ({"concurrency": {"limit": 2, "scope": "account"}}, "scope 'account' needs a key"),
        ({"concurrency": {"limit": 2, "key": "user_id"}}, "should refer to the event"),
        ({"concurrency": "ten"}, "expected a dict or inngest.Concurrency"),
        ({"throttle": {"limit": 1}}, "throttle: period is required"),
        ({"throttle": {"limit": 1, "period": "10d"}}, "between 1s and 7d"),
        ({"throttle": {"limit": 1, "period": "1m", "burst": 0}}, "burst must be"),
        ({"rate_limit": {"limit": 0, "period": "1m"}}, "rate_limit: limit"),
        ({"retries": 21}, "retries: must be between 0 and 20"),
        ({"retries": -1}, "retries: must be between 0 and 20"),
        ({"debounce": {"key": "event.data.id"}}, "debounce: period is required"),
        ({"debounce": {"period": "1ms"}}, "between 1s and 7d"),
        ({"priority": "event.data.plan == 'pro"}, "unbalanced"),
        ({"priority": {}}, "run is required"),
        ({"cancel": [{"if": "async.data.id == event.data.id"}]}, "needs an event name"),
        ({"idempotency": "  "}, "non-empty expression"),
        ({"timeouts": {}}, "set start and/or finish"),
        ({"timeouts": {"finish": "eventually"}}, "not a duration"),
        ({"singleton": {"mode": "queue"}}, "mode must be 'skip' or 'cancel'"),
        ({"concurency": 5}, "concurency: unknown option (known: concurrency"),
    ],
)
def test_flow_control_is_checked_when_defined(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        network_function(_network(), client=CLIENT, **options)


def test_flow_control_accepts_sdk_objects_and_shorthands() -> None:
    flow = FlowControl.build(
        "x",
        {
            "concurrency": inngest.Concurrency(limit=3, key="event.data.user_id"),
            "throttle": inngest.Throttle(limit=2, period=datetime.timedelta(minutes=1)),
            "priority": {"run": "event.data.rank"},
            "cancel": "app/cancel",
            "singleton": inngest.Singleton(mode="cancel"),
            "timeouts": {"start": 1000},
        },
    )
    assert flow.concurrency == [inngest.Concurrency(limit=3, key="event.data.user_id")]
    assert flow.cancel == [inngest.Cancel(event="app/cancel")]
    assert flow.timeouts is not None and flow.timeouts.start == datetime.timedelta(seconds=1)
    assert set(flow.sdk_options()) == set(FlowControl.model_fields)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "data.input: Field required"),
        ({"input": ""}, "data.input: String should have at least 1 character"),
        ({"input": 3}, "data.input: Input should be a valid string (got int)"),
        ({"input": "q", "state": []}, "data.state: Input should be a valid dictionary (got list)"),
        ({"input": "q", "thread_id": ""}, "data.thread_id"),
    ],
)
def test_event_payload_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    from agentkit_inngest import InputError

    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EventPayload.parse(data)
    assert EventPayload.parse({"input": "q", "user_id": "u"}).model_extra == {"user_id": "u"}


def test_typed_functions_and_function_tools_are_checked() -> None:
    class In(pydantic.BaseModel):
        x: int

    with pytest.raises(ConfigurationError, match="input must be a pydantic model class"):
        create_function(client=CLIENT, fn_id="f", input=dict)  # type: ignore[type-var]
    decorate = create_function(client=CLIENT, fn_id="f", input=In)
    with pytest.raises(ConfigurationError, match="must be async"):
        decorate(lambda ctx, i: None)  # type: ignore[arg-type,return-value]

    @CLIENT.create_function(fn_id="plain", trigger=inngest.TriggerEvent(event="e"))
    async def plain(ctx: inngest.Context) -> None:
        return None

    with pytest.raises(ConfigurationError, match="no declared input model"):
        function_tool(plain)
    custom = function_tool(plain, parameters=In, name="plain_tool", description="d", timeout="1m")
    assert custom.name == "plain_tool" and custom.parameters is In and custom.uses_steps


def test_human_tool_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        create_human_tool(event="e", match="data.id", if_exp="true")
    with pytest.raises(ConfigurationError, match="field path"):
        create_human_tool(event="e", match="data.id == 1")
    with pytest.raises(ConfigurationError, match="must not be empty"):
        create_human_tool(event=" ")
    with pytest.raises(ConfigurationError, match="not a duration"):
        create_human_tool(event="e", timeout="later")
    tool = create_human_tool(event="e", match="event.data.id", timeout=60_000)
    assert tool.uses_steps and tool.name == "ask_human"


def test_serving_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="at least one agent, network or function"):
        create_server(client=CLIENT)
    network = _network()
    with pytest.raises(ConfigurationError, match="two functions have the id"):
        served_functions(client=CLIENT, networks=[network, network])
    monkeypatch.delenv("INNGEST_DEV", raising=False)
    monkeypatch.delenv("INNGEST_SIGNING_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="set INNGEST_SIGNING_KEY"):
        create_client("prod-app", is_production=True)
    assert not create_client("dev-app", is_production=False).is_production


async def test_health_endpoint_and_agent_functions() -> None:
    import httpx

    model = ScriptedModel([text("solo answer")])
    agent = create_agent(name="Solo agent", model=model)
    async with LocalExecutor() as executor:
        client = executor.client("health")
        url = await executor.attach(create_server(client=client, agents=[agent]))
        async with httpx.AsyncClient() as http:
            health = (await http.get(url.replace("/api/inngest", "/health"))).json()
        assert health == {"status": "ok", "app_id": "health", "mode": "dev", "functions": 1}
        run = await executor.run(
            "agent-solo-agent", {"input": "hi", "state": {"kv": {"k": 1}}, "thread_id": "t"}
        )
        assert run.output["output"] == "solo answer"
        assert run.output["state"]["kv"] == {"k": 1} and run.output["state"]["thread_id"] == "t"
        assert run.output["usage"]["total_tokens"] == 15
        bad = await executor.run(
            "agent-solo-agent", {"input": "hi", "state": {"kv": 1}}, check=False
        )
        assert "state.kv must be a JSON object" in bad.error["message"]
