"""Network state: typed data, a key-value store, and the results agents produced.

State is plain data that survives JSON: :meth:`State.to_json` /
:meth:`State.from_json` restore it exactly (typed ``data`` comes back as the same
pydantic model or dataclass). Tool handlers change state on a working copy; the
change is recorded as a :data:`Patch` in the tool's step output and re-applied on
replay, so state never depends on handlers running again.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, cast

import pydantic
import pydantic_core
from typing_extensions import TypeVar

from ._patch import Patch, apply_patch
from .errors import InputError
from .messages import (
    HistoryAdapter,
    Message,
    TextMessage,
    ToolCallMessage,
    ToolResultMessage,
    Usage,
)

__all__ = ["KV", "AgentResult", "State", "create_state", "interleave"]

T = TypeVar("T", default=Any)
"""The type of the state's data (``Any`` when not given)."""


class AgentResult(pydantic.BaseModel):
    """What one agent call produced.

    The model saw ``prompt + history``: the system prompt first, then the
    conversation. The names TypeScript AgentKit users look for: the system prompt's
    text is :attr:`system` and the user's message is :attr:`input` (in TypeScript's
    ``AgentResult`` both sit in ``prompt``; here the user's message is part of the
    conversation, in ``history``).

    Attributes:
        agent_name: the agent's name.
        id: a deterministic key of the call within its run, e.g. ``"Triage#1"``.
        output: the assistant messages of every inference, in order.
        tool_calls: the results of every tool call, in order.
        prompt: the system message sent first: the system prompt the call started
            with (empty without one). AgentKit's ``prompt`` also holds the user's
            message; here that message is in ``history``.
        history: the conversation sent after the prompt when the call started: the
            run's earlier messages and the user's input (trimmed by a context window,
            ending with the agent's assistant prefill if any).
        input: the user's input of the run the call belongs to.
        raw: the provider's raw responses, one per inference.
        usage: tokens used by this call's inferences.
        answer: the typed final answer of an agent with an ``output_type`` (validated;
            its JSON form once the result has been through JSON), else ``None``.
        cost_usd: the estimated cost of the call's model requests (its guardrails'
            included), in US dollars; ``None`` when a model it used has no price.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    agent_name: str
    id: str = ""
    output: list[Message] = pydantic.Field(default_factory=list)
    tool_calls: list[ToolResultMessage] = pydantic.Field(default_factory=list)
    prompt: list[Message] = pydantic.Field(default_factory=list)
    history: list[Message] = pydantic.Field(default_factory=list)
    input: str = ""
    raw: list[Any] = pydantic.Field(default_factory=list)
    usage: Usage = Usage()
    answer: Any = None
    cost_usd: float | None = None

    @property
    def system(self) -> str:
        """The system prompt's text (the ``system`` messages of :attr:`prompt`)."""
        return "\n".join(
            m.content for m in self.prompt if isinstance(m, TextMessage) and m.role == "system"
        )

    def messages(self) -> list[Message]:
        """Output and tool results interleaved as the conversation happened."""
        return interleave(self.output, self.tool_calls)

    @property
    def text(self) -> str:
        """The concatenated text of the assistant's messages (empty when it only called tools)."""
        return "\n".join(m.content for m in self.output if isinstance(m, TextMessage) and m.content)

    def to_json(self) -> dict[str, Any]:
        """What the call added, as JSON.

        What the call added, as JSON (a function's output carries this): ``agent_name``, ``id``,
        ``output``, ``tool_calls``, ``usage``, ``answer`` and ``cost_usd``. The prompt, the
        conversation before the call and the raw answers are left out: they repeat what other
        results (or the run's input) already hold, so a run's output grows linearly with its
        length. ``model_dump()`` has every field.
        """
        return self.model_dump(mode="json", include=_RESULT_JSON)


_RESULT_JSON = {"agent_name", "id", "output", "tool_calls", "usage", "answer", "cost_usd"}


def interleave(
    output: Sequence[Message], tool_results: Sequence[ToolResultMessage]
) -> list[Message]:
    """Messages in conversation order: each tool call followed by its results."""
    if not tool_results:
        return list(output)
    pending = list(tool_results)
    ordered: list[Message] = []
    for message in output:
        ordered.append(message)
        if isinstance(message, ToolCallMessage):
            ids = {call.id for call in message.tools}
            ordered.extend(r for r in pending if r.tool_call_id in ids)
            pending = [r for r in pending if r.tool_call_id not in ids]
    ordered.extend(pending)
    return ordered


class KV:
    """A small JSON key-value store inside :class:`State`."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` to ``value`` (JSON)."""
        self._values[key] = value

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether it was there."""
        return self._values.pop(key, _MISSING) is not _MISSING

    def has(self, key: str) -> bool:
        """Whether ``key`` is set."""
        return key in self._values

    def all(self) -> dict[str, Any]:
        """A copy of every entry."""
        return dict(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"KV({self._values!r})"


_MISSING = object()

HistoryFormatter = Callable[["State[Any]"], list[Message]]


class State(Generic[T]):
    """Shared state of a network run.

    Args:
        data: typed data: a pydantic model, a dataclass or a dict (default ``{}``).
        kv: initial key-value entries.
        results: earlier agent results.
        messages: the conversation so far (e.g. a thread's history); by default the
            messages of ``results``. A network appends the user's input and every new
            result's messages to it.
        thread_id: the conversation thread this state belongs to, if any.
        data_type: the type of ``data`` when it cannot be read off the value.
    """

    def __init__(
        self,
        data: T | None = None,
        *,
        kv: dict[str, Any] | None = None,
        results: list[AgentResult] | None = None,
        messages: list[Message] | None = None,
        thread_id: str | None = None,
        data_type: Any = None,
    ) -> None:
        value: Any = {} if data is None else data
        self._type: Any = data_type if data_type is not None else _type_of(value)
        self._adapter: pydantic.TypeAdapter[Any] = _adapter(self._type)
        self.data: T = cast(T, value)
        self.kv = KV(kv)
        self.results: list[AgentResult] = list(results or [])
        self.messages: list[Message] = (
            list(messages)
            if messages is not None
            else [m for result in self.results for m in result.messages()]
        )
        self.thread_id = thread_id

    @property
    def data_type(self) -> Any:
        """The type of ``data`` (a pydantic model, a dataclass or ``dict[str, Any]``)."""
        return self._type

    # -- history ------------------------------------------------------------------------

    def append_result(self, result: AgentResult) -> None:
        """Record an agent's result and add its messages to the conversation."""
        self.results.append(result)
        self.messages.extend(result.messages())

    def format_history(self, formatter: HistoryFormatter | None = None) -> list[Message]:
        """The conversation sent to the next model call.

        The conversation sent to the next model call (a copy of :attr:`messages`, or what
        ``formatter`` makes of the state).
        """
        if formatter is not None:
            return formatter(self)
        return list(self.messages)

    # -- copies and JSON ----------------------------------------------------------------

    def clone(self) -> State[T]:
        """A deep copy (results are immutable records and are shared)."""
        twin: State[T] = State(
            copy.deepcopy(self.data),
            kv=copy.deepcopy(self.kv.all()),
            results=list(self.results),
            messages=list(self.messages),
            thread_id=self.thread_id,
            data_type=self._type,
        )
        return twin

    def data_json(self) -> Any:
        """``data`` as JSON-compatible values."""
        try:
            return self._adapter.dump_python(self.data, mode="json")
        except pydantic_core.PydanticSerializationError as err:
            raise InputError(f"state data cannot be serialized to JSON: {err}") from err

    def snapshot(self) -> dict[str, Any]:
        """The mutable part of the state (``data`` and ``kv``) as JSON-compatible values."""
        return {"data": self.data_json(), "kv": copy.deepcopy(self.kv.all())}

    def to_json(self, *, include_raw: bool = False, conversation: bool = True) -> dict[str, Any]:
        """Everything as JSON-compatible values.

        Raw provider responses are left out unless ``include_raw`` (they repeat the messages and
        can be large). With ``conversation=False`` only ``data``, ``kv`` and ``thread_id`` (what
        a function's output carries; :meth:`from_json` reads it back without history).
        """
        out: dict[str, Any] = {"data": self.data_json(), "kv": copy.deepcopy(self.kv.all())}
        if conversation:
            exclude: Any = None if include_raw else {"raw"}
            out["results"] = [r.model_dump(mode="json", exclude=exclude) for r in self.results]
            out["messages"] = HistoryAdapter.dump_python(self.messages, mode="json")
        out["thread_id"] = self.thread_id
        return out

    @classmethod
    def from_json(cls, payload: object, *, data_type: Any = None) -> State[Any]:
        """Rebuild a state from :meth:`to_json` output.

        Raises:
            InputError: naming the field that does not fit.
        """
        if not isinstance(payload, dict):
            raise InputError(f"state must be a JSON object, got {type(payload).__name__}")
        unknown = set(payload) - {"data", "kv", "results", "messages", "thread_id"}
        if unknown:
            raise InputError(f"state has unknown field(s): {', '.join(sorted(unknown))}")
        kind = data_type if data_type is not None else dict[str, Any]
        try:
            data = _adapter(kind).validate_python(payload.get("data") or {})
        except pydantic.ValidationError as err:
            raise InputError(f"state.data is invalid: {_first_error(err)}") from err
        kv = payload.get("kv")
        kv = {} if kv is None else kv
        if not isinstance(kv, dict):
            raise InputError("state.kv must be a JSON object")
        try:
            results = _RESULTS.validate_python(payload.get("results") or [])
        except pydantic.ValidationError as err:
            raise InputError(f"state.results is invalid: {_first_error(err)}") from err
        try:
            raw_messages = payload.get("messages")
            messages = (
                None if raw_messages is None else HistoryAdapter.validate_python(raw_messages)
            )
        except pydantic.ValidationError as err:
            raise InputError(f"state.messages is invalid: {_first_error(err)}") from err
        thread_id = payload.get("thread_id")
        if thread_id is not None and not isinstance(thread_id, str):
            raise InputError("state.thread_id must be a string")
        return State(
            data,
            kv=kv,
            results=results,
            messages=messages,
            thread_id=thread_id,
            data_type=kind,
        )

    def apply(self, patch: Patch) -> None:
        """Apply a patch made by :func:`diff` of two :meth:`snapshot` values."""
        if not patch:
            return
        current = self.snapshot()
        updated = apply_patch(current, patch)
        if updated["data"] != current["data"]:
            self.data = cast(T, self._adapter.validate_python(updated["data"]))
        self.kv = KV(updated["kv"])

    def __repr__(self) -> str:
        return f"State(data={self.data!r}, kv={self.kv.all()!r}, results={len(self.results)})"


_RESULTS: pydantic.TypeAdapter[list[AgentResult]] = pydantic.TypeAdapter(list[AgentResult])
_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _type_of(value: object) -> Any:
    if isinstance(value, pydantic.BaseModel) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    ):
        return type(value)
    if isinstance(value, dict):
        return dict[str, Any]
    raise InputError(
        f"state data must be a pydantic model, a dataclass or a dict, got {type(value).__name__}"
    )


def _adapter(kind: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return _ADAPTERS[kind]
    except (KeyError, TypeError):
        pass
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(kind)
    with contextlib.suppress(TypeError):  # unhashable type expressions are not cached
        _ADAPTERS[kind] = adapter
    return adapter


def _first_error(err: pydantic.ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "(root)"
    return f"{where}: {first.get('msg', 'invalid')}"


def create_state(
    data: T | None = None,
    *,
    messages: list[Message] | None = None,
    results: list[AgentResult] | None = None,
    thread_id: str | None = None,
    kv: dict[str, Any] | None = None,
) -> State[T]:
    """A :class:`State` (AgentKit's ``createState(data, { messages, results, threadId })``).

    Args:
        data: typed data: a pydantic model, a dataclass or a dict.
        messages: the conversation so far (e.g. a thread's history).
        results: earlier agent results.
        thread_id: the conversation thread the state belongs to.
        kv: initial key-value entries (AgentKit's deprecated ``kv``).
    """
    return State(data, messages=messages, results=results, thread_id=thread_id, kv=kv)
