"""Import ``MODULE:NAME`` targets for the CLI, with errors that say what to fix."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["LoadError", "load_object"]


class LoadError(Exception):
    """A target could not be imported; the message says why and what to do.

    Attributes:
        failure: the exception the import raised, when the module itself failed
            (its traceback shows where).
    """

    def __init__(self, message: str, *, failure: BaseException | None = None) -> None:
        super().__init__(message)
        self.failure = failure


def where(error: BaseException, directory: str | Path = ".") -> str | None:
    """``file, line N`` of the line that raised ``error``.

    The last frame in a file under ``directory`` (the user's code), else the last frame in any real
    file.
    """
    if isinstance(error, SyntaxError) and error.filename:
        return f"{_shown(error.filename)}, line {error.lineno}"
    stack = traceback.extract_tb(error.__traceback__)
    frames = [f for f in stack if not f.filename.startswith("<")]
    root = Path(directory).resolve()
    mine = [f for f in frames if _is_users(Path(f.filename).resolve(), root)]
    chosen = (mine or frames)[-1:]
    return f"{_shown(chosen[0].filename)}, line {chosen[0].lineno}" if chosen else None


_PACKAGE = Path(__file__).resolve().parents[1]


def _is_users(path: Path, root: Path) -> bool:
    """Whether ``path`` is the user's code.

    Below ``root``, not an installed package nor this one.
    """
    if not path.is_relative_to(root) or path.is_relative_to(_PACKAGE):
        return False
    return not {"site-packages", "dist-packages"} & set(path.parts)


def _shown(filename: str) -> str:
    """A file name relative to the current directory when it is below it."""
    path = Path(filename).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _module_name(spec: str) -> str:
    """``examples/quick_start.py`` -> ``examples.quick_start``; dotted names stay."""
    if spec.endswith(".py"):
        spec = spec[: -len(".py")].replace(os.sep, ".").replace("/", ".").strip(".")
    return spec


def load_object(
    spec: str,
    *,
    app_dir: str | Path = ".",
    expected: str,
    accept: Callable[[Any], bool],
) -> Any:
    """Import ``MODULE:NAME`` (``NAME`` may be dotted) from ``app_dir``.

    Args:
        spec: e.g. ``examples.quick_start:network`` or ``examples/quick_start.py:network``.
        app_dir: put on ``sys.path`` first, as ``python -m`` and uvicorn do.
        expected: what the object should be, for error messages (``"a network or agent"``).
        accept: whether an object is of the expected kind.
    """
    module_part, sep, attribute = spec.partition(":")
    if not sep or not module_part.strip() or not attribute.strip():
        raise LoadError(
            f"{spec!r} is not MODULE:NAME; write e.g. examples.quick_start:network "
            "(the module's import path, a colon, the variable's name)"
        )
    module_name = _module_name(module_part.strip())
    directory = str(Path(app_dir).resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):
            raise LoadError(
                f"no module named {module_name!r} under {directory}; run the command from "
                "your project's root or pass --app-dir"
            ) from err
        raise _import_failed(module_name, err, directory, f"{err}") from err
    except Exception as err:  # any import-time failure is reported, not dumped
        raise _import_failed(module_name, err, directory, f"{type(err).__name__}: {err}") from err
    found: Any = module
    for part in attribute.strip().split("."):
        if not hasattr(found, part):
            candidates = sorted(
                name
                for name, value in vars(module).items()
                if not name.startswith("_") and accept(value)
            )
            hint = f"; candidates: {', '.join(candidates)}" if candidates else ""
            raise LoadError(f"module {module_name!r} has no {attribute.strip()!r}{hint}")
        found = getattr(found, part)
    if not accept(found):
        raise LoadError(f"{spec} is a {type(found).__name__}, not {expected}")
    return found


def _import_failed(module: str, err: BaseException, directory: str, what: str) -> LoadError:
    place = where(err, directory)
    at = f" ({place})" if place else ""
    return LoadError(f"importing {module!r} failed{at}: {what}", failure=err)
