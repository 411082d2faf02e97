"""Every exception nst_lab raises on purpose: one base, each class carrying its exit code.

Messages are written for the person who has to fix the problem: what was expected, what came,
and the likely fix. Library messages name config fields (``learning_rate``), never CLI flags; an
error lists the fields it names in ``fields`` so the CLI can show them as its flags (``--lr``).
The CLI prints ``error: <message>`` and exits with ``exit_code``: 2 for bad input or usage, 1 for
a run that failed. Anything else reaching the CLI is unexpected and exits 1 with its type name.

Lesson: every notebook's error messages.
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class NstLabError(Exception):
    """Base class: a problem nst_lab detected and explained."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.fields = tuple(fields)  # config fields the message names, e.g. ("learning_rate",)


class UsageError(NstLabError):
    """Bad command-line input (an option, a path, a missing argument)."""


class ConfigError(NstLabError, ValueError):
    """A setting is out of range; the message names the setting, the value and the fix."""


class ImageLoadError(NstLabError, ValueError):
    """An image could not be read; the message names the source and the reason."""


class UploadError(ImageLoadError):
    """A studio upload that is not one readable image."""


class MaskError(NstLabError, ValueError):
    """A mask image that cannot assign the content's regions to the style images."""


class WeightsError(NstLabError, ValueError):
    """VGG19 weights could not be found, downloaded or loaded."""


class MemoryEstimateError(NstLabError, ValueError):
    """The requested image size needs more memory than this machine has."""


class ReleaseError(NstLabError, ValueError):
    """A solution notebook cannot be turned into a student notebook."""


class GradeUsageError(NstLabError, ValueError):
    """Bad input to ``nst-lab grade``."""


class NonFiniteLossError(NstLabError, FloatingPointError):
    """The loss became NaN or infinite during training; the run keeps its last finite image."""

    exit_code = EXIT_FAILED


class RunFailed(NstLabError):
    """A run stopped by an error after it started; its folder keeps what was made."""

    exit_code = EXIT_FAILED


class CheckFailed(NstLabError, AssertionError):
    """A graded function returned the wrong thing; the message says what and the likely fix."""

    exit_code = EXIT_FAILED


def first_line(exc: BaseException, limit: int = 300) -> str:
    """``TypeError: first line of the message`` (long messages trimmed), never more than one line."""
    lines = str(exc).strip().splitlines()
    text = lines[0][:limit] if lines else ""
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one readable line for a user: the message alone for errors nst_lab (or a bad
    value or file) explains, else ``first_line``'s ``Type: message``."""
    lines = str(exc).strip().splitlines()
    if lines and isinstance(exc, (NstLabError, ValueError, OSError)):
        return lines[0][:limit]
    return first_line(exc, limit)
