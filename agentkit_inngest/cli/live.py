"""The ``run`` command's view: drawn from the run's typed stream events.

While the run goes on, a live region at the bottom of the terminal shows each agent
call and tool call with a spinner and its elapsed time, and the text an agent is
writing as it arrives. The region is transient: it is erased (not left behind)
before the command asks a question at the terminal and when the run ends, and the
command then prints a static summary, so the scrollback holds each thing once.
Without a terminal (a pipe, a file) only the summary is printed.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text

from .._steps import EventWait
from ..streaming import StreamEvent
from .progress import CallView, RunProgress, ToolView
from .shared import (
    LiveRegion,
    Tail,
    format_seconds,
    short,
    spinner_frame,
    state_changes,
    state_changes_table,
)

__all__ = ["RunView"]

STYLES = {
    "running": "cyan",
    "waiting": "yellow",
    "done": "green",
    "ok": "green",
    "error": "red",
    "failed": "bold red",
}
ICONS = {"waiting": "⏸", "done": "✓", "ok": "✓", "error": "✗", "failed": "✗"}
TAIL_LINES = 6  # lines of a running agent's text shown in the live region


class RunView:
    """Shows a run's :class:`RunProgress` on ``console``; publish the run's events to it.

    Args:
        progress: what the run has done (this view applies the events to it).
        console: where to draw.
        animate: draw the live region (default: when ``console`` is a terminal).
    """

    def __init__(
        self, progress: RunProgress, console: Console, *, animate: bool | None = None
    ) -> None:
        self.progress = progress
        self.console = console
        self.animate = console.is_terminal if animate is None else animate
        self._lock = threading.Lock()  # the live region is drawn from rich's thread
        self._live = LiveRegion(console, self._render_live)

    # -- the publisher and the runner's callbacks --------------------------------------------

    async def publish(self, event: StreamEvent) -> None:
        """Apply a stream event (the view is the run's publisher)."""
        with self._lock:
            self.progress.apply(event)
        if event.type != "text.delta":  # text is drawn by the region's own refreshes
            self._live.refresh()

    def waiting(self, wait: EventWait) -> ToolView | None:
        """Mark the tool call that waits for ``wait`` as waiting; returns its view, if any."""
        with self._lock:
            return self.progress.waiting(wait)

    def answered(self, wait: EventWait, reply: dict[str, Any] | None) -> None:
        """Record the reply (``None``: a time-out) to the wait ``wait``."""
        with self._lock:
            self.progress.answered(wait, reply)

    def note(self, text: str) -> None:
        """Record something the stream does not carry (an event a tool sent)."""
        with self._lock:
            self.progress.note(text)

    # -- the live region ---------------------------------------------------------------------

    def __enter__(self) -> RunView:
        """Start drawing the live region (when animated)."""
        if self.animate:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Erase the live region."""
        self._live.stop()

    def paused(self) -> contextlib.AbstractContextManager[None]:
        """Erase the live region while the terminal asks a question; redraw it after."""
        return self._live.paused()

    def _render_live(self) -> RenderableType:
        with self._lock:
            progress = self.progress
            calls = list(progress.calls.values())
            width = _name_width(calls)
            height = max(self.console.size.height - 4, 6)
            parts: list[RenderableType] = []
            for call in calls:
                parts.append(self._call_line(call, width))
                parts.extend(self._tool_line(tool) for tool in call.tools)
                if call.active and call.text:
                    tail = Tail(Text(call.text, style="italic"), TAIL_LINES)
                    parts.append(Padding(tail, (0, 0, 0, 4)))
            if len(parts) > height:
                hidden = len(parts) - height + 1
                parts = [Text(f"… {hidden} more lines above", style="dim"), *parts[-height + 1 :]]
            tokens = f"{progress.input_tokens} in, {progress.output_tokens} out"
            parts.append(
                Text.assemble(
                    spinner_frame(progress.clock()),
                    f" {format_seconds(progress.elapsed(progress.started))} · tokens {tokens}"
                    f" · {progress.cost_text}",
                    style="dim",
                )
            )
            return Group(*parts)

    # -- lines ------------------------------------------------------------------------------

    def _icon(self, status: str) -> Text:
        if status == "running":
            return spinner_frame(self.progress.clock())
        return Text(ICONS.get(status, "•"), style=STYLES.get(status, ""))

    def _call_line(self, call: CallView, width: int) -> Text:
        elapsed = format_seconds(self.progress.elapsed(call.started, call.ended))
        line = Text.assemble(
            self._icon(call.status),
            " ",
            (_call_name(call).ljust(width), "bold"),
            "  ",
            (call.status.ljust(8), STYLES.get(call.status, "")),
            (f"{elapsed:>7}", "dim"),
        )
        if call.input_tokens or call.output_tokens:
            line.append(f"  {call.input_tokens} in · {call.output_tokens} out", style="dim")
        return _one_line(line)

    def _tool_line(self, tool: ToolView) -> Text:
        elapsed = format_seconds(self.progress.elapsed(tool.started, tool.ended))
        line = Text.assemble(
            "    ",
            self._icon(tool.status),
            " ",
            (tool.name, "magenta"),
            " ",
            (tool.status, STYLES.get(tool.status, "")),
            (f" {elapsed}", "dim"),
            "  ",
            (short(tool.arguments, 60), "dim"),
        )
        if tool.result:
            line.append(" → ")
            line.append(short(tool.result, 80), style="red" if tool.status == "error" else "")
        return _one_line(line)

    # -- the summary ---------------------------------------------------------------------------

    def summary(self, *, before: dict[str, Any], after: dict[str, Any]) -> RenderableType:
        """Print what the run did, once it has ended.

        What the run did, once it has ended: every call and tool call, each agent's
        text (the final answer once, under "Answer"), what changed in the state, the
        notes and the tokens used. ``before``/``after``: the state's snapshots.
        """
        progress = self.progress
        calls = list(progress.calls.values())
        width = _name_width(calls)
        final = progress.final_call
        parts: list[RenderableType] = []
        for call in calls:
            parts.append(self._call_line(call, width))
            parts.extend(self._tool_line(tool) for tool in call.tools)
            if call.text and call is not final:
                parts.append(Padding(Text(call.text, style="dim"), (0, 0, 0, 4)))
        for note in progress.notes:
            parts.append(Text(f"• {note}", style="yellow"))
        changes = state_changes(before, after)
        if progress.status == "failed":
            parts += [Rule("Failed", style="red", align="left"), Text(progress.error or "")]
        if progress.answer is not None:
            typed = json.dumps(progress.answer, ensure_ascii=False, indent=2)
            parts += [Rule("Answer", align="left"), Text(typed)]
        elif progress.output:
            parts += [Rule("Answer", align="left"), Markdown(progress.output)]
        if changes:
            parts += [Rule("State changes", align="left"), state_changes_table(changes)]
        elif progress.status == "completed" and not progress.output:
            text = "(the agents wrote no text and changed nothing in the state)"
            parts += [Rule("Answer", align="left"), Text(text, style="dim")]
        tokens = progress.input_tokens + progress.output_tokens
        parts.append(
            Text(
                f"Tokens: {progress.input_tokens} in, {progress.output_tokens} out, "
                f"{tokens} total · {progress.cost_text} · "
                f"{format_seconds(progress.elapsed(progress.started))}",
                style="bold",
            )
        )
        return Group(*parts)


def _one_line(line: Text) -> Text:
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


def _call_name(call: CallView) -> str:
    return call.key + (" (router)" if call.router else "")


def _name_width(calls: list[CallView]) -> int:
    return max((len(_call_name(call)) for call in calls), default=0)
