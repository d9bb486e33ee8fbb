"""``agentkit-inngest send`` and ``agentkit-inngest functions``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import urllib.parse
from typing import Annotated, Any

import typer
from rich.table import Table

from ._common import DEFAULT_APP, DEV_SERVER, AppDir, _fail, _json_object, _load, out

__all__ = ["function_configs", "functions", "send"]


# -- send ------------------------------------------------------------------------------------


def _check_reachable(url: str) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise _fail(f"--url {url!r} is not an http(s) URL, e.g. {DEV_SERVER}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=2):
            pass
    except OSError as error:
        raise _fail(
            f"cannot reach the Inngest dev server at {url} ({error.strerror or error}). "
            "Start it with `npx inngest-cli@latest dev` or `docker compose up`, or pass --url."
        ) from error


def send(
    event: Annotated[str, typer.Argument(help="The event's name, e.g. app/user.signup.")],
    data: Annotated[str, typer.Option(help="The event's data, a JSON object.")] = "{}",
    url: Annotated[
        str | None,
        typer.Option(help=f"Event API base URL (default: $INNGEST_DEV or {DEV_SERVER})."),
    ] = None,
    cloud: Annotated[
        bool, typer.Option("--cloud", help="Send to Inngest Cloud (needs an event key).")
    ] = False,
    event_key: Annotated[
        str | None,
        typer.Option(envvar="INNGEST_EVENT_KEY", help="Event key for Inngest Cloud."),
    ] = None,
) -> None:
    """Send an event to the dev server or Inngest Cloud (e.g. a human-in-the-loop reply)."""
    import inngest

    if not event.strip():
        raise _fail("the event name must not be empty, e.g. app/support.ticket.created")
    payload = _json_object(data, option="--data", example='{"input": "Hello"}')
    dev_env = os.environ.get("INNGEST_DEV", "")
    to_cloud = cloud or (bool(event_key) and not dev_env and url is None)
    if to_cloud:
        if not event_key:
            raise _fail(
                "sending to Inngest Cloud needs an event key: set INNGEST_EVENT_KEY or pass "
                "--event-key"
            )
        client = inngest.Inngest(
            app_id="agentkit-inngest-cli",
            is_production=True,
            event_key=event_key,
            event_api_base_url=url,
        )
        where = url or "Inngest Cloud"
    else:
        where = url or (dev_env if dev_env.startswith("http") else DEV_SERVER)
        _check_reachable(where)
        client = inngest.Inngest(
            app_id="agentkit-inngest-cli", is_production=False, event_api_base_url=where
        )
    try:
        ids = asyncio.run(client.send(inngest.Event(name=event, data=payload)))
    except Exception as error:  # whatever the SDK raises is reported plainly
        raise _fail(f"sending {event} to {where} failed: {error}") from error
    out.print(f"Sent {event} to {where}: id {', '.join(ids)}", highlight=False)


# -- functions -------------------------------------------------------------------------------

_NOT_FLOW = {"id", "name", "steps", "triggers"}


def function_configs(functions: list[Any]) -> list[dict[str, Any]]:
    """Each function's id, name, triggers and flow-control options, as registered."""
    configs = []
    for function in functions:
        config = function.get_config("http://app/api/inngest").main.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        flow = {key: value for key, value in config.items() if key not in _NOT_FLOW}
        retries = (config.get("steps", {}).get("step", {}).get("retries") or {}).get("attempts")
        if retries is not None:
            flow["retries"] = retries
        configs.append(
            {
                "id": config["id"],
                "name": config.get("name") or config["id"],
                "triggers": config.get("triggers", []),
                "flow_control": flow,
            }
        )
    return configs


def _trigger_text(trigger: dict[str, Any]) -> str:
    if "event" in trigger:
        text = f"event {trigger['event']}"
        return text + (f" if {trigger['expression']}" if trigger.get("expression") else "")
    return f"cron {trigger.get('cron')}"


def _served_functions(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    found = getattr(getattr(value, "state", None), "inngest_functions", None)
    return list(found) if isinstance(found, list) else None


def functions(
    target: Annotated[
        str, typer.Argument(help="The app (MODULE:NAME) or a list of functions.")
    ] = DEFAULT_APP,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    app_dir: AppDir = ".",
) -> None:
    """List the app's functions with their triggers and flow-control options."""
    os.environ.setdefault("INNGEST_DEV", "1")  # listing needs no signing key
    served = _served_functions(
        _load(
            target,
            app_dir=app_dir,
            expected="an app built by create_server",
            accept=lambda value: _served_functions(value) is not None,
        )
    )
    configs = function_configs(served or [])
    if json_output:
        out.print_json(json.dumps(configs))
        return
    table = Table(title=f"{len(configs)} function(s) in {target}", title_justify="left")
    for column in ("function", "triggers", "flow control"):
        table.add_column(column, overflow="fold")
    for config in configs:
        flow = config["flow_control"]
        flow_text = (
            "\n".join(f"{key}: {json.dumps(value)}" for key, value in flow.items())
            or "defaults (retries: 4)"
        )
        table.add_row(
            f"{config['id']}\n[dim]{config['name']}[/]",
            "\n".join(_trigger_text(t) for t in config["triggers"]),
            flow_text,
        )
    out.print(table)
