"""The sandboxed half of the grader: runs students' graded functions and reports plain data.

``python -m nst_lab.grade_worker --fd N`` reads a job from stdin, a JSON object
``{"seed": int, "budget": float, "exercises": [[name, source], ...]}``, and writes one JSON
line per event to file descriptor N (never stdout, which the grader discards):

- ``{"event": "ready"}`` once TensorFlow is loaded;
- ``{"event": "start", "name": ...}`` before each exercise;
- ``{"event": "done", "name": ..., "status": "ok", "produced": {...}}`` or
  ``{"event": "done", "name": ..., "status": "error", "note": "..."}`` after it.

Each exercise runs in a fresh namespace holding only TensorFlow, NumPy, Keras, a few nst_lab
helpers and the *reference* versions of the graded functions it depends on, plus the
function definitions, imports and constants of its own cell (top-level statements such as
test calls are not run). Nothing here judges: this process only produces values, and the
grading process compares them with the reference (see ``nst_lab.grading``).

If an exercise changes TensorFlow, NumPy, Keras or nst_lab (monkeypatching), it scores 0 and
this process exits, so the grader starts a fresh one for the remaining exercises.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import json
import math
import os
import re
import signal
import sys
import types
from collections.abc import Callable
from typing import Any

# Modules a graded cell may never import: the checks, the grader and the spec judges.
_FORBIDDEN = (
    "nst_lab.checks",
    "nst_lab.specs",
    "nst_lab.spec_",
    "nst_lab.grading",
    "nst_lab.grade_worker",
    "nst_lab.release",
)


# Routes around the import guard to the checks, the grader or the reference functions. A
# determined student can still find others (the references live in this process); these
# catch the usual ones, and whatever they reach can only change values judged elsewhere.
_DETOURS = re.compile(
    r"sys\s*\.\s*modules|\bimportlib\b|__import__|__globals__|__subclasses__|"
    r"\bgc\s*\.\s*get_|\binspect\s*\.\s*getmodule|__builtins__"
)


class ExerciseTimeout(BaseException):
    """Raised by the alarm when an exercise overruns its budget (BaseException: `except
    Exception` in student code does not swallow it)."""


# What a graded cell may take from nst_lab: modules with no graded function in them, and a few
# named helpers and constants. Everything else (``from nst_lab import costs``, ``import
# nst_lab.train``, ...) would hand the cell a reference solution.
_SAFE_MODULES = ("nst_lab.config", "nst_lab.images", "nst_lab.notebook", "nst_lab.plots")
_SAFE_NAMES = {
    "nst_lab": {"STYLE_LAYERS", "CONTENT_LAYER", "StyleConfig", "SEED", "QUICK", "clip_0_1",
                "load_image", "tensor_to_image", "save_image"},
    "nst_lab.costs": {"clip_0_1", "unroll"},
}


def _import_allowed(name: str, wanted: set[str]) -> bool:
    if name.startswith(_FORBIDDEN) or not wanted or "*" in wanted:
        return False
    if name in _SAFE_MODULES:
        return True
    return wanted <= _SAFE_NAMES.get(name, set())


def _guarded_import(graded: frozenset[str]) -> Callable[..., Any]:
    def guarded(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level == 0 and (name == "nst_lab" or name.startswith("nst_lab.")):
            wanted = set(fromlist or ())
            if not _import_allowed(name, wanted) or wanted & graded:
                raise ImportError(
                    f"graded cells may not import {name}"
                    + (f" ({', '.join(sorted(wanted))})" if wanted else "")
                    + ": write the function yourself with tf/np; its helpers are provided"
                )
        return builtins.__import__(name, globals, locals, fromlist, level)

    return guarded


def definitions_only(source: str, filename: str) -> types.CodeType:
    """Compile the defs, classes, imports and literal constants of a cell; drop everything else.

    Jupyter magics (``%time``, ``!pip``) are commented out first.
    """
    lines = ["# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")]
    tree = ast.parse("\n".join(lines), filename=filename)
    keep: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            keep.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            try:
                ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            keep.append(node)
    tree.body = keep
    return compile(tree, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)


def _watched_modules() -> list[types.ModuleType]:
    import keras
    import numpy as np
    import tensorflow as tf

    mods = [
        tf,
        tf.math,
        tf.linalg,
        tf.nn,
        tf.random,
        tf.config,
        np,
        np.linalg,
        np.random,
        keras,
        keras.ops,
        keras.optimizers,
        keras.layers,
        builtins,
        math,
        json,
    ]
    mods += [m for n, m in sorted(sys.modules.items()) if n == "nst_lab" or n.startswith("nst_lab.")]
    return mods


def snapshot() -> dict[str, dict[str, int]]:
    """id() of every attribute of the watched modules, to notice monkeypatching."""
    return {m.__name__: {k: id(v) for k, v in list(vars(m).items())} for m in _watched_modules()}


def patched(before: dict[str, dict[str, int]]) -> list[str]:
    """Attributes replaced or deleted since ``before`` (lazy submodule loads are not counted)."""
    changed = []
    for module in _watched_modules():
        old = before.get(module.__name__, {})
        now = vars(module)
        for key, ident in old.items():
            if key not in now:
                changed.append(f"{module.__name__}.{key} (deleted)")
            elif id(now[key]) != ident and not isinstance(now[key], types.ModuleType) and key != "__warningregistry__":
                changed.append(f"{module.__name__}.{key}")
    return changed


class Runner:
    """Holds the references and the base namespace; runs one exercise at a time."""

    def __init__(self, seed: int) -> None:
        import keras
        import numpy as np
        import tensorflow as tf

        from nst_lab import config, costs, optim, train, vgg
        from nst_lab.specs import SPECS

        self.seed = seed
        self.specs = SPECS
        self.references: dict[str, Any] = {
            "get_layer_outputs": vgg.get_layer_outputs,
            "compute_content_cost": costs.compute_content_cost,
            "gram_matrix": costs.gram_matrix,
            "compute_layer_style_cost": costs.compute_layer_style_cost,
            "compute_style_cost": costs.compute_style_cost,
            "total_cost": costs.total_cost,
            "adam_update": optim.adam_update,
            "train_step": train.train_step,
        }
        guarded_builtins = dict(vars(builtins))
        guarded_builtins["__import__"] = _guarded_import(frozenset(SPECS))
        self.base: dict[str, Any] = {
            "__builtins__": guarded_builtins,
            "__name__": "__student__",
            "tf": tf,
            "np": np,
            "keras": keras,
            "math": math,
            "STYLE_LAYERS": config.STYLE_LAYERS,
            "CONTENT_LAYER": config.CONTENT_LAYER,
            "clip_0_1": costs.clip_0_1,
            "unroll": costs.unroll,
            "cost_parts": train.cost_parts,
            "FeatureExtractor": vgg.FeatureExtractor,
            "build_tiny_vgg": vgg.build_tiny_vgg,
        }
        no_check = eval("lambda fn: None", {"__builtins__": {}})  # no __globals__ leading back here
        for name in SPECS:  # a check call left in a graded cell must not fail the exercise
            self.base[f"check_{name}"] = no_check

    def namespace(self, name: str) -> dict[str, Any]:
        """A fresh namespace: the base names plus the references of ``name``'s dependencies."""
        namespace = dict(self.base)
        namespace.update({dep: self.references[dep] for dep in self.specs[name].depends})
        return namespace

    def run(self, name: str, source: str) -> dict[str, Any]:
        """Define the student's function and run its spec's ``produce``; never raises."""
        from nst_lab.checks import error_text

        if name not in self.specs:
            return {"status": "error", "note": f"{name!r} is not a graded function"}
        namespace = self.namespace(name)
        detour = _DETOURS.search(source)
        if detour:
            return {
                "status": "error",
                "note": f"the cell uses {detour.group(0)!r}, which graded cells may not "
                "use (it can reach the checks or the reference solution)",
            }
        try:
            code = definitions_only(source, f"<graded cell {name}>")
            given = dict(namespace)
            exec(code, namespace)
            fn = namespace.get(name)
            if not callable(fn) or fn is self.references.get(name):
                defined = sorted(
                    k
                    for k, v in namespace.items()
                    if callable(v)
                    and v is not given.get(k)
                    and not k.startswith("_")
                    and not isinstance(v, types.ModuleType)
                )
                found = f"it defines {', '.join(defined)}" if defined else "it defines no function"
                return {
                    "status": "error",
                    "note": f"the cell marked for {name} does not define {name}() ({found}): was it renamed?",
                }
            produced = self.specs[name].produce(fn, self.seed)
        except ExerciseTimeout:
            return {"status": "error", "note": "it ran out of time (an endless loop?)"}
        except SyntaxError as exc:
            return {"status": "error", "note": f"SyntaxError in the cell, line {exc.lineno}: {exc.msg}"}
        except SystemExit:
            return {"status": "error", "note": "it called exit()"}
        except BaseException as exc:  # student code may raise anything, KeyboardInterrupt included
            return {"status": "error", "note": f"it raised {error_text(exc)}"}
        return {"status": "ok", "produced": produced}


def _on_alarm(signum: int, frame: Any) -> None:
    raise ExerciseTimeout()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    channel = os.fdopen(int(argv[argv.index("--fd") + 1]), "w", buffering=1, encoding="utf-8")
    job = json.loads(sys.stdin.read())

    def send(event: dict[str, Any]) -> None:
        channel.write(json.dumps(event) + "\n")
        channel.flush()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if job.get("single_thread"):
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    runner = Runner(int(job["seed"]))
    signal.signal(signal.SIGALRM, _on_alarm)
    send({"event": "ready"})
    before = snapshot()
    for name, source in job["exercises"]:
        send({"event": "start", "name": name})
        signal.setitimer(signal.ITIMER_REAL, float(job["budget"]))
        try:
            result = runner.run(name, source)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        changed = patched(before)
        if changed:
            result = {
                "status": "error",
                "note": f"it changed {', '.join(changed[:3])}: graded code must not patch libraries (0 points)",
            }
        try:
            send({"event": "done", "name": name, **result})
        except (TypeError, ValueError) as exc:
            send(
                {
                    "event": "done",
                    "name": name,
                    "status": "error",
                    "note": f"its results are not plain data ({exc})",
                }
            )
        if changed:
            channel.close()
            os._exit(0)  # a fresh process grades the remaining exercises
    channel.close()
    os._exit(0)  # skip TensorFlow's slow teardown


if __name__ == "__main__":
    sys.exit(main())
