"""The step seam (private): runners, the retry policy, the step API of tools, and
the stream of a run's events. Public names are exported by :mod:`agentkit_inngest`."""

from ._checkpoint_ctx import checkpointed_context
from ._checkpointing import (
    Checkpointing,
    CheckpointingOption,
    check_checkpointing,
    resolve_checkpointing,
    set_app_checkpointing,
)
from ._inline import InlineRunner
from ._inngest import InngestRunner, count_fetched_memos, to_inngest_error
from ._retry import RetryPolicy
from ._runner import StepRunner
from ._span_specs import SpanSpec
from ._step_tools import NoSteps, StepTools
from ._stream import LAST_SEQ, RunStream
from ._types import (
    REQUEST_BYTES,
    Body,
    CarriedMemos,
    EventSender,
    EventWait,
    EventWaiter,
    Invocation,
    Invoker,
)

__all__ = [
    "LAST_SEQ",
    "REQUEST_BYTES",
    "Body",
    "CarriedMemos",
    "Checkpointing",
    "CheckpointingOption",
    "EventSender",
    "EventWait",
    "EventWaiter",
    "InlineRunner",
    "InngestRunner",
    "Invocation",
    "Invoker",
    "NoSteps",
    "RetryPolicy",
    "RunStream",
    "SpanSpec",
    "StepRunner",
    "StepTools",
    "check_checkpointing",
    "checkpointed_context",
    "count_fetched_memos",
    "resolve_checkpointing",
    "set_app_checkpointing",
    "to_inngest_error",
]
