"""``nst-lab bench``: the seed's step against nst_lab's, and time to the seed's loss."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from nst_lab import load_tensorflow
from nst_lab.cli.common import whole
from nst_lab.errors import EXIT_OK, UsageError


def add_bench(sub: Any) -> None:
    """Register ``nst-lab bench`` on the CLI's subparsers."""
    p = sub.add_parser("bench", help="time the seed's step against nst_lab's (one table)",
                       description="Runs the seed's train_step as written, nst_lab float32 and nst_lab "
                                   "auto round-robin in one process and prints one table.")
    p.add_argument("--size", type=whole(32), default=400, help="square image side in px (default: 400)")
    p.add_argument("--steps", type=whole(5), default=6, help="timed steps per variant, at least 5 (default: 6)")
    p.add_argument("--warmup", type=whole(1), default=2, help="untimed steps first (default: 2)")
    p.add_argument("--weights", default="auto",
                   help="auto (default): ImageNet VGG19, else ImageNet VGG16 offline; random: VGG19 with random "
                        "weights (a step costs the same, the time to quality does not)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-RSS processes")
    p.add_argument("--quality", action="store_true",
                   help="also time each method to the loss of the seed's loop (slow: runs that loop)")
    p.add_argument("--quality-size", type=whole(32), default=128, help="image side of --quality (default: 128)")
    p.add_argument("--reference-steps", type=whole(1), default=1001,
                   help="steps of the seed loop that sets the --quality target (default: 1001)")
    p.add_argument("--quality-methods", type=_methods, metavar="M1,M2,...",
                   help="which --quality methods to time, e.g. fast,auto-adam (default: all; "
                        "the names are the keys of QUALITY_METHODS in nst_lab/engine/bench.py)")
    p.set_defaults(run=run_bench)


def _methods(text: str) -> tuple[str, ...]:
    """Split M1,M2,...; run_bench checks the names against nst_lab.engine.bench before any timing."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no method: give e.g. fast,auto-adam")
    return names


def run_bench(args: argparse.Namespace) -> int:
    """Time the variants (and, with --quality, the methods) and print the tables."""
    load_tensorflow()
    import platform

    import tensorflow as tf

    from nst_lab.engine.bench import QUALITY_METHODS, format_quality, format_table, time_to_quality
    from nst_lab.engine.bench import run_bench as bench

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    unknown = [name for name in args.quality_methods or () if name not in QUALITY_METHODS]
    if unknown:
        raise UsageError(f"--quality-methods: unknown {', '.join(unknown)}; "
                         f"give a comma-separated list of {', '.join(QUALITY_METHODS)}")
    log(f"nst-lab bench: TensorFlow {tf.__version__}, {os.cpu_count()} CPU(s), "
        f"{platform.processor() or platform.machine()}, weights {args.weights}")
    rows = bench(args.size, args.steps, args.warmup, args.weights, memory=not args.no_memory, log=log)
    print(format_table(rows, args.size))
    if args.quality:
        methods = args.quality_methods or tuple(QUALITY_METHODS)
        ref_s, target, quality = time_to_quality(args.quality_size, args.reference_steps, args.weights,
                                                 methods=methods, log=log)
        print()
        print(format_quality(ref_s, target, quality, args.quality_size, args.reference_steps))
    return EXIT_OK
