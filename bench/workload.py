"""The workload every variant serves, and the scripted model that drives it.

A run is a network of one agent, ``Worker``, called ``turns`` times by a code router.
Each call (a *turn*) is one inference and the tool calls it asks for: one call of
``bump`` per turn, except the first turn, which asks for ``first`` calls at once
(parallel tool calls). ``bump`` appends one line ``<tag> <turn> <slot>`` to the
effects file and sleeps ``ms`` milliseconds; counting the lines proves (or
disproves) that every tool call ran exactly once.

The model is an OpenAI-compatible server (:func:`provider_app`) that reads the plan
from the user's message and the turn from the conversation, so it answers the same
thing to every framework and needs no per-run state.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PREFIX = "BENCH "
FUNCTION = "network-bench"
TOOL = "bump"
TOOL_DESCRIPTION = "Count one tool call of the benchmark."


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one run does.

    Attributes:
        tag: names the run in the effects file.
        turns: agent calls (one inference plus its tool calls each).
        first: tool calls the first turn asks for at once.
        ms: how long each tool call sleeps.
    """

    tag: str
    turns: int
    first: int = 1
    ms: int = 0

    def to_input(self) -> str:
        return PREFIX + json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def parse(cls, text: str) -> Plan:
        if not text.startswith(PREFIX):
            raise ValueError(f"not a benchmark input: {text[:60]!r}")
        return cls(**json.loads(text[len(PREFIX) :]))

    def calls_in(self, turn: int) -> int:
        return self.first if turn == 1 else 1

    @property
    def tool_calls(self) -> int:
        return sum(self.calls_in(turn) for turn in range(1, self.turns + 1))

    def expected_effects(self) -> set[tuple[str, int, int]]:
        return {
            (self.tag, turn, slot)
            for turn in range(1, self.turns + 1)
            for slot in range(1, self.calls_in(turn) + 1)
        }


def record_effect(path: str, tag: str, turn: int, slot: int) -> None:
    """The tool's side effect: one appended line (``O_APPEND`` keeps lines whole)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{tag} {turn} {slot}\n".encode())
    finally:
        os.close(fd)


def read_effects(path: str) -> collections.Counter[tuple[str, int, int]]:
    counts: collections.Counter[tuple[str, int, int]] = collections.Counter()
    if not os.path.exists(path):
        return counts
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            tag, turn, slot = line.split()
            counts[(tag, int(turn), int(slot))] += 1
    return counts


# -- the scripted OpenAI-compatible model ------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completion for a request: the tool calls of the current turn."""
    messages = body.get("messages") or []
    plan = next(
        (
            Plan.parse(_text_of(m.get("content")))
            for m in messages
            if m.get("role") == "user" and _text_of(m.get("content")).startswith(PREFIX)
        ),
        None,
    )
    if plan is None:
        raise ValueError("no benchmark plan in the conversation")
    turn = sum(1 for m in messages if m.get("role") == "assistant") + 1
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    finish = "tool_calls"
    if turn <= plan.turns:
        message["tool_calls"] = [
            {
                "id": f"call_{plan.tag}_{turn}_{slot}",
                "type": "function",
                "function": {
                    "name": TOOL,
                    "arguments": json.dumps(
                        {"tag": plan.tag, "turn": turn, "slot": slot, "ms": plan.ms}
                    ),
                },
            }
            for slot in range(1, plan.calls_in(turn) + 1)
        ]
    else:
        message["content"] = "done"
        finish = "stop"
    return {
        "id": f"chatcmpl-{plan.tag}-{turn}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "bench"),
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None, "message": message}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def provider_app() -> Starlette:
    """``POST /v1/chat/completions`` answering with :func:`answer`; counts its calls."""
    calls = collections.Counter[str]()

    async def chat(request: Request) -> JSONResponse:
        try:
            body = await request.json()
            result = answer(body)
        except ValueError as err:
            return JSONResponse({"error": {"message": str(err), "type": "bench"}}, 400)
        calls["chat"] += 1
        return JSONResponse(result)

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    app.state.calls = calls
    return app
