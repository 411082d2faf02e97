"""The CLI takes no abbreviations, and answers a mistyped flag with the closest flag of the command it
was given to and that command's help: one line, exit code 2, before anything runs."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nst_lab.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_every_parser_refuses_abbreviations():
    parsers = _parsers(build_parser())
    assert {p.prog for p in parsers} == {"nst-lab", "nst-lab stylize", "nst-lab release", "nst-lab grade",
                                         "nst-lab bench"}
    assert [p.prog for p in parsers if p.allow_abbrev] == []


# (arguments, the flag typed, the flag suggested, the command whose help is named)
TYPOS = [
    (["stylize", "--stpes", "5"], "--stpes", "--steps", "stylize"),
    (["stylize", "--aplha", "3"], "--aplha", "--alpha", "stylize"),
    (["stylize", "--save_every", "5"], "--save_every", "--save-every", "stylize"),
    (["stylize", "--preserve-colour", "luminance"], "--preserve-colour", "--preserve-color", "stylize"),
    (["stylize", "--sede=3"], "--sede=3", "--seed", "stylize"),
    (["stylize", "-O", "out"], "-O", "-o", "stylize"),
    (["bench", "--qualty"], "--qualty", "--quality", "bench"),
    (["bench", "--wramup", "1"], "--wramup", "--warmup", "bench"),
    (["grade", "subs", "-o", "grades", "--wrokers", "2"], "--wrokers", "--workers", "grade"),
    (["grade", "subs", "--ot", "grades"], "--ot", "--out", "grade"),  # named before the missing -o it causes
    (["release", "notebooks/solutions", "--output", "x"], "--output", "--out", "release"),
    (["--verison"], "--verison", "--version", None),
]
ABBREVIATIONS = [
    (["stylize", "--ste", "5"], "--ste", "--steps", "stylize"),  # ran as --steps 5 before
    (["stylize", "--lr-sched", "cosine"], "--lr-sched", "--lr-schedule", "stylize"),
    (["stylize", "--tv", "0.1"], "--tv", "--tv-weight", "stylize"),
    (["bench", "--quality-s", "64"], "--quality-s", "--quality-size", "bench"),
    (["bench", "--no-mem"], "--no-mem", "--no-memory", "bench"),
    (["grade", "subs", "-o", "grades", "--work", "2"], "--work", "--workers", "grade"),
    (["grade", "subs", "-o", "grades", "--no-sand"], "--no-sand", "--no-sandbox", "grade"),
    (["release", "src", "--o", "x"], "--o", "--out", "release"),
    (["--vers"], "--vers", "--version", None),
]


def _one_error_line(argv: list[str], capsys) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("argv,typed,flag,command", TYPOS + ABBREVIATIONS,
                         ids=[" ".join(case[0]) for case in TYPOS + ABBREVIATIONS])
def test_a_mistyped_or_abbreviated_flag_gets_the_closest_flag_and_its_commands_help(argv, typed, flag, command,
                                                                                    tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, here or anywhere
    help_of = f"nst-lab {command}" if command else "nst-lab"
    assert _one_error_line(argv, capsys) == (f"error: unrecognized argument {typed}: did you mean {flag}? "
                                             f"(see `{help_of} --help`)")
    assert list(tmp_path.iterdir()) == []


def test_leftovers_handed_up_by_an_argparse_are_answered_by_the_command_they_came_after():
    parser = build_parser()
    parser._given = ["--verison", "stylize", "--stpes", "5"]
    namespace = argparse.Namespace(command="stylize")
    assert parser._owner(namespace, "--stpes").prog == "nst-lab stylize"
    assert parser._owner(namespace, "--verison").prog == "nst-lab"


def test_the_full_flag_still_works():
    args = build_parser().parse_args(["stylize", "--steps", "5", "--lr-schedule", "cosine"])
    assert (args.steps, args.lr_schedule) == (5, "cosine")


def test_several_unknown_flags_are_named_together(capsys):
    line = _one_error_line(["stylize", "--stpes", "5", "--aplha", "1"], capsys)
    assert line == ("error: unrecognized arguments --stpes (did you mean --steps?), --aplha (did you mean --alpha?) "
                    "(see `nst-lab stylize --help`)")


@pytest.mark.parametrize("argv,expected", [
    (["stylize", "--frobnicate"], "error: unrecognized argument --frobnicate (see `nst-lab stylize --help`)"),
    (["bench", "extra"], "error: unrecognized argument extra (see `nst-lab bench --help`)"),
])
def test_nothing_close_gets_no_guess(argv, expected, capsys):
    assert _one_error_line(argv, capsys) == expected


def test_other_mistakes_keep_their_own_message(capsys):
    assert _one_error_line(["stylize", "--steps", "abc"], capsys) == (
        "error: argument --steps: 'abc' is not a whole number (see `nst-lab stylize --help`)")
    assert _one_error_line(["release", "src"], capsys) == (
        "error: the following arguments are required: -o/--out (see `nst-lab release --help`)")
    assert _one_error_line(["stylize", "--steps", "-5"], capsys).endswith("-5 is below the minimum 0 "
                                                                          "(see `nst-lab stylize --help`)")


def test_after_double_dash_nothing_is_a_flag(capsys):
    assert _one_error_line(["release", "--", "-odd.ipynb"], capsys) == (
        "error: the following arguments are required: -o/--out (see `nst-lab release --help`)")


def test_the_console_answers_a_typo_in_one_line_without_traceback():
    done = subprocess.run([sys.executable, "-m", "nst_lab", "stylize", "--stpes", "5"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "error: unrecognized argument --stpes: did you mean --steps? (see `nst-lab stylize --help`)\n"
