"""Figures shared by both frameworks (matplotlib + numpy only).

Every figure drawn from stand-in data carries a visible "STAND-IN DATA"
stamp, so a screenshot of a smoke-profile run can never pass for a result on
the real photos.
"""
from __future__ import annotations

import math

import numpy as np
from tlcourse.messages import _, figure_text

STAMP = "STAND-IN DATA"


def stamp_standin(fig, standin: bool = True):
    """Write "STAND-IN DATA" across the figure (diagonal, red, semi-transparent)."""
    if standin:
        fig.text(0.5, 0.5, figure_text("STAND-IN DATA"), fontsize=36, color="red", alpha=0.35, ha="center",
                 va="center", rotation=20, weight="bold", zorder=100)
        fig.text(0.99, 0.005, figure_text("synthetic stand-in images, not the real dataset"), fontsize=8,
                 color="red", ha="right", va="bottom")
    return fig


def image_array(item):
    """A path, PIL image or array -> an array imshow accepts (also for the
    figures in ``train``)."""
    from pathlib import Path

    if isinstance(item, (str, Path)):
        from tlcourse.images import load_rgb
        return np.asarray(load_rgb(item))
    if hasattr(item, "convert"):           # PIL image
        return np.asarray(item.convert("RGB"))
    return np.asarray(item)


def show_images(images, labels=None, class_names=None, standin: bool = False, predictions=None,
                title: str | None = None, ncols: int = 8, size: float = 1.8):
    """A grid of images titled with their class (and prediction, green if right, red if wrong).

    ``images``: paths, PIL images, uint8 arrays or float arrays in [0, 1] (HWC).
    Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    images = list(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.4),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(image_array(images[k]))
        text, color = "", "black"
        if labels is not None:
            lab = int(labels[k])
            text = class_names[lab] if class_names is not None else str(lab)
        if predictions is not None:
            pred = int(predictions[k])
            name = class_names[pred] if class_names is not None else str(pred)
            right = labels is not None and pred == int(labels[k])
            said = _("pred: {name}", name=name)
            text = f"{text}\n{said}" if text else said
            color = "green" if right else "red"
        ax.set_title(text, fontsize=8, color=color)
    if title or standin:
        fig.suptitle((title or "") + (" (" + figure_text("stand-in data") + ")" if standin else ""),
                     fontsize=11)
    fig.tight_layout()
    return stamp_standin(fig, standin)


def show_split(split, n: int = 16, seed: int = 0, title: str | None = None):
    """``n`` random images of a ``datasets.Split`` with their class names."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(split), size=min(n, len(split)), replace=False))
    return show_images([split.paths[i] for i in idx], [split.labels[i] for i in idx],
                       split.class_names, standin=split.standin,
                       title=title or figure_text("{dataset}: {split} split, {count} images",
                                        dataset=split.dataset, split=split.name,
                                        count=format(len(split), ",")))


def show_quarantine(report, examples: int = 8):
    """The quarantine report: counts, the excluded files and the reasons, and
    thumbnails of the converted (odd-mode) files as they look after conversion."""
    import matplotlib.pyplot as plt

    from tlcourse.images import load_rgb

    print(report.summary(examples))
    converted = list(report.converted[:examples])
    if not converted:
        fig = plt.figure(figsize=(6, 1))
        fig.text(0.5, 0.5, figure_text("no odd-mode files"), ha="center")
        return stamp_standin(fig, report.standin)
    root = getattr(report, "root", None)
    images, titles = [], []
    for note in converted:
        path = note.path if root is None else f"{root}/{note.path}"
        try:
            images.append(np.asarray(load_rgb(path)))
        except Exception:  # shown as blank rather than failing the figure
            images.append(np.zeros((8, 8, 3), np.uint8))
        titles.append(note.reason.split(";")[0])
    fig = show_images(images, standin=False, ncols=min(4, len(images)), size=2.2,
                      title=figure_text("Converted on load: {converted}; excluded: {excluded}",
                              converted=len(report.converted), excluded=len(report.excluded)))
    for ax, t, note in zip(fig.axes, titles, converted):
        ax.set_title(f"{note.path.rsplit('/', 1)[-1]}\n{t}", fontsize=7)
    fig.tight_layout()   # again: the two-line titles are taller than the ones laid out above
    return stamp_standin(fig, report.standin)


def plot_data_size_study(rows: list[dict], chance: float | None = None, standin: bool = False,
                         title: str | None = None):
    """Validation accuracy against training images per class, one line per approach
    (the rows of ``train.data_size_study``), with chance as a dotted line."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for approach in dict.fromkeys(r["approach"] for r in rows):
        mine = sorted((r for r in rows if r["approach"] == approach), key=lambda r: r["per_class"])
        ax.plot([r["per_class"] for r in mine], [r["val_accuracy"] for r in mine], "o-",
                label=approach)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":",
                   label=figure_text("chance ({chance})", chance=format(chance, ".2f")))
    ax.set_xscale("log")
    sizes = sorted({r["per_class"] for r in rows})
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel(figure_text("training images per class"))
    ax.set_ylabel(figure_text("validation accuracy"))
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.set_title((title or figure_text("Fewer labelled images: which approach holds up?"))
                 + (" (" + figure_text("stand-in data") + ")" if standin else ""), fontsize=10)
    fig.tight_layout()
    return stamp_standin(fig, standin)
