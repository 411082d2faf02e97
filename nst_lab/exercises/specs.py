"""The registry of graded functions: name -> Spec (inputs, judge, dependencies).

Lesson: every notebook's check cells.
"""

from __future__ import annotations

from nst_lab.exercises.judging import Spec
from nst_lab.exercises.spec_costs import COST_SPECS
from nst_lab.exercises.spec_course import COURSE_SPECS
from nst_lab.exercises.spec_models import ADAM_SPEC, LAYER_OUTPUTS_SPEC, TRAIN_STEP_SPEC

SPECS: dict[str, Spec] = {
    spec.name: spec for spec in (LAYER_OUTPUTS_SPEC, *COST_SPECS, ADAM_SPEC, TRAIN_STEP_SPEC, *COURSE_SPECS)
}
