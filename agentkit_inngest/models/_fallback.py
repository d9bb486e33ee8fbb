"""A model that falls back to the next one when a provider fails.

:class:`FallbackModel` tries its models in order, inside **one** inference step:
when a model fails with an error the fallback applies to (by default a 429, a 5xx,
or a failure without an HTTP status: a timeout, a connection error, an answer cut
short), the next model is called at once; any other error (a 400, a bad key) fails
the step as it would without a fallback. The step's memo records which model
answered and why the ones before it failed (``{"fallback": {"model", "index",
"failed"}, "raw": ...}``), so the dev server shows every attempt in that one step,
and a replay parses the answer with the model that gave it, calling none of them.

Why one step rather than one per model: an inference has no side effect but its
cost, so trying the models again after a crash mid-step costs at most one more
request; tools never run inside the fallback (a turn's tools start only once an
answer is chosen, in their own steps, or after the answer in a fast turn's step),
so a fallback after a 429 can never repeat a tool call. And one step works the
same on both paths of a turn (split and fast turns). When every model fails, the
last error (retriable or not) fails the step, which is retried from the first model.

A stream that already sent text is not abandoned: an error after the first piece
of text fails the step (it is retried), so a client never sees two models' text
mixed in one attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar, TypeAlias

from ..errors import ConfigurationError, ProviderError
from ._base import Model, ModelRequest, ModelResponse, TextSink

__all__ = ["DEFAULT_FALLBACK_ON", "FallbackModel", "FallbackOn", "fallback"]

FallbackOn: TypeAlias = "Callable[[ProviderError], bool] | Collection[int | str]"
"""When to try the next model: a function of the :class:`ProviderError`, or a
collection of HTTP statuses (``429``), ranges (``"4xx"``, ``"5xx"``) and
``"transport"`` (no HTTP status: timeouts, connection failures, cut or unreadable
answers)."""

DEFAULT_FALLBACK_ON: tuple[int | str, ...] = (429, "5xx", "transport")
"""Rate limits, server errors and timeouts (with the other failures that have no
HTTP status)."""

_KEEP = 300  # characters of each failed model's error kept in the memo


def _matcher(spec: FallbackOn) -> Callable[[ProviderError], bool]:
    if callable(spec):
        return spec
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Collection):
        raise ConfigurationError("fallback_on must be a function or a list of statuses")
    statuses: set[int] = set()
    ranges: set[int] = set()
    transport = False
    for item in spec:
        if isinstance(item, bool):
            raise ConfigurationError(f"fallback_on: {item!r} is not an HTTP status")
        if isinstance(item, int) and 100 <= item <= 599:
            statuses.add(item)
        elif isinstance(item, str) and len(item) == 3 and item[0] in "45" and item[1:] == "xx":
            ranges.add(int(item[0]))
        elif item == "transport":
            transport = True
        else:
            raise ConfigurationError(
                f"fallback_on: {item!r} is not an HTTP status (100-599), '4xx', '5xx' or "
                "'transport'"
            )

    def matches(err: ProviderError) -> bool:
        status = err.status_code
        if status is None:
            return transport
        return status in statuses or status // 100 in ranges

    return matches


class FallbackModel(Model):
    """Models tried in order until one answers. See :func:`fallback`."""

    provider: ClassVar[str] = "fallback"
    native_output: ClassVar[bool] = False  # typed answers use the final-answer tool

    def __init__(self, *models: Model, fallback_on: FallbackOn = DEFAULT_FALLBACK_ON) -> None:
        if len(models) < 2:
            raise ConfigurationError("a fallback needs at least two models")
        for model in models:
            if not isinstance(model, Model):
                raise ConfigurationError(
                    f"fallback models must be Model objects, got {type(model).__name__}"
                )
            if model.inference != "in_process":
                raise ConfigurationError(
                    f"fallback: {model.label} offloads its inference to Inngest; a fallback "
                    "calls its models in the app, inside one step (use inference='in_process')"
                )
        super().__init__(model=",".join(m.label for m in models))
        self.models: tuple[Model, ...] = models
        self._falls_back = _matcher(fallback_on)

    @property
    def label(self) -> str:
        """``fallback(openai/gpt-4o, anthropic/claude-...)``."""
        return f"fallback({', '.join(m.label for m in self.models)})"

    def secrets(self) -> list[str]:
        """Every model's secrets."""
        return [secret for model in self.models for secret in model.secrets()]

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        """The neutral request itself.

        Each model builds its own body when it is tried, inside the step.
        """
        return {"request": request}

    async def request(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        """The models' answer, as :meth:`complete` gives it."""
        return await self.complete(body, on_text=on_text)

    async def complete(
        self, body: dict[str, Any], *, on_text: TextSink | None = None
    ) -> dict[str, Any]:
        """Try the models in order; the first answer, with a record of the failures."""
        request = body.get("request")
        if not isinstance(request, ModelRequest):
            raise ConfigurationError("a fallback model's body comes from its own build_body")
        failed: list[dict[str, str]] = []
        for index, model in enumerate(self.models):
            streamed: list[bool] = []
            sink = None if on_text is None else _noting(on_text, streamed)
            try:
                raw = await model.complete(model.build_body(request), on_text=sink)
            except ProviderError as err:
                last = index == len(self.models) - 1
                if last or streamed or not self._falls_back(err):
                    if not failed:
                        raise
                    raise _with_failures(err, failed) from err
                failed.append({"model": model.label, "error": str(err)[:_KEEP]})
                continue
            record = {"model": model.label, "index": index, "failed": failed}
            return {"fallback": record, "raw": raw}
        raise AssertionError("unreachable: the last model's error is raised")  # pragma: no cover

    def _answer(self, raw: Mapping[str, Any]) -> tuple[Model, Mapping[str, Any]]:
        record = raw.get("fallback")
        index = record.get("index") if isinstance(record, dict) else None
        answer = raw.get("raw")
        if (
            isinstance(index, bool)
            or not isinstance(index, int)
            or not 0 <= index < len(self.models)
            or not isinstance(answer, dict)
        ):
            raise ValueError(
                f"{self.label}: the answer does not say which model gave it; "
                "was the fallback chain changed while this run was in flight?"
            )
        return self.models[index], answer

    def parse_response(self, raw: Mapping[str, Any]) -> ModelResponse:
        """The answer, read by the model that gave it."""
        model, answer = self._answer(raw)
        return model.parse_response(answer)

    def answered_by(self, raw: Mapping[str, Any]) -> Model:
        """The model that gave ``raw``."""
        return self._answer(raw)[0]


def _noting(on_text: TextSink, streamed: list[bool]) -> TextSink:
    async def sink(piece: str) -> None:
        streamed.append(True)
        await on_text(piece)

    return sink


def _with_failures(err: ProviderError, failed: list[dict[str, str]]) -> ProviderError:
    """``err`` with the models that failed before it named in its message."""
    before = "; ".join(f"{item['model']}: {item['error']}" for item in failed)
    return type(err)(
        f"{err} (after the fallback models before it failed: {before})",
        provider=err.provider,
        status_code=err.status_code,
        retry_after=err.retry_after,
    )


def fallback(*models: Model, fallback_on: FallbackOn = DEFAULT_FALLBACK_ON) -> FallbackModel:
    """A model that tries ``models`` in order.

    It moves on at once when one fails with an error ``fallback_on`` names (default: 429, 5xx,
    timeouts and other failures without an HTTP status).

    Every model must run in process (the fallback happens inside the inference
    step). Each answer is priced as the model that gave it.
    """
    return FallbackModel(*models, fallback_on=fallback_on)
