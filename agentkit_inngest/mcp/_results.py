"""How an MCP tool result reaches the model (see :func:`shape_result`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..tools import ToolOutcome

if TYPE_CHECKING:
    from mcp_types import CallToolResult, ContentBlock

__all__ = ["shape_result"]


def shape_result(
    result: CallToolResult, *, server: str, tool: str, max_chars: int | None
) -> ToolOutcome:
    """An MCP tool result as the model receives it.

    - an error (``isError``): its text, flagged as a tool error;
    - structured content: the JSON value itself (with the text too when the text
      says something else);
    - otherwise the text of its content blocks; images, audio and binary resources
      are described, not sent.

    Results longer than ``max_chars`` are cut, with a note saying so.
    """
    texts = [_block_text(block) for block in result.content]
    text = "\n".join(texts)
    structured = result.structured_content
    content: Any
    if result.is_error:
        content = text or f"The tool {tool!r} failed without saying why."
    elif structured is not None:
        if _restates(texts, structured):
            content = structured
        else:
            content = {"text": text, "structured_content": structured}
    else:
        content = text
    return ToolOutcome(_bounded(content, max_chars, server, tool), is_error=result.is_error)


def _restates(texts: list[str], structured: Any) -> bool:
    """Whether the text blocks only repeat the structured content (servers send both)."""
    if not texts:
        return True
    if len(texts) != 1:
        return False
    # the SDK wraps a plain return value as {"result": value}
    wrapped = isinstance(structured, dict) and set(structured) == {"result"}
    if wrapped and texts[0] == structured["result"]:
        return True
    try:
        parsed = json.loads(texts[0])
    except ValueError:
        return False
    return bool(parsed == structured or (wrapped and parsed == structured["result"]))


def _block_text(block: ContentBlock) -> str:
    kind = block.type
    if kind == "text":
        return str(getattr(block, "text", ""))
    if kind in ("image", "audio"):
        data = str(getattr(block, "data", ""))
        return f"[{kind} {getattr(block, 'mime_type', '')}, {_size(data)} bytes, not shown]"
    if kind == "resource":
        resource = getattr(block, "resource", None)
        uri = getattr(resource, "uri", "")
        body = getattr(resource, "text", None)
        if body is not None:
            return f"[resource {uri}]\n{body}"
        blob = str(getattr(resource, "blob", ""))
        mime = getattr(resource, "mime_type", None) or "binary"
        return f"[resource {uri}: {mime}, {_size(blob)} bytes, not shown]"
    if kind == "resource_link":
        about = getattr(block, "description", None)
        link = f"[resource link {getattr(block, 'name', '')}: {getattr(block, 'uri', '')}]"
        return f"{link} {about}" if about else link
    return f"[{kind} content, not shown]"


def _size(data: str) -> int:
    """The size of base64 ``data`` once decoded."""
    return len(data) * 3 // 4 - data[-2:].count("=")


def _bounded(content: Any, max_chars: int | None, server: str, tool: str) -> Any:
    if max_chars is None:
        return content
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    if len(text) <= max_chars:
        return content
    return (
        f"{text[:max_chars]}\n\n[truncated: the result of {tool!r} (MCP server {server!r}) has "
        f"{len(text):,} characters; only the first {max_chars:,} are shown. Ask for less, "
        "for example a narrower query or a smaller page, to see the rest.]"
    )
