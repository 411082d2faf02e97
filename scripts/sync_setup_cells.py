"""Keep what names a release in step with pyproject.toml, the one place the version and URL are written.

    python scripts/sync_setup_cells.py          # rewrite what drifted, then release the student notebooks
    python scripts/sync_setup_cells.py --check  # change nothing; exit 1 naming each file that drifted

It makes the setup cell (the first code cell) of every solution notebook the template
``nst_lab.notebook.SETUP_CELL`` filled in for this release (``pip install "nst-lab @ git+URL@vX.Y.Z"``),
pins the README's images to the same tag (absolute links, so they also show where the README is
shown outside the repository: the package index's project page), and reruns
``nst-lab release notebooks/solutions -o notebooks`` so the student notebooks follow. Run it after
changing ``version`` or ``[project.urls] Repository`` in pyproject.toml; tests/test_setup_cells.py
fails until then.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nst_lab, whatever else is installed

import nst_lab  # noqa: E402
from nst_lab.notebook import setup_cell_drifted, setup_cell_source, sync_setup_cells  # noqa: E402

SOLUTIONS = ROOT / "notebooks" / "solutions"
STUDENTS = ROOT / "notebooks"
README = ROOT / "README.md"
IMAGE_LINK = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")  # ![alt](target)


def raw_base(version: str = nst_lab.__version__, repository: str = nst_lab.REPOSITORY_URL) -> str:
    """Where the repository's files are served at the release tag, e.g. https://raw.../nst-lab/v0.1.0."""
    raw = repository.replace("https://github.com/", "https://raw.githubusercontent.com/", 1)
    return f"{raw}/v{version}"


def pin_images(text: str, base: str) -> str:
    """Markdown with every image that lies in the repository linked absolutely at ``base``.

    Relative targets and links into the repository at another tag or branch are rewritten; images
    elsewhere on the web are left alone.
    """
    root = base.rsplit("/", 1)[0] + "/"  # the repository's raw root, without the tag

    def pin(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith(root):
            target = target[len(root):].partition("/")[2]  # drop the old tag or branch
        elif "://" in target or target.startswith(("/", "#", "data:")):
            return match.group(0)
        return f"{match.group(1)}{base}/{target}{match.group(3)}"

    return IMAGE_LINK.sub(pin, text)


def drifted() -> list[Path]:
    """Files that the sync would change."""
    source = setup_cell_source()
    notebooks = sorted(SOLUTIONS.glob("*.ipynb")) + sorted(STUDENTS.glob("*.ipynb"))
    late = [path for path in notebooks if setup_cell_drifted(path, source)]
    text = README.read_text(encoding="utf-8")
    if pin_images(text, raw_base()) != text:
        late.append(README)
    return late


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file drifted")
    args = parser.parse_args(argv)
    if args.check:
        late = drifted()
        for path in late:
            print(f"drifted: {path.relative_to(ROOT)} (run python scripts/sync_setup_cells.py)", file=sys.stderr)
        return 1 if late else 0
    for path in sync_setup_cells(sorted(SOLUTIONS.glob("*.ipynb"))):
        print(f"setup cell rewritten: {path.relative_to(ROOT)}")
    text = README.read_text(encoding="utf-8")
    if pin_images(text, raw_base()) != text:
        README.write_text(pin_images(text, raw_base()), encoding="utf-8")
        print(f"images pinned to {raw_base()}: README.md")
    from nst_lab.errors import NstLabError
    from nst_lab.grading.release import release_paths

    try:
        release_paths(SOLUTIONS, STUDENTS)
    except NstLabError as exc:  # a broken solution marker: the release names the notebook, cell and line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("student notebooks released from notebooks/solutions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
