"""What runs a student's graded function: the executor of call plans.

This file stands alone: it imports only the standard library, NumPy, TensorFlow and Keras, never
``nst_lab``, so the grader's fork server (``zygote.py``) can use it inside the sandbox, where no
part of nst_lab (and so no reference solution) exists. The notebooks' checks import it too, and
run the same plans in the student's own process.

A *plan* is a list of calls with concrete inputs (the seed that made them stays with the judge):

- ``{"id", "kind": "call", "args": [...], "kwargs": {...}, "grad": {"wrt": [i, j], "cotangent": x},
  "trace": bool}``: the value of ``fn(*args)``; with ``grad``, the vector-Jacobian product of the
  output with ``cotangent`` with respect to ``args[i][j]`` (or ``args[i]``); with ``trace``, the
  value again from ``tf.function(fn)``; with ``watch`` (path parts), what it ran from there;
- ``{"id", "kind": "layer_outputs", "model": m, "layer_names": [...], "image": x}``: the values of
  ``fn(model, layer_names)(image)``;
- ``{"id", "kind": "train", "model": m, "layers": [...], "content", "style", "start", "alpha",
  "beta", "learning_rate", "steps"}``: ``steps`` calls of ``fn(G, extractor, a_C, a_S, Adam,
  alpha, beta)``, recording each returned cost and the image after each step;
- ``{"id", "kind": "loop", "start", "target", "decay", "shift", "steps", "snapshot_every"}``:
  ``fn(G, step_fn, steps, snapshot_every)`` with a known step function built here from those
  numbers (``step_fn(G)`` returns ``sum((G - target)^2)``, then sets G to ``G * decay + shift``),
  recording what ``fn`` returned and how many times it called the step.

Arrays travel as ``{"array": [...], "shape": [...]}`` (float32), models as their conv weights.
Results describe each value: ``{"type", "dtype", "shape", "value"}``, or ``{"error": "..."}``.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_ELEMENTS = 2_000_000  # numbers one result may carry back
GRADED_NAME_LIMIT = 64


class Timeout(BaseException):
    """The exercise overran its budget (a BaseException: ``except Exception`` does not catch it)."""


def tensorflow() -> Any:
    """The tensorflow module, imported on first use."""
    import tensorflow as tf

    return tf


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, trimmed (the same form as nst_lab.errors.first_line)."""
    try:
        lines = str(exc).strip().splitlines()
    except Exception:  # a hostile __str__
        lines = []
    text = lines[0][:300] if lines else ""
    name = type(exc).__name__[:80]
    return f"{name}: {text}".rstrip(": ")


# ----------------------------------------------------------------- values in and out
def encode(value: Any) -> dict[str, Any]:
    """A float array as plain data (the judge's side of the wire)."""
    import numpy as np

    array = np.asarray(value, dtype=np.float32)
    return {"array": array.ravel().tolist(), "shape": list(array.shape)}


def decode(data: Any) -> Any:
    """Plain data back to inputs: arrays become float32 tensors, lists stay lists, numbers stay."""
    import numpy as np

    tf = tensorflow()
    if isinstance(data, dict) and "array" in data:
        return tf.constant(np.asarray(data["array"], dtype=np.float32).reshape(data["shape"]))
    if isinstance(data, dict) and "tuple" in data:
        return tuple(decode(x) for x in data["tuple"])
    if isinstance(data, list):
        return [decode(x) for x in data]
    return data


def describe(value: Any) -> dict[str, Any]:
    """A returned value as plain data: its type, dtype, shape and numbers (sequences item by item)."""
    import numpy as np

    tf = tensorflow()
    if isinstance(value, (tuple, list)):
        return {"type": "sequence", "items": [describe(v) for v in value[:64]], "length": len(value)}
    if isinstance(value, (tf.Tensor, tf.Variable)):
        kind = "tf.Tensor"
    elif isinstance(value, (np.ndarray, np.generic)):
        kind = "numpy"
    elif isinstance(value, (bool, int, float)):
        kind = type(value).__name__
    else:
        return {"type": type(value).__name__[:80], "shape": None, "value": None}
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return {"type": kind, "shape": None, "value": None}
    if array.size > MAX_ELEMENTS:
        return {"type": kind, "shape": list(array.shape), "value": None, "note": "too large"}
    dtype = str(getattr(value, "dtype", type(value).__name__))
    dtype = getattr(getattr(value, "dtype", None), "name", dtype)
    return {"type": kind, "dtype": str(dtype)[:40], "shape": list(array.shape), "value": array.tolist()}


def build_model(spec: dict[str, Any]) -> Any:
    """A VGG19-shaped Keras model (VGG19's layer names, narrow channels) from its conv weights.

    Args:
        spec: {"blocks": [[convs, channels], ...], "weights": [[kernel, bias], ...]} with each
            kernel (3, 3, C_in, C_out) and bias (C_out,) encoded as arrays.
    """
    import keras
    import numpy as np

    inputs = keras.Input((None, None, 3), name="input_layer")
    x, k = inputs, 0
    convs = []
    for block, (count, channels) in enumerate(spec["blocks"], 1):
        for i in range(1, int(count) + 1):
            conv = keras.layers.Conv2D(int(channels), 3, padding="same", activation="relu",
                                       name=f"block{block}_conv{i}")
            x = conv(x)
            convs.append((conv, k))
            k += 1
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    model = keras.Model(inputs, x, name="tiny_vgg19")
    for conv, index in convs:
        kernel, bias = spec["weights"][index]
        conv.set_weights([np.asarray(kernel["array"], np.float32).reshape(kernel["shape"]),
                          np.asarray(bias["array"], np.float32).reshape(bias["shape"])])
    model.trainable = False
    return model


# ----------------------------------------------------------------- running a plan
def _replace(args: list[Any], path: list[int], value: Any) -> list[Any]:
    """``args`` with the element at ``path`` (indices into nested lists) replaced by ``value``."""
    args = list(args)
    if len(path) == 1:
        args[path[0]] = value
        return args
    inner = list(args[path[0]])
    inner[path[1]] = value
    args[path[0]] = inner
    return args


def _at(args: list[Any], path: list[int]) -> Any:
    return args[path[0]] if len(path) == 1 else args[path[0]][path[1]]


def _watched(fn: Callable[..., Any], parts: list[str], seen: list[str]) -> Callable[..., Any]:
    """``fn`` recording in ``seen`` each Python function it runs from a file whose path holds all of ``parts``."""
    import sys
    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and all(p in frame.f_code.co_filename.replace("\\", "/") for p in parts):
            seen.append(frame.f_code.co_name)
    def run(*args: Any, **kwargs: Any) -> Any:
        previous = sys.getprofile()
        sys.setprofile(hook)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.setprofile(previous)
    return run


def _call(fn: Callable[..., Any], call: dict[str, Any]) -> dict[str, Any]:
    tf = tensorflow()
    seen: list[str] = []  # with "watch": the library functions the student's function ran
    fn = _watched(fn, [str(p) for p in call["watch"]], seen) if call.get("watch") else fn
    args, kwargs = decode(call.get("args", [])), {k: decode(v) for k, v in call.get("kwargs", {}).items()}
    out: dict[str, Any] = {"value": _attempt(lambda: fn(*args, **kwargs))}
    grad = call.get("grad")
    if grad:
        path = [int(i) for i in grad["wrt"]]

        def vjp() -> Any:
            var = tf.Variable(_at(args, path))
            with tf.GradientTape() as tape:
                result = fn(*_replace(args, path, var), **kwargs)
                if not isinstance(result, (tf.Tensor, tf.Variable)):
                    raise TypeError(f"it returned a {type(result).__name__}, which carries no gradient")
                loss = tf.reduce_sum(tf.cast(result, tf.float32) * decode(grad["cotangent"]))
            gradient = tape.gradient(loss, var)
            if gradient is None:
                raise TypeError("the gradient is None: the output does not depend on the input through TF ops")
            return gradient

        out["grad"] = _attempt(vjp)
    if call.get("trace"):
        out["traced"] = _attempt(lambda: tf.function(fn, autograph=False)(*args, **kwargs))
    out.update({"watched": sorted(set(seen))[:8]} if call.get("watch") else {})
    return out


def _attempt(thunk: Callable[[], Any]) -> dict[str, Any]:
    try:
        return describe(thunk())
    except (Timeout, MemoryError):
        raise
    except BaseException as exc:  # student code may raise anything, SystemExit included
        return {"error": first_line(exc)}


def _layer_outputs(fn: Callable[..., Any], call: dict[str, Any]) -> dict[str, Any]:
    def run() -> Any:
        model = fn(build_model(call["model"]), [tuple(pair) for pair in call["layer_names"]])
        outputs = model(decode(call["image"]))
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    return {"value": _attempt(run)}


def _train(fn: Callable[..., Any], call: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    import keras

    tf = tensorflow()
    extractor = namespace["make_extractor"](build_model(call["model"]), call["layers"])
    a_C, a_S = extractor(decode(call["content"])), extractor(decode(call["style"]))
    image = tf.Variable(decode(call["start"]))
    optimizer = keras.optimizers.Adam(learning_rate=float(call["learning_rate"]))
    costs, images = [], []
    for _ in range(int(call["steps"])):
        costs.append(_attempt(lambda: fn(image, extractor, a_C, a_S, optimizer, call["alpha"], call["beta"])))
        images.append(describe(image.numpy()))
        if "error" in costs[-1]:
            break
    return {"costs": costs, "images": images}


def _describe_loop(value: Any) -> dict[str, Any]:
    """A loop's (history, snapshots) as plain data; the snapshots dict as its keys and values."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return describe(value)
    history, snapshots = value
    out: dict[str, Any] = {"type": "pair", "history": describe(history)}
    if isinstance(snapshots, dict):
        keys = list(snapshots)[:64]
        out["snapshots"] = {"type": "dict", "length": len(snapshots),
                            "keys": [int(k) if isinstance(k, int) else str(type(k).__name__)[:40] for k in keys],
                            "items": [describe(snapshots[k]) for k in keys]}
    else:
        out["snapshots"] = describe(snapshots)
    return out


def _loop(fn: Callable[..., Any], call: dict[str, Any]) -> dict[str, Any]:
    tf = tensorflow()
    image = tf.Variable(decode(call["start"]))
    target = decode(call["target"])
    decay, shift = float(call["decay"]), float(call["shift"])
    calls = [0]

    def step_fn(generated_image: Any) -> Any:
        J = tf.reduce_sum(tf.square(generated_image - target))
        generated_image.assign(generated_image * decay + shift)
        calls[0] += 1
        return J

    def run() -> Any:
        return fn(image, step_fn, int(call["steps"]), int(call["snapshot_every"]))

    try:
        value = _describe_loop(run())
    except (Timeout, MemoryError):
        raise
    except BaseException as exc:
        value = {"error": first_line(exc)}
    return {"value": value, "calls": calls[0]}


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "call": lambda fn, call, ns: _call(fn, call),
    "layer_outputs": lambda fn, call, ns: _layer_outputs(fn, call),
    "train": _train,
    "loop": lambda fn, call, ns: _loop(fn, call),
}


def run_plan(fn: Callable[..., Any], plan: list[dict[str, Any]], namespace: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """Run every call of ``plan`` on ``fn``: call id -> what came back (never raises for student errors)."""
    results: dict[str, Any] = {}
    for call in plan:
        kind = call.get("kind", "call")
        try:
            results[str(call["id"])] = RUNNERS[kind](fn, call, namespace or {})
        except (Timeout, MemoryError):
            raise
        except BaseException as exc:
            results[str(call["id"])] = {"value": {"error": first_line(exc)}}
    return results


# ----------------------------------------------------------------- one exercise
def definitions_only(source: str, filename: str) -> Any:
    """Compile the defs, classes, imports and literal constants of a cell; drop everything else.

    Top-level calls (a ``check_...`` left in the cell, a test print) do not run. Jupyter magics
    (``%time``, ``!pip``) are commented out first.
    """
    import __future__

    import ast

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


def exercise(job: dict[str, Any]) -> dict[str, Any]:
    """Define the student's function next to its dependencies, then run the plan on it."""
    import keras
    import numpy as np

    tf = tensorflow()
    name = str(job["name"])[:GRADED_NAME_LIMIT]
    namespace: dict[str, Any] = {"__name__": "__student__", "tf": tf, "np": np, "keras": keras}
    exec(compile(job.get("prelude", ""), "<provided>", "exec", dont_inherit=True), namespace)
    given = dict(namespace)
    try:
        code = definitions_only(job["cell"], f"<graded cell {name}>")
        exec(code, namespace)
    except SyntaxError as exc:
        return {"status": "error", "note": f"SyntaxError in the cell, line {exc.lineno}: {exc.msg}"}
    fn = namespace.get(name)
    if not callable(fn) or fn is given.get(name):
        defined = sorted(k for k, v in namespace.items() if callable(v) and v is not given.get(k)
                         and not k.startswith("_") and not isinstance(v, type(np)))
        found = f"it defines {', '.join(defined[:8])}" if defined else "it defines no function"
        return {"status": "error", "note": f"the cell marked for {name} does not define {name}() ({found}): "
                                           "was it renamed?"}
    return {"status": "ok", "results": run_plan(fn, job["plan"], namespace)}
