"""Benchmark: seconds per Adam step of the multi-scale random network vs VGG19, two precisions, one table.

Usage (from the repository root):

    python benchmarks/multiscale_speed.py                 # 400x400 cat and swirls, 10 timed steps each
    python benchmarks/multiscale_speed.py --size 192 --steps 20

Four runs are built through ``prepare_transfer`` (the engine users run): the multi-scale network
and VGG19 with random weights (its speed does not depend on the weights), each under precision
``auto`` (bfloat16 on CPUs with AMX/AVX512-BF16, float16 on tensor-core GPUs) and ``float32``.
After ``--warmup`` steps each (tracing), they take one step in turn, round-robin, so a busy
machine slows them alike; the table gives the median seconds per step and the speed-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="square side in px (default 400)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per run first (default 3)")
    args = parser.parse_args(argv)

    from nst_lab.config import QUICK
    from nst_lab.engine.precision import resolve_precision
    from nst_lab.engine.transfer import Network, multiscale_network, prepare_transfer
    from nst_lab.vgg import load_vgg19

    content, style = ROOT / "data/content/chelsea.jpg", ROOT / "data/style/swirls.jpg"
    networks = {"multi-scale": multiscale_network(272), "VGG19 (random weights)": Network(*load_vgg19("random"))}
    precisions = {"auto": resolve_precision("auto").name, "float32": "float32"}
    runs = {}
    for net_name, network in networks.items():
        features = "multiscale" if net_name == "multi-scale" else "vgg19"
        for choice in precisions:
            config = QUICK.replace(size=args.size, precision=choice, features=features, weights="random")
            run = prepare_transfer(content, style, config, network=network)
            for _ in range(args.warmup):
                run.step()
            runs[net_name, choice] = run
    times: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    for _ in range(args.steps):
        for key, run in runs.items():
            start = time.perf_counter()
            run.step()
            times[key].append(time.perf_counter() - start)
    median = {key: statistics.median(values) for key, values in times.items()}

    print(f"{args.size}x{args.size}, median of {args.steps} steps after {args.warmup} warm-up, round-robin\n")
    print("| network | " + " | ".join(f"{c if c == n else f'{c} ({n})'} s/step" for c, n in precisions.items()) + " |")
    print("| --- | " + " | ".join("---:" for _ in precisions) + " |")
    for net_name in networks:
        print(f"| {net_name} | " + " | ".join(f"{median[net_name, c]:.3f}" for c in precisions) + " |")
    vgg, ours = "VGG19 (random weights)", "multi-scale"
    speedups = " | ".join(f"{median[vgg, c] / median[ours, c]:.1f}x" for c in precisions)
    print(f"| speed-up of multi-scale | {speedups} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
