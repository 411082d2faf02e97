"""nbval settings for the course notebooks, so that a plain ``pytest --nbval-lax notebooks/solutions``
compares stored outputs the same way on every CPU: decimal numbers are masked (``nbval_sanitize.cfg``),
since their last digits depend on the order of float32 sums, which differs between CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "nbval_sanitize_with", "missing") is None:  # nbval loaded, no file given
        config.option.nbval_sanitize_with = str(SANITIZE)
