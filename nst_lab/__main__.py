"""``python -m nst_lab`` runs the ``nst-lab`` command line."""

import sys

from nst_lab.cli import main

sys.exit(main())
