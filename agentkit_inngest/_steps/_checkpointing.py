"""Checkpointing: the option, where its value comes from, and one API client per app.

A checkpointed function runs the steps it reaches one after another in the same
request, reporting each result to the Inngest server's checkpoint API
(``POST /v1/checkpoint/{run_id}/async``) before the next step starts, instead of
returning to the server's queue after every step (how: ``_checkpoint_ctx.py``).

The option is resolved, for each call of a function, in this order: the function's
own ``checkpointing=`` (``network_function``, ``agent_function``, ``create_function``),
then the app's (``create_server(checkpointing=...)``), then
:data:`DEFAULT_CHECKPOINTING`, which turns it on; ``checkpointing=False`` turns it off.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import TypeAlias

import inngest

from .._checkpoint import CheckpointClient
from .._durations import Duration, parse_duration
from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_CHECKPOINTING",
    "Checkpointing",
    "CheckpointingOption",
    "app_checkpointing",
    "check_checkpointing",
    "checkpoint_client",
    "resolve_checkpointing",
    "set_app_checkpointing",
]

DEFAULT_BUDGET: Duration = "10s"
"""After this long a request starts no new step in process (a serverless platform's
usual limit); the next step goes back to the server, which calls the app again."""


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """How a function checkpoints its steps.

    How a function checkpoints its steps (pass ``checkpointing=Checkpointing(...)``;
    ``checkpointing=True`` means these defaults).

    Attributes:
        budget: how long one request may keep starting steps, from when the app
            received it: once it has passed, the next new step is handed back to the
            Inngest server (planned), which calls the app again for it. A step that
            has started always finishes, so a request lasts at most the budget plus
            its longest step. ``None``: no limit (a long-running server).
        record_prompts: send an in-process inference's request body (the prompt, which
            can hold personal data) to Inngest as the step's input, so the dev server
            shows it. Off by default; bodies over 256 KiB are never sent.
    """

    budget: Duration | None = DEFAULT_BUDGET
    record_prompts: bool = False

    def __post_init__(self) -> None:
        if self.budget is not None:
            parse_duration(self.budget, field="Checkpointing(budget=...)")
        if not isinstance(self.record_prompts, bool):
            raise ConfigurationError(
                f"Checkpointing(record_prompts=...) must be True or False, "
                f"got {self.record_prompts!r}"
            )

    @property
    def budget_seconds(self) -> float | None:
        """The budget in seconds (``None``: unlimited)."""
        if self.budget is None:
            return None
        return parse_duration(self.budget, field="budget").total_seconds()


CheckpointingOption: TypeAlias = "bool | Checkpointing | None"
"""``True`` (the defaults), ``False`` (off), a :class:`Checkpointing`, or ``None``:
whatever the app, else :data:`DEFAULT_CHECKPOINTING`, says."""

DEFAULT_CHECKPOINTING: Checkpointing | None = Checkpointing()
"""Checkpointing for functions and apps that do not choose: on, with the defaults
(``None`` would turn it off everywhere)."""


def _chosen(option: CheckpointingOption, *, where: str) -> Checkpointing | bool | None:
    """``option`` checked: a :class:`Checkpointing`, ``False`` (off), or ``None`` (not chosen)."""
    if option is None or isinstance(option, Checkpointing):
        return option
    if option is True:
        return Checkpointing()
    if option is False:
        return False
    raise ConfigurationError(
        f"{where}: checkpointing must be True, False, None or a Checkpointing, got {option!r}"
    )


def check_checkpointing(option: CheckpointingOption, *, where: str) -> CheckpointingOption:
    """``option``, checked at definition time.

    ``option`` if it is a valid checkpointing option (raises
    :class:`~agentkit_inngest.ConfigurationError` otherwise), for definition time.
    """
    _chosen(option, where=where)
    return option


_APP_DEFAULTS: weakref.WeakKeyDictionary[inngest.Inngest, Checkpointing | bool] = (
    weakref.WeakKeyDictionary()
)
_CLIENTS: weakref.WeakKeyDictionary[inngest.Inngest, CheckpointClient] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def set_app_checkpointing(client: inngest.Inngest, option: CheckpointingOption) -> None:
    """Make ``option`` the default of the functions of ``client``'s app.

    Make ``option`` the default of the functions of ``client``'s app (``None``: leave the app's
    default as it is).
    """
    chosen = _chosen(option, where="create_server")
    if chosen is None:
        return
    with _LOCK:
        _APP_DEFAULTS[client] = chosen


def app_checkpointing(client: inngest.Inngest) -> Checkpointing | bool | None:
    """The app default set for ``client`` (``None`` when none was set)."""
    return _APP_DEFAULTS.get(client)


def resolve_checkpointing(
    option: CheckpointingOption, client: inngest.Inngest
) -> Checkpointing | None:
    """The checkpointing in force for a function of ``client``.

    The checkpointing in force for a function of ``client`` with ``option``: its own, else the
    app's, else :data:`DEFAULT_CHECKPOINTING`; ``None`` when off.
    """
    for chosen in (_chosen(option, where="checkpointing"), app_checkpointing(client)):
        if chosen is not None:
            return chosen if isinstance(chosen, Checkpointing) else None
    return DEFAULT_CHECKPOINTING


def checkpoint_client(client: inngest.Inngest) -> CheckpointClient:
    """The checkpoint API client of ``client``'s app (one per Inngest client)."""
    with _LOCK:
        found = _CLIENTS.get(client)
        if found is None:
            found = _CLIENTS[client] = CheckpointClient(client)
        return found
