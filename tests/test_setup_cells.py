"""Every notebook's setup cell is the one template, pinned to this release; README images are pinned too;
and a notebook's import cell shows no TensorFlow log lines on stderr.

The release is read from pyproject.toml here, independently of how nst_lab reads it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import nst_lab
from nst_lab.notebook import pinned_requirement, setup_cell, setup_cell_source, sync_setup_cells

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("*.ipynb"))
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
VERSION, REPOSITORY = PROJECT["version"], PROJECT["urls"]["Repository"]
PINNED = f"nst-lab @ git+{REPOSITORY}@v{VERSION}"
SYNC = ROOT / "scripts" / "sync_setup_cells.py"


def _sync_script() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("sync_setup_cells", SYNC)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_version_and_repository_come_from_pyproject():
    assert (nst_lab.__version__, nst_lab.REPOSITORY_URL) == (VERSION, REPOSITORY)
    assert REPOSITORY == "https://github.com/nst-lab/nst-lab"
    assert pinned_requirement() == PINNED


@pytest.mark.parametrize("pyproject,expected", [
    ('[project]\nname = "nst-lab"\nversion = "9.8.7"\nurls = {Repository = "https://github.com/me/fork"}\n',
     ["9.8.7", "https://github.com/me/fork"]),  # a checkout reads its own pyproject.toml
    ('[project\nname = "nst-lab"', None),  # broken: the import still works, on the installed metadata
    ('[project]\nname = "another"\nversion = "1.0"\n', None),  # another project's file is not ours
])
def test_a_checkout_reads_the_pyproject_beside_the_package(tmp_path, pyproject, expected):
    shutil.copytree(ROOT / "nst_lab", tmp_path / "nst_lab", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    code = "import json, nst_lab; print(json.dumps([nst_lab.__version__, nst_lab.REPOSITORY_URL]))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found == expected if expected else found != ["9.8.7", "https://github.com/me/fork"]


def test_a_version_that_names_no_release_is_refused():
    with pytest.raises(ValueError, match=r"cannot pin a release of repository '' at version '0\+unknown'"):
        pinned_requirement("0+unknown", "")


def test_the_template_pip_installs_the_tag_and_needs_no_clone():
    source = setup_cell_source()
    assert f"PIP_INSTALL = 'pip install \"{PINNED}\" --quiet'" in source  # the command, as a student would type it
    assert "try:\n    import nst_lab\nexcept ImportError:" in source
    assert "git clone" not in source and '"clone"' not in source and "NST_LAB_DATA" not in source
    assert "nst_lab.load_tensorflow()" in source
    compile(source, "setup cell", "exec")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setup_cell_is_the_template(path):
    cell = setup_cell(json.loads(path.read_text(encoding="utf-8")))
    assert "".join(cell["source"]) == setup_cell_source(), (
        f"{path.relative_to(ROOT)}: the setup cell drifted from nst_lab.notebook.SETUP_CELL; "
        "run python scripts/sync_setup_cells.py")


def _run_setup_cell(monkeypatch, in_colab: bool, pip_fails: bool, installed: bool) -> tuple[list, list]:
    """Run the setup cell's source with pip and the import of nst_lab faked; returns (pip calls, loads)."""
    calls, loads = [], []
    real = nst_lab
    monkeypatch.setitem(sys.modules, "nst_lab", real)  # as installed, until the lines below say otherwise
    source = setup_cell_source()

    def fake_run(command, check):
        calls.append(command)
        if pip_fails:
            raise subprocess.CalledProcessError(1, command)
        monkeypatch.setitem(sys.modules, "nst_lab", real)  # what a successful install makes importable
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(real, "load_tensorflow", lambda: loads.append(1))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setitem(sys.modules, "nst_lab", real if installed else None)  # None: `import` raises ImportError
    exec(compile(source, "setup cell", "exec"), {})  # noqa: S102 (our own template)
    return calls, loads


def test_in_colab_a_failed_install_is_retried_when_the_cell_runs_again(monkeypatch):
    with pytest.raises(subprocess.CalledProcessError):
        _run_setup_cell(monkeypatch, in_colab=True, pip_fails=True, installed=False)
    calls, loads = _run_setup_cell(monkeypatch, in_colab=True, pip_fails=False, installed=False)
    assert calls == [[sys.executable, "-m", "pip", "install", PINNED, "--quiet"]] and loads == [1]
    calls, loads = _run_setup_cell(monkeypatch, in_colab=True, pip_fails=False, installed=True)
    assert calls == [] and loads == [1]  # installed: no second install


def test_outside_colab_the_cell_installs_nothing(monkeypatch):
    calls, loads = _run_setup_cell(monkeypatch, in_colab=False, pip_fails=False, installed=True)
    assert calls == [] and loads == [1]
    with pytest.raises(ImportError):
        _run_setup_cell(monkeypatch, in_colab=False, pip_fails=False, installed=False)


@pytest.mark.parametrize("name", ["solutions/07_beyond.ipynb", "07_beyond.ipynb"])  # with and without a final newline
def test_sync_rewrites_only_the_setup_cell(tmp_path, name):
    committed = ROOT / "notebooks" / name
    nb = json.loads(committed.read_text(encoding="utf-8"))
    setup_cell(nb)["source"] = ["# Setup\n", "!git clone https://github.com/nst-lab/nst-lab\n"]
    drifted = tmp_path / "07_beyond.ipynb"
    ending = "\n" if committed.read_text(encoding="utf-8").endswith("\n") else ""
    drifted.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + ending, encoding="utf-8")
    assert sync_setup_cells([drifted]) == [drifted]
    assert drifted.read_bytes() == committed.read_bytes()  # every other byte as it was
    assert sync_setup_cells([drifted]) == []


def test_readme_images_are_absolute_at_the_release_tag_and_exist_in_the_repository():
    base = f"{REPOSITORY.replace('https://github.com/', 'https://raw.githubusercontent.com/')}/v{VERSION}/"
    targets = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert targets, "the README shows no image: nothing to check"
    for target in targets:
        assert target.startswith(base), f"{target}: not pinned to {base} (run python scripts/sync_setup_cells.py)"
        assert (ROOT / target[len(base):]).is_file(), f"{target}: no such file in the repository"


RAW = "https://raw.githubusercontent.com/o/r"


@pytest.mark.parametrize("text,expected", [
    ("![a](data/readme/x.png)", f"![a]({RAW}/v1.2.0/data/readme/x.png)"),  # relative: pinned
    (f"![a]({RAW}/main/data/x.png)", f"![a]({RAW}/v1.2.0/data/x.png)"),  # another branch or tag: re-pinned
    ("![b](https://img.shields.io/b.svg) [link](data/x.png)", "![b](https://img.shields.io/b.svg) [link](data/x.png)"),
])
def test_pin_images(text, expected):
    assert _sync_script().pin_images(text, f"{RAW}/v1.2.0") == expected


def test_the_sync_check_passes_on_the_repository():
    done = subprocess.run([sys.executable, str(SYNC), "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# TensorFlow's C++ log lines: Abseil's "I0000 00:00:... file.cc:12]" and its first-line warning, the older
# "2026-01-01 00:00:00.0: I tensorflow/..." form, and the two notices every CPU build prints.
TF_LOG = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\]|WARNING: All log messages before absl"
                    r"|\d{4}-\d\d-\d\d [\d:.]+: [IWEF] |.*oneDNN custom operations|.*rebuild TensorFlow with)")


def _stderr_lines(code: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a student's kernel has it
    env.update(PYTHONPATH=str(ROOT), MPLBACKEND="Agg", NST_LAB_QUICK="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stderr.splitlines() if TF_LOG.match(line)]


@pytest.mark.slow
def test_a_notebook_import_cell_shows_no_tensorflow_log_lines():
    nb = json.loads((ROOT / "notebooks" / "solutions" / "01_vgg19.ipynb").read_text(encoding="utf-8"))
    imports = "".join([c for c in nb["cells"] if c["cell_type"] == "code"][1]["source"])
    assert "import tensorflow" in imports
    work = "\nx = tf.nn.conv2d(tf.ones((1, 8, 8, 3)), tf.ones((3, 3, 3, 4)), 1, 'SAME')\nprint(float(tf.reduce_sum(x)))"
    unguarded = _stderr_lines(imports + work)  # the import cell without the setup cell before it
    if not unguarded:
        pytest.skip("this TensorFlow build logs nothing at start-up: nothing to hide")
    assert _stderr_lines(setup_cell_source() + "\n" + imports + work) == []
