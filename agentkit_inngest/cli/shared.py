"""Pieces the ``run`` and ``chat`` commands share.

Reading ``--state``, answering event waits at the terminal, and saying what a run changed in the
state.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pydantic
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from .._state import State
from .._steps import EventWait
from .progress import ToolView

__all__ = [
    "LiveRegion",
    "read_json",
    "Tail",
    "spinner_frame",
    "ask_reply",
    "format_seconds",
    "short",
    "state_changes",
    "state_changes_table",
    "unknown_state_fields",
]


def short(value: Any, limit: int = 70) -> str:
    """``value`` (as JSON unless a string) on one line, cut to ``limit`` characters."""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    shown = " ".join(shown.split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def read_json(text: str) -> Any:
    """``json.loads`` raising :class:`ValueError` with what is wrong.

    ``json.loads``, raising :class:`ValueError` with what is wrong, also for values
    nested too deeply for the parser (which raises :class:`RecursionError`).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{error.msg} at line {error.lineno}, column {error.colno}") from error
    except RecursionError as error:
        raise ValueError("nested too deeply") from error


_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def spinner_frame(now: float, style: str = "cyan") -> Text:
    """The frame of a spinner at ``now`` seconds (a new frame every 80 ms)."""
    return Text(_FRAMES[int(now * 12.5) % len(_FRAMES)], style=style)


def format_seconds(seconds: float) -> str:
    """``0.4s``, ``12.3s``, ``2m05s``."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


class LiveRegion:
    """A transient live region at the bottom of the terminal.

    It is redrawn ten times a second from ``render``. Stopping it erases it; each start draws a
    fresh one below whatever was printed meanwhile (a restarted :class:`rich.live.Live` would first
    move up over the height of its last drawing, over those lines).

    Args:
        console: the terminal to draw on.
        render: called for what to draw, at each refresh.
    """

    def __init__(self, console: Console, render: Callable[[], RenderableType]) -> None:
        self.console = console
        self.render = render
        self._live: Live | None = None

    @property
    def started(self) -> bool:
        """Whether the region is drawn now."""
        return self._live is not None

    def start(self) -> None:
        """Draw a fresh region below what was printed; nothing when it is drawn already."""
        if self._live is None:
            self._live = Live(
                console=self.console,
                transient=True,
                auto_refresh=True,
                refresh_per_second=10,
                get_renderable=self.render,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start(refresh=True)

    def refresh(self) -> None:
        """Draw now (the region also redraws itself ten times a second)."""
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        """Erase the region; nothing when it is not drawn."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Erase the region while the terminal is used for something else.

        A question, say; the region is drawn afresh afterwards.
        """
        running = self.started
        self.stop()
        try:
            yield
        finally:
            if running:
                self.start()


class Tail:
    """The last ``lines`` lines of a renderable at the available width.

    A live region shows the newest text, not the top of a long one.

    Args:
        renderable: what to render.
        lines: how many of its last lines to keep (at least 1).
    """

    def __init__(self, renderable: RenderableType, lines: int) -> None:
        self.renderable = renderable
        self.lines = max(lines, 1)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Render the last lines, trailing blank lines left out (rich's render protocol)."""
        rendered = console.render_lines(self.renderable, options, pad=False)
        while rendered and not "".join(s.text for s in rendered[-1]).strip():
            rendered.pop()  # trailing blank lines
        for line in rendered[-self.lines :]:
            yield from line
            yield Segment.line()


# -- --state ---------------------------------------------------------------------------------


def _field_names(data: Any) -> list[str] | None:
    if isinstance(data, pydantic.BaseModel):
        fields = type(data).model_fields
        return sorted({*fields, *(f.alias for f in fields.values() if f.alias)})
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return sorted(field.name for field in dataclasses.fields(data))
    return None


def _unknown(given: Any, kept: list[Any], path: str) -> list[str]:
    """Keys of the object ``given`` that none of the ``kept`` dumps has, recursively."""
    if not isinstance(given, dict):
        return []
    found: list[str] = []
    for key, value in given.items():
        inner = [k[key] for k in kept if isinstance(k, dict) and key in k]
        if not inner:
            found.append(f"{path}.{key}")
        else:
            found.extend(_unknown(value, inner, f"{path}.{key}"))
    return found


def unknown_state_fields(given: dict[str, Any], state: State[Any]) -> str | None:
    """What is wrong when ``--state`` has fields the state's data type drops.

    ``given`` is ``--state``'s JSON: pydantic ignores extra ``data`` fields by default, so the
    state's data type would drop them silently. ``None`` when nothing is dropped.
    """
    data = given.get("data")
    if not isinstance(data, dict):
        return None
    kept: list[Any] = [state.data_json()]
    if isinstance(state.data, pydantic.BaseModel):
        kept.append(state.data.model_dump(mode="json", by_alias=True))
    unknown = _unknown(data, kept, "data")
    if not unknown:
        return None
    names = _field_names(state.data)
    known = f"; {type(state.data).__name__} has: {', '.join(names)}" if names else ""
    return f"--state has field(s) the state does not have: {', '.join(unknown)}{known}"


# -- waits -------------------------------------------------------------------------------------


ReadLine = Callable[[str], Awaitable[str]]


async def ask_reply(
    console: Console, wait: EventWait, tool: ToolView | None, *, read: ReadLine | None = None
) -> dict[str, Any] | None:
    """Ask at the terminal for the data of the event ``wait`` waits for.

    ``None`` (a time-out) when the answer is empty.
    """
    console.print(
        Text.assemble(
            ("⏸ ", "yellow"), (wait.step_id, "bold"), " waits for ", (wait.event, "cyan")
        ),
        highlight=False,
    )
    if wait.if_exp:
        console.print(Text(f"  matching {wait.if_exp}", style="dim"), highlight=False)
    if tool is not None and tool.arguments:
        for key, value in (
            tool.arguments.items() if isinstance(tool.arguments, dict) else [("", tool.arguments)]
        ):
            label = f"{key}: " if key else ""
            console.print(Text(f"  {label}{short(value, 400)}"), highlight=False)
    reader = read or (lambda prompt: asyncio.to_thread(console.input, prompt))
    while True:
        typed = await reader("Reply data as a JSON object (empty: time out): ")
        if not typed.strip():
            console.print(Text("  no reply: the wait times out", style="yellow"))
            return None
        try:
            data = read_json(typed)
        except ValueError as error:
            console.print(Text(f"  not JSON: {error}; try again", style="red"))
            continue
        if isinstance(data, dict):
            return {"name": wait.event, "data": data}
        console.print(Text("  the reply data must be a JSON object; try again", style="red"))


# -- state changes -----------------------------------------------------------------------------


def state_changes(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """``(path, old, new)`` for each value that differs between two JSON documents.

    Objects are compared key by key, anything else as a whole. A missing value is
    ``None``.
    """
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[tuple[str, Any, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            inner = f"{path}.{key}" if path else str(key)
            found.extend(state_changes(before.get(key), after.get(key), inner))
        return found
    return [] if before == after else [(path, before, after)]


def state_changes_table(changes: list[tuple[str, Any, Any]]) -> RenderableType:
    """The changes as a two-column grid: the field, then its new value (and the old one)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    for path, old, new in changes:
        value = Text(new if isinstance(new, str) else json.dumps(new, ensure_ascii=False))
        if new is None:
            value = Text("(removed)", style="dim")
        if old is not None:
            value.append(f"\n(was {short(old, 60)})", style="dim")
        grid.add_row(path, value)
    return grid
