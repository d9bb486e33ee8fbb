"""``python -m bench.broker_memory``: what an in-memory stream broker costs the app.

Serves a network through the real app (``create_server(broker=MemoryBroker())``)
under the local executor, runs it ``--runs`` times on threads of their own with a
tool that returns ``--result-kb`` of text, nobody listening, and prints the app
process's RSS and what ``tracemalloc`` sees still allocated, before and after.
Then it opens ``--subscriptions`` subscriptions to channels of ``--channel-chars``
characters, closes them, and prints the same. The figures are in RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import resource
import tracemalloc
from typing import Any

MiB = 1024 * 1024


def rss() -> float:
    """The resident set size of this process, in MiB."""
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def traced() -> float:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] / MiB


def broker_stats(broker: Any) -> str:
    channels = broker.channels()
    events = sum(len(broker.retained(c)) for c in channels) if hasattr(broker, "retained") else 0
    if not hasattr(broker, "retained"):  # the broker before its bounds
        events = sum(len(d) for d in broker._recent.values())
    held = getattr(broker, "retained_bytes", None)
    extra = f", {held / MiB:.1f} MiB by its count" if held is not None else ""
    return f"{len(channels)} channels, {events} events{extra}"


async def runs(count: int, result_kb: int, linger_wait: float) -> None:
    from agentkit_inngest import create_agent, create_network, create_server, route_in_order, tool
    from agentkit_inngest.streaming import MemoryBroker
    from agentkit_inngest.testing import FunctionModel, LocalExecutor, ModelCall, text, tool_call

    made = iter(range(10**9))

    @tool
    def fetch() -> str:
        """Fetch the report (a new string each time, as a real tool's would be)."""
        return f"{next(made):08d}" + "x" * (result_kb * 1000 - 8)

    def respond(call: ModelCall) -> Any:
        return text("done") if len(call.messages) > 1 else tool_call("fetch", {})

    agent = create_agent(name="Reader", model=FunctionModel(respond), tools=[fetch])
    network = create_network(name="reader", agents=[agent], router=route_in_order(agent))
    broker = MemoryBroker()
    async with LocalExecutor() as executor:
        client = executor.client("broker-bench")
        await executor.attach(create_server(client=client, networks=[network], broker=broker))
        for i in range(3):  # warm up: imports, pools, caches
            await executor.run("network-reader", {"input": "go", "thread_id": f"warm-{i}"})
        executor.runs.clear()
        before_rss, before_traced = rss(), traced()
        print(f"before: RSS {before_rss:.1f} MiB, traced {before_traced:.1f} MiB")
        for i in range(count):
            await executor.run("network-reader", {"input": "go", "thread_id": f"thread-{i}"})
            executor.runs.clear()  # the executor's own records are not the app's memory
        gc.collect()
        print(
            f"after {count} runs with {result_kb} KB results: RSS {rss():.1f} MiB, traced "
            f"{traced():.1f} MiB (+{traced() - before_traced:.1f}); broker: {broker_stats(broker)}"
        )
        if linger_wait:
            await asyncio.sleep(linger_wait)
            print(
                f"{linger_wait:g} s later: RSS {rss():.1f} MiB, traced {traced():.1f} MiB "
                f"(+{traced() - before_traced:.1f}); broker: {broker_stats(broker)}"
            )


async def subscriptions(count: int, chars: int) -> None:
    from agentkit_inngest.streaming import MemoryBroker

    broker = MemoryBroker()
    before = traced()
    async with contextlib.AsyncExitStack() as stack:
        try:
            for i in range(count):
                name = f"{i:06d}-" + "t" * (chars - 7)
                await stack.enter_async_context(broker.subscribe(name))
        except ValueError as err:
            print(f"{count} subscriptions to {chars}-character channels: refused ({err})")
            return
        print(
            f"{count} subscriptions to {chars}-character channels open: traced "
            f"+{traced() - before:.1f} MiB; broker: {broker_stats(broker)}"
        )
    print(
        f"after they closed: traced +{traced() - before:.1f} MiB; broker: {broker_stats(broker)}, "
        f"{len(getattr(broker, '_touched', {}))} idle-sweep entries"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_memory")
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--result-kb", type=int, default=200)
    parser.add_argument(
        "--linger-wait", type=float, default=0.0, help="seconds to wait, then measure again"
    )
    parser.add_argument("--subscriptions", type=int, default=4000)
    parser.add_argument("--channel-chars", type=int, nargs="+", default=[8000, 256])
    args = parser.parse_args()
    tracemalloc.start()
    asyncio.run(runs(args.runs, args.result_kb, args.linger_wait))
    for chars in args.channel_chars:
        asyncio.run(subscriptions(args.subscriptions, chars))


if __name__ == "__main__":
    main()
