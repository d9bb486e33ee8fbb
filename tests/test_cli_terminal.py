"""The CLI in a real terminal: the installed console script spawned in a
pseudo-terminal (pexpect), its output fed to a terminal emulator (pyte), so the
tests read what a person would see on the screen, redraws included."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pyte
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "agentkit-inngest"
COLS, ROWS = 110, 40
BOUND = float(os.environ.get("AGENTKIT_PTY_BOUND", "60"))  # seconds: a bound, never a pause

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


_SPAWNED: list[pexpect.spawn[str]] = []


@pytest.fixture(autouse=True)
def _end_children() -> Iterator[None]:
    """A test that fails half-way leaves no process behind."""
    yield
    while _SPAWNED:
        child = _SPAWNED.pop()
        if child.isalive():
            child.terminate(force=True)


class Terminal:
    """The console script running in a pseudo-terminal, and the screen it draws."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        for name in ("COLUMNS", "LINES", "INNGEST_DEV", "NO_COLOR"):
            environment.pop(name, None)
        environment.update(TERM="xterm-256color", PYTHONPATH=str(ROOT), **(env or {}))
        self.child = pexpect.spawn(
            str(SCRIPT),
            list(args),
            cwd=str(cwd),
            env=environment,
            dimensions=(ROWS, COLS),
            encoding="utf-8",
            codec_errors="replace",
            timeout=BOUND,
        )
        _SPAWNED.append(self.child)
        self.screen = pyte.HistoryScreen(COLS, ROWS, history=5000)
        self.stream = pyte.Stream(self.screen)
        self.raw = ""

    def _feed(self, text: str) -> None:
        self.raw += text
        self.stream.feed(text)

    def lines(self) -> list[str]:
        """Every line on the screen and scrolled off it, as shown now."""
        history = [
            "".join(line[column].data for column in range(COLS)).rstrip()
            for line in self.screen.history.top
        ]
        return history + [line.rstrip() for line in self.screen.display]

    @property
    def text(self) -> str:
        return "\n".join(self.lines())

    @property
    def unwrapped(self) -> str:
        """The screen's text with the lines the terminal wrapped (full ones) joined."""
        joined = ""
        for line in self.lines():
            joined += line + ("" if len(line) == COLS else "\n")
        return joined

    def wait_for(self, pattern: str) -> str:
        """Read until ``pattern`` (a regex) is on the screen; the matching line."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + BOUND  # a spinner keeps drawing: bound the whole wait
        while True:
            for line in self.unwrapped.splitlines():
                if regex.search(line):
                    return line
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise pexpect.TIMEOUT("deadline")
                self._feed(self.child.read_nonblocking(65536, timeout=left))
            except pexpect.EOF:
                raise AssertionError(f"ended without showing {pattern!r}:\n{self.text}") from None
            except pexpect.TIMEOUT:
                raise AssertionError(f"{pattern!r} not shown in {BOUND}s:\n{self.text}") from None

    def send(self, line: str) -> None:
        self.child.sendline(line)

    def finish(self) -> int:
        """Read to the end; the exit status."""
        deadline = time.monotonic() + BOUND
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"still running after {BOUND}s:\n{self.text}")
            try:
                self._feed(self.child.read_nonblocking(65536, timeout=left))
            except pexpect.EOF:
                break
            except pexpect.TIMEOUT:
                raise AssertionError(f"still running after {BOUND}s:\n{self.text}") from None
        self.child.close()
        return int(self.child.exitstatus if self.child.exitstatus is not None else -1)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: modules the tests write, next to the repository's examples."""
    return tmp_path


def write(project: Path, name: str, source: str) -> None:
    (project / name).write_text(textwrap.dedent(source))


# a model that writes half its answer, then waits until the test opens the gate
GATED = """
    import asyncio, os
    from agentkit_inngest import FatalProviderError, create_agent, create_network
    from agentkit_inngest import route_in_order
    from agentkit_inngest.testing import FunctionModel

    ANSWER = "**Half** of the answer is here. SECOND half arrives after the gate."

    class Gated(FunctionModel):
        async def request(self, body, *, on_text=None):
            sink = on_text

            async def gated(piece):
                if piece.startswith("SECOND") and os.environ.get("GATE") == "forever":
                    await asyncio.Event().wait()
                elif piece.startswith("SECOND") and os.environ.get("GATE"):
                    await asyncio.to_thread(lambda: open(os.environ["GATE"]).read())
                await sink(piece)

            return await super().request(body, on_text=gated if sink else None)

    def refuse(call):
        return FatalProviderError("the provider rejected the key", provider="test")

    writer = create_agent(name="Writer", model=Gated(lambda call: ANSWER))
    checker = create_agent(name="Checker", model=FunctionModel(refuse))
    network = create_network(name="Gated", agents=[writer], router=route_in_order(writer))
    failing = create_network(
        name="Failing", agents=[writer, checker], router=route_in_order(writer, checker)
    )
"""


def _open_gate(path: Path) -> None:
    with path.open("w") as gate:
        gate.write("go")


def test_run_streams_text_while_the_model_is_still_writing(project: Path) -> None:
    write(project, "gated.py", GATED)
    gate = project / "gate"
    os.mkfifo(gate)
    term = Terminal("run", "gated:network", "Write.", cwd=project, env={"GATE": str(gate)})
    # the first half is on screen while the model is blocked before the second half
    line = term.wait_for(r"Half\*\* of the answer is here\.")
    assert "SECOND" not in term.text
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Writer#1 +running", term.text), term.text
    opener = threading.Thread(target=_open_gate, args=(gate,), daemon=True)
    opener.start()
    assert term.finish() == 0
    opener.join(BOUND)
    lines = term.lines()
    assert line  # the streamed line, before the final summary replaced the live region
    assert any(re.match(r"✓ Writer#1 +done", line) for line in lines), term.text
    # the final answer once, as Markdown (no asterisks), under "Answer"
    answer = "Half of the answer is here. SECOND half arrives after the gate."
    assert [line for line in lines if answer in line] == [answer]
    assert lines.index(answer) > next(i for i, line in enumerate(lines) if "Answer" in line)


def test_run_shows_failed_where_the_run_failed(project: Path) -> None:
    write(project, "gated.py", GATED)
    term = Terminal("run", "gated:failing", "Write.", cwd=project)
    assert term.finish() == 1
    lines = term.lines()
    assert any(re.match(r"✓ Writer#1 +done", line) for line in lines), term.text
    assert any(re.match(r"✗ Checker#1 +failed", line) for line in lines), term.text
    assert "error: the run failed: the provider rejected the key" in term.text
    assert not any("running" in line for line in lines), term.text


def test_run_rejects_unknown_state_fields(project: Path) -> None:
    term = Terminal(
        "run",
        "examples.quick_start:network",
        "scale?",
        "--state",
        '{"data": {"dba_answer": "typo"}}',
        cwd=ROOT,
    )
    assert term.finish() == 1
    assert (
        "error: --state has field(s) the state does not have: data.dba_answer; DevOpsState "
        "has: dba_agent_answer, security_agent_answer"
    ) in term.unwrapped
    assert "Database administrator" not in term.text  # nothing ran


def test_an_import_error_keeps_its_file_and_line(project: Path) -> None:
    write(
        project,
        "broken.py",
        """
        def configure():
            raise RuntimeError("boom at import")

        configure()
        """,
    )
    term = Terminal("run", "broken:network", "x", cwd=project)
    assert term.finish() == 1
    said = term.unwrapped
    assert "importing 'broken' failed (broken.py, line 3): RuntimeError: boom at import" in said
    assert "(--traceback shows the whole traceback)" in said
    assert "Traceback" not in said

    term = Terminal("run", "broken:network", "x", "--traceback", cwd=project)
    assert term.finish() == 1
    said = term.text
    assert "Traceback (most recent call last)" in said
    assert re.search(r'broken\.py", line 5, in <module>', said), said
    assert re.search(r'broken\.py", line 3, in configure', said), said


TICKET = "Ticket T-1001 from Acme (critical priority): dashboards are down"


def test_run_redraws_cleanly_after_a_human_in_the_loop_answer() -> None:
    term = Terminal("run", "examples.support_agent:support_network", TICKET, cwd=ROOT)
    term.wait_for(r"\(empty: time out\)")
    term.send('{"ticketId": "T-1001", "answer": "Roll back to 2.4.1"}')
    assert term.finish() == 0
    lines = term.lines()
    # each call shows once: the live region was erased before the question and after
    # the run, never left behind
    for call in ("Supervisor#1 (router)", "Technical Support#1", "Supervisor#2 (router)"):
        rows = [line for line in lines if call in line and ("done" in line or "running" in line)]
        assert len(rows) == 1, (call, term.text)
    assert not any(re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", line) for line in lines), term.text
    question = next(i for i, line in enumerate(lines) if "(empty: time out)" in line)
    summary = next(i for i, line in enumerate(lines) if line.startswith("✓ Supervisor#1"))
    assert question < summary
    assert any("Workaround: Roll back to 2.4.1" in line for line in lines[summary:])


# -- chat --------------------------------------------------------------------------------------

LISTENER = """
    from agentkit_inngest import TextMessage, create_agent, create_network, route_in_order
    from agentkit_inngest.testing import FunctionModel

    def listen(call):
        heard = [m.content for m in call.messages
                 if isinstance(m, TextMessage) and m.role == "user"]
        listed = "\\n".join(f"- {said}" for said in heard)
        return f"I have **heard {len(heard)}** message(s):\\n\\n{listed}"

    listener = create_agent(name="Listener", model=FunctionModel(listen))
    network = create_network(name="Ears", agents=[listener], router=route_in_order(listener))
"""


def _stored(path: Path, thread: str) -> list[str]:
    from agentkit_inngest.history import SQLiteStore

    async def load() -> list[str]:
        store = SQLiteStore(path)
        try:
            return [getattr(m, "content", m.kind) for m in await store.load(thread)]
        finally:
            await store.close()

    return asyncio.run(load())


def test_chat_keeps_one_thread_across_turns(project: Path) -> None:
    write(project, "ears.py", LISTENER)
    db = project / "chat.db"
    term = Terminal("chat", "ears:network", "--db", str(db), cwd=project)
    banner = term.wait_for(r"thread [0-9a-f]{32}")
    found = re.search(r"thread ([0-9a-f]{32})", banner)
    assert found is not None, banner
    thread = found.group(1)
    term.wait_for(r"you>")
    term.send("Hello there")
    term.wait_for(r"I have heard 1 message\(s\):")  # Markdown: no asterisks
    term.wait_for(r"• Hello there")
    term.send("And a second thing")
    term.wait_for(r"I have heard 2 message\(s\):")
    term.wait_for(r"• And a second thing")
    term.send("/state")
    term.wait_for(rf"thread {thread}: 4 message\(s\)")
    term.send("/new")
    fresh = term.wait_for(r"new conversation: thread [0-9a-f]{32}")
    term.send("Anyone?")
    term.wait_for(r"• Anyone\?")
    term.send("/quit")
    assert term.finish() == 0
    assert term.text.count("I have heard 1 message(s):") == 2, term.text
    assert "**" not in term.text
    assert f"--thread {fresh.split()[-1]} --db {db}" in term.unwrapped
    assert _stored(db, thread) == [
        "Hello there",
        "I have **heard 1** message(s):\n\n- Hello there",
        "And a second thing",
        "I have **heard 2** message(s):\n\n- Hello there\n- And a second thing",
    ]


def test_chat_with_the_quick_start_offline_model(project: Path) -> None:
    term = Terminal("chat", "examples.quick_start:network", "--db", str(project / "q.db"), cwd=ROOT)
    term.wait_for(r"you>")
    term.send("How do I scale Postgres?")
    term.wait_for(r"● Database Security Expert")
    term.wait_for(r"data\.security_agent_answer +Use row-level security")
    assert re.search(r"✓ save_answer\(answer=Put PgBouncer", term.text), term.text
    term.wait_for(r"tokens 20 in, 10 out")
    term.send("/state")
    term.wait_for(r'"dba_agent_answer": "Put PgBouncer')
    term.child.sendeof()  # Ctrl-D leaves
    assert term.finish() == 0
    assert "continue with: agentkit-inngest chat examples.quick_start:network" in term.text


def test_chat_answers_a_human_in_the_loop_wait_inline(project: Path) -> None:
    term = Terminal(
        "chat", "examples.support_agent:support_network", "--db", str(project / "s.db"), cwd=ROOT
    )
    term.wait_for(r"you>")
    term.send(TICKET)
    term.wait_for(r"waits for app/support\.ticket\.developer-response")
    term.wait_for(r"Reply data as a JSON object")
    term.send("not json")
    term.wait_for(r"not JSON: Expecting value at line 1, column 1; try again")
    term.send('{"ticketId": "T-1001", "answer": "Roll back to 2.4.1"}')
    term.wait_for(r"Workaround: Roll back to 2\.4\.1")
    term.wait_for(r"✓ ask_developer\(question=")
    term.send("/quit")
    assert term.finish() == 0
    assert not any(re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", line) for line in term.lines()), term.text


def test_cli_code_uses_no_private_member_of_other_objects() -> None:
    import ast

    found: list[str] = []
    for path in sorted((ROOT / "agentkit_inngest" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert found == []


def test_chat_ctrl_c_stops_the_turn_and_the_session_goes_on(project: Path) -> None:
    write(project, "gated.py", GATED)
    # the model waits until the turn is stopped
    db = str(project / "g.db")
    term = Terminal("chat", "gated:network", "--db", db, cwd=project, env={"GATE": "forever"})
    term.wait_for(r"you>")
    term.send("Write.")
    term.wait_for(r"Half of the answer is here\.")
    term.child.sendintr()
    term.wait_for(r"\(interrupted\)")
    term.send("/state")
    term.wait_for(r"thread [0-9a-f]{32}: 1 message\(s\)")  # the question, no answer
    term.send("/quit")
    assert term.finish() == 0
