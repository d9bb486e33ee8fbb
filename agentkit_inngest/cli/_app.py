"""The ``agentkit-inngest`` command line.

``agentkit-inngest``: serve the app, run a network or chat with it, send events,
list functions.

::

    agentkit-inngest serve --dev                        # functions.app:app on :8000
    agentkit-inngest run examples.quick_start:network "How do I scale Postgres?"
    agentkit-inngest chat examples.quick_start:network  # turn after turn, one thread
    agentkit-inngest send app/support.ticket.created --data '{"ticketId": "T-1001"}'
    agentkit-inngest functions                          # ids, triggers, flow control
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import traceback
from typing import Annotated, Any

from .._extras import require

require("typer", extra="cli", feature="the agentkit-inngest command")
require("rich", extra="cli", feature="the agentkit-inngest command")

import typer  # noqa: E402 - after the check that names the extra

from .._agent import Agent  # noqa: E402
from .._network import Network  # noqa: E402
from .._state import State  # noqa: E402
from .._steps import StepRunner  # noqa: E402
from .._version import __version__  # noqa: E402
from ..errors import AgentKitError, InputError, WaitUnavailableError  # noqa: E402
from ._common import DEFAULT_APP, AppDir, _fail, _is_asgi_app, _json_object, _load, err, out  # noqa: E402
from ._inspect import function_configs, functions, send  # noqa: E402
from .execute import agent_names, run_target  # noqa: E402
from .live import RunView  # noqa: E402
from .loading import LoadError, load_object  # noqa: E402
from .progress import RunProgress  # noqa: E402
from .shared import unknown_state_fields  # noqa: E402

__all__ = ["app", "function_configs", "main"]

app = typer.Typer(
    name="agentkit-inngest",
    help="Serve, run and debug networks of agents that run as Inngest functions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"agentkit-inngest {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Serve, run and debug networks of agents that run as Inngest functions."""


# -- serve ---------------------------------------------------------------------------------


@app.command()
def serve(
    target: Annotated[str, typer.Argument(help="The app to serve, MODULE:NAME.")] = DEFAULT_APP,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev", help="Talk to the Inngest dev server (sets INNGEST_DEV=1 unless it is set)."
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    app_dir: AppDir = ".",
) -> None:
    """Serve the app's functions at /api/inngest (like `uvicorn functions.app:app`)."""
    import uvicorn

    if dev:
        os.environ.setdefault("INNGEST_DEV", "1")
    try:
        web = load_object(target, app_dir=app_dir, expected="an ASGI app", accept=_is_asgi_app)
    except LoadError as error:
        hint = "" if os.environ.get("INNGEST_DEV") else " (--dev serves for the dev server)"
        raise _fail(f"{error}{hint}") from error
    functions = getattr(getattr(web, "state", None), "inngest_functions", None) or []
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/api/inngest"
    mode = "dev" if os.environ.get("INNGEST_DEV") else "cloud (production)"
    out.print(f"Serving {target}: {len(functions)} function(s) at {url}, {mode} mode")
    if os.environ.get("INNGEST_DEV"):
        out.print(f"Connect the dev server:  npx inngest-cli@latest dev -u {url}")
    uvicorn.run(web, host=host, port=port, log_level=log_level)


# -- run -------------------------------------------------------------------------------------

Traceback = Annotated[
    bool,
    typer.Option("--traceback", help="Print the whole traceback of an import or run failure."),
]


def _load_target(spec: str, *, app_dir: str, show_traceback: bool) -> Network[Any] | Agent:
    """The network or agent named ``spec``; an import failure names its file and line."""
    try:
        found: Network[Any] | Agent = load_object(
            spec,
            app_dir=app_dir,
            expected="a network or agent",
            accept=lambda value: isinstance(value, (Network, Agent)),
        )
    except LoadError as error:
        if error.failure is None:
            raise _fail(str(error)) from error
        if show_traceback:
            _print_traceback(error.failure)
            raise _fail(str(error)) from error
        raise _fail(f"{error} (--traceback shows the whole traceback)") from error
    return found


def _print_traceback(error: BaseException) -> None:
    err.print("".join(traceback.format_exception(error)), highlight=False, markup=False, end="")


def _start_state(target: Network[Any] | Agent, state: str | None) -> State[Any]:
    """The state a run starts from: ``--state`` (checked field by field) or the default."""
    initial = _json_object(state, option="--state", example='{"data": {}}') if state else None
    try:
        if isinstance(target, Network):
            start = target.new_state(initial)
        else:
            start = State.from_json(initial) if initial is not None else State()
    except InputError as error:
        raise _fail(f"--state: {error}") from error
    problem = unknown_state_fields(initial, start) if initial is not None else None
    if problem is not None:
        raise _fail(problem)
    return start


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="The network or agent, MODULE:NAME.")],
    input: Annotated[str, typer.Argument(help="The user's message.")],
    state: Annotated[
        str | None, typer.Option(help="Start from this state (its JSON, e.g. '{\"data\": {}}').")
    ] = None,
    reply: Annotated[
        list[str] | None,
        typer.Option(help="Data (a JSON object) answering the next event wait; repeatable."),
    ] = None,
    runner: Annotated[
        str | None,
        typer.Option(help="MODULE:NAME of a function returning the step runner to use."),
    ] = None,
    ask: Annotated[
        bool | None,
        typer.Option(
            "--ask/--no-ask",
            help="Ask at the terminal for replies to event waits (default: when interactive).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the run's JSON instead of the live view.")
    ] = False,
    show_traceback: Traceback = False,
    app_dir: AppDir = ".",
) -> None:
    """Run a network (or agent) in plain Python and watch it live.

    Text as it is written, tool calls, waits, what changed in the state.
    """
    target_obj = _load_target(target, app_dir=app_dir, show_traceback=show_traceback)
    run_state = _start_state(target_obj, state)
    replies = [
        _json_object(value, option="--reply", example='{"answer": "yes"}') for value in reply or []
    ]
    inner: StepRunner | None = None
    if runner is not None:
        factory = _load(runner, app_dir=app_dir, expected="a runner factory", accept=callable)
        inner = factory()
        if not isinstance(inner, StepRunner):
            raise _fail(f"{runner}() returned {type(inner).__name__}, not a StepRunner")

    progress = RunProgress(agents=agent_names(target_obj))
    view = RunView(progress, out, animate=out.is_terminal and not json_output)
    interactive = ask if ask is not None else sys.stdin.isatty() and not json_output
    before = run_state.snapshot()
    failure: BaseException | None = None
    outcome: dict[str, Any] = {}
    with view:
        try:
            outcome = asyncio.run(
                run_target(
                    target_obj,
                    input,
                    state=run_state,
                    view=view,
                    runner=inner,
                    replies=replies,
                    interactive=interactive,
                )
            )
        except Exception as error:  # noqa: BLE001 - any failure is reported below
            failure = error
    if json_output and failure is None:
        out.print_json(json.dumps(outcome, default=str))
        return
    if not json_output:
        out.print(view.summary(before=before, after=run_state.snapshot()))
    if failure is None:
        return
    if show_traceback:
        _print_traceback(failure)
    if isinstance(failure, WaitUnavailableError):
        raise _fail(
            f"{failure}\n(with the CLI: --reply answers event waits; --runner MODULE:NAME "
            "supplies a runner that can invoke functions)"
        ) from failure
    what = str(failure) if isinstance(failure, AgentKitError) else repr(failure)
    hint = "" if show_traceback else " (--traceback shows where)"
    raise _fail(f"the run failed: {what}{hint}") from failure


# -- chat ------------------------------------------------------------------------------------

DEFAULT_DB = "agentkit-chat.db"


@app.command()
def chat(
    target: Annotated[str, typer.Argument(help="The network or agent, MODULE:NAME.")],
    db: Annotated[
        str | None,
        typer.Option(
            help=f"SQLite file keeping the thread (default: the network's own history "
            f"store if it has one, else {DEFAULT_DB})."
        ),
    ] = None,
    thread: Annotated[
        str | None, typer.Option(help="Continue this thread (default: a new one).")
    ] = None,
    state: Annotated[
        str | None, typer.Option(help="Start every turn from this state (its JSON).")
    ] = None,
    show_traceback: Traceback = False,
    app_dir: AppDir = ".",
) -> None:
    """Talk to a network (or agent) turn after turn, on one conversation thread."""
    from ..history import SQLiteStore
    from .chat import HELP, ChatSession, store_name

    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing and history at the prompt

    target_obj = _load_target(target, app_dir=app_dir, show_traceback=show_traceback)
    start = _start_state(target_obj, state)
    own = target_obj.history
    if own is not None and db is not None:
        err.print(f"note: {target} keeps its own history ({own!r}); --db is not used")
    store = own if own is not None else SQLiteStore(db or DEFAULT_DB)
    session = ChatSession(
        target_obj,
        store=store,
        owned=own is not None,
        console=out,
        initial=start.to_json() if state else None,
        thread_id=thread,
        show_traceback=show_traceback,
    )
    loop = asyncio.new_event_loop()
    try:
        earlier = len(loop.run_until_complete(store.load(session.thread_id)))
        out.print(
            f"[bold]{target_obj.name}[/] · thread {session.thread_id} "
            f"({earlier} earlier message(s), kept in {store_name(store)})",
            highlight=False,
        )
        out.print(f"[dim]{HELP}[/]", highlight=False)
        _converse(session, loop)
    finally:
        if own is None:
            loop.run_until_complete(store.close())
        loop.close()
    again = f"agentkit-inngest chat {target} --thread {session.thread_id}"
    again += f" --db {db}" if db is not None and own is None else ""
    out.print(f"continue with: {again}", style="dim", highlight=False, markup=False, soft_wrap=True)


def _converse(session: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Read a line, run a turn or a command, until /quit or the end of input."""
    while True:
        try:
            line = out.input("[bold green]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not line.strip():
            continue
        if line.strip().startswith("/"):
            if not loop.run_until_complete(session.command(line)):
                return
            continue
        if _run_turn(loop, session.turn(line.strip())):
            out.print("[yellow](interrupted)[/]")


def _run_turn(loop: asyncio.AbstractEventLoop, turn: Any) -> bool:
    """Run one turn; whether Ctrl-C stopped it.

    Ctrl-C cancels the turn's task at its next ``await`` (a signal handler of the
    loop), so no ``KeyboardInterrupt`` lands half-way through code that cleans up
    (a stream, a model client, a history write). Where the loop cannot take signal
    handlers (not the main thread, Windows), the interrupt is caught as before.
    """
    task = loop.create_task(turn)
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = task.cancel() or stopped  # a turn that had just ended was not stopped
        # a second Ctrl-C raises KeyboardInterrupt: it breaks out of a call that blocks
        # the loop (a tool's blocking I/O), which a cancellation waits for
        loop.remove_signal_handler(signal.SIGINT)

    handled = True
    try:
        loop.add_signal_handler(signal.SIGINT, stop)
    except (NotImplementedError, RuntimeError, ValueError):
        handled = False
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        if not stopped:
            raise
    except KeyboardInterrupt:
        task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(task)
        stopped = True
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
    return stopped


app.command()(send)
app.command()(functions)


def main() -> None:
    """The console script's entry point."""
    app()
