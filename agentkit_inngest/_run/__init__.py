"""The run layer (private).

The one agent loop, tool execution, the network loop, routing execution and the thread hooks,
working against the leaf run context (:class:`~agentkit_inngest.NetworkRun`). The definitions
(:class:`~agentkit_inngest.Agent`, :class:`~agentkit_inngest.Network`...) call :func:`run_agent`
and :func:`run_network`.
"""

from ._agent_loop import AgentCall, maybe_await
from ._entry import call_agent, run_agent, run_network
from ._guardrails import (
    Guardrail,
    GuardrailCheck,
    GuardrailContext,
    Verdict,
    check_guardrails,
    input_guardrail,
    output_guardrail,
)
from ._keywords import call_hook, call_system, check_keywords
from ._outcome import ToolCallOutcome
from ._output import NativeOutput, ToolOutput, contract_for
from ._prepare import check_tool_choice, resolve_model
from ._routing import ROUTER_ARGUMENTS, check_router, route, run_routing_agent
from ._specs import (
    AGENT_MARKER,
    ROUTING_MARKER,
    AgentSpec,
    CodeRouter,
    Hook,
    LifecycleView,
    NetworkSpec,
    RouterSpec,
    RoutingSpec,
    StartResult,
    is_agent,
    is_routing_agent,
)

__all__ = [
    "AGENT_MARKER",
    "ROUTER_ARGUMENTS",
    "ROUTING_MARKER",
    "AgentCall",
    "AgentSpec",
    "CodeRouter",
    "Guardrail",
    "GuardrailCheck",
    "GuardrailContext",
    "Hook",
    "LifecycleView",
    "NativeOutput",
    "NetworkSpec",
    "RouterSpec",
    "RoutingSpec",
    "StartResult",
    "ToolCallOutcome",
    "ToolOutput",
    "Verdict",
    "call_agent",
    "call_hook",
    "call_system",
    "check_keywords",
    "check_guardrails",
    "check_router",
    "check_tool_choice",
    "contract_for",
    "is_agent",
    "input_guardrail",
    "is_routing_agent",
    "maybe_await",
    "output_guardrail",
    "resolve_model",
    "route",
    "run_agent",
    "run_network",
    "run_routing_agent",
]
