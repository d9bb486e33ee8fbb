"""Durability through the real FastAPI app, driven by the local protocol executor.

Each test serves the app on 127.0.0.1 and lets the executor call it the way the
Inngest server does: every memo crosses JSON, every step replays the handler.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import inngest
import pydantic
import pytest

from agentkit_inngest import (
    Network,
    NetworkRun,
    State,
    ToolContext,
    create_agent,
    create_function,
    create_human_tool,
    create_network,
    create_server,
    function_tool,
    network_function,
    route_in_order,
    tool,
)
from agentkit_inngest.models import Inference, openai
from agentkit_inngest.testing import (
    FunctionModel,
    LocalExecutor,
    ModelCall,
    ScriptedModel,
    text,
    tool_call,
    tool_calls,
)
from agentkit_inngest.testing.fake_providers import FakeProvider, Fault

from .message_helpers import content, tool_result


@contextlib.asynccontextmanager
async def app_with(
    *,
    networks: Sequence[Network[Any]] = (),
    functions: Sequence[Any] = (),
    app_id: str = "test-app",
    checkpointing: bool | None = None,
    **kw: Any,
) -> AsyncIterator[tuple[LocalExecutor, inngest.Inngest]]:
    async with LocalExecutor(**kw) as executor:
        client = executor.client(app_id)
        built = [
            f(client) if callable(f) and not isinstance(f, inngest.Function) else f
            for f in functions
        ]
        await executor.attach(
            create_server(
                client=client, networks=networks, functions=built, checkpointing=checkpointing
            )
        )
        yield executor, client


# -- a three-agent network whose tools write typed state ---------------------------------


class Research(pydantic.BaseModel):
    topic: str | None = None
    facts: list[str] = []
    draft: str | None = None


def research_network(effects: collections.Counter[str]) -> Network[Research]:
    @tool
    def classify(topic: str, ctx: ToolContext) -> str:
        """Record the topic."""
        effects[f"classify:{topic}"] += 1
        ctx.state.data.topic = topic
        return f"topic is {topic}"

    @tool
    async def note(fact: str, ctx: ToolContext) -> str:
        """Record a fact."""
        effects[f"note:{fact}"] += 1
        ctx.state.data.facts.append(fact)
        ctx.state.kv.set("notes", (ctx.state.kv.get("notes") or 0) + 1)
        return "noted"

    @tool
    def write(draft: str, ctx: ToolContext) -> dict[str, Any]:
        """Write the draft."""
        effects[f"write:{draft}"] += 1
        ctx.state.data.draft = draft
        return {"words": len(draft.split())}

    def respond(call: ModelCall) -> Any:
        last = call.last
        if last is not None and last.kind == "tool_result" and last.name == "write":
            return text("The draft is written.")
        if "Triage" in call.system:
            return tool_call("classify", {"topic": "postgres"}, id="t1")
        if "Researcher" in call.system:
            return tool_calls(("note", {"fact": "MVCC"}, "n1"), ("note", {"fact": "WAL"}, "n2"))
        return tool_call("write", {"draft": "Postgres uses MVCC and a WAL."}, id="w1")

    model = FunctionModel(respond)
    triage = create_agent(name="Triage", system="You are Triage.", model=model, tools=[classify])
    researcher = create_agent(
        name="Researcher", system="You are Researcher.", model=model, tools=[note]
    )
    writer = create_agent(
        name="Writer", system="You are Writer.", model=model, tools=[write], max_iter=2
    )

    def router(*, network: NetworkRun) -> Any:
        data: Research = network.state.data
        if data.topic is None:
            return triage
        if not data.facts:
            return researcher
        return writer if data.draft is None else None

    return create_network(
        name="Research team",
        agents=[triage, researcher, writer],
        router=router,
        default_state=State(Research()),
    )


async def test_durable_run_equals_the_plain_python_run_and_runs_each_tool_once() -> None:
    plain_effects: collections.Counter[str] = collections.Counter()
    plain = (await research_network(plain_effects).run("Explain Postgres")).to_json()

    effects: collections.Counter[str] = collections.Counter()
    network = research_network(effects)
    # the request-per-step path (checkpointing off, or a checkpoint that falls back):
    # the run is replayed once per step and its parallel calls are planned
    async with app_with(networks=[network], checkpointing=False) as (executor, _):
        run = await executor.run("network-research-team", {"input": "Explain Postgres"})
        assert run.output == plain
        assert run.output["state"]["data"] == {
            "topic": "postgres",
            "facts": ["MVCC", "WAL"],
            "draft": "Postgres uses MVCC and a WAL.",
        }
        # parallel calls work on snapshots: list appends merge, a value set by both
        # read-modify-writes is the later call's (documented: last call wins)
        assert run.output["state"]["kv"] == {"notes": 1}
        # every handler ran exactly once although the function was replayed many times
        assert set(effects.values()) == {1} and effects == plain_effects
        assert len(executor.requests_for(run)) > len(executor.executed(run))
        # each step was executed once, under a readable, unique id
        executed = executor.executed(run)
        assert executed == [
            "Triage#1/infer",
            "Triage#1/tool/classify",
            "Researcher#1/infer",
            "Researcher#1/tool/note",
            "Researcher#1/tool/note#2",
            "Writer#1/infer",
            "Writer#1/tool/write",
            "Writer#1/infer#2",
        ]
        # the two parallel tool calls were planned in one response
        assert any(
            [op for op, _ in r.ops] == ["StepPlanned", "StepPlanned"]
            for r in executor.requests_for(run)
        )
        assert run.memo_for("Writer#1/tool/write")["data"]["patch"] == [
            {"op": "set", "path": ["data", "draft"], "value": "Postgres uses MVCC and a WAL."}
        ]


async def test_a_crash_between_steps_resumes_without_repeating_side_effects() -> None:
    effects: collections.Counter[str] = collections.Counter()
    # a crash between requests: the request-per-step path (checkpointing off or fallen back)
    async with app_with(networks=[research_network(effects)], checkpointing=False) as (
        executor,
        _,
    ):
        dropped: list[int] = []

        def crash_after_first_tool(record: Any) -> bool:
            run = executor.runs[record.run_id]
            if not dropped and record.step == "step" and len(run.memos) == 2:
                dropped.append(record.index)
                return True
            return False

        executor.drop_requests(crash_after_first_tool)
        run = await executor.run("network-research-team", {"input": "q"})
        assert dropped, "the crash switch never fired"
        retried = executor.requests[dropped[0]]  # the request right after the dropped one
        assert retried.attempt == 1 and retried.step == "step"
        assert set(effects.values()) == {1}
        assert run.output["state"]["data"]["draft"] == "Postgres uses MVCC and a WAL."


async def test_invalid_event_data_fails_at_once_naming_the_field() -> None:
    async with app_with(networks=[research_network(collections.Counter())]) as (executor, _):
        run = await executor.run("network-research-team", {"inpt": "typo"}, check=False)
        assert run.status == "failed"
        assert run.error["name"] == "NonRetriableError"
        assert "invalid event data: data.input: Field required" in run.error["message"]
        assert len(executor.requests_for(run)) == 1
        run = await executor.run(
            "network-research-team", {"input": "q", "state": "nope"}, check=False
        )
        assert "data.state" in run.error["message"]
        run = await executor.run(
            "network-research-team", {"input": "q", "state": {"data": {"facts": 3}}}, check=False
        )
        assert "state.data is invalid: facts" in run.error["message"]


async def test_state_and_thread_id_from_the_event() -> None:
    effects: collections.Counter[str] = collections.Counter()
    async with app_with(networks=[research_network(effects)]) as (executor, _):
        state = {"data": {"topic": "given", "facts": ["known"]}, "kv": {"notes": 5}}
        run = await executor.run(
            "network-research-team",
            {"input": "q", "state": state, "thread_id": "th-9", "user_id": "u1"},
        )
        assert run.output["state"]["thread_id"] == "th-9"
        assert run.output["state"]["data"]["facts"] == ["known"]
        assert [r["agent_name"] for r in run.output["results"]] == ["Writer"]
        assert not any(k.startswith(("classify", "note")) for k in effects)


# -- inference as a step: retries and failures, in-process and offloaded -----------------


def _provider_network(provider_url: str, inference: Inference) -> Network[Any]:
    model = openai(
        "gpt-test", base_url=f"{provider_url}/v1", api_key="sk-test", inference=inference
    )
    agent = create_agent(name="A", model=model)
    return create_network(name="Solo", agents=[agent], router=route_in_order(agent))


@pytest.mark.parametrize("inference", ["in_process", "offload"])
async def test_provider_500_then_success_retries_the_step(
    inference: Inference, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(Fault(status=500, message="overloaded"), text("recovered"))
    async with app_with(networks=[_provider_network(provider_url, inference)]) as (executor, _):
        run = await executor.run("network-solo", {"input": "hi"})
        assert run.output["output"] == "recovered"
        assert len(fake_provider.requests) == 2
        attempts = [r.attempt for r in executor.requests_for(run)]
        assert 1 in attempts  # the failed call was retried with attempt + 1
        if inference == "offload":
            # the executor (standing in for the Inngest server) made the provider call
            assert fake_provider.requests[0].headers["authorization"] == "Bearer sk-test"
            assert any(op == "AIGateway" for r in executor.requests_for(run) for op, _ in r.ops)


async def test_provider_429_honours_retry_after(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(
        Fault(status=429, message="slow down", headers={"retry-after": "3"}), text("ok")
    )
    async with app_with(networks=[_provider_network(provider_url, "in_process")]) as (executor, _):
        run = await executor.run("network-solo", {"input": "hi"})
        assert run.output["output"] == "ok"
        assert executor.retry_after_seen, "the app did not ask Inngest to wait"


@pytest.mark.parametrize("inference", ["in_process", "offload"])
async def test_provider_400_fails_the_run_with_a_clear_message(
    inference: Inference, fake_provider: FakeProvider, provider_url: str
) -> None:
    fake_provider.reply(*[Fault(status=400, message="max_tokens is too large")] * 2)
    network = _provider_network(provider_url, inference)
    functions = [lambda client: network_function(network, client=client, retries=1)]
    async with app_with(functions=functions) as (executor, _):
        run = await executor.run("network-solo", {"input": "hi"}, check=False)
        assert run.status == "failed"
        message = run.error["message"]
        if inference == "in_process":
            assert "HTTP 400" in message and "max_tokens is too large" in message
            assert len(fake_provider.requests) == 1  # not retried
        else:
            assert "offloaded to Inngest" in message and "status code: 400" in message
        assert "sk-test" not in str(run.error)


# -- human in the loop ----------------------------------------------------------------


def _support_network(model: ScriptedModel) -> Network[Any]:
    ask_developer = create_human_tool(
        name="ask_developer",
        description="Ask a developer",
        event="app/support.ticket.developer-response",
        match="data.ticketId",
        timeout="4h",
    )
    agent = create_agent(name="Support", model=model, tools=[ask_developer], max_iter=2)
    return create_network(name="Support", agents=[agent], router=route_in_order(agent))


async def test_human_in_the_loop_waits_for_the_matching_reply() -> None:
    model = ScriptedModel(
        [
            tool_call("ask_developer", {"question": "Is the outage known?"}),
            lambda c: text(f"Dev says: {content(c.last)}"),
        ]
    )
    async with app_with(networks=[_support_network(model)]) as (executor, _):
        run = executor.start("network-support", {"input": "site down", "ticketId": "T-1"})
        pause = await executor.wait_for_pause(run)
        assert pause.name == "Support#1/tool/ask_developer/wait"
        assert pause.if_exp == "async.data.ticketId == event.data.ticketId"
        await executor.send(
            {
                "name": "app/support.ticket.developer-response",
                "data": {"ticketId": "T-2", "answer": "no"},
            }
        )
        assert executor.pauses, "a reply for another ticket resumed the run"
        await executor.send(
            {
                "name": "app/support.ticket.developer-response",
                "data": {"ticketId": "T-1", "answer": "yes, fixing"},
            }
        )
        await run.wait()
        assert run.status == "completed"
        assert "yes, fixing" in run.output["output"]
        assert len(model.calls) == 2


async def test_human_in_the_loop_timeout_gives_the_model_a_tool_error() -> None:
    model = ScriptedModel(
        [tool_call("ask_developer", {"question": "?"}), lambda c: text(str(content(c.last)))]
    )
    async with app_with(networks=[_support_network(model)]) as (executor, _):
        run = executor.start("network-support", {"input": "help", "ticketId": "T-1"})
        await executor.wait_for_pause(run)
        assert executor.expire_waits(run) == 1
        await run.wait()
        last = tool_result(model.calls[1].messages[-1])
        assert (
            last.is_error
            and "No reply (app/support.ticket.developer-response) arrived within 4:00:00"
            in str(last.content)
        )


# -- Inngest functions as tools, step-orchestrating tools -----------------------------------


class Query(pydantic.BaseModel):
    topic: str = pydantic.Field(description="What to research")


async def test_an_inngest_function_is_a_tool_through_invoke() -> None:
    lookups: list[str] = []

    def make_functions(client: inngest.Inngest) -> Any:
        @create_function(client=client, fn_id="research", input=Query)
        async def research(ctx: inngest.Context, query: Query) -> dict[str, Any]:
            """Research a topic on the web."""

            async def lookup() -> str:
                lookups.append(query.topic)
                return f"facts about {query.topic}"

            found = await ctx.step.run("lookup", lookup)
            return {"summary": found}

        return research

    holder: dict[str, Any] = {}

    def research_fn(client: inngest.Inngest) -> Any:
        holder["fn"] = make_functions(client)
        return holder["fn"]

    async with LocalExecutor() as executor:
        client = executor.client("tools-app")
        research = research_fn(client)
        research_tool = function_tool(research)
        assert research_tool.name == "research" and research_tool.uses_steps
        assert research_tool.description == "Research a topic on the web."
        assert research_tool.json_schema["properties"]["topic"]["description"] == "What to research"
        model = ScriptedModel(
            [
                tool_call("research", {"topic": "pgvector"}),
                lambda c: text(tool_result(c.last).content_text()),
            ]
        )
        agent = create_agent(name="Researcher", model=model, tools=[research_tool], max_iter=2)
        network: Network[Any] = create_network(
            name="Deep", agents=[agent], router=route_in_order(agent)
        )
        await executor.attach(
            create_server(client=client, networks=[network], functions=[research])
        )
        run = await executor.run("network-deep", {"input": "research pgvector"})
        assert run.output["output"] == '{"summary":"facts about pgvector"}'
        assert lookups == ["pgvector"]
        assert any(
            op == "InvokeFunction" and name == "Researcher#1/tool/research/invoke"
            for r in executor.requests_for(run)
            for op, name in r.ops
        )
        bad = await executor.run("research", {"topic": 5}, check=False)
        assert "invalid event data for 'research': data.topic" in bad.error["message"]


async def test_tools_that_use_steps_get_their_own_step_ids() -> None:
    effects: list[str] = []

    @tool(uses_steps=True)
    async def chores(ctx: ToolContext) -> str:
        """Do chores with steps."""

        async def fetch() -> str:
            effects.append("fetch")
            return "data"

        got = await ctx.step.run("fetch", fetch)
        await ctx.step.sleep("nap", 50)
        ids = await ctx.step.send_event(
            "notify", [{"name": "app/chores.done", "data": {"got": got}}]
        )
        return f"{got} {len(ids)}"

    @tool
    def misuse(ctx: ToolContext) -> str:
        """Wrongly use steps inside a step."""
        return str(ctx.step.prefix) + "x"

    model = ScriptedModel([tool_call("chores")])
    agent = create_agent(name="A", model=model, tools=[chores])
    network: Network[Any] = create_network(
        name="Chores", agents=[agent], router=route_in_order(agent)
    )
    async with app_with(networks=[network]) as (executor, _):
        run = await executor.run("network-chores", {"input": "go"})
        assert run.output["results"][0]["tool_calls"][0]["content"] == "data 1"
        assert effects == ["fetch"]
        ops = [name for r in executor.requests_for(run) for _, name in r.ops]
        names = executor.executed(run) + ops  # checkpointed steps, then the sleep's op
        assert {"A#1/tool/chores/fetch", "A#1/tool/chores/nap", "A#1/tool/chores/notify"} <= set(
            names
        )
        assert [e["name"] for e in executor.events] == ["app/chores.done"]


async def test_a_wrapped_tool_that_starts_a_step_fails_clearly() -> None:
    @tool
    async def sneaky(ctx: ToolContext) -> Any:
        """Try to nest a step."""
        return await ctx.step.run("inner", lambda: 1)

    agent = create_agent(name="A", model=ScriptedModel([tool_call("sneaky")]), tools=[sneaky])
    network: Network[Any] = create_network(
        name="Nest", agents=[agent], router=route_in_order(agent)
    )
    async with app_with(networks=[network]) as (executor, _):
        run = await executor.run("network-nest", {"input": "go"}, check=False)
        assert run.status == "failed"
        assert "declare it with uses_steps=True" in run.error["message"]


async def test_llm_routing_decisions_are_memoized() -> None:
    router_model = ScriptedModel([tool_call("select_agent", {"name": "Worker"}), tool_call("done")])
    worker_model = ScriptedModel([text("work done")])
    worker = create_agent(name="Worker", description="Does work", model=worker_model)
    network: Network[Any] = create_network(
        name="Routed", agents=[worker], default_model=router_model
    )
    async with app_with(networks=[network]) as (executor, _):
        run = await executor.run("network-routed", {"input": "do it"})
        assert run.output["output"] == "work done"
        # replays re-ran the network loop many times, but the router model was asked twice
        assert len(router_model.calls) == 2 and len(worker_model.calls) == 1
        assert executor.executed(run) == [
            "Default routing agent#1/infer",
            "Worker#1/infer",
            "Default routing agent#2/infer",
        ]


# -- functions, flow control and production mode -------------------------------------------


async def test_registration_carries_every_flow_control_option() -> None:
    network = research_network(collections.Counter())

    def build(client: inngest.Inngest) -> Any:
        return network_function(
            network,
            client=client,
            concurrency=[{"limit": 10, "key": "event.data.user_id"}, 100],
            throttle={"limit": 5, "period": "1m", "key": "event.data.user_id", "burst": 2},
            rate_limit={"limit": 100, "period": "1h"},
            retries=2,
            debounce={"period": "10s", "key": "event.data.user_id", "timeout": "1m"},
            priority="event.data.plan == 'pro' ? 120 : 0",
            cancel=[
                {
                    "event": "app/run.cancelled",
                    "if": "async.data.run == event.data.run",
                    "timeout": "1h",
                }
            ],
            idempotency="event.data.request_id",
            timeouts={"start": "30s", "finish": "10m"},
            singleton={"key": "event.data.user_id", "mode": "skip"},
        )

    async with app_with(functions=[build], app_id="flow") as (executor, _):
        config = executor.functions["flow-network-research-team"]
        assert config["triggers"] == [{"event": "flow/network-research-team"}]
        assert config["name"] == "Research team"
        assert config["concurrency"] == [{"key": "event.data.user_id", "limit": 10}, {"limit": 100}]
        assert config["throttle"] == {
            "key": "event.data.user_id",
            "limit": 5,
            "period": "1m",
            "burst": 2,
        }
        assert config["rateLimit"] == {"limit": 100, "period": "1h"}
        assert config["steps"]["step"]["retries"] == {"attempts": 2}
        assert config["debounce"] == {"key": "event.data.user_id", "period": "10s", "timeout": "1m"}
        assert config["priority"] == {"run": "event.data.plan == 'pro' ? 120 : 0"}
        assert config["cancel"] == [
            {
                "event": "app/run.cancelled",
                "if": "async.data.run == event.data.run",
                "timeout": "1h",
            }
        ]
        assert config["idempotency"] == "event.data.request_id"
        assert config["timeouts"] == {"start": "30s", "finish": "10m"}
        assert config["singleton"] == {"key": "event.data.user_id", "mode": "skip"}


SIGNING_KEY = "signkey-test-" + "ab" * 32
FALLBACK_KEY = "signkey-test-" + "cd" * 32


async def test_production_mode_rejects_unsigned_requests_and_runs_signed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INNGEST_SIGNING_KEY_FALLBACK", FALLBACK_KEY)
    model = ScriptedModel([text("signed and sealed"), text("fallback works")])
    agent = create_agent(name="A", model=model)
    network: Network[Any] = create_network(
        name="Prod", agents=[agent], router=route_in_order(agent)
    )
    async with LocalExecutor(signing_key=SIGNING_KEY) as executor:
        client = executor.client("prod", signing_key=SIGNING_KEY)
        assert client.is_production
        url = await executor.attach(create_server(client=client, networks=[network]))
        assert executor.functions, "in-band sync returned no functions"
        run = await executor.run("network-prod", {"input": "hi"})
        assert run.output["output"] == "signed and sealed"
        async with httpx.AsyncClient() as http:
            unsigned = await http.post(f"{url}?fnId=prod-network-prod&stepId=step", json={})
            assert unsigned.status_code == 401
            forged = await http.post(
                f"{url}?fnId=prod-network-prod&stepId=step",
                json={},
                headers={"x-inngest-signature": "t=1&s=deadbeef"},
            )
            assert forged.status_code == 401
        executor.signing_key = FALLBACK_KEY
        run = await executor.run("network-prod", {"input": "hi"})
        assert run.output["output"] == "fallback works"


async def test_replaying_a_finished_run_changes_nothing() -> None:
    """Send the last request of a finished run again and again: the same output
    comes back, and no tool or model runs again."""
    effects: collections.Counter[str] = collections.Counter()
    async with app_with(networks=[research_network(effects)]) as (executor, _):
        run = await executor.run("network-research-team", {"input": "q"})
        before = dict(effects)
        for _ in range(3):
            response = await executor.replay(run)
            assert response.status_code == 200
            assert response.json() == run.output
        assert dict(effects) == before


async def test_two_runners_in_one_function_are_told_apart_by_a_prefix() -> None:
    from agentkit_inngest import InngestRunner

    model = ScriptedModel([text("first"), text("second")])
    agent = create_agent(name="A", model=model)

    def build(client: inngest.Inngest) -> Any:
        @client.create_function(fn_id="twice", trigger=inngest.TriggerEvent(event="app/twice"))
        async def twice(ctx: inngest.Context) -> list[str]:
            one = await agent.run("x", runner=InngestRunner(ctx, prefix="one"))
            two = await agent.run("y", runner=InngestRunner(ctx, prefix="two"))
            return [one.text, two.text]

        return twice

    async with app_with(functions=[build]) as (executor, _):
        run = await executor.run("twice", {})
        assert run.output == ["first", "second"]
        assert executor.executed(run) == ["one/A#1/infer", "two/A#1/infer"]


async def test_event_triggered_functions_and_the_event_api() -> None:
    seen: list[str] = []

    def build(client: inngest.Inngest) -> Any:
        @client.create_function(
            fn_id="on-ticket",
            trigger=inngest.TriggerEvent(
                event="app/ticket.created", expression="event.data.priority == 'high'"
            ),
        )
        async def on_ticket(ctx: inngest.Context) -> str:
            seen.append(str(ctx.event.data["id"]))
            return "handled"

        return on_ticket

    async with app_with(functions=[build]) as (executor, client):
        await client.send(
            [
                inngest.Event(name="app/ticket.created", data={"id": "low-1", "priority": "low"}),
                inngest.Event(name="app/ticket.created", data={"id": "high-1", "priority": "high"}),
            ]
        )
        runs = list(executor.runs.values())
        assert len(runs) == 1
        await runs[0].wait()
        assert seen == ["high-1"] and runs[0].output == "handled"
        with pytest.raises(KeyError, match="no single registered function"):
            executor.start("missing")
