"""The variants measured: the same workload served different ways.

Adding a variant is one line in :data:`VARIANTS` (or ``--variant`` on the command
line). ``app`` picks the server: ``agentkit`` (options: ``model``, ``agent``,
``network``, ``function``, ``tracing``: keyword arguments of ``openai``,
``create_agent``, ``create_network``, ``network_function`` and ``configure_tracing``),
``raw`` (option ``offload``: inference through ``step.ai.infer``) or ``node`` (option
``checkpointing``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Literal

App = Literal["agentkit", "raw", "node"]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of serving the workload.

    Attributes:
        name: short id (``--variants``).
        label: what the tables call it.
        app: which server runs it.
        options: the app's options (see the module docstring).
        exactly_once: whether every tool call must run exactly once; a variant that
            promises it and breaks it fails the benchmark.
        required: a required variant that cannot run fails the benchmark; others
            are reported as skipped, with the reason.
        floor: the reference of the ratio columns.
    """

    name: str
    label: str
    app: App
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    exactly_once: bool = True
    required: bool = True
    floor: bool = False


VARIANTS: list[Variant] = [
    Variant(
        "agentkit",
        "(a) agentkit-inngest, checkpointing off",
        "agentkit",
        {"function": {"checkpointing": False}},
    ),
    Variant(
        "agentkit-offload",
        "(a) agentkit-inngest, inference through step.ai.infer, checkpointing off",
        "agentkit",
        {"model": {"inference": "offload"}, "function": {"checkpointing": False}},
    ),
    Variant("raw", "(b) raw inngest Python function (floor)", "raw", floor=True),
    Variant(
        "agentkit-ts",
        "(c) AgentKit TS 0.13.2 on inngest 4.24.0, checkpointing on",
        "node",
        {"checkpointing": True},
        exactly_once=False,
        required=False,
    ),
    Variant(
        "agentkit-ts-nocheckpoint",
        "(c) AgentKit TS 0.13.2 on inngest 4.24.0, checkpointing off",
        "node",
        {"checkpointing": False},
        exactly_once=False,
        required=False,
    ),
    Variant(
        "agentkit-fast",
        "(a) agentkit-inngest, fast turns (one step per turn), checkpointing off",
        "agentkit",
        {"network": {"fast_turns": True}, "function": {"checkpointing": False}},
    ),
    Variant(
        "agentkit-checkpoint",
        "(a) agentkit-inngest, checkpointing on (defaults: a 10 s budget per request)",
        "agentkit",
        {"function": {"checkpointing": True}},
    ),
    Variant(
        "agentkit-fast-checkpoint",
        "(a) agentkit-inngest, fast turns and checkpointing",
        "agentkit",
        {"network": {"fast_turns": True}, "function": {"checkpointing": True}},
    ),
    Variant(
        "agentkit-offload-checkpoint",
        "(a) agentkit-inngest, inference through step.ai.infer, checkpointing on",
        "agentkit",
        {"model": {"inference": "offload"}, "function": {"checkpointing": True}},
    ),
    Variant(
        "raw-offload",
        "(b) raw inngest Python function, inference through step.ai.infer (floor of offload)",
        "raw",
        {"offload": True},
    ),
]


def parse_variant(spec: str) -> Variant:
    """``name=app`` or ``name=app:{json options}`` (from ``--variant``)."""
    name, sep, rest = spec.partition("=")
    app, _, options = rest.partition(":")
    if not sep or not name or app not in ("agentkit", "raw", "node"):
        raise ValueError(
            f"--variant {spec!r}: expected NAME=APP[:JSON] with APP agentkit, raw or node, "
            'e.g. fast=agentkit:{"network": {"fast_turns": true}}'
        )
    try:
        parsed = json.loads(options) if options else {}
    except ValueError as err:
        raise ValueError(f"--variant {spec!r}: the options are not JSON: {err}") from err
    if not isinstance(parsed, dict):
        raise ValueError(f"--variant {spec!r}: the options must be a JSON object")
    return Variant(name, f"{name} ({app}, {options or 'no options'})", app, parsed)  # type: ignore[arg-type]
