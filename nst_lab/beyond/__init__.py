"""Beyond the seed: the extensions of notebook 07 (colour, blends, total variation, style scale, masks).

The engine's ``prepare_transfer`` uses ``extensions`` when one of their options is set; nothing
here imports the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nst_lab import lazy_exports

if TYPE_CHECKING:
    from nst_lab.beyond.color import match_color_histogram as match_color_histogram
    from nst_lab.beyond.color import rgb_to_yiq as rgb_to_yiq
    from nst_lab.beyond.extensions import StyleCost as StyleCost
    from nst_lab.beyond.extensions import total_variation as total_variation
    from nst_lab.beyond.guided import layer_masks as layer_masks
    from nst_lab.beyond.guided import load_mask as load_mask
    from nst_lab.beyond.guided import normalized_gram as normalized_gram

_EXPORTS = {
    ".color": ["match_color_histogram", "rgb_to_yiq"],
    ".extensions": ["StyleCost", "total_variation"],
    ".guided": ["layer_masks", "load_mask", "normalized_gram"],
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
