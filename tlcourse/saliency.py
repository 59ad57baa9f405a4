"""Where the network looks: the framework-neutral part of saliency maps (numpy,
Pillow and matplotlib only).

The adapters (``tlcourse.torch.saliency``, ``tlcourse.tf.saliency``) compute
the maps with their framework's gradients:

- input-gradient saliency (Simonyan et al. 2014): |d score / d pixel|, the
  largest over the colour channels, one value per pixel;
- Grad-CAM (Selvaraju et al. 2017) on the base's last convolutional block:
  each channel weighted by the mean gradient of the score over its positions,
  summed over channels, negative evidence cut off (ReLU); one value per cell
  of that block (7 x 7 for MobileNetV2 at 224 px).

The score is a class's logit, or for several classes (the five domestic
cats) the logsumexp of their logits.  This module turns maps into pictures:
scaling to [0, 1] (each map alone, or several on one scale so that their
strengths compare), bilinear upsampling to the photo, a coloured overlay,
the figure, and the correlation of two maps (how the frameworks' maps are
compared, and how much a map moved).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image
from tlcourse.messages import _

KINDS = ("saliency", "grad-cam")   # what a panel of ``show_maps`` shows
SALIENCY_PERCENTILE = 99.0   # gradients are spiky: the top 1 % saturate rather than set the scale


def _as_map(m) -> np.ndarray:
    a = np.asarray(m, np.float32)
    a = a[0] if a.ndim == 3 and a.shape[0] == 1 else a
    if a.ndim != 2:
        raise ValueError(_("a map must be 2-D (height, width), or a batch of one; got shape "
                           "{shape}", shape=a.shape))
    return a


def scale(maps: Sequence, shared: bool = False, percentile: float = 100.0) -> list[np.ndarray]:
    """Maps scaled into [0, 1]: each by its own top value, or with ``shared`` all
    by the top value over all of them (so a weak map stays faint beside a strong
    one).  The top value is the ``percentile`` of the values (100: the maximum);
    a map that is zero everywhere stays zero."""
    arrays = [_as_map(m) for m in maps]
    tops = [float(np.percentile(a, percentile)) for a in arrays]
    if shared:
        tops = [max(tops)] * len(arrays)
    return [np.clip(a / t, 0.0, 1.0) if t > 0 else np.zeros_like(a) for a, t in zip(arrays, tops)]


def upsample(m, size: tuple[int, int]) -> np.ndarray:
    """A map resized bilinearly to ``size`` = (height, width) pixels: each cell of
    a Grad-CAM map covers the part of the photo its position sees."""
    a = _as_map(m)
    height, width = size
    return np.asarray(Image.fromarray(a).resize((width, height), Image.BILINEAR))


def overlay(image, heat, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """The photo (H, W, 3) in [0, 1] with a [0, 1] heat map (any size: it is
    upsampled) blended over it in colour: an (H, W, 3) array in [0, 1]."""
    import matplotlib

    photo = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    heat = upsample(heat, photo.shape[:2])
    colour = matplotlib.colormaps[cmap](np.clip(heat, 0.0, 1.0))[..., :3]
    return (1 - alpha) * photo + alpha * colour


def correlation(a, b) -> float:
    """Pearson correlation of two maps of the same shape (1: the same pattern up
    to scale; about 0: unrelated).  NaN when a map is constant (no pattern)."""
    a, b = _as_map(a).ravel().astype(np.float64), _as_map(b).ravel().astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(_("maps of different sizes ({a} and {b} values): upsample one to the "
                           "other's shape first", a=a.size, b=b.size))
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")


def show_maps(rows, shared_scale: bool = False, suptitle: str | None = None, size: float = 2.7):
    """One row per image: the photo, then its map panels.

    ``rows``: ``[(photo (H, W, 3) in [0, 1], photo title, [(panel title, map, kind), ...]), ...]``
    with ``kind`` "saliency" (the map alone, black = no effect) or "grad-cam"
    (upsampled and laid over the photo).  Saliency panels are scaled each on
    its own; Grad-CAM panels each on its own, or with ``shared_scale`` all on
    one scale (the same colour means the same evidence in every panel)."""
    import matplotlib.pyplot as plt

    for _photo, _title, panels in rows:
        for title, _map, kind in panels:
            if kind not in KINDS:
                raise ValueError(_("panel {title}: kind {kind} is not one of {kinds}",
                                   title=repr(title), kind=repr(kind), kinds=", ".join(KINDS)))
    cams = [m for _p, _t, panels in rows for _n, m, kind in panels if kind == "grad-cam"]
    scaled = iter(scale(cams, shared=shared_scale))
    columns = 1 + max(len(panels) for _p, _t, panels in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(size * columns, (size + 0.5) * len(rows)),
                             squeeze=False)
    for r, (photo, title, panels) in enumerate(rows):
        axes[r, 0].imshow(np.clip(photo, 0, 1))
        axes[r, 0].set_title(title, fontsize=9)
        for c, (panel_title, m, kind) in enumerate(panels, start=1):
            if kind == "saliency":
                axes[r, c].imshow(scale([m], percentile=SALIENCY_PERCENTILE)[0], cmap="gray")
            else:
                axes[r, c].imshow(overlay(photo, next(scaled)))
            axes[r, c].set_title(panel_title, fontsize=9)
        for ax in axes[r]:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig
