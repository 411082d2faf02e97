"""The README's gallery: content | style | result on trained features, for the bundled pairs and one more.

Usage (from the repository root):

    python benchmarks/gallery.py                         # writes data/readme/gallery.png, prints a table
    python benchmarks/gallery.py --size 192 --steps 120 -o /tmp/gallery.png

Each pair runs through ``prepare_transfer``, the engine of ``nst-lab stylize``, with the quick
preset's costs (alpha 1e4, beta 10, Adam at lr 0.03, init content, the seed's five style layers)
at ``--size`` px (longest side) for ``--steps`` steps, on the network ``--features auto`` picks here:
ImageNet VGG19 online, ImageNet VGG16 offline; the figure's title names it. The table gives the
final costs and ``nst_lab.beyond.measures`` (colour and texture: fraction of the way from the
content's statistics to the style's; edges: correlation of the content's and the result's edges).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

PAIRS = [("chelsea", "swirls"), ("coffee", "mosaic"), ("astronaut", "waves"), ("coffee", "swirls")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="longest side in px (default 400)")
    parser.add_argument("--steps", type=int, default=120, help="Adam steps per pair (default 120, the quick preset's)")
    parser.add_argument("--tile", type=int, default=260, help="height of each tile in the figure, px")
    parser.add_argument("-o", "--output", default=str(ROOT / "data/readme/gallery.png"))
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from nst_lab.beyond.measures import measure
    from nst_lab.config import QUICK
    from nst_lab.engine import load_network, prepare_transfer
    from nst_lab.files import bundled_images, one_picture

    images = bundled_images()
    config = QUICK.replace(size=args.size, steps=args.steps, save_every=0, precision="float32")
    network = load_network(config)
    print(f"network: {network.info.summary()}")
    print("| pair | seconds | J_content | J_style | colour | texture | edges |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    fig, axes = plt.subplots(len(PAIRS), 3, figsize=(9, 2.6 * len(PAIRS)), squeeze=False)
    for row, (content, style) in enumerate(PAIRS):
        start = time.perf_counter()
        run = prepare_transfer(images[f"content/{content}"], images[f"style/{style}"], config, network=network)
        for _ in range(config.steps):
            run.step()
        seconds = time.perf_counter() - start
        result = run.image()
        m = measure(run.content_image.numpy(), result, run.style_images[0].numpy())
        print(f"| {content}/{style} | {seconds:.0f} | {run.history['content'][-1]:.4g} | "
              f"{run.history['style'][-1]:.4g} | {m.color:.2f} | {m.texture:.2f} | {m.edges:.2f} |", flush=True)
        for ax, (label, picture) in zip(axes[row], [("content", run.content_image), ("style", run.style_images[0]),
                                                    (f"result, {config.steps} steps", result)]):
            ax.imshow(np.clip(one_picture(picture), 0, 1))
            name = {"content": content, "style": style}.get(label, "")
            ax.set_title(f"{label}: {name}" if name else label, fontsize=9)
            ax.axis("off")
    fig.suptitle(f"{network.info.label()}, {args.size} px, alpha {config.alpha:g}, beta {config.beta:g}, "
                 f"Adam lr {config.learning_rate}", fontsize=10)
    fig.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=72)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
