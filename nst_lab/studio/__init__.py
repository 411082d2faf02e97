"""Notebook 06's studio: an ipywidgets panel (``panel.Studio``), its image slots (``picker``) and the
widget-free run session (``session``). The only part of nst_lab that imports ipywidgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nst_lab import lazy_exports

if TYPE_CHECKING:
    from nst_lab.studio.panel import Studio as Studio
    from nst_lab.studio.session import ChunkedRun as ChunkedRun

_EXPORTS = {".panel": ["Studio"], ".session": ["ChunkedRun"]}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
