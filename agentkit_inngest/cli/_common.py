"""What the CLI's commands share: the consoles, errors, loading targets."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from .loading import LoadError, load_object
from .shared import read_json

__all__ = [
    "DEFAULT_APP",
    "DEV_SERVER",
    "AppDir",
    "_fail",
    "_is_asgi_app",
    "_json_object",
    "_load",
    "err",
    "out",
]

DEFAULT_APP = "functions.app:app"
DEV_SERVER = "http://127.0.0.1:8288"

out = Console()
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, *, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _json_object(value: str, *, option: str, example: str) -> dict[str, Any]:
    try:
        parsed = read_json(value)
    except ValueError as error:
        raise _fail(
            f"{option} is not valid JSON ({error}); write e.g. {option} '{example}'"
        ) from error
    if not isinstance(parsed, dict):
        raise _fail(
            f"{option} must be a JSON object, got {type(parsed).__name__}; "
            f"write e.g. {option} '{example}'"
        )
    return parsed


def _load(spec: str, *, app_dir: str, expected: str, accept: Any) -> Any:
    try:
        return load_object(spec, app_dir=app_dir, expected=expected, accept=accept)
    except LoadError as error:
        raise _fail(str(error)) from error


def _is_asgi_app(value: Any) -> bool:
    return callable(value) and not isinstance(value, type)


AppDir = Annotated[
    str, typer.Option("--app-dir", help="Import targets from this directory (default: here).")
]
