"""The commands in docs/examples.md and docs/cli.md name things that exist."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from agentkit_inngest import Agent, Network
from agentkit_inngest.cli import function_configs
from agentkit_inngest.cli.loading import load_object

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("examples.md", "cli.md")


def commands() -> list[list[str]]:
    found = []
    for name in DOCS:
        text = (ROOT / "docs" / name).read_text()
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                line = line.split("  #", 1)[0].strip()
                if line and not line.startswith("#"):
                    found.append(shlex.split(line))
    return found


def cli_calls(command: str) -> list[list[str]]:
    return [c[2:] for c in commands() if c[0] == "agentkit-inngest" and c[1] == command]


@pytest.fixture
def app_events(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every event the app reacts to: function triggers and the human-in-the-loop reply."""
    monkeypatch.setenv("INNGEST_DEV", "1")
    monkeypatch.setenv("INNGEST_APP_ID", "agentkit-inngest")
    monkeypatch.syspath_prepend(str(ROOT))
    for module in [
        m for m in sys.modules if m == "examples" or m.startswith(("examples.", "functions"))
    ]:
        sys.modules.pop(module)
    from examples.support_agent import DEVELOPER_RESPONSE
    from functions.app import app

    triggers = {
        trigger["event"]
        for config in function_configs(app.state.inngest_functions)
        for trigger in config["triggers"]
        if "event" in trigger
    }
    return {*triggers, DEVELOPER_RESPONSE}


def test_the_docs_have_commands() -> None:
    assert len(commands()) > 20
    assert cli_calls("run") and cli_calls("send")


def test_example_scripts_exist() -> None:
    scripts = [c[1] for c in commands() if c[0] == "python" and c[1].startswith("examples/")]
    assert len(scripts) >= 8
    for script in scripts:
        assert (ROOT / script).is_file(), script


def test_run_targets_load(app_events: set[str]) -> None:
    for args in cli_calls("run"):
        target = load_object(
            args[0],
            app_dir=ROOT,
            expected="a network",
            accept=lambda v: isinstance(v, (Network, Agent)),
        )
        assert target is not None
        if "--runner" in args:
            load_object(
                args[args.index("--runner") + 1], app_dir=ROOT, expected="", accept=callable
            )
        for option in ("--reply", "--state"):
            if option in args:
                assert isinstance(json.loads(args[args.index(option) + 1]), dict)


def test_sent_events_are_ones_the_app_handles(app_events: set[str]) -> None:
    sent = cli_calls("send")
    assert len(sent) >= 6
    for args in sent:
        assert args[0] in app_events, f"nothing in the app handles {args[0]}"
        assert isinstance(json.loads(args[args.index("--data") + 1]), dict)
