"""What every subcommand shares: the parser that never prints usage noise, number types, and the one
mapping from exceptions to an ``error:`` line and an exit code (TensorFlow loads quietly through
``nst_lab.load_tensorflow``)."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from nst_lab.errors import EXIT_FAILED, NstLabError, UsageError, first_line


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that takes no abbreviations and whose errors are one line (a UsageError).

    ``--ste 5`` is refused instead of running as ``--steps 5`` (a flag added later could change what
    an abbreviation means). An unknown flag is answered by the (sub)command it was given to, with its
    closest flag and its own help: ``unrecognized argument --stpes: did you mean --steps? (see
    `nst-lab stylize --help`)``. Unknown flags are named before any other mistake on the same line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._given: list[str] = []

    def parse_known_args(  # type: ignore[override]  # one signature for typeshed's three overloads
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        """Parse like argparse, but raise at the first unrecognized argument instead of returning it."""
        self._given = list(sys.argv[1:] if args is None else args)
        namespace, extras = super().parse_known_args(self._given, namespace)
        if extras:
            raise UsageError(self._owner(namespace, extras[0]).unrecognized(extras))
        return namespace, extras

    def error(self, message: str) -> NoReturn:
        options = self._given[:self._given.index("--")] if "--" in self._given else self._given  # `--`: no more flags
        unknown = [] if self._subcommands() else [t for t in options if self._is_unknown_flag(t)]
        if unknown:  # e.g. `grade SUBS --ot grades`: the typo, not the missing -o it causes
            raise UsageError(self.unrecognized(unknown))
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def unrecognized(self, tokens: Sequence[str]) -> str:
        """The one-line answer to arguments this parser does not know: each flag with its closest flag."""
        flags = [t for t in tokens if _looks_like_flag(t)] or list(tokens[:1])
        named = []
        for token in flags:
            closest = self.closest_flag(token)
            named.append((token, f"did you mean {closest}?" if closest else ""))
        if len(named) == 1:
            token, hint = named[0]
            text = f"unrecognized argument {token}" + (f": {hint}" if hint else "")
        else:
            text = "unrecognized arguments " + ", ".join(f"{t} ({h})" if h else t for t, h in named)
        return f"{text} (see `{self.prog} --help`)"

    def closest_flag(self, token: str) -> str | None:
        """This parser's flag nearest to ``token`` (an abbreviation's completion first), or None."""
        name = token.partition("=")[0]
        flags = [flag for action in self._actions for flag in action.option_strings]
        completions = [flag for flag in flags if flag.startswith(name)]
        # compared without dashes or case, so `--colour` is not "close" to `--lr` for sharing `--` and `-O` is to `-o`
        bare = {flag.lstrip("-").lower(): flag for flag in completions or flags}
        matches = difflib.get_close_matches(name.lstrip("-").lower(), bare, n=1, cutoff=0.0 if completions else 0.6)
        return bare[matches[0]] if matches else None

    def _is_unknown_flag(self, token: str) -> bool:
        return _looks_like_flag(token) and token.partition("=")[0] not in self._option_string_actions

    def _subcommands(self) -> argparse._SubParsersAction[Any] | None:
        return next((a for a in self._actions if isinstance(a, argparse._SubParsersAction)), None)

    def _owner(self, namespace: Any, first: str) -> Parser:
        """The parser ``first`` was given to: the subcommand's when it came after the subcommand's name.

        (argparse has each subcommand parse its own arguments, so the subcommand's Parser raises first and
        this parser only sees its own; this keeps the answer right should an argparse hand them up.)
        """
        action = self._subcommands()
        name = getattr(namespace, action.dest, None) if action else None
        sub = action.choices.get(name) if action and isinstance(name, str) else None
        if isinstance(sub, Parser) and name in self._given and first in self._given[self._given.index(name) + 1:]:
            return sub
        return self


def _looks_like_flag(token: str) -> bool:
    """Whether argparse would read ``token`` as an option: a dash, then no number and no space."""
    if not token.startswith("-") or token in ("-", "--") or " " in token:
        return False
    try:
        float(token)
    except ValueError:
        return True
    return False


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
