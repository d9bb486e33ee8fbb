"""A server's tool listing made into agent tools: names, filters, schemas."""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..errors import ConfigurationError
from ..tools import Handler, Tool

__all__ = ["ListingSettings", "agent_tool_names", "build_tools"]

logger = logging.getLogger("agentkit_inngest.mcp")

_NOT_IN_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")
_MAX_TOOL_NAME = 64


class ListingSettings(Protocol):
    """What building the tools reads of an :class:`~agentkit_inngest.mcp.MCPServer`."""

    @property
    def name(self) -> str:
        """The server's name."""
        ...

    @property
    def include(self) -> tuple[str, ...] | None:
        """Tool names or patterns to expose (``None``: all)."""
        ...

    @property
    def exclude(self) -> tuple[str, ...]:
        """Tool names or patterns to hide."""
        ...


def build_tools(
    server: ListingSettings, listing: Mapping[str, Any], handler: Callable[[str], Handler]
) -> list[Tool]:
    """The agent tools of a server's listing (after ``include``/``exclude``)."""
    records = [r for r in listing.get("tools") or [] if isinstance(r, dict)]
    seen: set[str] = set()
    unique: list[dict[str, Any]] = []
    for record in records:
        original = record.get("name")
        if not isinstance(original, str) or not original or original in seen:
            logger.warning(
                "MCP server %r listed a tool without a name or twice (%r); skipped",
                server.name,
                original,
            )
            continue
        seen.add(original)
        unique.append(record)
    names = agent_tool_names(server.name, [r["name"] for r in unique])
    _warn_about_missing_includes(server, seen)
    tools: list[Tool] = []
    for record in unique:
        original = record["name"]
        if not _exposes(server, original):
            continue
        schema = record.get("inputSchema")
        if not isinstance(schema, dict):
            schema = {"type": "object", "properties": {}}
        description = record.get("description") or record.get("title") or ""
        try:
            tools.append(
                Tool(
                    name=names[original],
                    description=str(description),
                    handler=handler(original),
                    json_schema=schema,
                    strict=False,  # OpenAI's strict mode would rewrite the schema
                )
            )
        except ConfigurationError as err:
            logger.warning("MCP server %r: tool %r skipped: %s", server.name, original, err)
    return tools


def _exposes(server: ListingSettings, original: str) -> bool:
    if server.include is not None and not any(
        fnmatch.fnmatchcase(original, p) for p in server.include
    ):
        return False
    return not any(fnmatch.fnmatchcase(original, p) for p in server.exclude)


def _warn_about_missing_includes(server: ListingSettings, listed: set[str]) -> None:
    for pattern in server.include or ():
        if not any(fnmatch.fnmatchcase(name, pattern) for name in listed):
            logger.warning(
                "MCP server %r has no tool matching include=%r (it has: %s)",
                server.name,
                pattern,
                ", ".join(sorted(listed)) or "no tools",
            )


def agent_tool_names(server: str, tools: Sequence[str]) -> dict[str, str]:
    """The agent-side name of each of a server's tools.

    ``<server>-<tool>``, with characters the providers refuse replaced by ``_`` and, where a name
    would be too long (64) or taken twice, a short hash of the original name at the end.
    """
    names: dict[str, str] = {}
    used: set[str] = set()
    for original in tools:
        name = _NOT_IN_TOOL_NAME.sub("_", f"{server}-{original}")
        if len(name) > _MAX_TOOL_NAME or name in used:
            digest = hashlib.sha1(original.encode()).hexdigest()[:8]
            name = f"{name[: _MAX_TOOL_NAME - 9]}_{digest}"
        used.add(name)
        names[original] = name
    return names
