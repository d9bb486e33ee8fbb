"""The step seam (private).

Runners, the retry policy, the step API of tools, and the stream of a run's events. Public names
are exported by :mod:`agentkit_inngest`.
"""

from ._ai import InferResult, infer
from ._checkpoint_ctx import checkpointed_context
from ._checkpointing import (
    Checkpointing,
    CheckpointingOption,
    check_checkpointing,
    resolve_checkpointing,
    set_app_checkpointing,
)
from ._current import (
    DEFAULT_ATTEMPTS,
    FunctionScope,
    current_scope,
    default_runner,
    enter_scope,
    function_scope,
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
    match_expression,
)

__all__ = [
    "DEFAULT_ATTEMPTS",
    "LAST_SEQ",
    "REQUEST_BYTES",
    "Body",
    "CarriedMemos",
    "Checkpointing",
    "CheckpointingOption",
    "EventSender",
    "EventWait",
    "EventWaiter",
    "FunctionScope",
    "InferResult",
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
    "current_scope",
    "default_runner",
    "enter_scope",
    "function_scope",
    "infer",
    "match_expression",
    "resolve_checkpointing",
    "set_app_checkpointing",
    "to_inngest_error",
]
