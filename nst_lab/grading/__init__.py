"""What only instructors use: ``release`` (student notebooks), the judging machinery and the specs
of every graded function, and ``nst-lab grade`` (the grade loop, its worker and its reports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nst_lab import lazy_exports

if TYPE_CHECKING:
    from nst_lab.grading.release import release_notebook as release_notebook
    from nst_lab.grading.schedule import grade_all as grade_all
    from nst_lab.grading.specs import SPECS as SPECS

_EXPORTS = {".schedule": ["grade_all"], ".release": ["release_notebook"], ".specs": ["SPECS"]}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
