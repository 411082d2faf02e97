"""How the quick preset's alpha was chosen: the bundled pairs at several alpha/beta ratios, measured.

Usage (from the repository root):

    python benchmarks/tune_quick.py                       # alpha 100, 1000 and 10000 (beta 10), 192 px
    python benchmarks/tune_quick.py --alphas 100,10000 --size 128 -o /tmp/tune.png

Each run is the quick preset (120 Adam steps at lr 0.03 from the content, the seed's [0, 1] input)
with ``--alpha`` changed, on the network ``--features auto`` picks here, through ``prepare_transfer``.
It prints ``nst_lab.beyond.measures`` per run and saves one row of results per alpha, so the
picture can be judged by eye: the measures see texture and coarse edges, not whether a face survives.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

PAIRS = [("chelsea", "swirls"), ("coffee", "mosaic"), ("astronaut", "waves")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphas", default="100,1000,10000", help="comma-separated alphas (beta stays 10)")
    parser.add_argument("--size", type=int, default=192, help="longest side in px (default 192, the quick preset's)")
    parser.add_argument("-o", "--output", default="tune_quick.png", help="the figure (default ./tune_quick.png)")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from nst_lab.beyond.measures import measure
    from nst_lab.config import QUICK
    from nst_lab.engine import load_network, prepare_transfer
    from nst_lab.files import bundled_images, one_picture

    alphas = [float(a) for a in args.alphas.split(",")]
    images = bundled_images()
    network = load_network(QUICK)
    print(f"network: {network.info.summary()}")
    fig, axes = plt.subplots(len(alphas), len(PAIRS), figsize=(3 * len(PAIRS), 2.4 * len(alphas)), squeeze=False)
    for row, alpha in enumerate(alphas):
        config = QUICK.replace(size=args.size, alpha=alpha, save_every=0)
        for col, (content, style) in enumerate(PAIRS):
            run = prepare_transfer(images[f"content/{content}"], images[f"style/{style}"], config, network=network)
            for _ in range(config.steps):
                run.step()
            m = measure(run.content_image.numpy(), run.image(), run.style_images[0].numpy())
            print(f"alpha {alpha:g} {content}/{style}: colour {m.color:.2f} texture {m.texture:.2f} "
                  f"edges {m.edges:.2f}", flush=True)
            axes[row][col].imshow(np.clip(one_picture(run.image()), 0, 1))
            axes[row][col].set_title(f"alpha {alpha:g}, {content}/{style}", fontsize=8)
            axes[row][col].axis("off")
    fig.tight_layout()
    fig.savefig(args.output, dpi=72)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
