"""The README's offline before-and-after figure and measures table: random VGG19 vs the multi-scale network.

Usage (from the repository root):

    python benchmarks/offline_figure.py                      # writes data/readme/offline_before_after.png
    python benchmarks/offline_figure.py --size 128 -o /tmp/fig.png

For each bundled pair (chelsea/swirls, coffee/mosaic, astronaut/waves) it runs the quick preset
(120 Adam steps, lr 0.03, alpha 100, beta 10, init content, precision auto) through
``prepare_transfer`` twice (stylised: colour >= 0.70, edges >= 0.40, texture >= 0.35,
the thresholds of tests/beyond/test_stylized.py): with VGG19 carrying random weights (what the offline main job
showed before) and with the training-free multi-scale network (what it shows now). It prints a
Markdown table of ``nst_lab.beyond.measures`` and saves one row per pair in the figure's first
``--rows`` pairs: content | random VGG19 | multi-scale | style.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

PAIRS = [("chelsea", "swirls"), ("coffee", "mosaic"), ("astronaut", "waves")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192, help="square side in px (default 192, the quick preset's)")
    parser.add_argument("--rows", type=int, default=2, help="pairs shown in the figure (default 2)")
    parser.add_argument("--tile", type=int, default=120, help="side of each tile in the figure, px (default 120)")
    parser.add_argument("-o", "--output", default=str(ROOT / "data/readme/offline_before_after.png"))
    args = parser.parse_args(argv)

    from PIL import Image

    from nst_lab.beyond.measures import measure
    from nst_lab.config import QUICK
    from nst_lab.engine.transfer import Network, multiscale_network, prepare_transfer
    from nst_lab.images import load_image
    from nst_lab.vgg import load_vgg19

    networks = {"random VGG19": ("vgg19", Network(*load_vgg19("random"))),
                "multi-scale": ("multiscale", multiscale_network(272))}
    rows, lines = [], []
    for content_name, style_name in PAIRS:
        content = np.asarray(load_image(ROOT / f"data/content/{content_name}.jpg", size=args.size))
        style = np.asarray(load_image(ROOT / f"data/style/{style_name}.jpg", size=args.size))
        tiles = [content[0]]
        for label, (features, network) in networks.items():
            config = QUICK.replace(size=args.size, features=features, weights="random")
            start = time.perf_counter()
            run = prepare_transfer(content, style, config, network=network)
            for _ in range(config.steps):
                run.step()
            image = run.image()
            seconds = time.perf_counter() - start
            m = measure(content, image, style)
            lines.append(f"| {content_name}/{style_name} | {label} | {m.color:.2f} | {m.texture:.2f} | "
                         f"{m.edges:.2f} | {'yes' if m.is_stylised(0.70, 0.40, 0.35) else 'no'} | {seconds:.1f} |")
            tiles.append(image[0])
        tiles.append(style[0])
        rows.append(np.concatenate(tiles, axis=1))
    print(f"quick preset at {args.size} px, precision auto\n")
    print("| pair | network | colour | texture | edges | stylised | seconds |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    print("\n".join(lines))
    figure = Image.fromarray((np.clip(np.concatenate(rows[: args.rows], axis=0), 0, 1) * 255 + 0.5).astype(np.uint8))
    scale = args.tile / args.size  # shrink for the README (the PNG stays under 300 KB)
    figure = figure.resize((round(figure.width * scale), round(figure.height * scale)), Image.LANCZOS)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.save(output, optimize=True)
    print(f"\nwrote {output} ({output.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
