"""The engine that runs real jobs: ``nst-lab stylize``, the studio and ``nst-lab bench`` use it.

- ``transfer``: ``StyleTransfer`` and its one constructor, ``prepare_transfer``;
- ``step``: the one step builder (Adam and L-BFGS), the seed's objective with precomputed Grams;
- ``precision``, ``convpath`` and ``memory``: what runs on this machine (precision; how the
  convolutions' input gradients run), and whether it fits; ``flops``: what a step costs;
- ``schedules``, ``lbfgs``, ``scales``: the ways to advance a run;
- ``runs``: the whole loop with progress, snapshots and run folders; ``bench`` and ``quality``: the timings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nst_lab import lazy_exports

if TYPE_CHECKING:
    from nst_lab.engine.precision import Precision as Precision
    from nst_lab.engine.precision import resolve_precision as resolve_precision
    from nst_lab.engine.runs import RunResult as RunResult
    from nst_lab.engine.runs import save_outputs as save_outputs
    from nst_lab.engine.runs import stylize as stylize
    from nst_lab.engine.transfer import FALLBACK_NOTE as FALLBACK_NOTE
    from nst_lab.engine.transfer import Network as Network
    from nst_lab.engine.transfer import StyleTransfer as StyleTransfer
    from nst_lab.engine.transfer import initial_image as initial_image
    from nst_lab.engine.transfer import load_network as load_network
    from nst_lab.engine.transfer import multiscale_network as multiscale_network
    from nst_lab.engine.transfer import prepare_transfer as prepare_transfer

_EXPORTS = {
    ".precision": ["Precision", "resolve_precision"],
    ".runs": ["RunResult", "save_outputs", "stylize"],
    ".transfer": ["FALLBACK_NOTE", "Network", "StyleTransfer", "initial_image", "load_network", "multiscale_network",
                  "prepare_transfer"],
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
