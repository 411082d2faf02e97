"""Figures: the seed's final figure, loss curves, feature maps and Gram heatmaps.

Lesson: notebooks/05_style_transfer.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from nst_lab.images import tensor_to_image


def final_figure(image: np.ndarray, losses: Mapping[str, Sequence[float]], title: str = "Final result",
                 note: str = "") -> Figure:
    """The seed's closing figure: the generated image beside the total-loss curve.

    Args:
        image: (1, H, W, 3) or (H, W, 3) floats in [0, 1].
        losses: {"total": [...], "content": [...], "style": [...]} per step.
        title: title over the image.
        note: a line under the figure, e.g. the random-weights warning.
    """
    fig, (ax_img, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    ax_img.imshow(tensor_to_image(image))
    ax_img.set_title(title)
    ax_img.axis("off")
    steps = np.arange(len(losses.get("total", [])))
    for key in ("total", "content", "style"):
        values = losses.get(key, [])
        if len(values):
            ax_loss.plot(steps, values, label=key)
    ax_loss.set_title("Loss over iterations")
    ax_loss.set_xlabel("Iteration")
    ax_loss.set_ylabel("Cost")
    ax_loss.set_yscale("log")
    ax_loss.legend()
    if note:
        fig.text(0.5, 0.01, note, ha="center", fontsize=8, color="firebrick", wrap=True)
    fig.tight_layout(rect=(0, 0.05 if note else 0, 1, 1))
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
