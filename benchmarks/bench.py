"""Benchmark: the seed's train_step as written vs nst_lab float32 vs nst_lab auto, one table.

Usage (from the repository root):

    python benchmarks/bench.py --size 400 --steps 6            # the step table alone
    python benchmarks/bench.py --size 400 --steps 6 --quality --quality-size 400 \
        --quality-methods auto-adam,fast                       # the README's two tables

Same options as ``nst-lab bench`` (see ``--help``); this script only calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from nst_lab.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
