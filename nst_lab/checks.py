"""Checks that notebooks call after each graded function: pass or fail, and why.

``check_<name>(fn)`` runs the spec of ``name`` (``nst_lab.exercises.specs``) on your function with
public inputs and prints ``All tests passed``, or raises CheckFailed naming the likely mistake.
The grader runs the same specs on hidden inputs, in a separate process.

Lesson: every notebook's check cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nst_lab.errors import CheckFailed
from nst_lab.exercises.judging import PASS_MESSAGE, PUBLIC_SEED, CaseResult

__all__ = ["CheckFailed", "PASS_MESSAGE", "PUBLIC_SEED", "check_answer_form", "check_question", "on_references",
           "report", "run_check"]
RECORDED_MESSAGE = "Answer recorded: its form is right; it is graded after the deadline"


def run_check(name: str, fn: Callable[..., Any], seed: int = PUBLIC_SEED) -> list[CaseResult]:
    """Run every case of ``name``'s spec against ``fn`` in this process.

    As in the grader, ``fn`` runs on the course's references of the graded functions it builds on
    (``compute_style_cost`` calls the reference ``compute_layer_style_cost``, whatever the notebook
    defines under that name), so a slip in one function fails only that function's check.
    """
    from nst_lab.exercises.specs import SPECS

    if not callable(fn):
        raise CheckFailed(f"check_{name} expected your function {name}, got {type(fn).__name__}")
    from nst_lab.exercises.kit import run_plan
    from nst_lab.exercises.references import prelude_namespace

    spec = SPECS[name]
    namespace = prelude_namespace(spec.provided)
    return spec.judge(run_plan(on_references(fn, namespace), spec.plan(seed), namespace), seed)


def on_references(fn: Callable[..., Any], provided: dict[str, Any]) -> Callable[..., Any]:
    """``fn`` with the global names that ``provided`` defines bound to it instead of the notebook's.

    A ``tf.function`` is unwrapped to its Python function (the checks trace it themselves); any other
    callable that is not a plain function is returned unchanged.
    """
    import types

    inner = getattr(fn, "python_function", fn)  # a tf.function keeps the decorated function there
    if not isinstance(inner, types.FunctionType):
        return fn
    names = {k: v for k, v in provided.items() if not k.startswith("__") and k != "annotations"}
    rebound = types.FunctionType(inner.__code__, {**inner.__globals__, **names}, inner.__name__,
                                 inner.__defaults__, inner.__closure__)
    rebound.__kwdefaults__ = inner.__kwdefaults__
    rebound.__qualname__ = inner.__qualname__
    rebound.__dict__.update(inner.__dict__)
    return rebound


def report(name: str, results: Sequence[CaseResult]) -> None:
    """Print ``All tests passed`` with your values, or raise CheckFailed listing each failing case."""
    failed = [r for r in results if not r.passed]
    if not failed:
        print(PASS_MESSAGE)
        for r in results:
            print(f"  - {r.case}: {r.got}" if r.got else f"  - {r.case}")
        return
    lines = "\n".join(f"  - {r.message}" for r in failed)
    raise CheckFailed(f"{name}: {len(failed)} of {len(results)} tests failed\n{lines}")


def check_question(name: str, answer: Any) -> None:
    """Check your answer to question ``name``: prints '{PASS_MESSAGE}' or raises CheckFailed with a hint."""
    from nst_lab.exercises.questions import QUESTIONS

    if name not in QUESTIONS:
        raise CheckFailed(f"{name!r} is not one of the questions {', '.join(QUESTIONS)}")
    report(name, [QUESTIONS[name].judge(answer)])


def check_answer_form(name: str, answer: Any) -> None:
    """An exam's check: prints that the answer has the right form (a number, a shape, one of the letters), or
    raises CheckFailed saying what form is expected. It knows no answer: the grader has the key."""
    from nst_lab.exercises.questions import QUESTIONS

    if name not in QUESTIONS:
        raise CheckFailed(f"{name!r} is not one of the questions {', '.join(QUESTIONS)}")
    problem = QUESTIONS[name].form(answer)
    if problem:
        raise CheckFailed(problem)
    print(RECORDED_MESSAGE)


def _checker(name: str) -> Callable[[Callable[..., Any]], None]:
    def check(fn: Callable[..., Any]) -> None:
        report(name, run_check(name, fn))

    check.__name__ = f"check_{name}"
    check.__doc__ = f"Check your ``{name}``: prints '{PASS_MESSAGE}' or raises CheckFailed."
    return check


check_get_layer_outputs = _checker("get_layer_outputs")
check_compute_content_cost = _checker("compute_content_cost")
check_gram_matrix = _checker("gram_matrix")
check_compute_layer_style_cost = _checker("compute_layer_style_cost")
check_compute_style_cost = _checker("compute_style_cost")
check_total_cost = _checker("total_cost")
check_adam_update = _checker("adam_update")
check_train_step = _checker("train_step")
check_preprocess_for_vgg19 = _checker("preprocess_for_vgg19")
check_run_style_transfer = _checker("run_style_transfer")
check_compute_total_variation_cost = _checker("compute_total_variation_cost")
