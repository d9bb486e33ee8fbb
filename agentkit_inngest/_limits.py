"""Size limits that keep a run well inside Inngest's own.

Inngest refuses a step output over 4 MB and a run whose memoized state passes
32 MB; when that happens the run fails with a server error that names neither
the tool nor the fix. :class:`Limits` sets smaller bounds that are checked where
the data is made, in plain Python and under Inngest alike (one code path):

- a **tool result** over ``tool_result_bytes`` is replaced by its beginning and a
  note the model can read (the run goes on);
- the **state** (``data`` and ``kv``) over ``state_bytes`` after a tool's change,
  or in an event's payload, fails the run with :class:`SizeLimitError`;
- a **step output** over ``step_bytes``, or one that would bring the run's
  memoized outputs over ``run_bytes``, fails its step (not retried);
- a **function output** over ``output_bytes`` leaves out the run's new messages
  (``results``, or an agent's ``result``) and says so.

Sizes are the length in bytes of the value's compact JSON (UTF-8), see
:func:`~agentkit_inngest._json.json_size`.
"""

from __future__ import annotations

import dataclasses

from .errors import ConfigurationError

__all__ = ["INNGEST_RUN_BYTES", "INNGEST_STEP_BYTES", "Limits"]

INNGEST_STEP_BYTES = 4 * 1024 * 1024
"""Inngest's limit on one step's output (and a function's output)."""

INNGEST_RUN_BYTES = 32 * 1024 * 1024
"""Inngest's limit on a run's memoized state."""

KIB = 1024
MIB = 1024 * KIB


@dataclasses.dataclass(frozen=True)
class Limits:
    """Size limits of a run, in bytes of JSON.

    Pass them to the runner (``InlineRunner(limits=...)``) or to ``network_function(...,
    limits=...)``.

    Attributes:
        tool_result_bytes: a tool result sent to the model; a larger one is cut to
            its beginning with a note saying so (default 256 KiB, about 64k tokens).
        state_bytes: the state's ``data`` and ``kv`` (default 1 MiB).
        step_bytes: one step's output (default 2 MiB; Inngest's limit is 4 MB).
        run_bytes: all memoized step outputs of a run (default 16 MiB; Inngest's
            limit is 32 MB).
        output_bytes: a function's output (default 2 MiB).
    """

    tool_result_bytes: int = 256 * KIB
    state_bytes: int = 1 * MIB
    step_bytes: int = 2 * MIB
    run_bytes: int = 16 * MIB
    output_bytes: int = 2 * MIB

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
                raise ConfigurationError(
                    f"Limits.{field.name} must be an integer of at least 1024 bytes, got {value!r}"
                )
        for name in ("tool_result_bytes", "state_bytes", "step_bytes", "output_bytes"):
            if getattr(self, name) > INNGEST_STEP_BYTES:
                raise ConfigurationError(
                    f"Limits.{name} must not exceed Inngest's 4 MB step limit "
                    f"({INNGEST_STEP_BYTES} bytes)"
                )
        if self.run_bytes > INNGEST_RUN_BYTES:
            raise ConfigurationError(
                f"Limits.run_bytes must not exceed Inngest's 32 MB run limit ({INNGEST_RUN_BYTES})"
            )
        if self.tool_result_bytes > self.step_bytes:
            raise ConfigurationError("Limits.tool_result_bytes must not exceed Limits.step_bytes")
