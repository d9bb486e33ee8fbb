"""The curated public API stays complete: everything public is exported, and only that."""

from __future__ import annotations

import types

import pytest

import agentkit_inngest
import agentkit_inngest.testing


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_lists_every_public_member() -> None:
    exported = set(agentkit_inngest.__all__)
    assert _public_names(agentkit_inngest) - {"annotations"} == exported - {"__version__"}


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in agentkit_inngest.__all__:
        value = getattr(agentkit_inngest, name)
        if callable(value):
            assert value.__doc__, f"{name} has no docstring"


def test_no_duplicates_and_sorted_groups() -> None:
    names = agentkit_inngest.__all__
    assert len(names) == len(set(names))


def test_testing_kit_exports() -> None:
    assert set(agentkit_inngest.testing.__all__) == _public_names(agentkit_inngest.testing)


def test_models_exports_and_names_the_factories_not_modules() -> None:
    import importlib

    import agentkit_inngest.models as models
    import agentkit_inngest.tools as tools

    assert set(models.__all__) == _public_names(models)
    assert len(models.__all__) == len(set(models.__all__))
    for name in models.__all__:
        value = getattr(models, name)
        if isinstance(value, (types.FunctionType, type)):
            assert value.__doc__, f"models.{name} has no docstring"
    for provider in ("openai", "anthropic", "gemini", "grok"):
        factory = getattr(models, provider)
        assert isinstance(factory, types.FunctionType), provider
        assert factory is getattr(agentkit_inngest, provider)
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"agentkit_inngest.models.{provider}")
    assert models.ToolDefinition is tools.ToolDefinition
    assert "ToolDefinition" in tools.__all__ and "Provider" not in tools.__all__
