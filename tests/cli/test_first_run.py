"""A newcomer's first runs: proportions kept, bad paths caught before TensorFlow, runs that can be repeated,
Ctrl-C as a note with the same outcome at any moment, and a demo that works from any folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
from PIL import Image

from nst_lab.cli import main

ROOT = Path(__file__).resolve().parents[2]
CAT = ROOT / "data" / "content" / "chelsea.jpg"  # 451x300
SWIRLS = ROOT / "data" / "style" / "swirls.jpg"
FAST = ["--steps", "2", "--weights", "random", "--features", "vgg19", "--quiet"]


def test_a_451x300_input_keeps_its_ratio_and_square_crops(tmp_path):
    assert Image.open(CAT).size == (451, 300)
    assert main(["stylize", str(CAT), str(SWIRLS), "--size", "60", *FAST, "-o", str(tmp_path)]) == 0
    assert Image.open(tmp_path / "run-001" / "final.png").size == (60, 40)  # 451/300 = 1.50, 60/40 = 1.50
    assert main(["stylize", str(CAT), str(SWIRLS), "--size", "48", "--square", *FAST, "-o", str(tmp_path)]) == 0
    square = np.asarray(Image.open(tmp_path / "run-002" / "final.png"), dtype=np.float64)
    assert square.shape == (48, 48, 3)
    # a centre crop, not a squash: the middle of the picture matches the middle of the cat
    middle = np.asarray(Image.open(CAT).crop((75, 0, 375, 300)).resize((48, 48)), dtype=np.float64)
    assert np.mean(np.abs(square - middle)) < 40


def _bad_inputs(tmp: Path) -> dict[str, list[str]]:
    (tmp / "empty.png").write_bytes(b"")
    truncated = CAT.read_bytes()
    (tmp / "cut.jpg").write_bytes(truncated[: len(truncated) // 3])
    (tmp / "weights.txt").write_text("not weights")
    return {
        "missing content": [str(tmp / "nope.jpg"), str(SWIRLS)],
        "empty style": [str(CAT), str(tmp / "empty.png")],
        "truncated content": [str(tmp / "cut.jpg"), str(SWIRLS)],
        "missing weights": [str(CAT), str(SWIRLS), "--weights", str(tmp / "missing.h5")],
        "not a weights file": [str(CAT), str(SWIRLS), "--weights", str(tmp / "weights.txt")],
        "missing mask": [str(CAT), str(SWIRLS), str(SWIRLS), "--mask", str(tmp / "mask.png")],
        "too small to keep proportions": [str(CAT), str(SWIRLS), "--size", "40"],
    }


def test_file_mistakes_are_one_line_exit_2_before_tensorflow_is_imported(tmp_path):
    """One process per case: TensorFlow must not even be in sys.modules when the error comes."""
    cases = _bad_inputs(tmp_path)
    code = (
        "import json, sys\n"
        "from nst_lab.cli import main\n"
        "results = {}\n"
        "for name, args in json.loads(sys.argv[1]).items():\n"
        "    results[name] = [main(['stylize', *args, '-o', sys.argv[2]]), 'tensorflow' in sys.modules]\n"
        "print(json.dumps(results))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(cases), str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    results = json.loads(done.stdout.strip().splitlines()[-1])
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert results == {name: [2, False] for name in cases}, (results, done.stderr)
    assert len(errors) == len(cases) and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()  # nothing written


def test_run_json_records_the_inputs_and_the_command_and_from_repeats_the_run(tmp_path):
    out = tmp_path / "runs"
    assert main(["stylize", str(CAT), str(SWIRLS), "--size", "48", "--alpha", "50", *FAST, "-o", str(out)]) == 0
    first = json.loads((out / "run-001" / "run.json").read_text())
    content = first["inputs"]["content"]
    assert content["path"] == str(CAT) and content["size"] == [451, 300] and len(content["sha256"]) == 64
    assert first["inputs"]["styles"][0]["path"] == str(SWIRLS)
    assert first["command"][:2] == ["nst-lab", "stylize"] and "--alpha" in first["command"]
    assert main(["stylize", "--from", str(out / "run-001" / "run.json"), "--quiet", "-o", str(out)]) == 0
    second = json.loads((out / "run-002" / "run.json").read_text())
    assert second["config"] == first["config"] and second["inputs"] == first["inputs"]
    assert second["losses"] == first["losses"]  # same settings, same images, same seed: the same run


def test_from_refuses_images_that_changed(tmp_path, capsys):
    picture = tmp_path / "c.jpg"
    shutil.copy(CAT, picture)
    assert main(["stylize", str(picture), str(SWIRLS), "--size", "48", *FAST, "-o", str(tmp_path / "runs")]) == 0
    Image.open(CAT).rotate(90, expand=True).save(picture)
    code = main(["stylize", "--from", str(tmp_path / "runs" / "run-001" / "run.json"), "-o", str(tmp_path / "r")])
    assert code == 2 and "changed since that run" in capsys.readouterr().err


def test_ctrl_c_is_a_note_and_leaves_a_folder_that_says_interrupted_at_any_moment(tmp_path, monkeypatch, capsys):
    import nst_lab.cli.stylize as stylize_cli
    from nst_lab.engine.transfer import StyleTransfer

    def early(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(stylize_cli, "load_tensorflow", early)  # while TensorFlow would be loading
    assert main(["stylize", "--size", "48", *FAST, "-o", str(tmp_path / "early")]) == 130
    monkeypatch.undo()
    real_step, calls = StyleTransfer.step, []

    def late(self):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(StyleTransfer, "step", late)  # in the middle of the run
    assert main(["stylize", "--size", "48", "--steps", "5", "--weights", "random", "--quiet",
                 "-o", str(tmp_path / "late")]) == 130
    err = capsys.readouterr().err
    assert "error:" not in err and err.count("note: interrupted") == 2
    for folder, steps in (("early", 0), ("late", 1)):
        record = json.loads((tmp_path / folder / "run-001" / "run.json").read_text())
        assert record["status"] == "interrupted" and record["steps_done"] == steps
        assert record["inputs"]["content"]["path"].endswith("chelsea.jpg")
    assert (tmp_path / "late" / "run-001" / "final.png").exists()


def test_zero_steps_says_so_and_draws_a_plot_that_says_so(tmp_path, capsys):
    assert main(["stylize", "--size", "48", "--steps", "0", "--weights", "random", "--quiet",
                 "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0 steps (nothing to optimise)" in out and "s/step" not in out
    record = json.loads((tmp_path / "run-001" / "run.json").read_text())
    assert record["steps_done"] == 0 and record["seconds_per_step"] is None
    assert (tmp_path / "run-001" / "loss_plot.png").stat().st_size > 1000


def test_the_loss_plot_draws_the_weighted_parts_without_zeros_and_keeps_the_legend_off_the_curves():
    import matplotlib

    matplotlib.use("Agg")
    from nst_lab.plots import final_figure

    losses = {"total": [3.0, 2.9, 3.3], "content": [0.0, 0.01, 0.02], "style": [0.3, 0.19, 0.13]}  # 100 Jc + 10 Js
    fig = final_figure(np.zeros((1, 8, 8, 3)), losses, alpha=100, beta=10)
    ax = fig.axes[1]
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert set(lines) == {"total J", "alpha * J_content (alpha=100)", "beta * J_style (beta=10)"}
    content = lines["alpha * J_content (alpha=100)"]
    assert np.isnan(content[0]) and np.allclose(content[1:], [1.0, 2.0])  # step 0's zero is not drawn at -inf
    assert np.allclose(np.asarray(lines["alpha * J_content (alpha=100)"][1:]) + lines["beta * J_style (beta=10)"][1:],
                       losses["total"][1:])  # the parts add up to the total
    legend = ax.get_legend()
    fig.canvas.draw()
    box, axes = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= axes.x1 - 1  # beside the axes, not over the start of a curve


@pytest.mark.slow
def test_demo_runs_from_another_folder_with_paths_relative_to_the_caller(tmp_path):
    shutil.copy(CAT, tmp_path / "c.jpg")
    shutil.copy(SWIRLS, tmp_path / "s.jpg")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "c.jpg", "s.jpg", "--size", "48", "--steps",
                           "2", "--weights", "random", "--quiet", "-o", "out"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "run-001" / "final.png").exists()
    assert "wrote out/run-001/" in done.stdout  # the path the caller can open from where they are


def test_the_licence_is_an_spdx_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
