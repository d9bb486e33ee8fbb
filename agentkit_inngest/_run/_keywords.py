"""Calling user code with the keyword arguments it asks for.

AgentKit's TypeScript hooks, routers and prompts destructure one argument object
(``({ network, lastResult }) => ...``); here they declare the keyword arguments
they use, by name, and get exactly those. A callable taking ``**kwargs`` gets them
all. Signatures are read once per callable (hooks run again on every replay).
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Literal

from .._context import NetworkRun
from ..errors import ConfigurationError

__all__ = ["call_hook", "call_system", "check_keywords", "wanted_keywords"]

_WANTS: weakref.WeakKeyDictionary[Callable[..., Any], frozenset[str] | None] = (
    weakref.WeakKeyDictionary()
)
_SYSTEM: weakref.WeakKeyDictionary[Callable[..., Any], Literal["keyword", "positional", "none"]] = (
    weakref.WeakKeyDictionary()
)


def wanted_keywords(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The argument names ``fn`` declares (``None``: all, it takes ``**kwargs``)."""
    with contextlib.suppress(KeyError, TypeError):
        return _WANTS[fn]
    params = inspect.signature(fn).parameters.values()
    wanted = (
        None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        else frozenset(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)
    )
    with contextlib.suppress(TypeError):  # not every callable can be weakly referenced
        _WANTS[fn] = wanted
    return wanted


def check_keywords(fn: Callable[..., Any], known: Iterable[str], *, what: str) -> None:
    """Fail, naming ``what``, when ``fn`` requires an argument not among ``known``."""
    allowed = frozenset(known)
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param.name not in allowed and param.default is inspect.Parameter.empty:
            raise ConfigurationError(
                f"{what}: parameter {param.name!r} is not one of {', '.join(sorted(allowed))}"
            )


def call_hook(fn: Callable[..., Any], **values: Any) -> Any:
    """``fn`` called with those of ``values`` it declares."""
    wanted = wanted_keywords(fn)
    if wanted is None:
        return fn(**values)
    return fn(**{name: value for name, value in values.items() if name in wanted})


def call_system(fn: Callable[..., Any], run: NetworkRun) -> Any:
    """A system prompt function, called as it is written.

    A system prompt function called as it is written: ``fn(network=run)`` when it declares
    ``network`` as a keyword (AgentKit's ``({ network }) => ...``), ``fn(run)`` when it takes
    one positional argument, ``fn()`` when it takes none.
    """
    try:
        style = _SYSTEM[fn]
    except (KeyError, TypeError):
        style = _system_style(fn)
        with contextlib.suppress(TypeError):
            _SYSTEM[fn] = style
    if style == "keyword":
        return fn(network=run)
    if style == "positional":
        return fn(run)
    return fn()


def _system_style(fn: Callable[..., Any]) -> Literal["keyword", "positional", "none"]:
    params = list(inspect.signature(fn).parameters.values())
    named = next((p for p in params if p.name == "network"), None)
    if named is not None and named.kind is not inspect.Parameter.POSITIONAL_ONLY:
        return "keyword"
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params) and not any(
        p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for p in params
    ):
        return "keyword"
    if any(
        p.kind
        in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.VAR_POSITIONAL,
        )
        for p in params
    ):
        return "positional"
    required = [p.name for p in params if p.default is inspect.Parameter.empty]
    if required:
        raise ConfigurationError(
            f"system prompt function {getattr(fn, '__name__', fn)!r}: parameter "
            f"{required[0]!r} is not 'network'; write def system(*, network) or def system(run)"
        )
    return "none"
