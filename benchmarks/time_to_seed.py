"""Benchmark: how long candidate schedules take to reach the seed loop's loss, against that loop's own cost.

Usage (from the repository root), after ``benchmarks/seed_reference.py`` wrote its JSON at the same size:

    TF_ENABLE_ONEDNN_OPTS=0 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/time_to_seed.py \
        --reference /tmp/seed_ref_128.json --candidates fast,lbfgs --out /tmp/tts

Each candidate is a ``StyleConfig`` (the SEED preset with other optimisation settings) run through
``prepare_transfer`` on the same network, images and size as the reference, from scratch: its time
includes building, tracing and any coarse levels. It stops at the first step whose loss (the
engine's float32 cost, the graded one) is at or below the reference's final loss. The ratio is of
own-process CPU-seconds (``time.process_time``), which a shared machine disturbs least; wall seconds
are printed beside them. Each final image is saved to ``--out`` to look at.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

CANDIDATES = {
    "fast": {},  # the FAST preset as it stands in nst_lab/config.py
    "cosine": {},  # the COSINE schedule (Adam) as it stands in nst_lab/config.py
    "lbfgs": {"optimizer": "lbfgs", "steps": 300, "lr_schedule": "constant"},
    "lbfgs-2scales": {"optimizer": "lbfgs", "steps": 150, "scales": 2, "lr_schedule": "constant"},
    "cos150": {"steps": 150, "learning_rate": 0.1, "lr_schedule": "cosine", "final_learning_rate": 0.002},
    # L-BFGS coarse to fine, N iterations at half size then N at full size (the fast preset is N = 80)
    "lbfgs-2scales-60": {"optimizer": "lbfgs", "steps": 60, "scales": 2, "lr_schedule": "constant"},
    "lbfgs-2scales-80": {"optimizer": "lbfgs", "steps": 80, "scales": 2, "lr_schedule": "constant"},
    "lbfgs-3scales-80": {"optimizer": "lbfgs", "steps": 80, "scales": 3, "lr_schedule": "constant"},
    "lbfgs-3scales-90": {"optimizer": "lbfgs", "steps": 90, "scales": 3, "lr_schedule": "constant"},
    "lbfgs-2scales-100": {"optimizer": "lbfgs", "steps": 100, "scales": 2, "lr_schedule": "constant"},
    "cos100-2scales": {"steps": 100, "learning_rate": 0.1, "lr_schedule": "cosine", "final_learning_rate": 0.002,
                       "scales": 2},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="JSON of benchmarks/seed_reference.py")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="from " + ", ".join(CANDIDATES))
    parser.add_argument("--out", type=Path, required=True, help="folder for the images")
    parser.add_argument("--no-stop", action="store_true", help="run every step of each candidate (a preset's "
                        "whole run) instead of stopping at the reference's loss")
    args = parser.parse_args(argv)

    from nst_lab.config import COSINE, FAST, SEED
    from nst_lab.engine.quality import bench_images
    from nst_lab.engine.scales import run_steps
    from nst_lab.engine.transfer import load_network, prepare_transfer
    from nst_lab.images import save_image

    ref = json.loads(args.reference.read_text())
    size, target = ref["size"], ref["final_loss"]
    content, style = bench_images(size)
    network = load_network(SEED.replace(size=size))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"reference: {ref['steps']} seed-loop steps at {size} px, loss {target:.5g}, {ref['cpu_s']:.0f} CPU-s, "
          f"{ref['wall_s']:.0f} s wall; {ref['network']}")
    print("| candidate | steps | CPU-s | vs seed loop (CPU-s) | wall s | loss | reached |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in [c for c in args.candidates.split(",") if c]:
        base = {"fast": FAST, "cosine": COSINE}.get(name, SEED)
        config = base.replace(size=size, save_every=0, **CANDIDATES[name])
        w0, c0 = time.perf_counter(), time.process_time()
        transfer = prepare_transfer(content, style, config, network=network)
        run_steps(transfer, config.steps, stop_below=None if args.no_stop else target)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        loss = min(transfer.history["total"])  # L-BFGS: its accepted iterates; Adam: J before each step
        save_image(transfer.image(), args.out / f"{name}.png", overwrite=True)
        print(f"| {name} ({transfer.conv_path.name}) | {transfer.steps_done} | {cpu:.1f} | "
              f"1/{ref['cpu_s'] / cpu:.1f} | {wall:.1f} | {loss:.5g} | {loss <= target} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
