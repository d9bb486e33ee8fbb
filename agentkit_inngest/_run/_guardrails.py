"""Guardrails: checks of an agent's (or a run's) input and output.

A :class:`Guardrail` is a function (sync or async) of a :class:`GuardrailContext`
that returns ``None`` (let it pass) or a :class:`Verdict`: ``Verdict.rewrite(text)``
(replace the text, or for an output, a typed answer) or ``Verdict.stop(reason)``
(end the run with a non-retriable
:class:`~agentkit_inngest.errors.GuardrailTripped`).

Input guardrails check the user's message before an agent call's first inference
(or, on a network, once before the first agent); output guardrails check the final
answer at the end of a call (or of the run). A guardrail runs in a step of its own
(``Writer#1/guardrail/input/<name>``, ``guardrail/output/<name>`` for a network's):
its verdict is memoized, so a guardrail that calls a model (``ctx.ask``) calls it
once, and a replay reads the verdict. ``pure=True`` guardrails (no I/O, no model:
a regular expression, a length check) run inline on every replay instead.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeAlias, overload

from .._context import AgentView, NetworkRun
from .._json import NotJSONError, plain_json
from .._state import AgentResult
from ..errors import ConfigurationError, GuardrailTripped
from ..messages import TextMessage, Usage
from ..models import Model, ModelRequest

__all__ = [
    "Guardrail",
    "GuardrailCheck",
    "GuardrailContext",
    "Verdict",
    "check_guardrails",
    "input_guardrail",
    "output_guardrail",
    "run_guardrails",
]

GuardrailKind: TypeAlias = Literal["input", "output"]
_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a guardrail decided.

    Build one with :meth:`allow`, :meth:`rewrite` or :meth:`stop` (returning ``None`` is
    :meth:`allow`).

    Attributes:
        action: ``"allow"``, ``"rewrite"`` or ``"stop"``.
        value: the new text (or, for an output, the new typed answer).
        reason: why the run stops.
        info: anything else to keep with the verdict (plain JSON).
    """

    action: Literal["allow", "rewrite", "stop"] = "allow"
    value: Any = None
    reason: str = ""
    info: Any = None

    @classmethod
    def allow(cls, info: Any = None) -> Verdict:
        """Let the input or output pass as it is."""
        return cls("allow", info=info)

    @classmethod
    def rewrite(cls, value: Any, info: Any = None) -> Verdict:
        """Replace the text (or an output's typed answer) with ``value``."""
        return cls("rewrite", value=value, info=info)

    @classmethod
    def stop(cls, reason: str, info: Any = None) -> Verdict:
        """End the run, saying ``reason``."""
        return cls("stop", reason=str(reason), info=info)


@dataclasses.dataclass
class GuardrailContext:
    """What a guardrail checks.

    Attributes:
        guardrail: its name.
        kind: ``"input"`` or ``"output"``.
        network: the run.
        agent: the agent (``None`` for a network's guardrails).
        text: the user's message (input), or the final answer's text (output).
        answer: the typed answer (outputs of agents or networks with an ``output_type``).
        result: the agent's result (agent outputs).
        pure: whether the guardrail runs inline (then :meth:`ask` is refused).
        usage: the model requests :meth:`ask` made (memoized with the verdict).
    """

    guardrail: str
    kind: GuardrailKind
    network: NetworkRun
    agent: AgentView | None
    text: str
    answer: Any = None
    result: AgentResult | None = None
    pure: bool = False
    usage: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    async def ask(self, model: Model, prompt: str, *, system: str = "") -> str:
        """Ask ``model`` (a classifier, a moderator) and return its text.

        The call is made inside the guardrail's step, so a replay never makes it again; its tokens
        count towards the run's budget and cost.
        """
        if self.pure:
            raise ConfigurationError(
                f"guardrail {self.guardrail!r} is pure, so it cannot call a model "
                "(it runs on every replay); drop pure=True"
            )
        messages: list[Any] = [TextMessage(role="user", content=prompt)]
        if system:
            messages.insert(0, TextMessage(role="system", content=system))
        raw = await model.complete(model.build_body(ModelRequest(messages=messages)))
        response = model.parse_response(raw)
        used = model.answered_by(raw)
        self.usage.append(
            {
                "provider": used.provider,
                "model": used.model,
                "label": used.label,
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
            }
        )
        return "\n".join(m.content for m in response.output if isinstance(m, TextMessage))


GuardrailCheck: TypeAlias = Callable[
    [GuardrailContext], "Verdict | Awaitable[Verdict | None] | None"
]
"""A guardrail's function: the context in, ``None`` or a :class:`Verdict` out."""


@dataclasses.dataclass(frozen=True)
class Guardrail:
    """A check of an input or an output (see :func:`input_guardrail`).

    Attributes:
        name: unique per kind on an agent or network; names its step.
        check: the function (sync or async).
        kind: ``"input"`` or ``"output"``.
        pure: no I/O and deterministic: it runs inline on every replay instead of
            in a step (it may not call a model).
    """

    name: str
    check: GuardrailCheck
    kind: GuardrailKind = "input"
    pure: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(
                f"guardrail name {self.name!r} must be 1-64 letters, digits, '_', '-' or '.'"
            )
        if self.kind not in ("input", "output"):
            raise ConfigurationError(f"guardrail {self.name!r}: kind must be 'input' or 'output'")
        if not callable(self.check):
            raise ConfigurationError(f"guardrail {self.name!r}: check must be a function")


def _decorator(
    kind: GuardrailKind, fn: GuardrailCheck | None, name: str | None, pure: bool
) -> Guardrail | Callable[[GuardrailCheck], Guardrail]:
    def build(check: GuardrailCheck) -> Guardrail:
        found = name or str(getattr(check, "__name__", kind))
        return Guardrail(name=found, check=check, kind=kind, pure=pure)

    return build(fn) if fn is not None else build


@overload
def input_guardrail(fn: GuardrailCheck, /) -> Guardrail: ...


@overload
def input_guardrail(
    *, name: str | None = None, pure: bool = False
) -> Callable[[GuardrailCheck], Guardrail]: ...


def input_guardrail(
    fn: GuardrailCheck | None = None, /, *, name: str | None = None, pure: bool = False
) -> Guardrail | Callable[[GuardrailCheck], Guardrail]:
    """Make ``fn`` an input guardrail.

    Use it bare (``@input_guardrail``) or with options (``@input_guardrail(name=..., pure=True)``);
    the name defaults to the function's.
    """
    return _decorator("input", fn, name, pure)


@overload
def output_guardrail(fn: GuardrailCheck, /) -> Guardrail: ...


@overload
def output_guardrail(
    *, name: str | None = None, pure: bool = False
) -> Callable[[GuardrailCheck], Guardrail]: ...


def output_guardrail(
    fn: GuardrailCheck | None = None, /, *, name: str | None = None, pure: bool = False
) -> Guardrail | Callable[[GuardrailCheck], Guardrail]:
    """Make ``fn`` an output guardrail (as :func:`input_guardrail`)."""
    return _decorator("output", fn, name, pure)


def check_guardrails(where: str, guardrails: object) -> tuple[Guardrail, ...]:
    """``guardrails`` as a tuple, each a :class:`Guardrail`, names unique per kind."""
    if isinstance(guardrails, (str, bytes, dict)) or not isinstance(guardrails, Sequence):
        raise ConfigurationError(f"{where}: guardrails must be a list of Guardrail objects")
    seen: set[tuple[str, str]] = set()
    for item in guardrails:
        if not isinstance(item, Guardrail):
            raise ConfigurationError(
                f"{where}: guardrails must be Guardrail objects (use @input_guardrail or "
                f"@output_guardrail), got {type(item).__name__}"
            )
        if (item.kind, item.name) in seen:
            raise ConfigurationError(f"{where} has two {item.kind} guardrails named {item.name!r}")
        seen.add((item.kind, item.name))
    return tuple(guardrails)


async def _evaluate(guard: Guardrail, ctx: GuardrailContext) -> dict[str, Any]:
    """Run ``guard`` and return its verdict as JSON (what its step memoizes)."""
    outcome: object = guard.check(ctx)
    if inspect.isawaitable(outcome):
        outcome = await outcome
    if outcome is None:
        outcome = Verdict.allow()
    if not isinstance(outcome, Verdict):
        raise ConfigurationError(
            f"guardrail {guard.name!r} must return None or a Verdict, got {type(outcome).__name__}"
        )
    memo = {
        "action": outcome.action,
        "value": outcome.value,
        "reason": outcome.reason,
        "info": outcome.info,
        "usage": ctx.usage,
    }
    try:
        return dict(plain_json(memo)[0])
    except NotJSONError as err:
        raise ConfigurationError(
            f"guardrail {guard.name!r}: its verdict is not JSON ({err}); give plain values"
        ) from None


Recorder: TypeAlias = Callable[[dict[str, Any]], None]
"""Counts one model request a guardrail made (its memoized usage entry)."""


async def run_guardrails(
    guardrails: Sequence[Guardrail],
    kind: GuardrailKind,
    base: GuardrailContext,
    *,
    prefix: str,
    record: Recorder,
) -> Verdict:
    """Run the ``kind`` guardrails in order on ``base`` (each sees the previous ones' rewrites).

    Returns the last rewrite (or :meth:`Verdict.allow`).

    Raises:
        GuardrailTripped: one of them stopped the run.
    """
    changed = Verdict.allow()
    for guard in (g for g in guardrails if g.kind == kind):
        ctx = dataclasses.replace(base, guardrail=guard.name, pure=guard.pure, usage=[])
        if guard.pure:
            memo: object = await _evaluate(guard, ctx)
        else:
            step_id = f"{prefix}guardrail/{kind}/{guard.name}"
            memo = await base.network.runner.run(step_id, _bound(guard, ctx))
        verdict = _read(guard, memo, record)
        if verdict.action == "stop":
            where = f"agent {base.agent.name!r}" if base.agent is not None else "the run"
            raise GuardrailTripped(
                f"{kind} guardrail {guard.name!r} stopped {where}: {verdict.reason}",
                guardrail=guard.name,
                reason=verdict.reason,
                info=verdict.info,
            )
        if verdict.action == "rewrite":
            changed = verdict
            if isinstance(verdict.value, str):
                base = dataclasses.replace(base, text=verdict.value)
            else:
                base = dataclasses.replace(base, answer=verdict.value)
    return changed


def _bound(guard: Guardrail, ctx: GuardrailContext) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def evaluate() -> dict[str, Any]:
        return await _evaluate(guard, ctx)

    return evaluate


def _read(guard: Guardrail, memo: object, record: Recorder) -> Verdict:
    action = memo.get("action") if isinstance(memo, dict) else None
    if not isinstance(memo, dict) or action not in ("allow", "rewrite", "stop"):
        raise ConfigurationError(
            f"the memoized verdict of guardrail {guard.name!r} has an unexpected shape; "
            "was the app changed while this run was in flight?"
        )
    for entry in memo.get("usage") or []:
        if isinstance(entry, dict):
            record(entry)
    return Verdict(action, memo.get("value"), str(memo.get("reason") or ""), memo.get("info"))


def usage_of(entry: dict[str, Any]) -> Usage:
    """The usage a guardrail's memo recorded for one model request."""
    return Usage(
        input_tokens=_int(entry.get("input_tokens")), output_tokens=_int(entry.get("output_tokens"))
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
