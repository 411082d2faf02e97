"""Auto-checked questions: numbers and multiple choice, checked at once and graded like functions.

A question sits in three notebook cells: markdown asks it, a code cell holds the answer,

    # GRADED QUESTION: block1_conv1_parameters
    answer_block1_conv1_parameters = None  # your answer: a whole number
    ### BEGIN SOLUTION
    answer_block1_conv1_parameters = 1792
    ### END SOLUTION

and a check cell calls ``check_question("block1_conv1_parameters", answer_block1_conv1_parameters)``.
The line outside the solution region names the variable to set in every release (``nst-lab
release`` drops the region; nbgrader turns it into ``raise NotImplementedError()``, which runs
after the line, so the check still says "not answered yet"). The grader never runs the answer
cell: ``read_answer`` parses it with ``ast`` in the grader's own process and accepts only comments,
assignments of a literal (``ast.literal_eval``) and nbgrader's stub, in a cell of bounded size.
A call, an import, a name or a cell too large scores 0 with a note.

What the package stores. Exact answers (whole numbers, shapes, the letter of an option) are kept
only as a salted SHA-256 digest, so reading the installed package does not show them. The salt
(the question's name) stops one digest table from serving every question; it does not stop
guessing: a question has few options, so a student can try each with the instant check, which
is no more than running a function's check many times. Numeric answers with a tolerance are
stored in the clear (a digest cannot say "within 1%"); they are there to make students compute.

Lesson: the check cells of notebooks 01 to 05.
"""

from __future__ import annotations

import ast
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal

from nst_lab.exercises.judging import CaseResult
from nst_lab.exercises.markers import QUESTION_MARKER as MARKER  # noqa: F401  (re-exported)
from nst_lab.exercises.markers import graded_question  # noqa: F401  (re-exported)

MAX_ANSWER_CHARS = 2000  # an answer cell longer than this is not read
Kind = Literal["exact", "number", "choice"]


def canonical(answer: Any) -> str | None:
    """The text an exact answer is hashed as: ints as digits, shapes as ``(a, b)``, options lower-case.

    None when the answer is not of a kind any question takes (a float that is not whole, a dict).
    """
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return str(answer)
    if isinstance(answer, float):
        return str(int(answer)) if math.isfinite(answer) and answer.is_integer() else None
    if isinstance(answer, (tuple, list)):
        parts = [canonical(x) for x in answer]
        return None if None in parts or not parts else "(" + ", ".join(str(p) for p in parts) + ")"
    if isinstance(answer, str):
        return answer.strip().lower()[:100]
    return None


def digest(name: str, answer: Any) -> str:
    """The salted digest of an exact answer (salt: the question's name)."""
    return hashlib.sha256(f"nst-lab:{name}:{canonical(answer)}".encode()).hexdigest()


@dataclass(frozen=True)
class Question:
    """One auto-checked question: how to recognise the right answer and the usual wrong ones.

    ``kind``: "exact" (a whole number or a shape), "choice" (one of ``options``) or "number"
    (``value`` within ``rel_tol``). ``right`` is the digest of the exact or chosen answer;
    ``wrong`` maps digests (or, for numbers, values) of typical wrong answers to a hint.
    """

    name: str
    notebook: str
    points: float
    kind: Kind
    right: str = ""  # digest of the right exact answer or option
    value: tuple[float, ...] = ()  # "number": the right value(s), in the clear
    rel_tol: float = 0.01
    options: tuple[str, ...] = ()  # "choice": the letters allowed
    wrong: tuple[tuple[Any, str], ...] = ()  # (digest or value, hint)
    hint: str = ""  # said on any other wrong answer
    size: int = 1  # "exact": 1 for a whole number, n for a shape of n whole numbers

    def unanswered(self) -> str:
        """The message for an answer left at None: short, so that nbgrader's validate (90 columns) shows it whole."""
        return f"not answered yet: set answer_{self.name}"

    def expects(self) -> str:
        """What form an answer takes, in words: 'one of "a", "b", "c"', 'a tuple of 2 whole numbers'."""
        if self.kind == "choice":
            return "one of " + ", ".join(f'"{o}"' for o in self.options)
        if self.kind == "number":
            return "a number" if len(self.value) == 1 else f"a tuple of {len(self.value)} numbers"
        return "a whole number" if self.size == 1 else f"a tuple of {self.size} whole numbers"

    def form(self, answer: Any) -> str:
        """What is wrong with the *form* of an answer (empty when it could be right): no key involved."""
        shown = _show(answer)
        if answer is None:
            return self.unanswered()
        if self.kind == "choice":
            text = answer.strip().lower() if isinstance(answer, str) else None
            return "" if text in self.options else (f"{self.name}: answer with one of the letters "
                                                    f"{', '.join(repr(o) for o in self.options)}, got {shown}")
        if self.kind == "number":
            numbers = _numbers(answer)
            if numbers is not None and len(numbers) == len(self.value):
                return ""
            want = "a number" if len(self.value) == 1 else f"a tuple of {len(self.value)} numbers"
            return f"{self.name}: expected {want}, got {shown}"
        items = answer if isinstance(answer, (tuple, list)) and self.size > 1 else (answer,)
        if len(items) == self.size and all(canonical(x) is not None and not isinstance(x, str) for x in items):
            return ""
        want = "a whole number" if self.size == 1 else f"a tuple of {self.size} whole numbers"
        return f"{self.name}: expected {want}, got {shown}"

    def judge_by_key(self, answer: Any, key: Any) -> CaseResult:
        """Pass or fail against an answer key (an exam's, from the instructor's course file), without hints."""
        problem = self.form(answer)
        if problem:
            return CaseResult(self.name, False, problem)
        if self.kind == "number":
            right = _near(_numbers(answer) or (), _numbers(key) or (), self.rel_tol)
        else:
            right = canonical(answer) is not None and canonical(answer) == canonical(key)
        return CaseResult(self.name, right, "" if right else f"{self.name}: {_show(answer)} is not the expected answer",
                          _show(answer))

    def judge(self, answer: Any) -> CaseResult:
        """Pass or fail for one answer, with the hint of the mistake it matches."""
        shown = _show(answer)
        if answer is None:
            return CaseResult(self.name, False, self.unanswered())
        if self.kind == "choice":
            text = answer.strip().lower() if isinstance(answer, str) else None
            if text not in self.options:
                return CaseResult(self.name, False, f"{self.name}: answer with one of the letters "
                                  f"{', '.join(repr(o) for o in self.options)}, got {shown}")
        if self.kind == "number":
            numbers = _numbers(answer)
            if numbers is None or len(numbers) != len(self.value):
                want = "a number" if len(self.value) == 1 else f"a tuple of {len(self.value)} numbers"
                return CaseResult(self.name, False, f"{self.name}: expected {want}, got {shown}")
            if _near(numbers, self.value, self.rel_tol):
                return CaseResult(self.name, True, got=shown)
            hints = [why for value, why in self.wrong if _near(numbers, _numbers(value) or (), self.rel_tol)]
        else:
            code = digest(self.name, answer)
            if code == self.right:
                return CaseResult(self.name, True, got=shown)
            hints = [why for value, why in self.wrong if value == code]
        why = hints[0] if hints else self.hint
        return CaseResult(self.name, False, f"{self.name}: {shown} is not right" + (f": {why}" if why else ""))


def _show(answer: Any) -> str:
    text = repr(answer)
    return text if len(text) <= 60 else text[:57] + "..."


def _numbers(answer: Any) -> tuple[float, ...] | None:
    items = answer if isinstance(answer, (tuple, list)) else (answer,)
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in items):
        return None
    try:
        numbers = tuple(float(x) for x in items)
    except OverflowError:  # an int literal with hundreds of digits
        return None
    return numbers if all(math.isfinite(x) for x in numbers) else None


def _near(got: tuple[float, ...], want: tuple[float, ...], rel_tol: float) -> bool:
    return len(got) == len(want) and all(math.isclose(g, w, rel_tol=rel_tol, abs_tol=1e-12)
                                         for g, w in zip(got, want))


def _exact(name: str, notebook: str, right: Any, wrong: dict[Any, str], hint: str, kind: Kind = "exact",
           options: tuple[str, ...] = (), points: float = 2) -> Question:
    """A question whose right and wrong answers are stored as digests only."""
    return Question(name, notebook, points, kind, right=digest(name, right), options=options,
                    size=len(right) if isinstance(right, tuple) else 1,
                    wrong=tuple((digest(name, k), v) for k, v in wrong.items()), hint=hint)


QUESTIONS: dict[str, Question] = {q.name: q for q in (
    _exact("block1_conv1_parameters", "01_vgg19", 1792,
           {1728: "the 64 biases are missing", 576: "each filter sees all 3 input channels: 3*3*3 weights",
            36928: "that is block1_conv2, whose filters see 64 channels"},
           "count 3*3*3 weights per filter, plus one bias, for 64 filters"),
    # (123.68, 116.779, 103.939) / 255 = (0.48502, 0.45796, 0.40760). 0.2% admits three decimals (0.408 is 0.1%
    # off) and refuses torch's mean (0.485, 0.456, 0.406), 0.4% off in G and B (1% let it pass).
    Question("preprocess_zero_input", "01_vgg19", 2, "number", value=(123.68 / 255, 116.779 / 255, 103.939 / 255),
             rel_tol=0.002,
             wrong=(((0.485, 0.456, 0.406), "that is torch's ImageNet mean (with a standard deviation); Keras' "
                                            "caffe mode subtracts (123.68, 116.779, 103.939) on the 0-255 scale"),
                    ((0.408, 0.458, 0.485), "that is in B, G, R order; answer in R, G, B"),
                    ((123.68, 116.779, 103.939), "the input is in [0, 1]: divide the means by 255"),
                    ((103.939, 116.779, 123.68), "the input is in [0, 1] and in R, G, B order")),
             hint="which [0, 1] RGB pixel does x255, the flip and the mean subtraction send to 0? (3 decimals)"),
    _exact("receptive_field_block3_conv1", "02_content_cost", 24,
           {22: "the pooling after block2_conv2 widens the field too, by (2 - 1) j",
            16: "that is block2_pool; block3_conv1 then adds (3 - 1) j with j = 4",
            20: "after two poolings the step j is 4, so a 3x3 convolution adds 8"},
           "run the recurrence r += (k - 1) j, j *= s up to block3_conv1"),
    _exact("most_detail_layer", "02_content_cost", "a", {"c": "block5_conv4 keeps the layout, not the pixels"},
           "the layer whose units see the fewest pixels", kind="choice", options=("a", "b", "c")),
    _exact("gram_shape_block2_conv1", "03_style_cost", (128, 128),
           {(40000, 40000): "that is A^T A, over positions; the Gram matrix is n_C x n_C",
            128: "give the shape as a tuple (rows, columns)"},
           "the Gram matrix has one row and one column per channel"),
    _exact("seed_slice_drops", "03_style_cost", "a",
           {"c": "[1:] keeps the last output, block5_conv4: it drops the first one"},
           "which output is at index 0?", kind="choice", options=("a", "b", "c")),
    Question("adam_first_move", "04_adam", 2, "number", value=(0.1,), rel_tol=0.01,
             wrong=(((0.2,), "that is plain gradient descent, eta * g"),
                    ((0.3162,), "the bias correction is missing: m_1 = 0.1 g and v_1 = 0.001 g^2")),
             hint="at t = 1 the corrected moments are g and g^2"),
    _exact("adam_double_weights", "04_adam", "c",
           {"a": "Adam divides by sqrt(v_hat), so a gradient twice as large gives the same step",
            "b": "Adam divides by sqrt(v_hat), so a gradient twice as large gives the same step",
            "d": "that happens where |g| is near eps_hat_1, as at 1e-4 times the seed's weights; "
                 "at the seed's weights |g| is thousands of times eps_hat_1"},
           "compare |g| with eps_hat_1 in |g| / (|g| + eps_hat_1)", kind="choice", options=("a", "b", "c", "d")),
    _exact("seed_snapshot_count", "05_style_transfer", 5,
           {4: "step 0 counts too: 0, 250, 500, 750, 1000", 6: "range(1001) ends at step 1000"},
           "list the i in range(1001) with i % 250 == 0"),
)}


def read_answer(name: str, source: str) -> tuple[Any, str]:
    """The literal assigned to ``answer_<name>`` in an answer cell, never running it: (value, "") or (None, note).

    The cell may hold comments, assignments of literals to ``answer_<name>`` and nbgrader's stub
    ``raise NotImplementedError()``; as when the cell runs, the value is the last assignment before
    the first ``raise``. Anything else is refused with a note.
    """
    target = f"answer_{name}"
    if len(source) > MAX_ANSWER_CHARS:
        return None, f"the answer cell has over {MAX_ANSWER_CHARS} characters and was not read"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        return None, f"the answer cell is not valid Python{line}"
    statements = list(tree.body)
    assigned = [s for s in statements if _assigns(s, target)]
    others = [s for s in statements if not _assigns(s, target) and not _is_stub(s)]
    if others or not assigned:
        found = ", ".join(type(s).__name__ for s in statements[:4]) or "nothing"
        return None, f"the answer cell must hold only `{target} = <value>`; found {found}"
    stub = next((i for i, s in enumerate(statements) if _is_stub(s)), len(statements))
    before = [s for s in statements[:stub] if _assigns(s, target)]
    if not before:
        return None, f"the answer cell raises NotImplementedError before it sets {target}"
    value = before[-1].value  # type: ignore[attr-defined]
    try:
        return ast.literal_eval(value), ""
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None, f"{target} must be a plain value (a number, a string or a tuple), not an expression"


def _assigns(statement: ast.stmt, target: str) -> bool:
    return (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == target)


def _is_stub(statement: ast.stmt) -> bool:
    """nbgrader's code stub: ``raise NotImplementedError`` or ``raise NotImplementedError(...)``."""
    if not isinstance(statement, ast.Raise) or statement.cause is not None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


NO_KEY = object()  # grade_answer without an exam's answer key: the question's own check decides


def grade_answer(name: str, source: str | None, points: float, key: Any = NO_KEY) -> dict[str, Any]:
    """The grader's report on one answer cell (None: no such cell), in the same form as a function's.

    With ``key`` (an exam's answer, from the instructor's course file) the answer is judged against it.
    """
    report: dict[str, Any] = {"points": 0.0, "max": points, "passed": 0, "cases": [], "note": "", "cpu_s": 0.0}
    if source is None:
        report["note"] = f"no cell marked `# GRADED QUESTION: {name}`: was it deleted or renamed?"
        return report
    value, note = read_answer(name, source)
    if note:
        report["note"] = note
        return report
    verdict = QUESTIONS[name].judge(value) if key is NO_KEY else QUESTIONS[name].judge_by_key(value, key)
    report.update(cases=[{"case": name, "passed": verdict.passed, "message": verdict.message[:2000]}],
                  passed=int(verdict.passed), points=float(points) if verdict.passed else 0.0)
    return report


QUESTION_POINTS: dict[str, float] = {q.name: q.points for q in QUESTIONS.values()}
