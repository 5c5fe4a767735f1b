"""Run a click command as a program: the command runner of every eventpipe entry point.

``python -m eventpipe`` and ``python -m trainers.<method>`` both go through :func:`run_command`,
so they fail the same way:

* an *expected* error (a bad input the user can fix: :class:`~eventpipe.errors.EventpipeError`
  and whatever the caller adds) prints one line ``error: <message>`` on stderr, without a
  traceback, and exits with status 2;
* a usage error (unknown option, bad value) is click's message and its exit status (2);
* Ctrl-C prints ``aborted`` and exits with status 130;
* anything else is a bug and keeps its traceback.

>>> import click
>>> @click.command()
... def hello() -> None:
...     click.echo("hello")
>>> run_command(hello, [], "hello")
hello
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from eventpipe.errors import EventpipeError


def _never(exc: BaseException) -> bool:
    return False


def run_command(
    command: click.Command,
    argv: list[str] | None,
    prog_name: str,
    expected: tuple[type[BaseException], ...] = (EventpipeError,),
    is_expected: Callable[[BaseException], bool] = _never,
) -> None:
    """Run a click command as a program: expected errors become one message and exit status 2.

    Returns normally when the command succeeds (so a caller may go on); every failure ends the
    process through ``sys.exit``.

    Args:
        command: the click command or group.
        argv: arguments (``None``: ``sys.argv[1:]``).
        prog_name: shown in usage lines, e.g. ``"python -m eventpipe"``.
        expected: exception types printed as ``error: ...`` without a traceback (exit status 2).
        is_expected: further exceptions to treat so (e.g. a CUDA ``RuntimeError``).
    """
    try:
        command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except Exception as exc:
        if not (isinstance(exc, expected) or is_expected(exc)):
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)


__all__ = ["run_command"]
