"""What a run has done so far, folded from its typed stream events.

:class:`RunProgress` is a publisher (give it to ``InlineRunner(publisher=...)``): each
:class:`~agentkit_inngest.streaming.StreamEvent` updates its agent calls and tool
calls, with the time each started and ended. The terminal views (``run`` and
``chat``) draw from it; it draws nothing itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeAlias

from .._steps import EventWait
from ..streaming import StreamEvent

__all__ = ["CallView", "RunProgress", "ToolView"]

CallStatus: TypeAlias = Literal["running", "waiting", "done", "failed"]
ToolStatus: TypeAlias = Literal["running", "waiting", "ok", "error", "failed"]


@dataclasses.dataclass
class ToolView:
    """One tool call: its arguments, then its result."""

    id: str
    call: str
    name: str
    arguments: Any
    started: float
    ended: float | None = None
    status: ToolStatus = "running"
    result: str = ""


@dataclasses.dataclass
class CallView:
    """One call of an agent (``Writer#1``): its status, text, tokens and tool calls."""

    key: str
    agent: str
    router: bool
    started: float
    ended: float | None = None
    status: CallStatus = "running"
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    tools: list[ToolView] = dataclasses.field(default_factory=list)
    # the text of each inference step, from the step's latest attempt only
    _texts: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the agent has written so far in this call."""
        parts = [text.strip() for _, text in self._texts.values() if text.strip()]
        return "\n\n".join(parts)

    def add_text(self, step: str, attempt: int, delta: str) -> None:
        """Add a piece of an inference's text; a newer attempt starts the step again."""
        seen_attempt, text = self._texts.get(step, (attempt, ""))
        if attempt < seen_attempt:
            return  # a late piece of an abandoned attempt
        self._texts[step] = (attempt, text + delta if attempt == seen_attempt else delta)

    @property
    def active(self) -> bool:
        """Whether the call is still running or waiting."""
        return self.status in ("running", "waiting")


class RunProgress:
    """Agent calls and tool calls of one run, as its stream events report them.

    Args:
        agents: the network's agent names; other callers are routing agents.
        on_event: called after each event is applied.
        clock: seconds, for elapsed times (default :func:`time.monotonic`).
    """

    def __init__(
        self,
        *,
        agents: Iterable[str] = (),
        on_event: Callable[[StreamEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agents = set(agents)
        self.on_event = on_event
        self.clock = clock
        self.started = clock()
        self.ended: float | None = None
        self.status: Literal["running", "completed", "failed"] = "running"
        self.calls: dict[str, CallView] = {}
        self.output: str | None = None
        self.error: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.unpriced: list[str] = []
        """Models whose answers had no price (their cost is not in ``cost_usd``)."""
        self.answer: Any = None
        self.notes: list[str] = []

    # -- the publisher ---------------------------------------------------------------------

    async def publish(self, event: StreamEvent) -> None:
        """Apply ``event`` (this object is a :class:`~agentkit_inngest.streaming.Publisher`)."""
        self.apply(event)

    def apply(self, event: StreamEvent) -> None:
        """Fold one event into the progress."""
        data = event.data
        kind = event.type
        if kind == "agent.started":
            self._call(str(data.get("call")), event.agent)
        elif kind == "text.delta":
            call = self._call(str(data.get("call")), event.agent)
            call.add_text(str(data.get("step")), event.attempt, str(data.get("delta", "")))
        elif kind == "tool.call":
            self._tool(event).arguments = data.get("arguments")
        elif kind == "tool.result":
            tool = self._tool(event)
            tool.status = "error" if data.get("is_error") else "ok"
            tool.result = _text(data.get("content"))
            tool.ended = self.clock()
        elif kind == "usage":
            self._usage(self._call(str(data.get("call")), event.agent), data)
        elif kind == "agent.finished":
            self._finished(self._call(str(data.get("call")), event.agent), data)
        elif kind == "run.completed":
            self.status = "completed"
            self.output = str(data.get("output") or "")
            self.answer = data.get("answer")
            self._end("done")
        elif kind == "run.failed":
            self.status = "failed"
            self.error = str(data.get("error") or "")
            self._end("failed")
        if self.on_event is not None:
            self.on_event(event)

    def _usage(self, call: CallView, data: dict[str, Any]) -> None:
        """Count a ``usage`` event's tokens and cost, for ``call`` and for the run."""
        call.input_tokens += int(data.get("input_tokens") or 0)
        call.output_tokens += int(data.get("output_tokens") or 0)
        self.input_tokens += int(data.get("input_tokens") or 0)
        self.output_tokens += int(data.get("output_tokens") or 0)
        self._cost(call, data)

    def _finished(self, call: CallView, data: dict[str, Any]) -> None:
        """End ``call``; its output is its text when no text was streamed."""
        call.status = "done"
        call.ended = self.clock()
        if not call.text and data.get("output"):
            call.add_text("output", 0, str(data["output"]))

    def _cost(self, call: CallView, data: dict[str, Any]) -> None:
        cost = data.get("cost_usd")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0:
            call.cost_usd += float(cost)
            self.cost_usd += float(cost)
        else:
            model = str(data.get("model") or "a model")
            if model not in self.unpriced:
                self.unpriced.append(model)

    @property
    def cost_text(self) -> str:
        """The estimated cost so far, in words (``"~$0.0123"``, or what has no price)."""
        if self.unpriced:
            priced = f"~${self.cost_usd:,.4f} + " if self.cost_usd else ""
            return f"cost {priced}unknown (no price for {', '.join(self.unpriced)})"
        return f"cost ~${self.cost_usd:,.4f} (estimated)"

    # -- what the runner's callbacks add ---------------------------------------------------

    def waiting(self, wait: EventWait) -> ToolView | None:
        """A step waits for an event: mark the tool call it belongs to as waiting."""
        self.notes.append(_wait_text(wait))
        for call in self.calls.values():
            for tool in call.tools:
                if tool.status == "running" and wait.step_id.startswith(
                    f"{call.key}/tool/{tool.name}"
                ):
                    tool.status = "waiting"
                    call.status = "waiting"
                    return tool
        return None

    def answered(self, wait: EventWait, reply: dict[str, Any] | None) -> None:
        """The wait got ``reply`` (``None``: it timed out)."""
        self.notes.append(
            f"{wait.step_id}: no reply (timed out)"
            if reply is None
            else f"{wait.step_id}: reply {_text(reply.get('data'))}"
        )
        for call in self.calls.values():
            for tool in call.tools:
                if tool.status == "waiting" and wait.step_id.startswith(
                    f"{call.key}/tool/{tool.name}"
                ):
                    tool.status = "running"
                    call.status = "running"

    def note(self, text: str) -> None:
        """Record something the stream does not carry (an event a tool sent)."""
        self.notes.append(text)

    # -- reading -----------------------------------------------------------------------------

    def elapsed(self, started: float, ended: float | None = None) -> float:
        """Seconds from ``started`` to ``ended`` (or to now)."""
        return (ended if ended is not None else self.clock()) - started

    @property
    def total_tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens

    @property
    def final_call(self) -> CallView | None:
        """The call whose text is the run's output (shown once, as the answer)."""
        if not self.output:
            return None
        wanted = " ".join(self.output.split())
        for call in reversed(self.calls.values()):
            if not call.router and " ".join(call.text.split()) == wanted:
                return call
        return None

    # -- helpers -----------------------------------------------------------------------------

    def _call(self, key: str, agent: str | None) -> CallView:
        found = self.calls.get(key)
        if found is None:
            name = agent or key.rsplit("#", 1)[0]
            found = CallView(
                key=key, agent=name, router=name not in self.agents, started=self.clock()
            )
            self.calls[key] = found
        return found

    def _tool(self, event: StreamEvent) -> ToolView:
        data = event.data
        call = self._call(str(data.get("call")), event.agent)
        tool_id = str(data.get("id"))
        for tool in call.tools:
            if tool.id == tool_id:
                return tool
        tool = ToolView(
            id=tool_id,
            call=call.key,
            name=str(data.get("name")),
            arguments=data.get("arguments"),
            started=self.clock(),
        )
        call.tools.append(tool)
        return tool

    def _end(self, outcome: CallStatus) -> None:
        now = self.clock()
        self.ended = now
        for call in self.calls.values():
            if call.active:
                call.status = outcome
                call.ended = now
            for tool in call.tools:
                if tool.status in ("running", "waiting"):
                    # a run that completes never leaves a tool open; a failed one may
                    tool.status = "failed" if outcome == "failed" else "ok"
                    tool.ended = now


def _text(value: Any) -> str:
    import json

    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _wait_text(wait: EventWait) -> str:
    where = f" where {wait.if_exp}" if wait.if_exp else ""
    return f"{wait.step_id} waits for {wait.event}{where} (times out after {wait.timeout})"
