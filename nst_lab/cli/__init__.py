"""The ``nst-lab`` command line (also ``python -m nst_lab``): all of argparse lives here.

Every error is one line ``error: ...`` on stderr, never a traceback: bad input or usage exits 2,
a failed run 1, anything unexpected 1 with its type name. An interrupted run exits 130.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from nst_lab.cli.common import Parser, error_line, flags_of
from nst_lab.errors import EXIT_INTERRUPTED, UsageError

__all__ = ["build_parser", "main"]


def _subcommands() -> list[Callable[[Any], None]]:
    from nst_lab.cli.bench import add_bench
    from nst_lab.cli.grading import add_grade, add_release
    from nst_lab.cli.stylize import add_stylize

    return [add_stylize, add_release, add_grade, add_bench]


def build_parser() -> Parser:
    """The ``nst-lab`` parser with every subcommand."""
    from nst_lab import __version__

    parser = Parser(prog="nst-lab", description="Neural style transfer course tools.")
    parser.add_argument("--version", action="version", version=f"nst-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in _subcommands():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = None if argv is None else list(argv)  # what run.json records as the command
        if not getattr(args, "run", None):
            raise UsageError("give a command, e.g. `nst-lab stylize` (see `nst-lab --help`)")
        return int(args.run(args))
    except KeyboardInterrupt:
        print("note: interrupted before any step ran; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # one line whatever it is; the exit code says what kind
        line, code = error_line(exc, flags_of(parser))
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
