"""The ``nst-lab`` command line (also ``python -m nst_lab``).

Bad input never shows a traceback: one line ``error: ...`` on stderr and exit code 2.
An interrupted run keeps what it made and exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line input: reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's default prints usage + 2 lines
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _int(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    return parse


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def add_stylize(sub: Any) -> None:
    from nst_lab.config import INIT_MODES, PREPROCESS_CHOICES, PRESETS

    p = sub.add_parser("stylize", help="paint a content image in the style of another",
                       description="Gatys et al. style transfer. Without images it uses the bundled pair.")
    p.add_argument("images", nargs="*", metavar="CONTENT STYLE",
                   help="content image then one or more style images")
    p.add_argument("-o", "--out", default="runs", metavar="OUTDIR",
                   help="parent folder of run-NNN folders (default: runs)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="seed",
                   help="starting settings: seed = the report's 400 px x 1001 steps; quick = a few-minute demo; "
                        "fast = 500 steps with a cosine-decayed rate, the seed's loss in far less time")
    p.add_argument("--size", type=_int(1), help="square side in px (seed: 400)")
    p.add_argument("--max-dim", type=_int(1), help="keep the aspect ratio; longest side in px")
    p.add_argument("--steps", type=_int(0), dest="epochs", help="optimisation steps (seed: 1001)")
    p.add_argument("--lr", type=_float, dest="learning_rate", help="Adam learning rate (seed: 0.03)")
    p.add_argument("--alpha", type=_float, help="content weight (seed: 100)")
    p.add_argument("--beta", type=_float, help="style weight (seed: 10)")
    p.add_argument("--init", choices=INIT_MODES, help="start from the content, content + noise, or noise")
    p.add_argument("--weights", help="auto | imagenet | random | PATH to a VGG19 .h5 file")
    p.add_argument("--preprocess", choices=PREPROCESS_CHOICES,
                   help="none: pixels in [0, 1] (seed); caffe: vgg19.preprocess_input")
    p.add_argument("--seed", type=_int(0), help="random seed (seed: 272)")
    p.add_argument("--save-every", type=_int(0), help="snapshot period in steps, 0 = none (seed: 250)")
    add_speed_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_beyond_options(p)
    p.set_defaults(run=run_stylize)


def add_speed_options(p: Any) -> None:
    from nst_lab.config import LR_SCHEDULE_CHOICES, MAX_SCALES, OPTIMIZER_CHOICES, PRECISION_CHOICES

    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                   help="VGG19 compute precision; auto = bfloat16 on CPUs with AMX/AVX512-BF16, "
                        "float16 on tensor-core GPUs, else float32 (default: auto)")
    p.add_argument("--optimizer", choices=OPTIMIZER_CHOICES,
                   help="adam (seed) or lbfgs (scipy L-BFGS-B; --steps counts its iterations)")
    p.add_argument("--scales", type=_int(1),
                   help=f"coarse-to-fine passes, 1-{MAX_SCALES}: run at 1/2, 1/4 ... size first (default: 1)")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULE_CHOICES,
                   help="Adam's rate: constant (seed) or cosine, decaying from --lr to --final-lr at the last step")
    p.add_argument("--final-lr", type=_float, dest="final_learning_rate",
                   help="the cosine schedule's rate at the last step (default: 0.002)")


def _blend(text: str) -> tuple[float, ...]:
    parts = [part.strip() for part in text.split(",")]
    try:
        weights = tuple(float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers, e.g. 0.7,0.3") from None
    return weights


def _add_beyond_options(p: Any) -> None:
    """Issue 7's options (nst_lab/extensions.py); their defaults leave the seed's run unchanged."""
    from nst_lab.config import PRESERVE_COLOR_CHOICES

    p.add_argument("--preserve-color", choices=PRESERVE_COLOR_CHOICES,
                   help="keep the content's colours: luminance = transfer on Y, keep C's chroma; "
                        "histogram = recolour the style to C's colour mean and covariance first")
    p.add_argument("--style-blend", type=_blend, metavar="W1,W2,...",
                   help="one weight per style image, normalised to sum 1 (default: equal)")
    p.add_argument("--tv-weight", type=_float,
                   help="weight of the total-variation smoothness cost (default: 0, off)")
    p.add_argument("--style-scale", type=_float,
                   help="style image side relative to the content's (default 1); "
                        "larger = bigger brush strokes")
    p.add_argument("--mask", metavar="PATH",
                   help="label image of the content's regions: darkest colour = first style, lightest = last")


def _config_from(args: argparse.Namespace) -> Any:
    from nst_lab.config import PRESETS

    fields = ("size", "max_dim", "epochs", "learning_rate", "alpha", "beta", "init", "weights",
              "preprocess", "seed", "save_every", "precision", "optimizer", "scales", "lr_schedule",
              "final_learning_rate",
              "preserve_color", "style_blend", "tv_weight", "style_scale", "mask")
    changes = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    config = PRESETS[args.preset].replace(**changes)
    if args.final_learning_rate is not None and config.lr_schedule != "cosine":
        raise UsageError("--final-lr only applies to the cosine schedule: add --lr-schedule cosine "
                         "(or --preset fast)")
    return config


def _images(args: argparse.Namespace) -> tuple[Any, Any]:
    if not args.images:
        from nst_lab.images import DATA_DIR

        return DATA_DIR / "content" / "chelsea.jpg", DATA_DIR / "style" / "swirls.jpg"
    if len(args.images) < 2:
        raise UsageError(f"stylize takes a CONTENT and one or more STYLE images, "
                         f"got {len(args.images)} path(s)")
    if len(args.images) > 2:
        return args.images[0], args.images[1:]  # several styles: blended, or one per mask region
    return args.images[0], args.images[1]


def _check_styles(config: Any, style: Any) -> None:
    """Blend count and mask file, checked before TensorFlow loads."""
    count = len(style) if isinstance(style, list) else 1
    if config.style_blend is not None and len(config.style_blend) != count:
        raise UsageError(f"--style-blend has {len(config.style_blend)} weight(s) but {count} style "
                         "image(s) were given: give one weight per style, e.g. --style-blend 0.7,0.3")
    if config.mask is not None and not os.path.isfile(config.mask):
        raise UsageError(f"--mask {config.mask}: no such file; "
                         "give a label image (darkest colour = first style)")


def run_stylize(args: argparse.Namespace) -> int:
    config = _config_from(args)  # validates before TensorFlow loads
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"output path {args.out} is a file; give a folder for the runs with -o")
    load_tensorflow()  # before _images: nst_lab.images imports TensorFlow
    content, style = _images(args)
    _check_styles(config, style)
    from nst_lab.runs import prepare_transfer, stylize

    with warnings.catch_warnings(record=True) as caught:  # shown as one line each, below
        warnings.simplefilter("always")
        transfer = prepare_transfer(content, style, config)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if transfer.weights_info.is_random:
        print(f"note: {transfer.weights_info.note}", file=sys.stderr)
    result = stylize(content, style, config, out_dir=args.out, progress=not args.quiet, transfer=transfer)
    per_step = result.seconds / max(result.steps_done, 1)
    print(f"{result.status}: {result.steps_done} steps in {result.seconds:.1f} s ({per_step:.3f} s/step), "
          f"weights {result.weights.kind}, precision {result.precision}; "
          f"wrote {result.run_dir}/final.png, loss_plot.png, "
          f"{len(result.snapshots)} snapshot(s) and run.json")
    if result.status == "interrupted":
        print(f"error: {result.message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.status != "finished":
        print(f"error: {result.message}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def add_bench(sub: Any) -> None:
    p = sub.add_parser("bench", help="time the seed's step against nst_lab's (one table)",
                       description="Runs the seed's train_step as written, nst_lab float32 and nst_lab "
                                   "auto round-robin in one process and prints one table.")
    p.add_argument("--size", type=_int(32), default=400, help="square image side in px (default: 400)")
    p.add_argument("--steps", type=_int(5), default=6, help="timed steps per variant, at least 5 (default: 6)")
    p.add_argument("--warmup", type=_int(1), default=2, help="untimed steps first (default: 2)")
    p.add_argument("--weights", default="random", help="VGG19 weights (default: random, no network)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-RSS processes")
    p.add_argument("--quality", action="store_true",
                   help="also time each method to the loss of the seed's loop (slow: runs that loop)")
    p.add_argument("--quality-size", type=_int(32), default=128, help="image side of --quality (default: 128)")
    p.add_argument("--reference-steps", type=_int(1), default=1001,
                   help="steps of the seed loop that sets the --quality target (default: 1001)")
    p.add_argument("--quality-methods", type=_methods, metavar="M1,M2,...",
                   help="which --quality methods to time, e.g. fast,auto-adam (default: all; "
                        "the names are the keys of QUALITY_METHODS in nst_lab/bench.py)")
    p.set_defaults(run=run_bench)


def _methods(text: str) -> tuple[str, ...]:
    """Split M1,M2,...; run_bench checks the names against nst_lab.bench before any timing."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no method: give e.g. fast,auto-adam")
    return names


def run_bench(args: argparse.Namespace) -> int:
    load_tensorflow()
    import platform

    import tensorflow as tf

    from nst_lab.bench import QUALITY_METHODS, format_quality, format_table, time_to_quality
    from nst_lab.bench import run_bench as bench

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


def add_release(sub: Any) -> None:
    from nst_lab.release import add_release as add

    add(sub)


def add_grade(sub: Any) -> None:
    from nst_lab.grading import add_grade as add

    add(sub)


SUBCOMMANDS: list[Callable[[Any], None]] = [add_stylize, add_release, add_grade, add_bench]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nst-lab", description="Neural style transfer course tools.")
    from nst_lab import __version__

    parser.add_argument("--version", action="version", version=f"nst-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ start-up logs ignore
    TF_CPP_MIN_LOG_LEVEL in recent versions, and would bury our one-line errors."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_tensorflow() -> None:
    """Import TensorFlow and probe devices once, without the native log noise."""
    with _quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "run", None):
            raise UsageError("give a command, e.g. `nst-lab stylize` (see `nst-lab --help`)")
        return int(args.run(args))
    except KeyboardInterrupt:
        print("error: interrupted before any step ran; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as exc:  # ConfigError, ImageLoadError, WeightsError, file errors
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:  # a missing optional package: bad set-up, fixable by the user
        print(f"error: {exc}; install it (pip install -e '.[dev]') and retry", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # TensorFlow runtime errors (e.g. out of GPU memory): no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: {type(exc).__name__}: {first[:300]}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
