"""Benchmark: the seed's loop on trained features, its loss curve and its cost in time, to one JSON file.

Usage (from the repository root):

    nice -n 10 python benchmarks/seed_reference.py --size 256 --out /tmp/seed_ref_256.json

The loop is the seed's (section 7.12): the graded ``train_step`` in float32, Adam at the SEED
preset's rate from the content image, 1001 steps, J read back every step, on the network the
chain gives (``--weights auto``: ImageNet VGG16 offline). The JSON holds the loss after every
step with the wall and own-process CPU seconds so far (``time.process_time``), so a faster
method can be compared with the seed's loop by CPU-seconds on a shared machine; the final image
is saved next to it (``.png``) to look at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="square side in px (default 400, the seed's)")
    parser.add_argument("--steps", type=int, default=1001, help="seed-loop steps (default 1001)")
    parser.add_argument("--weights", default="auto", help="weights of the chain (default auto)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from nst_lab.config import SEED
    from nst_lab.engine.bench import bench_images
    from nst_lab.engine.transfer import load_network
    from nst_lab.images import save_image
    from nst_lab.train import train_step
    from nst_lab.vgg import FeatureExtractor

    content, style = bench_images(args.size)
    network = load_network(SEED.replace(size=args.size, weights=args.weights))
    config = network.config_for(SEED.replace(size=args.size, weights=args.weights, steps=args.steps))
    evaluator = FeatureExtractor(network.model, config.layer_names)
    a_C, a_S = evaluator(content), evaluator(style)
    image = tf.Variable(content)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    step = tf.function(lambda: train_step(image, evaluator, a_C, a_S, optimizer, alpha=config.alpha,
                                          beta=config.beta, STYLE_LAYERS=config.style_layers))
    losses, walls, cpus = [], [], []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(config.steps):
        losses.append(float(step().numpy()))  # J before step i's update, as the seed reads it
        walls.append(time.perf_counter() - wall0)
        cpus.append(time.process_time() - cpu0)
        if i % 50 == 0:
            print(f"step {i}: J {losses[-1]:.5g}, {walls[-1]:.0f} s wall, {cpus[-1]:.0f} CPU-s", flush=True)
    from nst_lab.train import cost_parts

    final = float(cost_parts(image, evaluator, a_C, a_S, config.alpha, config.beta, config.style_layers)[0])
    record = {"size": args.size, "steps": config.steps, "learning_rate": config.learning_rate,
              "alpha": config.alpha, "beta": config.beta, "network": network.info.summary(),
              "style_layers": [list(p) for p in config.style_layers], "content_layer": config.content_layer,
              "final_loss": final, "wall_s": walls[-1], "cpu_s": cpus[-1],
              "losses": losses, "wall": walls, "cpu": cpus}
    args.out.write_text(json.dumps(record))
    save_image(image, args.out.with_suffix(".png"), overwrite=True)
    print(f"final loss {final:.6g} after {config.steps} steps: {walls[-1]:.1f} s wall, {cpus[-1]:.1f} CPU-s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
