"""What a student's install needs to check exercises, shared with the grader: the specs of every graded
function (inputs and judges), the judging machinery, the questions, the plan runner ``kit`` and the
provided references of dependencies. ``nst_lab.checks`` builds on it; ``nst_lab.grading`` (the
instructor's side) does too, and nothing here imports ``nst_lab.grading``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nst_lab import lazy_exports

if TYPE_CHECKING:
    from nst_lab.exercises.judging import PASS_MESSAGE as PASS_MESSAGE
    from nst_lab.exercises.judging import PUBLIC_SEED as PUBLIC_SEED
    from nst_lab.exercises.judging import CaseResult as CaseResult
    from nst_lab.exercises.judging import Spec as Spec
    from nst_lab.exercises.questions import QUESTIONS as QUESTIONS
    from nst_lab.exercises.specs import SPECS as SPECS

_EXPORTS = {".judging": ["CaseResult", "PASS_MESSAGE", "PUBLIC_SEED", "Spec"], ".questions": ["QUESTIONS"],
            ".specs": ["SPECS"]}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
