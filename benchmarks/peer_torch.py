"""Benchmark: nst-lab's step against a PyTorch CPU step written like PyTorch's NST tutorial, interleaved.

Usage (from the repository root; torch lives in its own venv, never in nst-lab's):

    python -m venv /work/torchenv && /work/torchenv/bin/pip install torch   # the CPU wheel
    # an AVX2-only CPU, emulated (TensorFlow's default there is Eigen; both libraries capped at AVX2)
    TF_ENABLE_ONEDNN_OPTS=0 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \
        python benchmarks/peer_torch.py --torch-python /work/torchenv/bin/python --size 400 --rounds 5
    # peak memory at 1024x1024: one round, each contender's RSS high-water mark
    python benchmarks/peer_torch.py --torch-python /work/torchenv/bin/python --size 1024 --rounds 1 --warmup 1

Contenders, each in its own process (so each one's CPU-seconds and peak RSS are its own):

- ``tf keras``: nst-lab's float32 Adam step on TensorFlow's own gradient (``NST_LAB_CONV_PATH=keras``);
- ``tf flipped``: the same step on the flipped input gradient (``nst_lab/engine/convpath.py``);
- ``torch``: the tutorial's way (VGG ``features`` as ``nn.Sequential``, frozen, targets detached,
  Adam on the image, clamped to [0, 1]) in float32 and ``channels_last``, with nst-lab's costs,
  layers, weights (the chain's network, exported to NumPy) and images.

The driver tells them to step in turn, round after round, so a busy machine slows them alike, and
prints median wall and own-process CPU seconds per step (``time.process_time``), GFLOP/s achieved
(``nst_lab/engine/flops.py``), each framework's forward-convolution throughput at the step's
shapes (timed in the same rounds) and each process's peak RSS (``getrusage``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled


# --- the PyTorch contender (runs in the torch venv) ----------------------------------------------

def torch_worker(spec: dict) -> tuple:  # type: ignore[type-arg]
    """(step, conv) closures of the tutorial-style PyTorch step described by ``spec``."""
    import numpy as np
    import torch
    from torch import nn

    from nst_lab.engine.flops import conv_shapes

    torch.manual_seed(0)
    weights = np.load(spec["weights"])
    deepest = spec["layers"][-1]
    shapes = conv_shapes(spec["arch"], spec["height"], spec["width"], max(spec["layers"], key=spec["order"].index))
    layers, names = [], []
    for i, (name, _, _, c_in, c_out) in enumerate(shapes):
        if i and shapes[i - 1][0].split("_")[0] != name.split("_")[0]:
            layers.append(nn.MaxPool2d(2))
            names.append("pool")
        conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        conv.weight.data = torch.from_numpy(weights[name + "__kernel"]).permute(3, 2, 0, 1).contiguous()
        conv.bias.data = torch.from_numpy(weights[name + "__bias"])
        layers += [conv, nn.ReLU(inplace=False)]
        names += [name, name + "_relu"]
    features = nn.Sequential(*layers).eval().requires_grad_(False).to(memory_format=torch.channels_last)
    wanted = {name + "_relu": k for k, name in enumerate(spec["layers"])}
    del deepest

    def activations(x):  # type: ignore[no-untyped-def]
        out = [None] * len(wanted)
        for name, layer in zip(names, features):
            x = layer(x)
            if name in wanted:
                out[wanted[name]] = x
        return out

    def gram(a):  # type: ignore[no-untyped-def]  # (1, C, H, W) channels_last -> (C, C)
        f = a.permute(0, 2, 3, 1).reshape(-1, a.shape[1])
        return f.t() @ f

    def image(path):  # type: ignore[no-untyped-def]
        return torch.from_numpy(np.load(path)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    content, style = image(spec["content"]), image(spec["style"])
    with torch.no_grad():
        a_C = activations(content)[-1].detach()
        G_S = [gram(a).detach() for a in activations(style)[:-1]]
    G = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([G], lr=spec["learning_rate"])
    alpha, beta, style_weights = spec["alpha"], spec["beta"], spec["style_weights"]

    def step() -> float:
        optimizer.zero_grad()
        a_G = activations(G)
        _, c, h, w = a_G[-1].shape
        J_content = torch.sum((a_C - a_G[-1]) ** 2) / (4.0 * h * w * c)
        J_style = 0.0
        for a, gs, weight in zip(a_G[:-1], G_S, style_weights):
            _, c, h, w = a.shape
            J_style = J_style + weight * torch.sum((gs - gram(a)) ** 2) / (4.0 * (h * w * c) ** 2)
        J = alpha * J_content + beta * J_style
        J.backward()
        optimizer.step()
        with torch.no_grad():
            G.clamp_(0.0, 1.0)
        return float(J.detach())

    convs = [(torch.randn(1, ci, h, w).contiguous(memory_format=torch.channels_last),
              nn.Conv2d(ci, co, 3, padding=1).requires_grad_(False).to(memory_format=torch.channels_last))
             for _, h, w, ci, co in shapes]

    def conv() -> float:
        with torch.no_grad():
            return float(sum(float(m(x).sum()) for x, m in convs))

    return step, conv


# --- the TensorFlow contenders (run in nst-lab's venv) --------------------------------------------

def tf_worker(spec: dict) -> tuple:  # type: ignore[type-arg]
    import numpy as np
    import tensorflow as tf

    from nst_lab.config import StyleConfig
    from nst_lab.engine.flops import conv_shapes
    from nst_lab.engine.transfer import load_network, prepare_transfer

    content, style = np.load(spec["content"]), np.load(spec["style"])
    config = StyleConfig(size=max(content.shape[1:3]), weights=spec["weights_choice"], precision="float32",
                         save_every=0)
    network = load_network(config)
    transfer = prepare_transfer(tf.constant(content), tf.constant(style), config, network=network,
                                conv_path=spec["conv_path"])
    print(f"# {spec['name']}: conv path {transfer.conv_path.label}", file=sys.stderr, flush=True)
    shapes = conv_shapes(spec["arch"], spec["height"], spec["width"], max(spec["layers"], key=spec["order"].index))
    rng = np.random.default_rng(0)
    pairs = [(tf.constant(rng.normal(size=(1, h, w, ci)).astype(np.float32)),
              tf.constant(rng.normal(size=(3, 3, ci, co)).astype(np.float32) * 0.05)) for _, h, w, ci, co in shapes]
    forward = tf.function(lambda: tf.add_n([tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")) for x, k in pairs]))
    return (lambda: transfer.step()[0]), (lambda: float(forward()))


def serve(spec: dict) -> int:  # type: ignore[type-arg]
    """Build one contender, warm it up, then answer "step" / "conv" / "quit" lines on stdin with JSON."""
    step, conv = (torch_worker if spec["kind"] == "torch" else tf_worker)(spec)
    for _ in range(spec["warmup"]):
        step()
        conv()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        w0, c0 = time.perf_counter(), time.process_time()
        value = step() if command == "step" else conv()
        print(json.dumps({"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0, "value": value}),
              flush=True)
    print(json.dumps({"maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
    return 0


# --- the driver --------------------------------------------------------------------------------------

def prepare(size: int, weights: str, folder: Path) -> dict:  # type: ignore[type-arg]
    """Images, weights and layers every contender shares, written to ``folder``."""
    import numpy as np

    from nst_lab.config import StyleConfig
    from nst_lab.engine.bench import bench_images
    from nst_lab.engine.flops import BLOCKS, conv_shapes
    from nst_lab.engine.transfer import load_network

    content, style = bench_images(size)
    network = load_network(StyleConfig(size=size, weights=weights))
    config = network.config_for(StyleConfig(size=size, weights=weights))
    arrays = {}
    for layer in network.model.layers:
        if layer.get_weights():
            arrays[layer.name + "__kernel"], arrays[layer.name + "__bias"] = layer.get_weights()
    np.savez(folder / "weights.npz", **arrays)
    np.save(folder / "content.npy", np.asarray(content))
    np.save(folder / "style.npy", np.asarray(style))
    arch = network.info.arch
    h, w = int(content.shape[1]), int(content.shape[2])
    order = [s[0] for s in conv_shapes(arch, h, w, f"block5_conv{BLOCKS[arch][-1][0]}")]
    return {"arch": arch, "height": h, "width": w, "layers": config.layer_names, "order": order,
            "weights": str(folder / "weights.npz"), "weights_choice": weights,
            "content": str(folder / "content.npy"), "style": str(folder / "style.npy"),
            "learning_rate": config.learning_rate, "alpha": config.alpha, "beta": config.beta,
            "style_weights": [wt for _, wt in config.style_layers], "network": network.info.summary()}


def start(name: str, python: str, spec: dict) -> subprocess.Popen:  # type: ignore[type-arg]
    spec = {**spec, "name": name}
    proc = subprocess.Popen([python, __file__, "--worker", json.dumps(spec)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    return proc


def ask(proc: subprocess.Popen, command: str) -> dict:  # type: ignore[type-arg]
    assert proc.stdin and proc.stdout
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--torch-python", default="/work/torchenv/bin/python", help="python of the torch venv")
    parser.add_argument("--size", type=int, default=400, help="longest side in px (default 400)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per contender first (default 2)")
    parser.add_argument("--weights", default="auto", help="the chain's weights (default auto)")
    parser.add_argument("--contenders", default="tf keras,tf flipped,torch")
    args = parser.parse_args(argv)
    if args.worker:
        return serve(json.loads(args.worker))
    from nst_lab.engine.flops import step_flops

    with tempfile.TemporaryDirectory() as tmp:
        spec = {**prepare(args.size, args.weights, Path(tmp)), "warmup": args.warmup}
        names = [n for n in args.contenders.split(",") if n]
        procs = {}
        for name in names:  # one at a time, so no build slows another's warm-up
            kind = "torch" if name == "torch" else "tf"
            python = args.torch_python if kind == "torch" else sys.executable
            procs[name] = start(name, python, {**spec, "kind": kind, "conv_path": name.split()[-1]})
            assert procs[name].stdout
            json.loads(procs[name].stdout.readline())  # ready
        times: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": [], "conv": []} for n in names}
        loss: dict[str, float] = {}
        for i in range(args.rounds):
            for name, proc in procs.items():
                done = ask(proc, "step")
                times[name]["wall"].append(done["wall"])
                times[name]["cpu"].append(done["cpu"])
                loss[name] = done["value"]
                times[name]["conv"].append(ask(proc, "conv")["wall"])
            print(f"round {i + 1}: " + ", ".join(f"{n} {times[n]['wall'][-1]:.2f} s" for n in names), flush=True)
        peaks = {name: ask(proc, "quit")["maxrss"] for name, proc in procs.items()}
        for proc in procs.values():
            proc.wait()
    report(spec, names, times, loss, peaks, step_flops(spec["arch"], spec["height"], spec["width"], spec["layers"]))
    return 0


def report(spec, names, times, loss, peaks, flops) -> None:  # type: ignore[no-untyped-def]
    keys = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
    print(f"\n{spec['network']}; {spec['height']}x{spec['width']}, float32, Adam; "
          + ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in keys))
    print(f"step FLOPs: {flops['total'] / 1e9:.1f} G (forward convs {flops['forward'] / 1e9:.1f}, input-gradient "
          f"convs {flops['backward'] / 1e9:.1f}, Grams {flops['gram'] / 1e9:.2f})\n")
    print("| contender | median s/step | median CPU-s/step | step GFLOP/s | fwd conv GFLOP/s | limit s/step "
          "| vs limit | peak RSS | loss after the run |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in names:
        wall, cpu = statistics.median(times[n]["wall"]), statistics.median(times[n]["cpu"])
        conv_rate = flops["forward"] / statistics.median(times[n]["conv"])
        limit = flops["total"] / conv_rate
        print(f"| {n} | {wall:.3f} | {cpu:.3f} | {flops['total'] / wall / 1e9:.0f} | {conv_rate / 1e9:.0f} | "
              f"{limit:.3f} | {wall / limit:.2f}x | {peaks[n] / 2**30:.2f} GiB | {loss[n]:.5g} |")


if __name__ == "__main__":
    sys.exit(main())
