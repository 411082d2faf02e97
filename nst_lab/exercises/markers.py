"""How a notebook cell says what it is: ``# GRADED FUNCTION: name`` and ``# GRADED QUESTION: name``.

Read by ``nst-lab release`` (to stamp each notebook with its exercises) and by the grader (to find
the cells it grades); in linear time, whatever the cell holds.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import re

FUNCTION_MARKER = "GRADED FUNCTION:"  # a graded cell's first comment: ``# GRADED FUNCTION: name``
QUESTION_MARKER = "GRADED QUESTION:"  # an answer cell's first comment: ``# GRADED QUESTION: name``
_NAME = re.compile(r"[A-Za-z_]\w{0,63}")


def marked_name(source: str, marker: str) -> str | None:
    """The name after ``marker`` in a cell's ``# <marker> name`` comment, or None; linear in the cell's length."""
    for line in source.splitlines():
        text = line.strip()
        if text.startswith("#") and marker in text:
            rest = text[1:].strip()
            if rest.startswith(marker):
                match = _NAME.match(rest[len(marker):].strip())
                if match:
                    return match.group(0)
    return None


def graded_name(source: str) -> str | None:
    """The name in a cell's ``# GRADED FUNCTION: name`` comment, or None."""
    return marked_name(source, FUNCTION_MARKER)


def graded_question(source: str) -> str | None:
    """The name in a cell's ``# GRADED QUESTION: name`` comment (an answer cell), or None."""
    return marked_name(source, QUESTION_MARKER)
