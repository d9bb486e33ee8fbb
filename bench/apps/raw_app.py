"""Variant (b): the floor, a hand-written ``inngest`` Python function.

Per turn: an inference step (the same OpenAI SDK call as agentkit-inngest's model
makes) and one step per tool call (parallel steps when a turn asks for several).
No framework: the conversation is a list of dicts rebuilt on every replay.

With the option ``{"offload": true}`` the inference is ``step.ai.infer`` (the SDK's
OpenAI adapter; the server, here the executor, calls the model): the floor of
agentkit-inngest's ``inference="offload"``.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import openai
from inngest.experimental.ai import openai as openai_adapter

from ..workload import FUNCTION, TOOL, TOOL_DESCRIPTION, Plan, record_effect

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": TOOL,
            "description": TOOL_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {
                    "tag": {"type": "string"},
                    "turn": {"type": "integer"},
                    "slot": {"type": "integer"},
                    "ms": {"type": "integer"},
                },
                "required": ["tag", "turn", "slot", "ms"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }
]


def build(
    *, client: inngest.Inngest, provider_url: str, effects: str, options: dict[str, Any]
) -> fastapi.FastAPI:
    llm = openai.AsyncOpenAI(api_key="bench", base_url=f"{provider_url}/v1", max_retries=0)
    offload = bool(options.get("offload"))
    adapter = openai_adapter.Adapter(
        auth_key="bench", base_url=f"{provider_url}/v1", model="gpt-bench"
    )

    async def infer(messages: list[dict[str, Any]]) -> dict[str, Any]:
        response = await llm.chat.completions.with_raw_response.create(
            model="gpt-bench", messages=messages, extra_body={"tools": TOOLS}
        )
        answer: dict[str, Any] = response.http_response.json()
        return answer

    async def bump(arguments: dict[str, Any]) -> dict[str, Any]:
        record_effect(effects, arguments["tag"], arguments["turn"], arguments["slot"])
        if arguments["ms"]:
            await asyncio.sleep(arguments["ms"] / 1000)
        return {"ok": True, "turn": arguments["turn"], "slot": arguments["slot"]}

    @client.create_function(
        fn_id=FUNCTION, trigger=inngest.TriggerEvent(event=f"{client.app_id}/{FUNCTION}")
    )
    async def handler(ctx: inngest.Context) -> dict[str, Any]:
        text = ctx.event.data["input"]
        assert isinstance(text, str)
        plan = Plan.parse(text)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are Worker."},
            {"role": "user", "content": text},
        ]
        for turn in range(1, plan.turns + 1):
            if offload:
                answer: dict[str, Any] = await ctx.step.ai.infer(
                    f"turn-{turn}/infer",
                    adapter=adapter,
                    body={"messages": list(messages), "tools": TOOLS},
                )
            else:
                answer = await ctx.step.run(
                    f"turn-{turn}/infer", functools.partial(infer, list(messages))
                )
            message = answer["choices"][0]["message"]
            calls = message.get("tool_calls") or []
            runs = [
                functools.partial(
                    ctx.step.run,
                    f"turn-{turn}/tool/{call['id']}",
                    functools.partial(bump, json.loads(call["function"]["arguments"])),
                )
                for call in calls
            ]
            if len(runs) == 1:
                results = [await runs[0]()]
            else:
                results = list(await ctx.group.parallel(tuple(runs)))
            messages.append(message)
            messages += [
                {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}
                for call, result in zip(calls, results, strict=True)
            ]
        return {"turns": plan.turns}

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [handler])
    return app
