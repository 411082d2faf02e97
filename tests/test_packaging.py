"""The wheel people install: what is in it, what its metadata says, and that nothing else leaks in.

The wheel is built once per session from a copy of the checkout (a build writes build/ and
*.egg-info beside the sources), with ``python -m build --no-isolation`` when this environment has the
build backend that pyproject.toml asks for (the dev extra installs it), else with ``pip wheel``,
which fetches that backend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.metadata import Metadata
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
DIST_INFO = f"nst_lab-{PROJECT['version']}.dist-info"
IMAGES = sorted(p.relative_to(ROOT / "data").as_posix() for p in (ROOT / "data").glob("*/*.jpg"))

pytestmark = pytest.mark.slow  # a build takes seconds


def _has_backend() -> bool:
    """Whether ``build`` and every [build-system] requirement are installed here, in a fitting version."""
    for text in ["build", *PYPROJECT["build-system"]["requires"]]:
        requirement = Requirement(text)
        try:
            if not requirement.specifier.contains(metadata.version(requirement.name), prereleases=True):
                return False
        except metadata.PackageNotFoundError:
            return False
    return True


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    shutil.copytree(ROOT, source, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "runs", "test-artifacts"))
    if _has_backend():
        command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)]
    else:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def names(wheel) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def meta(wheel) -> Metadata:
    with zipfile.ZipFile(wheel) as archive:
        return Metadata.from_email(archive.read(f"{DIST_INFO}/METADATA"), validate=True)


def test_the_wheel_carries_the_licence_the_typing_marker_and_the_images(wheel, names):
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"{DIST_INFO}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert "MIT License" in (ROOT / "LICENSE").read_text() and "nst-lab contributors" in (ROOT / "LICENSE").read_text()
    assert "nst_lab/py.typed" in names
    assert len(IMAGES) >= 6 and {f"nst_lab/data/{image}" for image in IMAGES} <= set(names)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nst_lab").rglob("*.py")}
    assert modules and modules <= set(names), sorted(modules - set(names))  # every subpackage is declared


def test_nothing_but_the_package_leaks_into_the_wheel(names):
    outside = [n for n in names if not n.startswith(("nst_lab/", f"{DIST_INFO}/"))]
    assert not outside, f"files outside the package: {outside}"
    leaked = [n for n in names if {"tests", "notebooks", "benchmarks", "scripts", "readme"} & set(n.split("/"))
              or n.endswith(".ipynb") or "__pycache__" in n]
    assert not leaked, leaked


def test_the_metadata_names_licence_authors_urls_and_classifiers(meta):
    assert (meta.name, str(meta.version)) == ("nst-lab", PROJECT["version"])
    assert meta.license_expression == "MIT" and meta.license_files == ["LICENSE"]
    assert meta.author == "nst-lab contributors"
    assert meta.keywords and "neural style transfer" in meta.keywords
    repository = "https://github.com/nst-lab/nst-lab"
    assert meta.project_urls == {"Homepage": repository, "Repository": repository,
                                 "Issues": f"{repository}/issues", "Documentation": f"{repository}#readme"}
    classifiers = set(meta.classifiers or [])
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)} <= classifiers
    assert {"Framework :: Jupyter", "Topic :: Education", "Intended Audience :: Education", "Typing :: Typed",
            "Topic :: Scientific/Engineering :: Artificial Intelligence"} <= classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: the expression says it
    assert str(meta.requires_python) == ">=3.10"


def test_every_classifier_is_one_the_package_index_knows(meta):
    trove = pytest.importorskip("trove_classifiers")
    unknown = sorted(set(meta.classifiers or []) - trove.classifiers)
    assert not unknown, unknown


def test_the_long_description_is_the_readme_with_absolute_images(meta):
    assert meta.description_content_type == "text/markdown"
    assert meta.description and meta.description.startswith("# nst-lab")
    images = [line for line in meta.description.splitlines() if "![" in line]
    assert images and all("](https://" in line for line in images), images


def test_the_console_script_is_nst_lab(wheel):
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert "[console_scripts]\nnst-lab = nst_lab.cli:main" in text


def test_an_unpacked_wheel_reads_its_version_url_and_images_from_its_metadata(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = ("import json, nst_lab; from nst_lab.files import DATA_DIR; from nst_lab.notebook import pinned_requirement;"
            "print(json.dumps([nst_lab.__file__, nst_lab.__version__, nst_lab.REPOSITORY_URL, str(DATA_DIR),"
            " pinned_requirement()]))")
    env = {k: v for k, v in os.environ.items() if k != "NST_LAB_DATA"} | {"PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    where, version, repository, data, requirement = json.loads(done.stdout)
    assert Path(where).is_relative_to(site) and Path(data).is_relative_to(site)
    assert (version, repository) == (PROJECT["version"], "https://github.com/nst-lab/nst-lab")
    assert requirement == f"nst-lab @ git+https://github.com/nst-lab/nst-lab@v{PROJECT['version']}"
    assert (Path(data) / "content" / "chelsea.jpg").is_file()
