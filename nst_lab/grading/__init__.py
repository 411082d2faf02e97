"""What only instructors use: ``release`` (student notebooks) and ``nst-lab grade`` (the batch, its sandboxed
workers, copy detection and reports). The specs and judges it shares with the notebooks' checks are in
``nst_lab.exercises``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nst_lab import lazy_exports

if TYPE_CHECKING:
    from nst_lab.grading.release import release_notebook as release_notebook
    from nst_lab.grading.schedule import grade_all as grade_all

_EXPORTS = {".schedule": ["grade_all"], ".release": ["release_notebook"]}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
