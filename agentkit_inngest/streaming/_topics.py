"""Custom stream events: a topic name and JSON data, published by tools and hooks.

AgentKit's UI streaming lets a tool publish messages of its own to the thread's
channel (``publish(channel.messages({...}))``). Here a tool calls
``await ctx.publish("progress", {...})`` (a hook: ``await network.publish(...)``);
the run's stream carries a ``custom`` event ``{"topic", "data", "tool_call_id"}``, delivered
once per step like every built-in event, over SSE and Realtime (topic ``custom``).

A :class:`Topic` types one topic with a pydantic model: the data is validated when
it is published, :meth:`Topic.parse` reads it back typed on a Python client, and
:func:`stream_schema` / :func:`typescript_types` describe every event of the
stream, custom topics included, for a browser client (a JSON Schema, or
TypeScript declarations)::

    progress = Topic("progress", Progress)

    @tool
    async def crawl(url: str, ctx: ToolContext) -> str:
        await ctx.publish(progress, {"url": url, "percent": 50})
        ...
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import pydantic

from .._json import MAX_JSON_DEPTH, NotJSONError, plain_json
from ..errors import InputError
from ._events import EVENT_TYPES, StreamEvent

__all__ = ["Topic", "custom_event_data", "stream_schema", "typescript_types"]

M = TypeVar("M", bound=pydantic.BaseModel)

_TOPIC = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
MAX_CUSTOM_BYTES = 64 * 1024
"""The largest ``data`` of one custom event, in bytes of JSON (a UI message, not a
payload: send a reference to large data)."""


@dataclasses.dataclass(frozen=True)
class Topic(Generic[M]):
    """A custom topic typed by a pydantic model.

    Attributes:
        name: the topic (letters, digits, ``_ . : -``; at most 64 characters).
        model: the data's model; published data is validated against it.
        description: what the topic carries (goes into the schema).
    """

    name: str
    model: type[M]
    description: str = ""

    def __post_init__(self) -> None:
        check_topic(self.name)
        if not (isinstance(self.model, type) and issubclass(self.model, pydantic.BaseModel)):
            raise InputError(f"topic {self.name!r}: model must be a pydantic model class")

    def validate(self, data: object) -> dict[str, Any]:
        """``data`` (a model instance or a mapping) validated, as JSON."""
        try:
            value = data if isinstance(data, self.model) else self.model.model_validate(data)
        except pydantic.ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "(data)"
            raise InputError(
                f"custom event {self.name!r}: {where}: {first.get('msg', 'invalid')}"
            ) from err
        dumped: dict[str, Any] = value.model_dump(mode="json")
        return dumped

    def parse(self, event: StreamEvent) -> M | None:
        """The typed data of ``event`` when it is a custom event of this topic."""
        if event.type != "custom" or event.data.get("topic") != self.name:
            return None
        return self.model.model_validate(event.data.get("data"))


def check_topic(name: object) -> str:
    """``name`` if it is a usable topic name."""
    if not isinstance(name, str) or not _TOPIC.match(name):
        raise InputError(
            f"custom event topic {name!r}: use 1-64 letters, digits, '_', '.', ':' or '-', "
            "starting with a letter or digit"
        )
    return name


def custom_event_data(
    topic: str | Topic[Any], data: object, *, tool_call_id: str | None = None
) -> dict[str, Any]:
    """The ``data`` of a ``custom`` stream event.

    The topic, the JSON data (validated by a :class:`Topic`), and the id of the tool call that
    published it, if any.

    Raises:
        InputError: a bad topic name, data that is not JSON (or not the topic's
            model), or data over :data:`MAX_CUSTOM_BYTES`.
    """
    value: object
    if isinstance(topic, Topic):
        name, value = topic.name, topic.validate(data)
    else:
        name = check_topic(topic)
        value = data.model_dump(mode="json") if isinstance(data, pydantic.BaseModel) else data
    try:
        value, size = plain_json(value, max_depth=MAX_JSON_DEPTH)
    except NotJSONError as err:
        raise InputError(f"custom event {name!r}: the data is not JSON: {err}") from err
    if size > MAX_CUSTOM_BYTES:
        raise InputError(
            f"custom event {name!r}: the data is {size:,} bytes of JSON, over the limit of "
            f"{MAX_CUSTOM_BYTES:,}; publish a reference to large data instead"
        )
    return {"topic": name, "data": value, "tool_call_id": tool_call_id}


# -- describing the stream for clients ---------------------------------------------------

_BUILT_IN_DATA: dict[str, dict[str, Any]] = {
    "run.started": {"input": {"type": "string"}, "network": {"type": ["string", "null"]}},
    "run.completed": {
        "output": {"type": "string"},
        "usage": {"type": "object"},
        "cost": {"type": "object"},  # the run's cost ledger (docs/controls.md)
        "answer": {},  # the typed answer as JSON, or null
    },
    "run.failed": {"error": {"type": "string"}},
    "agent.started": {"call": {"type": "string"}},
    "agent.finished": {
        "call": {"type": "string"},
        "output": {"type": "string"},
        "usage": {"type": "object"},
    },
    "text.delta": {
        "call": {"type": "string"},
        "step": {"type": "string"},
        "delta": {"type": "string"},
    },
    "tool.call": {
        "call": {"type": "string"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "arguments": {},
    },
    "tool.result": {
        "call": {"type": "string"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "content": {},
        "is_error": {"type": "boolean"},
    },
    "usage": {
        "call": {"type": "string"},
        "input_tokens": {"type": "integer"},
        "output_tokens": {"type": "integer"},
        "model": {"type": ["string", "null"]},
        "cost_usd": {"type": ["number", "null"]},
    },
}

_ENVELOPE: dict[str, Any] = {
    "seq": {"type": "integer"},
    "run_id": {"type": "string"},
    "thread_id": {"type": ["string", "null"]},
    "channel": {"type": "string"},
    "agent": {"type": ["string", "null"]},
    "attempt": {"type": "integer"},
}


def _event(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "seq", "run_id", "channel", "data"],
        "properties": {"type": {"const": type_name}, **_ENVELOPE, "data": data},
    }


def stream_schema(topics: Iterable[Topic[Any]] = ()) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of every event of a run's stream.

    The built-in events, and a ``custom`` event per topic whose ``data.data`` is the topic's
    model. Custom events of undeclared topics match the last, untyped branch.
    """
    defs: dict[str, Any] = {}
    branches: list[dict[str, Any]] = []
    for type_name in EVENT_TYPES:
        if type_name == "custom":
            continue
        fields = _BUILT_IN_DATA[type_name]
        data = {"type": "object", "properties": fields, "required": sorted(fields)}
        branches.append(_event(type_name, data))
    declared = list(topics)
    for topic in declared:
        schema = topic.model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[topic.model.__name__] = schema
        branches.append(_event("custom", _custom_data({"const": topic.name}, topic)))
    names = [topic.name for topic in declared]
    other: dict[str, Any] = {"type": "string", "not": {"enum": names}} if names else {}
    branches.append(_event("custom", _custom_data(other or {"type": "string"}, None)))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "agentkit-inngest stream event",
        "oneOf": branches,
        **({"$defs": defs} if defs else {}),
    }


def _custom_data(topic: dict[str, Any], declared: Topic[Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = (
        {"$ref": f"#/$defs/{declared.model.__name__}"} if declared is not None else {}
    )
    if declared is not None and declared.description:
        data["description"] = declared.description
    return {
        "type": "object",
        "required": ["topic", "data"],
        "properties": {
            "topic": topic,
            "data": data,
            "tool_call_id": {"type": ["string", "null"]},
        },
    }


_TS_SCALARS = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}


_UNTYPED_CUSTOM = (
    '(StreamEnvelope & { type: "custom"; data: { topic: string; data: unknown; '
    "tool_call_id: string | null } })"
)


def typescript_types(
    topics: Iterable[Topic[Any]] = (),
    *,
    tools: Iterable[Any] = (),
    name: str = "AgentKitEvent",
) -> str:
    """TypeScript declarations of the stream's events, for a browser client.

    TypeScript declarations of the stream's events (a discriminated union on ``type``, custom
    events narrowed by ``data.topic``), for a browser client.

    Declared topics get a type each, from their models' JSON Schema (objects,
    arrays, scalars, enums, ``anyOf``, references); anything else is ``unknown``.
    With ``tools`` (AgentKit's ``createToolManifest``), ``tool.call`` events are
    narrowed by ``data.name`` to each tool's arguments, and ``ToolArguments`` maps
    each tool name to them. Once topics (or tools) are declared, the union holds
    only those; ``UntypedEvent`` covers a custom topic (or tool) left undeclared.
    """
    declared = list(topics)
    manifest = {tool.name: tool.json_schema for tool in tools}
    lines = [
        "// Generated by agentkit_inngest.streaming.typescript_types: the run stream's events.",
        "interface StreamEnvelope {",
        "  seq: number; run_id: string; thread_id: string | null; channel: string;",
        "  agent: string | null; attempt: number;",
        "}",
    ]
    members = _tool_members(manifest, lines)
    for type_name in EVENT_TYPES:
        if type_name == "custom" or (type_name == "tool.call" and manifest):
            continue
        members.append(_built_in_member(type_name))
    for topic in declared:
        schema = topic.model.model_json_schema(ref_template="#/$defs/{model}")
        defs = schema.pop("$defs", {})
        for def_name, def_schema in defs.items():
            lines.append(f"export type {def_name} = {_ts(def_schema, defs)};")
        lines.append(f"export type {topic.model.__name__} = {_ts(schema, defs)};")
        members.append(
            f'(StreamEnvelope & {{ type: "custom"; data: {{ topic: {json.dumps(topic.name)}; '
            f"data: {topic.model.__name__}; tool_call_id: string | null }} }})"
        )
    if not declared:
        members.append(_UNTYPED_CUSTOM)
    lines.append(f"export type {name} =\n  | " + "\n  | ".join(members) + ";")
    lines.append(f"export type UntypedEvent = {_UNTYPED_CUSTOM} | {_built_in_member('tool.call')};")
    return "\n".join(lines) + "\n"


def _built_in_member(type_name: str) -> str:
    fields = "; ".join(
        f"{key}: {_ts(schema, {})}" for key, schema in _BUILT_IN_DATA[type_name].items()
    )
    return f'(StreamEnvelope & {{ type: "{type_name}"; data: {{ {fields} }} }})'


def _tool_members(manifest: Mapping[str, Any], lines: list[str]) -> list[str]:
    """A ``tool.call`` member per tool of the manifest (and ``ToolArguments``)."""
    if not manifest:
        return []
    entries = "; ".join(f"{json.dumps(n)}: {_ts(s, {})}" for n, s in manifest.items())
    lines.append(f"export type ToolArguments = {{ {entries} }};")
    return [
        f'(StreamEnvelope & {{ type: "tool.call"; data: {{ call: string; id: string; '
        f"name: {json.dumps(tool_name)}; arguments: ToolArguments[{json.dumps(tool_name)}] }} }})"
        for tool_name in manifest
    ]


def _ts(schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int = 0) -> str:
    """A TypeScript type for a JSON Schema (the subset pydantic produces)."""
    if depth > 20:
        return "unknown"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1] if ref.rsplit("/", 1)[-1] in defs else "unknown"
    if "const" in schema:
        return json.dumps(schema["const"])
    if isinstance(schema.get("enum"), list):
        return " | ".join(json.dumps(v) for v in schema["enum"]) or "never"
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_ts(s, defs, depth + 1) for s in schema[key]) or "unknown"
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts({**schema, "type": k}, defs, depth + 1) for k in kind)
    if kind == "array":
        items = schema.get("items")
        inner = _ts(items, defs, depth + 1) if isinstance(items, Mapping) else "unknown"
        return f"Array<{inner}>"
    if kind == "object":
        return _ts_object(schema, defs, depth)
    return _TS_SCALARS.get(str(kind), "unknown")


def _ts_object(schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> str:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        extra = schema.get("additionalProperties")
        value = _ts(extra, defs, depth + 1) if isinstance(extra, Mapping) else "unknown"
        return f"Record<string, {value}>"
    required = set(schema.get("required") or ())
    fields = [
        f"{json.dumps(key)}{'' if key in required else '?'}: {_ts(value, defs, depth + 1)}"
        for key, value in properties.items()
        if isinstance(value, Mapping)
    ]
    return "{ " + "; ".join(fields) + " }"
