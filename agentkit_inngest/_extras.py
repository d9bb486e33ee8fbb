"""Optional dependencies: a clear error naming the extra that brings them.

Features that need a library the base install leaves out import it through
:func:`require`; when it is missing the user reads which extra to install
(``pip install 'agentkit-inngest[postgres]'``) instead of a bare
``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigurationError

__all__ = ["MissingExtraError", "missing", "require"]


class MissingExtraError(ConfigurationError, ImportError):
    """A feature needs an optional dependency that is not installed.

    Both a :class:`~agentkit_inngest.ConfigurationError` (set-up to fix) and an
    :class:`ImportError` (so ``try: ... except ImportError`` guards keep working).

    Attributes:
        extra: the extra to install, e.g. ``"postgres"``.
    """

    def __init__(self, message: str, *, extra: str, module: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.name = module


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming ``extra``.

    Args:
        module: the module to import (``"asyncpg"``).
        extra: the package extra that installs it (``"postgres"``).
        feature: what needs it, for the message (``"PostgresStore"``).
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and module.split(".")[0] != err.name.split(".")[0]:
            raise  # the module is there but something it imports is missing
        raise missing(module, extra=extra, feature=feature) from err


def missing(module: str, *, extra: str, feature: str) -> MissingExtraError:
    """The error of ``feature`` when ``module`` (from the ``extra``) is not installed."""
    package = module.split(".")[0]
    return MissingExtraError(
        f"{feature} needs the {package!r} package, which is not installed: "
        f"pip install 'agentkit-inngest[{extra}]'",
        extra=extra,
        module=package,
    )
