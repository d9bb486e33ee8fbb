"""What a replay does not redo: work that only an inference needs is skipped when
the inference's memo is read back (found by profiling ``python -m bench --profile``)."""

from __future__ import annotations

import collections
from typing import Any

from agentkit_inngest import InlineRunner, create_agent, create_network, create_server, tool
from agentkit_inngest.models import ModelRequest
from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call


class CountingModel(FunctionModel):
    """Counts how often a request body is built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies = 0

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        self.bodies += 1
        return super().build_body(request)


def turns_network(turns: int, effects: collections.Counter[int]) -> tuple[Any, CountingModel]:
    @tool
    def bump(turn: int) -> str:
        """Count a turn."""
        effects[turn] += 1
        return f"turn {turn}"

    def respond(call: ModelCall) -> Any:
        done = sum(1 for m in call.messages if m.kind == "tool_result")
        if done < turns:
            return tool_call("bump", {"turn": done + 1}, id=f"c{done + 1}")
        return text("done")

    model = CountingModel(respond)
    worker = create_agent(name="Worker", model=model, tools=[bump])

    def router(*, call_count: int) -> Any:
        return worker if call_count < turns else None

    return create_network(name="Turns", agents=[worker], router=router), model


async def test_a_replay_does_not_rebuild_the_request_bodies_of_memoized_inferences() -> None:
    turns = 6
    effects: collections.Counter[int] = collections.Counter()
    network, model = turns_network(turns, effects)
    async with LocalExecutor() as executor:
        client = executor.client("replay")
        await executor.attach(create_server(client=client, networks=[network]))
        run = await executor.run("network-turns", {"input": "go"})
    # every request replays all earlier inferences, yet each body is built once
    assert len(executor.requests_for(run)) > 2 * turns
    assert model.bodies == turns == len(model.calls)
    assert effects == dict.fromkeys(range(1, turns + 1), 1)
    # the bodies the model saw are the same as in a plain-Python run
    plain_effects: collections.Counter[int] = collections.Counter()
    plain_network, plain_model = turns_network(turns, plain_effects)
    await plain_network.run("go", runner=InlineRunner())
    assert [c.body for c in plain_model.calls] == [c.body for c in model.calls]
    assert plain_model.bodies == turns
