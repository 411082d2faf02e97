"""Exceptions with messages written for the person who has to fix the problem."""

from __future__ import annotations


class NstLabError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits with code 2."""


class ImageLoadError(NstLabError, ValueError):
    """An image could not be read; the message names the source and the reason."""


class WeightsError(NstLabError, ValueError):
    """VGG19 weights could not be found, downloaded or loaded."""


class NonFiniteLossError(NstLabError, FloatingPointError):
    """The loss became NaN or infinite during training."""
