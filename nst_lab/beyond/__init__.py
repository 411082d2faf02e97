"""Beyond the seed: the extensions of notebook 07 (colour, blends, total variation, style scale, masks)
and notebook 08's training-free multi-scale network (``multiscale``) with the measures that judge a
stylised picture without the network that made it (``measures``).

The engine's ``prepare_transfer`` uses ``extensions`` when one of their options is set, and
``multiscale`` when ImageNet VGG19 cannot be had; nothing here imports the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nst_lab import lazy_exports

if TYPE_CHECKING:
    from nst_lab.beyond.color import match_color_histogram as match_color_histogram
    from nst_lab.beyond.color import rgb_to_yiq as rgb_to_yiq
    from nst_lab.beyond.extensions import StyleCost as StyleCost
    from nst_lab.beyond.guided import layer_masks as layer_masks
    from nst_lab.beyond.guided import load_mask as load_mask
    from nst_lab.beyond.guided import normalized_gram as normalized_gram
    from nst_lab.beyond.measures import measure as measure
    from nst_lab.beyond.multiscale import build_multiscale as build_multiscale

_EXPORTS = {
    ".color": ["match_color_histogram", "rgb_to_yiq"],
    ".extensions": ["StyleCost"],
    ".guided": ["layer_masks", "load_mask", "normalized_gram"],
    ".measures": ["measure"],
    ".multiscale": ["build_multiscale"],
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
