#!/bin/bash
# nbgrader, default configuration, on every graded solution notebook: release them, submit the solutions
# themselves as one student, autograde, print each notebook's score and any cell that erred or timed out.
#
#   bash scripts/nbgrader_smoke.sh            # NST_LAB_QUICK=1 (the quick profile) unless set otherwise
#
# Needs nbgrader (the dev extra) in .venv. Leaves its course folder in a temporary directory (printed).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COURSE=$(mktemp -d "${TMPDIR:-/tmp}/nbgrader-course.XXXX")
export PATH="$ROOT/.venv/bin:$PATH" NST_LAB_QUICK="${NST_LAB_QUICK:-1}" MPLBACKEND=Agg TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$COURSE/source/ps1" "$COURSE/submitted/solver/ps1"
for stem in 01_vgg19 02_content_cost 03_style_cost 04_adam 05_style_transfer 07_beyond; do
  cp "$ROOT/notebooks/solutions/$stem.ipynb" "$COURSE/source/ps1/"
done
cd "$COURSE"
nbgrader generate_assignment ps1 --force > generate.log 2>&1
cp source/ps1/*.ipynb submitted/solver/ps1/
start=$(date +%s)
nbgrader autograde ps1 --force > autograde.log 2>&1
echo "autograde: $(( $(date +%s) - start )) s of wall time"
python - "$COURSE" <<'PY'
import json, sys
from pathlib import Path
from nbgrader.api import Gradebook
course = Path(sys.argv[1])
with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
    for nb in gradebook.find_submission("ps1", "solver").notebooks:
        cells = json.loads((course / "autograded" / "solver" / "ps1" / f"{nb.name}.ipynb").read_text())["cells"]
        errors = sum(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
        print(f"{nb.name}: {nb.score:g} / {nb.max_score:g}, cells with an error: {errors}")
PY
echo "course folder: $COURSE"
