"""Small course notebooks for the release and grading tests, built with nbformat.

They follow the notebook conventions of the brief (marker comment, START/END CODE HERE and
BEGIN/END SOLUTION regions, nbgrader metadata, check cell after each graded cell) and carry
solutions written from the maths of the lessons, independently of ``nst_lab``'s code.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

SETUP = (
    "import numpy as np\nimport tensorflow as tf\nfrom nst_lab.config import STYLE_LAYERS, CONTENT_LAYER\n"
    "from nst_lab.costs import clip_0_1\nfrom nst_lab.checks import *"
)


def _body(lines: str) -> str:
    """Wrap solution lines in the student region banners (4-space indent)."""
    return (
        "    ### START CODE HERE ###\n    ### BEGIN SOLUTION\n"
        + lines
        + "    ### END SOLUTION\n    ### END CODE HERE ###\n"
    )


SOLUTIONS = {
    "get_layer_outputs": (
        "def get_layer_outputs(vgg, layer_names):\n"
        '    """A model returning the activations of the named layers, in order."""\n'
        + _body(
            "    outputs = [vgg.get_layer(pair[0]).output for pair in layer_names]\n"
            "    model = tf.keras.Model([vgg.input], outputs)\n"
        )
        + "    return model\n"
    ),
    "compute_content_cost": (
        "def compute_content_cost(content_output, generated_output):\n"
        "    a_C = content_output[-1]  # (1, n_H, n_W, n_C)\n"
        "    a_G = generated_output[-1]\n"
        + _body(
            "    _, n_H, n_W, n_C = a_G.get_shape().as_list()\n"
            "    J_content = tf.reduce_sum(tf.square(tf.subtract(a_C, a_G))) / (4.0 * n_H * n_W * n_C)\n"
        )
        + "    return J_content\n"
    ),
    "gram_matrix": (
        "def gram_matrix(A):\n"
        + _body("    GA = tf.linalg.matmul(A, tf.transpose(A))  # (n_C, n_C)\n")
        + "    return GA\n"
    ),
    "compute_layer_style_cost": (
        "def compute_layer_style_cost(a_S, a_G):\n"
        + _body(
            "    _, n_H, n_W, n_C = a_G.get_shape().as_list()\n"
            "    S = tf.transpose(tf.reshape(a_S, shape=[-1, n_C]))  # (n_C, n_H*n_W)\n"
            "    G = tf.transpose(tf.reshape(a_G, shape=[-1, n_C]))\n"
            "    diff = gram_matrix(S) - gram_matrix(G)\n"
            "    J_style_layer = tf.reduce_sum(diff * diff) / (4.0 * float(n_H * n_W * n_C) ** 2)\n"
        )
        + "    return J_style_layer\n"
    ),
    "compute_style_cost": (
        "def compute_style_cost(style_image_output, generated_image_output, STYLE_LAYERS=STYLE_LAYERS):\n"
        "    J_style = 0\n"
        + _body(
            "    pairs = zip(style_image_output[:-1], generated_image_output[:-1])\n"
            "    for (a_S, a_G), (_, weight) in zip(pairs, STYLE_LAYERS):\n"
            "        J_style += weight * compute_layer_style_cost(a_S, a_G)\n"
        )
        + "    return J_style\n"
    ),
    "total_cost": (
        "def total_cost(J_content, J_style, alpha=100, beta=10):\n"
        + _body("    J = alpha * J_content + beta * J_style\n")
        + "    return J\n"
    ),
    "adam_update": (
        "def adam_update(theta, grad, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):\n"
        + _body(
            "    t = tf.cast(t, tf.float32)\n"
            "    m = beta1 * m + (1 - beta1) * grad\n"
            "    v = beta2 * v + (1 - beta2) * grad ** 2\n"
            "    m_hat = m / (1 - beta1 ** t)\n"
            "    v_hat = v / (1 - beta2 ** t)\n"
            "    theta = theta - learning_rate * m_hat / (tf.sqrt(v_hat) + epsilon)\n"
        )
        + "    return theta, m, v\n"
    ),
    "train_step": (
        "def train_step(generated_image, vgg_model_outputs, a_C, a_S, optimizer, alpha=100, beta=10,\n"
        "               STYLE_LAYERS=STYLE_LAYERS):\n"
        + _body(
            "    with tf.GradientTape() as tape:\n"
            "        a_G = vgg_model_outputs(generated_image)\n"
            "        J_style = compute_style_cost(a_S, a_G, STYLE_LAYERS)\n"
            "        J_content = compute_content_cost(a_C, a_G)\n"
            "        J = total_cost(J_content, J_style, alpha=alpha, beta=beta)\n"
            "    grad = tape.gradient(J, generated_image)\n"
            "    optimizer.apply_gradients([(grad, generated_image)])\n"
            "    generated_image.assign(clip_0_1(generated_image))\n"
        )
        + "    return J\n"
    ),
    "preprocess_for_vgg19": (
        "def preprocess_for_vgg19(image):\n"
        '    """Caffe-style ImageNet input: pixels x255, channels as B, G, R, each channel\'s mean removed."""\n'
        + _body(
            "    red, green, blue = tf.unstack(255.0 * image, axis=-1)  # each (1, H, W)\n"
            "    means = {'B': 103.939, 'G': 116.779, 'R': 123.68}  # ImageNet means, per channel\n"
            "    x = tf.stack([blue - means['B'], green - means['G'], red - means['R']], axis=-1)\n"
        )
        + "    return x\n"
    ),
    "run_style_transfer": (
        "def run_style_transfer(generated_image, train_step_fn, steps, snapshot_every):\n"
        "    history = []\n"
        "    snapshots = {}\n"
        + _body(
            "    for step in range(steps):\n"
            "        cost = train_step_fn(generated_image)\n"
            "        history.append(float(cost))  # a number, not a tensor\n"
            "        if step % snapshot_every == 0:\n"
            "            snapshots[step] = np.array(generated_image.numpy(), copy=True)\n"
        )
        + "    return history, snapshots\n"
    ),
    "compute_total_variation_cost": (
        "def compute_total_variation_cost(image):\n"
        + _body(
            "    dy = image[:, 1:, :, :] - image[:, :-1, :, :]  # (1, H-1, W, 3)\n"
            "    dx = image[:, :, 1:, :] - image[:, :, :-1, :]  # (1, H, W-1, 3)\n"
            "    J_tv = tf.reduce_sum(dy * dy) + tf.reduce_sum(dx * dx)\n"
        )
        + "    return J_tv\n"
    ),
}
ALL = list(SOLUTIONS)


def graded_meta(name: str) -> dict:
    return {"nbgrader": {"grade": False, "grade_id": name, "locked": False, "solution": True, "schema_version": 3}}


def check_meta(name: str, points: int) -> dict:
    return {
        "nbgrader": {
            "grade": True,
            "grade_id": f"check_{name}",
            "locked": True,
            "points": points,
            "solution": False,
            "schema_version": 3,
        },
        "tags": ["nbval-check-output"],
    }


def build(functions: dict[str, str], flavour: str = "jupyterlab", outputs: bool = True) -> nbformat.NotebookNode:
    """A course-style notebook with one graded cell + check cell per function.

    flavour: "jupyterlab" (marker + nbgrader metadata), "colab" (marker only, Colab
    metadata), "nbgrader" (nbgrader grade_id only, no marker comment).
    """
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    if flavour == "colab":
        nb.metadata["colab"] = {"provenance": []}
    nb.cells.append(new_markdown_cell("# Fixture lesson\n\nLearning objectives: none, it is a test."))
    nb.cells.append(new_code_cell(SETUP))
    for name, source in functions.items():
        marker = "" if flavour == "nbgrader" else f"# GRADED FUNCTION: {name}\n"
        meta = {} if flavour == "colab" else graded_meta(name)
        graded = new_code_cell(marker + source.rstrip("\n"), metadata=meta, execution_count=3)
        check = new_code_cell(
            f"check_{name}({name})",
            metadata={} if flavour == "colab" else check_meta(name, 10),
            execution_count=4,
        )
        if outputs:
            check.outputs = [new_output("stream", name="stdout", text="All tests passed\n")]
        nb.cells += [new_markdown_cell(f"## {name}"), graded, check]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
    return nb


def write(path: Path, nb: nbformat.NotebookNode, flavour: str = "jupyterlab") -> Path:
    """Write ``nb``; Colab saves sources as lists of lines and nbformat_minor 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if flavour == "colab":
        data = json.loads(nbformat.writes(nb))
        data["nbformat_minor"] = 0
        for cell in data["cells"]:
            cell.pop("id", None)
            cell["metadata"] = {"id": f"x{abs(hash(cell['source'][0] if cell['source'] else '')) % 10**8}"}
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    else:
        path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def with_(**replacements: str) -> dict[str, str]:
    """The solutions with some functions' source replaced."""
    return {name: replacements.get(name, source) for name, source in SOLUTIONS.items()}
