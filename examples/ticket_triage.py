"""Ticket triage: a typed answer, a budget, a guardrail and a model fallback.

A "Triage" agent reads a support ticket and answers with a typed :class:`Triage`
record (category, priority, summary, whether a human must look at it), through a
final-answer tool. A wrong answer goes back to the model with the validation
errors; the embedded offline model gets the priority wrong once on purpose (7, out
of range), so you can watch the retry. The network's input guardrail masks card
numbers before the ticket is stored or any model sees it, and the run's budget caps
model requests, tokens, cost and time.

Run it::

    python examples/ticket_triage.py "My card 4111 1111 1111 1111 was charged twice!"

With ``ANTHROPIC_API_KEY`` and/or ``OPENAI_API_KEY`` set it uses real models (both
keys: Anthropic, falling back to OpenAI on a 429, a 5xx or a timeout); otherwise
the embedded offline model answers, so the example runs anywhere.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Literal

import pydantic

from agentkit_inngest import (
    Budget,
    GuardrailContext,
    Model,
    Verdict,
    create_agent,
    create_network,
    input_guardrail,
    route_in_order,
)
from agentkit_inngest.models import Price, anthropic, fallback, from_environment, openai
from agentkit_inngest.testing import FunctionModel, ModelCall, Reply, tool_call

TICKET = "My card 4111 1111 1111 1111 was charged twice for the March invoice. Please refund!"


class Triage(pydantic.BaseModel):
    """What the desk needs to route a ticket."""

    category: Literal["billing", "outage", "account", "other"]
    priority: int = pydantic.Field(ge=1, le=4, description="1 is the most urgent, 4 the least")
    summary: str = pydantic.Field(max_length=200, description="One sentence")
    needs_human: bool = pydantic.Field(description="Whether a person must act on it")


_CARD = re.compile(r"\b\d(?:[ -]?\d){12,15}\b")


@input_guardrail(pure=True)  # no I/O: it runs inline, on every replay, without a step
def mask_card_numbers(ctx: GuardrailContext) -> Verdict | None:
    """Replace card numbers before any model (or the thread) sees them."""
    masked = _CARD.sub("[card number]", ctx.text)
    return Verdict.rewrite(masked) if masked != ctx.text else None


# -- the offline model ---------------------------------------------------------------------


def _offline(call: ModelCall) -> Reply:
    """Triage from keywords; the first answer's priority is out of range on purpose."""
    told = call.last
    retried = told is not None and told.kind == "tool_result" and told.is_error
    question = next(
        (m.content for m in reversed(call.messages) if m.kind == "text" and m.role == "user"), ""
    )
    billing = any(word in question.lower() for word in ("charged", "invoice", "refund"))
    return tool_call(
        "final_answer",
        {
            "category": "billing" if billing else "other",
            "priority": 2 if retried else 7,
            "summary": question[:200],
            "needs_human": billing,
        },
    )


def pick_model() -> tuple[Model, str]:
    """Both keys: Anthropic with a fallback to OpenAI; one key: that provider; none:
    the embedded offline model."""
    if os.environ.get("ANTHROPIC_API_KEY") and os.environ.get("OPENAI_API_KEY"):
        chain = fallback(
            anthropic("claude-3-5-haiku-latest", default_parameters={"max_tokens": 800}),
            openai("gpt-4o-mini"),
        )
        return chain, "Anthropic claude-3-5-haiku-latest, falling back to OpenAI gpt-4o-mini"
    return from_environment(FunctionModel(_offline, model="offline-triage"))


model, model_description = pick_model()

triage_agent = create_agent(
    name="Triage",
    description="Classifies support tickets",
    system=(
        "You triage support tickets. Read the ticket and give your final answer with the "
        "final_answer tool: its category, a priority from 1 (most urgent) to 4, a one-sentence "
        "summary, and whether a person must act on it."
    ),
    model=model,
    output_type=Triage,  # the answer is a Triage, validated; wrong ones go back to the model
    output_retries=2,
)

network = create_network(
    name="Ticket triage",
    agents=[triage_agent],
    router=route_in_order(triage_agent),
    output_type=Triage,  # run.answer (and the function's "answer") is the Triage
    # on the network, it runs before the ticket is stored or sent to any agent
    guardrails=[mask_card_numbers],
    budget=Budget(requests=6, total_tokens=20_000, cost=0.05, wall_time="2m"),
    prices={"offline-triage": Price(input=0.0, output=0.0)},  # the offline model is free
)


def main(argv: list[str]) -> int:
    ticket = " ".join(argv) or TICKET
    print(f"Model: {model_description}\n")
    print(f"Ticket: {ticket}\n")
    run = network.run_sync(ticket)
    answer: Triage = run.answer
    result = run.results[-1]
    tries = sum(1 for t in result.tool_calls if t.name == "final_answer")
    print(f"Triage ({tries} answer(s), {len(result.raw)} model request(s)):")
    print(json.dumps(answer.model_dump(), indent=2))
    cost = run.to_json()["cost"]
    shown = "unknown" if cost["cost_usd"] is None else f"~${cost['cost_usd']:.4f}"
    print(f"\nTokens: {cost['total_tokens']} · cost {shown} (budget: 6 requests, $0.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
