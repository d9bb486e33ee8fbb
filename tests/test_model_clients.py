"""A model's HTTP clients are closed with the event loop that used them: ``run_sync``
and ``asyncio.run`` leave nothing behind, and nothing is printed at exit."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

from agentkit_inngest import create_agent
from agentkit_inngest.models import anthropic, gemini, openai
from agentkit_inngest.testing import text
from agentkit_inngest.testing.fake_providers import FakeProvider

# A user's script: each question builds its agent and model and runs it with
# run_sync. In a real program the garbage collector reaches the previous run's
# model at some moment of a later run; here the system prompt makes it run there.
SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, sys
    from agentkit_inngest import create_agent, create_network, route_in_order
    from agentkit_inngest.models import anthropic, gemini, openai
    from agentkit_inngest.testing import text
    from agentkit_inngest.testing.fake_providers import FakeProvider
    from agentkit_inngest.testing.servers import serve

    def prompt(network):
        gc.collect()
        return "Answer briefly."

    fake = FakeProvider()
    with serve(fake.app) as server:
        url = server.url
        models = {
            "openai": lambda: openai("gpt-test", base_url=f"{url}/v1", api_key="sk-test"),
            "anthropic": lambda: anthropic("claude-test", base_url=url, api_key="ant-test"),
            "gemini": lambda: gemini("gem-test", base_url=f"{url}/v1beta", api_key="gem-test"),
        }

        def ask(kind, question):
            agent = create_agent(name="Helper", system=prompt, model=models[kind]())
            return agent.run_sync(question).text

        def ask_network(kind, question):
            agent = create_agent(name="Helper", system=prompt, model=models[kind]())
            network = create_network(name="Desk", agents=[agent], router=route_in_order(agent))
            return network.run_sync(question).results[-1].text

        for kind in sys.argv[2:]:
            if sys.argv[1] == "run_sync":
                fake.reply(*[text(f"{kind} {i}") for i in range(4)])
                print(ask(kind, "one"), ask(kind, "two"), flush=True)
                print(ask_network(kind, "three"), ask_network(kind, "four"), flush=True)
                continue
            # a loop closed by hand, without shutting down its async generators
            fake.reply(text("by hand"), text("after"))
            loop = asyncio.new_event_loop()
            agent = create_agent(name="Helper", model=models[kind]())
            print(loop.run_until_complete(agent.run("q")).text, flush=True)
            loop.close()
            del agent
            print(ask(kind, "after"), flush=True)
        gc.collect()
    print("done", flush=True)
    """
)


def _run(
    tmp_path: Path, *args: str, python: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "ask.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, *python, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )


KINDS = ("openai", "anthropic", "gemini")


def test_run_sync_twice_closes_the_clients_and_prints_nothing_at_exit(tmp_path: Path) -> None:
    # ResourceWarnings shown: a connection left open would be reported too
    done = _run(tmp_path, "run_sync", *KINDS, python=("-W", "always::ResourceWarning"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        *(line for kind in KINDS for line in (f"{kind} 0 {kind} 1", f"{kind} 2 {kind} 3")),
        "done",
    ]
    assert done.stderr == ""


def test_a_loop_closed_by_hand_leaves_its_client_behind_quietly(tmp_path: Path) -> None:
    done = _run(tmp_path, "by_hand", *KINDS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["by hand", "after"] * 3 + ["done"]
    assert done.stderr == ""


def test_a_finished_run_keeps_neither_its_client_nor_its_loop(
    fake_provider: FakeProvider, provider_url: str
) -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    def prompt(network: object) -> str:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        return "Be brief."

    models = [
        openai("gpt-test", base_url=f"{provider_url}/v1", api_key="sk-test"),
        anthropic("claude-test", base_url=provider_url, api_key="ant-test"),
        gemini("gem-test", base_url=f"{provider_url}/v1beta", api_key="gem-test"),
    ]
    for model in models:
        agent = create_agent(name="A", system=prompt, model=model)
        fake_provider.reply(text("first"), text("second"))
        assert agent.run_sync("q").text == "first"
        assert agent.run_sync("q").text == "second"  # a new loop gets a new client
        assert len(model._clients) == 0  # type: ignore[attr-defined]
    gc.collect()
    assert len(loops) == 6 and all(ref() is None for ref in loops)
