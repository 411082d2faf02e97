"""What every subcommand shares: the parser that never prints usage noise, number types, and the one
mapping from exceptions to an ``error:`` line and an exit code (TensorFlow loads quietly through
``nst_lab.load_tensorflow``)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import NoReturn

from nst_lab.errors import EXIT_FAILED, NstLabError, UsageError, first_line


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (a UsageError), not usage plus two lines."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    return parse


def number(text: str) -> float:
    """An argparse type: any float (the config validates its range)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def flags_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> the option that sets it, over a parser and all its subparsers (e.g. learning_rate -> --lr)."""
    found: dict[str, str] = {}
    for action in parser._actions:  # argparse keeps no public list of its actions
        if action.option_strings:
            found.setdefault(action.dest, max(action.option_strings, key=len))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for dest, flag in flags_of(sub).items():
                    found.setdefault(dest, flag)
    return found


def error_line(exc: BaseException, flags: dict[str, str]) -> tuple[str, int]:
    """The one ``error:`` line and the exit code of an exception that reached the CLI.

    nst_lab's own errors exit with their ``exit_code`` and have the config fields they name
    shown as the CLI's flags; anything else is unexpected: exit 1, with its type name.
    """
    if isinstance(exc, NstLabError):
        text = first_line(exc, limit=2000).partition(": ")[2] or type(exc).__name__
        for field in exc.fields:
            if field in flags:  # `field` where a word could mislead, else the bare field name
                marked = f"`{field}`"
                pattern = re.escape(marked) if marked in text else rf"(?<![\w-]){re.escape(field)}\b"
                text = re.sub(pattern, flags[field], text)
        return f"error: {text}", exc.exit_code
    return f"error: {first_line(exc)}", EXIT_FAILED
