"""Figures: the seed's final figure, loss curves, feature maps and Gram heatmaps.

Lessons: notebooks/01_vgg19.ipynb (feature maps), 03_style_cost (Gram), 04_adam (paths),
05_style_transfer (final figure)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from nst_lab.images import tensor_to_image


def final_figure(image: np.ndarray, losses: Mapping[str, Sequence[float]], title: str = "Final result",
                 note: str = "", *, alpha: float, beta: float) -> Figure:
    """The seed's closing figure: the generated image beside the cost curves.

    The curves are the parts that add up to the total: alpha * J_content and beta * J_style, so
    the picture of the trade-off is the one the optimiser sees. Zero values (the content cost at
    step 0 when G starts as C) have no place on the log axis and are left out.

    Args:
        image: (1, H, W, 3) or (H, W, 3) floats in [0, 1].
        losses: {"total": [...], "content": [...], "style": [...]} per step, unweighted parts.
        title: title over the image.
        note: a line under the figure, e.g. the feature network in use.
        alpha, beta: the run's weights of the content and style costs; required, because a default
            would label a run with other weights wrongly and its parts would not add up to the total.
    """
    fig, (ax_img, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    ax_img.imshow(tensor_to_image(image))
    ax_img.set_title(title)
    ax_img.axis("off")
    curves = {"total J": (losses.get("total", []), 1.0), f"alpha * J_content (alpha={alpha:g})":
              (losses.get("content", []), alpha), f"beta * J_style (beta={beta:g})": (losses.get("style", []), beta)}
    for label, (values, weight) in curves.items():
        scaled = np.asarray(values, dtype=np.float64) * weight
        shown = np.where(scaled > 0, scaled, np.nan)  # log axis: zeros are left out, not drawn at -inf
        if np.isfinite(shown).any():
            ax_loss.plot(np.arange(len(scaled)), shown, label=label)
    ax_loss.set_title("Cost over steps")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cost")
    if ax_loss.lines:
        ax_loss.set_yscale("log")
        ax_loss.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    else:  # a run stopped before its first step has no curve
        ax_loss.text(0.5, 0.5, "no steps ran", ha="center", va="center", transform=ax_loss.transAxes)
    if note:
        fig.text(0.5, 0.01, note, ha="center", fontsize=8, color="firebrick", wrap=True)
    fig.tight_layout(rect=(0, 0.06 if note else 0, 1, 1))
    return fig


def show_images(images: Mapping[str, np.ndarray], figsize_per: float = 3.0) -> Figure:
    """Show images side by side with their names as titles."""
    fig, axes = plt.subplots(1, len(images), figsize=(figsize_per * len(images), figsize_per))
    axes = np.atleast_1d(axes)
    for ax, (name, image) in zip(axes, images.items()):
        ax.imshow(tensor_to_image(image))
        ax.set_title(name)
        ax.axis("off")
    fig.tight_layout()
    return fig


def feature_maps(activations: np.ndarray, title: str, count: int = 8) -> Figure:
    """Show the first ``count`` channels of activations (1, n_H, n_W, n_C) as images."""
    maps = np.asarray(activations)[0]
    count = min(count, maps.shape[-1])
    fig, axes = plt.subplots(1, count, figsize=(1.6 * count, 1.9))
    for c, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(maps[..., c], cmap="viridis")
        ax.set_title(f"ch {c}", fontsize=8)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def gram_heatmap(gram: np.ndarray, title: str, max_channels: int = 64) -> Figure:
    """Heatmap of a Gram matrix (n_C, n_C), cropped to ``max_channels`` for readability."""
    g = np.asarray(gram)[:max_channels, :max_channels]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    shown = ax.imshow(g, cmap="magma")
    ax.set_title(title)
    ax.set_xlabel("channel j")
    ax.set_ylabel("channel i")
    fig.colorbar(shown, ax=ax)
    fig.tight_layout()
    return fig


def unrolled_activations(activations: np.ndarray, channels: int = 8) -> Figure:
    """Picture of the style matrix: unroll (1, n_H, n_W, n_C) to A (n_C, n_H*n_W), then A A^T.

    Shows the first ``channels`` channels: each row of A is one channel's map laid out as a
    line of n_H*n_W numbers, and entry (i, j) of the Gram matrix is the dot product of rows i and j.
    """
    a = np.asarray(activations)[0][..., :channels]  # (n_H, n_W, n_C)
    n_H, n_W, n_C = a.shape
    A = a.reshape(n_H * n_W, n_C).T  # (n_C, n_H*n_W)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), gridspec_kw={"width_ratios": [1, 3, 1]})
    axes[0].imshow(np.concatenate([a[..., 0], a[..., 1]], axis=0), cmap="viridis")
    axes[0].set_title(f"channels 0 and 1\n({n_H}x{n_W} each)")
    axes[1].imshow(A, aspect="auto", cmap="viridis", interpolation="nearest")
    axes[1].set_title(f"unrolled A: ({n_C}, n_H*n_W = {n_H * n_W})")
    axes[1].set_xlabel("position (row by row)")
    axes[1].set_ylabel("channel")
    axes[2].imshow(A @ A.T, cmap="magma", interpolation="nearest")
    axes[2].set_title(f"Gram = A A^T: ({n_C}, {n_C})")
    for ax in (axes[0], axes[2]):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def optimizer_paths(paths: Mapping[str, np.ndarray], surface: Callable[..., np.ndarray],
                    minimum: tuple[float, float] = (1.0, 1.0),
                    extent: tuple[float, float, float, float] = (-2.0, 2.0, -1.0, 3.0)) -> Figure:
    """Contour plot of ``surface(x, y)`` (log levels) with each optimizer's path (steps+1, 2)."""
    xs = np.linspace(extent[0], extent[1], 300)
    ys = np.linspace(extent[2], extent[3], 300)
    X, Y = np.meshgrid(xs, ys)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.contour(X, Y, np.log10(surface(X, Y) + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
    for name, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], lw=1.5, label=f"{name} ({len(path) - 1} steps)")
        ax.plot(*path[-1], "o", ms=4, color=ax.lines[-1].get_color())
    ax.plot(*minimum, "k*", ms=12, label="minimum")
    ax.plot(*next(iter(paths.values()))[0], "ks", ms=6, label="start")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
