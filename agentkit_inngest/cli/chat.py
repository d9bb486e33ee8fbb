"""``agentkit-inngest chat``: talk to a network turn after turn, on one thread.

Each turn is a plain-Python run of the network on the user's message. The thread's
messages are kept in a history store: the network's own when it has one (it loads
and saves them itself), else a SQLite file that the session reads before each turn
and appends to after it. The agents' text is rendered as Markdown while it arrives
(finished blocks are printed for good, the block being written is redrawn in a
live region), tool calls take one line each, and event waits (human in the loop)
are answered at the prompt.
"""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.text import Text

from .._agent import Agent
from .._network import Network
from .._state import State
from .._steps import EventWait, InlineRunner
from ..history import HistoryStore
from ..messages import TextMessage
from ..streaming import StreamEvent
from .execute import agent_names
from .live import STYLES
from .progress import RunProgress, ToolView
from .shared import (
    LiveRegion,
    Tail,
    ask_reply,
    format_seconds,
    short,
    spinner_frame,
    state_changes,
    state_changes_table,
)

__all__ = ["ChatSession", "markdown_split", "store_name"]

HELP = "/new starts a new conversation, /state shows the state, /quit (or Ctrl-D) leaves"


def store_name(store: HistoryStore) -> str:
    """``SQLiteStore('chat.db')``, or the store's class name."""
    path = getattr(store, "path", None)
    return f"{type(store).__name__}({path!r})" if path else type(store).__name__


def markdown_split(text: str) -> int:
    """Where ``text`` can be cut into finished Markdown blocks.

    That is just after the last blank line outside a fenced code block; 0 when there is none. What
    follows is the block being written.
    """
    cut = 0
    fenced = False
    offset = 0
    lines = text.split("\n")
    for index, line in enumerate(lines[:-1]):  # the last line may be incomplete
        offset += len(line) + 1
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and not line.strip() and index > 0:
            cut = offset
    return cut


class _TurnView:
    """What one turn shows: Markdown as it streams, tool calls, waits, the outcome."""

    def __init__(self, console: Console, progress: RunProgress, *, show_agents: bool) -> None:
        self.console = console
        self.progress = progress
        self.show_agents = show_agents
        self.lock = threading.Lock()
        self.call: str | None = None  # the call whose text is being written
        self.text = ""
        self.shown = 0  # characters of self.text printed for good
        self.step_attempts: dict[str, int] = {}
        self.wrote = False
        self.live = LiveRegion(console, self._render)

    async def publish(self, event: StreamEvent) -> None:
        with self.lock:
            self.progress.apply(event)
            self._apply(event)

    def _apply(self, event: StreamEvent) -> None:
        data = event.data
        call = str(data.get("call", ""))
        if event.type == "agent.started" and self.show_agents:
            view = self.progress.calls.get(call)
            router = " (router)" if view is not None and view.router else ""
            self.console.print(Text(f"● {event.agent}{router}", style="bold magenta"))
        elif event.type == "text.delta":
            self._text_delta(event, call)
        elif event.type == "tool.call":
            self._flush()
        elif event.type == "tool.result":
            view = self.progress.calls.get(call)
            tool = next((t for t in view.tools if t.id == data.get("id")), None) if view else None
            if tool is not None:
                self.console.print(_tool_line(tool, self.progress))
        elif event.type in ("agent.finished", "run.completed", "run.failed"):
            self._flush()

    def _text_delta(self, event: StreamEvent, call: str) -> None:
        """Add a piece of ``call``'s text; print the Markdown blocks it finishes.

        A piece of an older attempt is dropped; a newer attempt starts the text again.
        """
        step = str(event.data.get("step"))
        if call != self.call:
            self._flush()
            self.call = call
        latest = self.step_attempts.get(step, event.attempt)
        if event.attempt < latest:
            return
        if event.attempt > latest:
            self._flush()
            self.console.print(Text("(the model was retried; its answer starts again)", "dim"))
        self.step_attempts[step] = event.attempt
        self.text += str(event.data.get("delta", ""))
        self.wrote = True
        cut = markdown_split(self.text[self.shown :])
        if cut:
            self._print_block(self.text[self.shown : self.shown + cut])
            self.shown += cut

    def _print_block(self, block: str) -> None:
        if block.strip():
            self.console.print(Markdown(block))

    def _flush(self) -> None:
        """Print what is left of the text being written."""
        self._print_block(self.text[self.shown :])
        self.text = ""
        self.shown = 0
        self.call = None

    def _render(self) -> RenderableType:
        with self.lock:
            parts: list[RenderableType] = []
            pending = self.text[self.shown :]
            if pending.strip():
                parts.append(Tail(Markdown(pending), max(self.console.size.height - 6, 3)))
            for call in self.progress.calls.values():
                for tool in call.tools:
                    if tool.status in ("running", "waiting"):
                        parts.append(_tool_line(tool, self.progress, live=True))
            elapsed = format_seconds(self.progress.elapsed(self.progress.started))
            parts.append(
                Text.assemble(spinner_frame(self.progress.clock()), f" {elapsed}", style="dim")
            )
            return Group(*parts)


def _tool_line(tool: ToolView, progress: RunProgress, *, live: bool = False) -> Text:
    icon = {"ok": "✓", "error": "✗", "failed": "✗", "waiting": "⏸"}.get(tool.status, "•")
    line = Text("  ")
    if live and tool.status == "running":
        line.append_text(spinner_frame(progress.clock()))
    else:
        line.append(icon, style=STYLES.get(tool.status, ""))
    arguments = tool.arguments if isinstance(tool.arguments, dict) else {}
    shown = ", ".join(f"{key}={short(value, 40)}" for key, value in arguments.items())
    line.append(f" {tool.name}", style="magenta")
    line.append(f"({shown})", style="dim")
    if tool.result:
        line.append(" → ")
        line.append(short(tool.result, 60), style="red" if tool.status == "error" else "")
    line.append(f" {format_seconds(progress.elapsed(tool.started, tool.ended))}", style="dim")
    return line


class ChatSession:
    """A conversation with ``target`` on one thread of ``store``.

    Args:
        target: the network (or agent) to talk to.
        store: where the thread's messages are kept.
        owned: the target keeps its history in ``store`` itself (its own store):
            the session only names the thread.
        console: where to draw.
        initial: the state each turn starts from (``--state``'s JSON), else the
            target's default state.
        thread_id: the thread to continue (default: a new one).
        show_traceback: print the traceback of a failed turn.
    """

    def __init__(
        self,
        target: Network[Any] | Agent,
        *,
        store: HistoryStore,
        owned: bool,
        console: Console,
        initial: dict[str, Any] | None = None,
        thread_id: str | None = None,
        show_traceback: bool = False,
    ) -> None:
        self.target = target
        self.store = store
        self.owned = owned
        self.console = console
        self.initial = initial
        self.thread_id = thread_id or uuid.uuid4().hex
        self.show_traceback = show_traceback
        self.state = self.new_state()

    def new_state(self) -> State[Any]:
        """The state a turn starts from, on the session's thread."""
        if isinstance(self.target, Network):
            state = self.target.new_state(self.initial)
        else:
            state = State.from_json(self.initial) if self.initial is not None else State()
        return state

    # -- commands -----------------------------------------------------------------------------

    async def command(self, line: str) -> bool:
        """Handle a ``/command``; ``False`` when the session should end."""
        name = line.strip().split()[0].lower()
        if name in ("/quit", "/exit", "/q"):
            return False
        if name == "/new":
            self.thread_id = uuid.uuid4().hex
            self.state = self.new_state()
            self.console.print(Text(f"new conversation: thread {self.thread_id}", "green"))
        elif name == "/state":
            await self.show_state()
        else:
            self.console.print(Text(f"unknown command {name}: {HELP}", style="yellow"))
        return True

    async def show_state(self) -> None:
        """Print the thread's id and size and the last turn's state."""
        count = len(await self.store.load(self.thread_id))
        self.console.print(Text(f"thread {self.thread_id}: {count} message(s)", "bold"))
        self.console.print(Text(f"kept in {store_name(self.store)}", "dim"))
        snapshot = self.state.snapshot()
        self.console.print_json(json.dumps(snapshot, ensure_ascii=False, default=str))

    # -- a turn -------------------------------------------------------------------------------

    async def turn(self, message: str, *, ask: Callable[..., Any] = ask_reply) -> bool:
        """Run the target on ``message``; ``True`` when the run completed."""
        state = self.new_state()
        state.thread_id = self.thread_id
        progress = RunProgress(agents=agent_names(self.target))
        show_agents = isinstance(self.target, Network)
        view = _TurnView(self.console, progress, show_agents=show_agents)
        before = state.snapshot()

        async def answer(wait: EventWait) -> dict[str, Any] | None:
            with view.lock:
                tool = progress.waiting(wait)
            with view.live.paused():
                reply: dict[str, Any] | None = await ask(self.console, wait, tool)
            with view.lock:
                progress.answered(wait, reply)
            return reply

        async def send(events: list[dict[str, Any]]) -> list[str]:
            names = [event.get("name") for event in events]
            self.console.print(Text(f"  not sent (plain-Python run): {names}", style="yellow"))
            return [f"local-{index}" for index, _ in enumerate(events, 1)]

        runner = InlineRunner(on_wait_for_event=answer, on_send_event=send, publisher=view)
        if not self.owned:
            state.messages = await self.store.load(self.thread_id)
            user = TextMessage(role="user", content=message)
            await self.store.append_user_message(
                self.thread_id, user, message_id=f"{runner.run_id}:user"
            )
        if self.console.is_terminal:
            view.live.start()
        try:
            await self._run(message, state, runner)
        except Exception as error:  # noqa: BLE001 - reported; the session goes on
            view.live.stop()
            if self.show_traceback:
                self.console.print(Text("".join(traceback.format_exception(error)), "dim"))
            self.console.print(Text(f"✗ the turn failed: {error}", style="bold red"))
            return False
        finally:
            view.live.stop()
            self.state = state
        if not view.wrote:
            self._print_silent_outcome(progress, state_changes(before, state.snapshot()))
        tokens = f"{progress.input_tokens} in, {progress.output_tokens} out"
        elapsed = format_seconds(progress.elapsed(progress.started))
        self.console.print(Text(f"{elapsed} · tokens {tokens} · {progress.cost_text}", style="dim"))
        return True

    async def _run(self, message: str, state: State[Any], runner: InlineRunner) -> None:
        """Run the target on ``message``; store its results unless it stores them itself."""
        if isinstance(self.target, Network):
            run = await self.target.run(message, state=state, runner=runner)
            results = run.results
        else:
            results = [await self.target.run(message, state=state, runner=runner)]
        if not self.owned:
            await self.store.append_results(self.thread_id, results, id_prefix=runner.run_id)

    def _print_silent_outcome(
        self, progress: RunProgress, changes: list[tuple[str, Any, Any]]
    ) -> None:
        """Say what a turn that wrote no text did: its typed answer, else its state changes."""
        if progress.answer is not None:
            self.console.print(Text(json.dumps(progress.answer, ensure_ascii=False, indent=2)))
        elif changes:
            self.console.print(Text("State changes", style="bold"))
            self.console.print(state_changes_table(changes))
        else:
            self.console.print(Text("(no answer: no text and no change in the state)", "dim"))
