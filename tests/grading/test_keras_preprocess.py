"""`nst-lab grade` in its sandbox: a preprocess_for_vgg19 that calls Keras' own preprocess_input scores 0, named.

The values it returns are right (Keras computes the same conversion), so only the grader's watch on
calls into Keras' applications package tells it apart from the student's own work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.grading import fixtures as fx

BY_HAND = ("def preprocess_for_vgg19(image):\n"
           "    return image[..., ::-1] * 255.0 - tf.constant([103.939, 116.779, 123.68])\n")
CALLS = {
    "vgg19": ("def preprocess_for_vgg19(image):\n"
              "    return tf.keras.applications.vgg19.preprocess_input(image * 255.0)\n"),
    "vgg16": ("from keras.applications.vgg16 import preprocess_input as pp\n\n"
              "def preprocess_for_vgg19(image):\n    return pp(255.0 * image)\n"),
}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_the_sandboxed_grader_scores_no_call_to_keras(tmp_path: Path) -> None:
    from nst_lab.cli import main

    sources = {"by_hand": BY_HAND, **CALLS}
    for student, source in sources.items():
        fx.write(tmp_path / "class" / student / "01_vgg19.ipynb", fx.build({"preprocess_for_vgg19": source}))
    assert main(["grade", str(tmp_path / "class"), "-o", str(tmp_path / "out"), "--seed", "4242", "--workers", "1",
                 "--quiet", "--exercises", "preprocess_for_vgg19"]) == 0
    rows = json.loads((tmp_path / "out" / "grades.json").read_text())["submissions"]
    found = {Path(r["path"]).parent.name: r["exercises"]["preprocess_for_vgg19"] for r in rows}
    assert found["by_hand"]["points"] == found["by_hand"]["max"] > 0, found["by_hand"]
    for student in CALLS:
        report = found[student]
        assert report["points"] == 0 and report["cases"], report
        assert all("this calls Keras' own preprocess_input" in c["message"] for c in report["cases"]), report
