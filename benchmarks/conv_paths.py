"""Benchmark: nst-lab's float32 step on each convolution path, interleaved, against the machine's conv limit.

Usage (from the repository root), once per CPU condition, e.g.:

    # an AVX2-only CPU, emulated: TensorFlow's default there is Eigen (oneDNN off)
    TF_ENABLE_ONEDNN_OPTS=0 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/conv_paths.py --size 400
    # the same CPU with oneDNN forced on, capped at AVX2
    TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/conv_paths.py --size 400
    # this machine's native default
    python benchmarks/conv_paths.py --size 400

Variants, built through ``prepare_transfer`` on the chain's network (``--weights auto``: ImageNet
VGG16 offline), the seed's layers, precision float32, Adam:

- ``keras``: TensorFlow's own gradient (the path before issue 22);
- ``flipped``: the input gradient as a forward convolution (``nst_lab/engine/convpath.py``);
- ``flipped+xla``: the flipped step compiled with ``jit_compile=True``;
- ``keras+xla``: the Keras step compiled with ``jit_compile=True``.

After ``--warmup`` steps each they take one step in turn, round after round, so a busy machine
slows them alike; the table gives median wall and own-process CPU seconds per step
(``time.process_time``) and the achieved GFLOP/s (``nst_lab/engine/flops.py``). The conv limit is
the forward convolutions alone at the step's shapes, timed in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

VARIANTS = ("keras", "flipped", "flipped+xla", "keras+xla")


def conditions() -> str:
    """The environment variables that choose TensorFlow's CPU kernels, as one line."""
    keys = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS")
    return ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in keys)


def build(variant: str, content, style, config, network):  # type: ignore[no-untyped-def]
    """step() -> None for one variant (runs a step and syncs)."""
    import keras

    from nst_lab.engine.step import make_adam_step
    from nst_lab.engine.transfer import prepare_transfer

    path, _, xla = variant.partition("+")
    transfer = prepare_transfer(content, style, config, network=network, conv_path=path)
    if not xla:
        return lambda: transfer.step()
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build([transfer.generated_image])
    step = make_adam_step(transfer.generated_image, transfer.objective, optimizer, transfer.last_good,
                          jit_compile=True)
    alpha, beta = transfer.loss_weights()
    return lambda: step(alpha, beta).numpy()


def conv_limit(shapes):  # type: ignore[no-untyped-def]
    """run() -> None: the step's forward convolutions alone, on random inputs of their shapes."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    inputs = [tf.constant(rng.normal(size=(1, h, w, ci)).astype(np.float32)) for _, h, w, ci, _ in shapes]
    kernels = [tf.constant(rng.normal(size=(3, 3, ci, co)).astype(np.float32) * 0.05) for _, _, _, ci, co in shapes]

    @tf.function
    def run():  # type: ignore[no-untyped-def]
        return [tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")) for x, k in zip(inputs, kernels)]

    return lambda: [t.numpy() for t in run()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="square side in px (default 400)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first (default 2)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from " + ", ".join(VARIANTS))
    parser.add_argument("--weights", default="auto")
    args = parser.parse_args(argv)

    from nst_lab.config import StyleConfig
    from nst_lab.engine.bench import bench_images
    from nst_lab.engine.convpath import onednn_enabled
    from nst_lab.engine.flops import conv_shapes, step_flops
    from nst_lab.engine.transfer import load_network

    content, style = bench_images(args.size)
    base = StyleConfig(size=args.size, weights=args.weights, precision="float32", save_every=0)
    network = load_network(base)
    config = network.config_for(base)
    h, w = int(content.shape[1]), int(content.shape[2])
    flops = step_flops(network.info.arch, h, w, config.layer_names)
    shapes = conv_shapes(network.info.arch, h, w, config.content_layer)
    names = [v for v in args.variants.split(",") if v]
    runs = {v: build(v, content, style, config, network) for v in names}
    runs["conv limit"] = conv_limit(shapes)
    for run in runs.values():
        for _ in range(args.warmup):
            run()
    wall: dict[str, list[float]] = {v: [] for v in runs}
    cpu: dict[str, list[float]] = {v: [] for v in runs}
    for i in range(args.rounds):
        for v, run in runs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            run()
            wall[v].append(time.perf_counter() - w0)
            cpu[v].append(time.process_time() - c0)
        print(f"round {i + 1}: " + ", ".join(f"{v} {wall[v][-1]:.2f} s" for v in runs), flush=True)
    print(f"\n{network.info.summary()}, {h}x{w}, float32; {conditions()}; oneDNN on: {onednn_enabled()}")
    print(f"step FLOPs: {flops['total'] / 1e9:.1f} G (forward {flops['forward'] / 1e9:.1f}, input-gradient "
          f"backward {flops['backward'] / 1e9:.1f}, Grams {flops['gram'] / 1e9:.2f})")
    conv_rate = flops["forward"] / statistics.median(wall["conv limit"])
    print(f"forward convolutions alone: {statistics.median(wall['conv limit']):.3f} s, {conv_rate / 1e9:.0f} GFLOP/s; "
          f"limit for the step: {flops['total'] / conv_rate:.3f} s\n")
    print("| variant | median s/step | median CPU-s/step | GFLOP/s | vs keras | vs limit |")
    print("| --- | --- | --- | --- | --- | --- |")
    base_s = statistics.median(wall[names[0]]) if names else float("nan")
    for v in names:
        med = statistics.median(wall[v])
        print(f"| {v} | {med:.3f} | {statistics.median(cpu[v]):.3f} | {flops['total'] / med / 1e9:.0f} | "
              f"{base_s / med:.2f}x | {med / (flops['total'] / conv_rate):.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
