"""A live view of a plain-Python run: agents, tool calls, state and token usage.

:class:`ObservingRunner` wraps any :class:`~agentkit_inngest.steps.StepRunner`
and reports each step to a :class:`RunObserver` before passing it on, so watching
a run needs nothing from the agent or network loops: every inference and tool
call already goes through the runner. Step IDs name the agent call
(``Triage#1/infer``, ``Triage#1/tool/save_answer``); the model's raw answer names
the tool calls; the state object, shared with the run, shows the rest.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..messages import TextMessage, ToolCallMessage, Usage
from ..state import State
from ..steps import Body, EventWait, Invocation, StepRunner

if TYPE_CHECKING:
    from ..models.base import Model

__all__ = ["ObservingRunner", "RunObserver"]

T = TypeVar("T")

_AGENT_STEP = re.compile(r"^(?P<key>[^/#]+#\d+)/(?P<rest>.+)$")
_TOOL_STEP = re.compile(r"^tool/(?P<name>[^/#]+)(?:#\d+)?(?:/(?P<inner>.+))?$")


def _short(value: Any, limit: int = 70) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    shown = " ".join(shown.split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclasses.dataclass
class AgentCall:
    """One call of an agent (``Triage#1``) as seen so far."""

    key: str
    agent: str
    router: bool
    status: str = "running"
    inferences: int = 0
    usage: Usage = dataclasses.field(default_factory=Usage)
    text: str = ""


@dataclasses.dataclass
class ToolCallView:
    """One tool call and, once known, its result."""

    call: str
    name: str
    call_id: str
    arguments: Any
    status: str = "called"
    result: str = ""


class RunObserver:
    """What a run has done so far, rendered with rich.

    Args:
        state: the run's state object (the run changes it in place).
        agents: names of the network's agents (other callers are routing agents).
        on_change: called after each update (to refresh a live display).
    """

    def __init__(
        self,
        *,
        state: State[Any],
        agents: Sequence[str],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.state = state
        self.agents = set(agents)
        self.on_change = on_change
        self.calls: dict[str, AgentCall] = {}
        self.tools: list[ToolCallView] = []
        self.notes: list[str] = []
        self.usage = Usage()

    # -- updates ------------------------------------------------------------------------

    def _changed(self) -> None:
        self._sync_results()
        if self.on_change is not None:
            self.on_change()

    def _router_done(self, call: AgentCall) -> None:
        """A routing agent's result never reaches the state: close it when others move on."""
        call.status = "done"
        for view in self.tools:
            if view.call == call.key and view.status == "called":
                view.status = "done"

    def _call(self, key: str) -> AgentCall:
        if key not in self.calls:
            for other in self.calls.values():
                if other.router and other.status == "running":
                    self._router_done(other)
            agent = key.rsplit("#", 1)[0]
            self.calls[key] = AgentCall(key=key, agent=agent, router=agent not in self.agents)
        return self.calls[key]

    def inferring(self, step_id: str) -> None:
        match = _AGENT_STEP.match(step_id)
        if match:
            self._call(match["key"]).status = "thinking"
            self._changed()
        else:
            self.note(f"{step_id}: inferring")

    def inferred(self, step_id: str, model: Model, raw: Mapping[str, Any]) -> None:
        try:
            response = model.parse_response(raw)
        except Exception:  # noqa: BLE001 - the run itself reports unreadable answers
            return
        self.usage = self.usage + response.usage
        match = _AGENT_STEP.match(step_id)
        if not match:
            self.note(f"{step_id}: {response.usage.total_tokens} tokens")
            return
        call = self._call(match["key"])
        call.status = "running"
        call.inferences += 1
        call.usage = call.usage + response.usage
        for message in response.output:
            if isinstance(message, TextMessage) and message.content:
                call.text = message.content
            elif isinstance(message, ToolCallMessage):
                for tool in message.tools:
                    self.tools.append(
                        ToolCallView(
                            call=call.key, name=tool.name, call_id=tool.id, arguments=tool.arguments
                        )
                    )
        self._changed()

    def step_started(self, step_id: str) -> None:
        match = _AGENT_STEP.match(step_id)
        if match is None:
            self.notes.append(f"{step_id}: running")
        else:
            tool = _TOOL_STEP.match(match["rest"])
            if tool is not None:
                view = self._pending(match["key"], tool["name"])
                if view is not None:
                    view.status = "running" if tool["inner"] is None else f"step {tool['inner']}"
        self._changed()

    def step_finished(self, step_id: str, output: Any) -> None:
        match = _AGENT_STEP.match(step_id)
        if match is None:
            self.notes.append(f"{step_id}: {_short(output, 60)}")
        else:
            tool = _TOOL_STEP.match(match["rest"])
            if tool is not None and tool["inner"] is None and isinstance(output, dict):
                view = self._pending(match["key"], tool["name"])
                if view is not None:
                    view.status = "error" if output.get("is_error") else "ok"
                    view.result = _short(output.get("content"))
        self._changed()

    def waiting(self, wait: EventWait) -> None:
        self.note(f"waiting for {wait.event}" + (f" where {wait.if_exp}" if wait.if_exp else ""))
        match = _AGENT_STEP.match(wait.step_id)
        if match:
            tool = _TOOL_STEP.match(match["rest"])
            view = self._pending(match["key"], tool["name"]) if tool else None
            if view is not None:
                view.status = "waiting"
        self._changed()

    def note(self, text: str) -> None:
        self.notes.append(text)
        self._changed()

    def finish(self) -> None:
        for call in self.calls.values():
            if call.router and call.status == "running":
                self._router_done(call)
        self._changed()

    def _pending(self, key: str, name: str) -> ToolCallView | None:
        for view in self.tools:
            if view.call == key and view.name == name and view.status not in ("ok", "error"):
                return view
        return None

    def _sync_results(self) -> None:
        """Agent results in the state are final: mark their calls and tool calls."""
        for result in self.state.results:
            call = self.calls.get(result.id)
            if call is None or call.status == "finished":
                continue
            call.status = "finished"
            by_id = {message.tool_call_id: message for message in result.tool_calls}
            for view in self.tools:
                found = by_id.get(view.call_id) if view.call == call.key else None
                if found is not None:
                    view.status = "error" if found.is_error else "ok"
                    view.result = _short(found.content)

    # -- rendering ----------------------------------------------------------------------

    def render(self) -> RenderableType:
        parts: list[RenderableType] = []
        agents = Table(title="Agents", title_justify="left", expand=True)
        for column in ("call", "status", "inferences", "tokens in/out", "last text"):
            agents.add_column(column, overflow="fold")
        for call in self.calls.values():
            agents.add_row(
                call.key + (" (router)" if call.router else ""),
                call.status,
                str(call.inferences),
                f"{call.usage.input_tokens}/{call.usage.output_tokens}",
                _short(call.text, 60),
            )
        parts.append(agents)
        if self.tools:
            tools = Table(title="Tool calls", title_justify="left", expand=True)
            for column in ("call", "tool", "arguments", "status", "result"):
                tools.add_column(column, overflow="fold")
            for view in self.tools:
                tools.add_row(
                    view.call, view.name, _short(view.arguments, 50), view.status, view.result
                )
            parts.append(tools)
        parts.append(Panel(Text(_state_text(self.state)), title="State", title_align="left"))
        for note in self.notes[-8:]:
            parts.append(Text(f"• {note}", style="yellow"))
        parts.append(
            Text(
                f"Tokens: {self.usage.input_tokens} in, {self.usage.output_tokens} out, "
                f"{self.usage.total_tokens} total",
                style="bold",
            )
        )
        return Group(*parts)


def _state_text(state: State[Any], max_lines: int = 25) -> str:
    snapshot = state.to_json()
    shown: dict[str, Any] = {"data": snapshot.get("data")}
    if snapshot.get("kv"):
        shown["kv"] = snapshot["kv"]
    lines = json.dumps(shown, indent=2, ensure_ascii=False, default=str).splitlines()
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"… {len(lines) - max_lines} more lines"]
    return "\n".join(lines)


class ObservingRunner(StepRunner):
    """Passes every step to ``inner`` and tells ``observer`` about it."""

    def __init__(self, inner: StepRunner, observer: RunObserver) -> None:
        super().__init__()
        self.inner = inner
        self.observer = observer
        self.durable = inner.durable

    @property
    def run_id(self) -> str:
        return self.inner.run_id

    async def _run(self, step_id: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        self.observer.step_started(step_id)
        output = await self.inner.run(step_id, fn)
        self.observer.step_finished(step_id, output)
        return output

    async def _parallel(self, thunks: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        return await self.inner.parallel(thunks)

    async def _infer(
        self,
        step_id: str,
        model: Model,
        body: Body,
        call_model: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        self.observer.inferring(step_id)
        raw = await self.inner._infer(self.inner.claim(step_id), model, body, call_model)
        self.observer.inferred(step_id, model, raw)
        return raw

    async def _wait_for_event(self, wait: EventWait) -> dict[str, Any] | None:
        self.observer.waiting(wait)
        event = await self.inner.wait_for_event(
            wait.step_id, event=wait.event, if_exp=wait.if_exp, timeout=wait.timeout
        )
        self.observer.note(
            f"{wait.step_id}: no reply (timed out)"
            if event is None
            else f"{wait.step_id}: reply {_short(event.get('data'), 60)}"
        )
        return event

    async def _invoke(self, invocation: Invocation) -> Any:
        self.observer.note(f"{invocation.step_id}: invoking {invocation.function_id}")
        output = await self.inner.invoke(
            invocation.step_id,
            function_id=invocation.function_id,
            data=invocation.data,
            timeout=invocation.timeout,
        )
        self.observer.note(f"{invocation.step_id}: {_short(output, 60)}")
        return output

    async def _sleep(self, step_id: str, duration: datetime.timedelta) -> None:
        self.observer.note(f"{step_id}: sleeping {duration}")
        await self.inner.sleep(step_id, duration)

    async def _send_event(self, step_id: str, events: list[dict[str, Any]]) -> list[str]:
        ids = await self.inner.send_event(step_id, events)
        self.observer.note(f"{step_id}: sent {', '.join(str(e.get('name')) for e in events)}")
        return ids
