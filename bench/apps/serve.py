"""Serve one Python variant in its own process: ``python -m bench.apps.serve ...``.

Prints ``READY <port>`` once uvicorn listens on 127.0.0.1, so the driver can read
this process's CPU time without counting its own (or the executor's).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys

import inngest
import uvicorn

APPS = {"agentkit": "bench.apps.agentkit_app", "raw": "bench.apps.raw_app"}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", choices=sorted(APPS), required=True)
    parser.add_argument("--options", default="{}", help="JSON options of the variant")
    parser.add_argument("--executor", required=True, help="the executor's API URL")
    parser.add_argument("--provider", required=True, help="the scripted model's URL")
    parser.add_argument("--effects", required=True, help="the tool's effects file")
    args = parser.parse_args()
    client = inngest.Inngest(
        app_id="bench",
        api_base_url=args.executor,
        event_api_base_url=args.executor,
        is_production=False,
    )
    module = importlib.import_module(APPS[args.app])
    app = module.build(
        client=client,
        provider_url=args.provider,
        effects=args.effects,
        options=json.loads(args.options),
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            raise SystemExit("the app did not start")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    await task


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
