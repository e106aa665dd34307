"""The typer application and the options every command shares."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from detector.errors import DistillguardError
from detector.store import DB_ENV, DEFAULT_DB

app = typer.Typer(
    name="distillguard",
    help="Find distillation campaigns in LLM API request logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    Path,
    typer.Option(
        "--db",
        envvar=DB_ENV,
        help=f"DuckDB store (default {DEFAULT_DB} in the working directory, or ${DB_ENV}).",
        show_default=False,
    ),
]
DEFAULT_DB_PATH = Path(DEFAULT_DB)

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str) -> typer.Exit:
    """Print a one-line reason on stderr and return the exit for code 3."""
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    typer.echo(f"distillguard: error: {first_line}", err=True)
    return typer.Exit(code=3)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the library's errors (and any other crash) into exit code 3 with one line."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except DistillguardError as exc:
            raise fail(str(exc)) from exc
        except Exception as exc:  # internal error: still one line, and the type for a bug report
            raise fail(f"internal error: {type(exc).__name__}: {exc}") from exc

    return wrapper


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
