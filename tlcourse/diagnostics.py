"""Why a trained classifier is wrong, framework-neutral (numpy + matplotlib only).

The notebooks compute the class probabilities in their framework (inference
mode, softmax: the lesson's code stays on screen); everything after that is
the same for both and lives here, once::

    cm = diagnostics.confusion(test_labels, test_probs)
    diagnostics.plot_confusion(cm, data.class_names, standin=data.standin)
    diagnostics.show_confident_mistakes(data.test, test_probs, n=8)
    diagnostics.show_augmentations(image, views, prep, channels_last=False, standin=True)

Every figure drawn from stand-in data carries the "STAND-IN DATA" stamp.
"""
from __future__ import annotations

import numpy as np

from tlcourse import plots
from tlcourse.messages import _, figure_text


def _probs_and_labels(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if probs.ndim != 2 or len(probs) != len(labels) or not len(labels):
        raise ValueError(_("need probabilities (N, classes) and N labels, got shapes {probs} "
                           "and {labels}", probs=probs.shape, labels=labels.shape))
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 \
            or labels.max() >= probs.shape[1]:
        raise ValueError(_("labels must be class indices in [0, {classes}), got {labels}...",
                           classes=probs.shape[1], labels=labels[:5]))
    return probs, labels.astype(int)


def confusion(labels, probs) -> np.ndarray:
    """cm[i, j]: images of class i the model gave class j (its most probable one)."""
    probs, labels = _probs_and_labels(probs, labels)
    cm = np.zeros((probs.shape[1],) * 2, dtype=np.int64)
    np.add.at(cm, (labels, probs.argmax(1)), 1)
    return cm


def confident_mistakes(probs, labels, n: int = 8) -> np.ndarray:
    """Indices of the wrong predictions, most confident first (the probability the
    model gave its wrong answer, highest first; ties by index); at most ``n``."""
    probs, labels = _probs_and_labels(probs, labels)
    preds = probs.argmax(1)
    wrong = np.flatnonzero(preds != labels)
    confidence = probs[wrong, preds[wrong]]
    return wrong[np.lexsort((wrong, -confidence))][:n]


def plot_confusion(cm, class_names, standin: bool = False, title: str | None = None):
    """The confusion matrix with its counts written in each cell (rows: true class)."""
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(1.2 * k + 2.2, 1.2 * k + 1.4))
    ax.imshow(cm, cmap="Blues", vmin=0)
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=12,
                color="white" if count > cm.max() / 2 else "black")
    ax.set_xticks(range(k), class_names)
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel(figure_text("predicted class"))
    ax.set_ylabel(figure_text("true class"))
    accuracy = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title((title or figure_text("Confusion matrix: {images} test images, accuracy {accuracy}",
                             images=cm.sum(), accuracy=format(accuracy, ".3f")))
                 + ("\n(" + figure_text("stand-in data") + ")" if standin else ""), fontsize=10)
    fig.tight_layout()
    return plots.stamp_standin(fig, standin)


def show_confident_mistakes(split, probs, n: int = 8):
    """A gallery of the ``n`` most confidently wrong images of ``split`` (a
    ``datasets.Split`` in the order of ``probs``): true class, the model's answer
    and the probability it gave that answer."""
    probs, labels = _probs_and_labels(probs, split.labels)
    worst = confident_mistakes(probs, labels, n)
    preds = probs.argmax(1)
    if not len(worst):
        import matplotlib.pyplot as plt
        fig = plt.figure(figsize=(6, 1))
        fig.text(0.5, 0.5, figure_text("no wrong predictions on the {count} {split} images",
                             count=len(labels), split=split.name),
                 ha="center")
        return plots.stamp_standin(fig, split.standin)
    fig = plots.show_images([split.paths[i] for i in worst], labels[worst], split.class_names,
                            standin=split.standin, predictions=preds[worst], ncols=4, size=2.4,
                            title=_gallery_title(len(worst), int(np.sum(preds != labels)),
                                                 len(labels), split.name))
    for ax, i in zip(fig.axes, worst):
        ax.set_title(ax.get_title() + f" (p = {probs[i, preds[i]]:.2f})", fontsize=8, color="red")
    return fig


def _gallery_title(shown: int, wrong: int, images: int, split_name: str) -> str:
    if shown == wrong:
        return _("All {wrong} mistakes on {images} {split} images, most confident first",
                 wrong=wrong, images=images, split=split_name)
    return _("The {shown} most confident of {wrong} mistakes on {images} {split} images, most "
             "confident first", shown=shown, wrong=wrong, images=images, split=split_name)


def show_augmentations(image, views, preprocess, channels_last: bool, standin: bool = False):
    """``image`` (a PIL image) beside ``views``: normalised arrays the training
    transform made from it (CHW when ``channels_last`` is False), shown as pixels."""
    pixels = [np.clip(preprocess.denormalize_array(np.asarray(v, np.float32), channels_last), 0, 1)
              for v in views]
    if not channels_last:
        pixels = [p.transpose(1, 2, 0) for p in pixels]
    fig = plots.show_images([image, *pixels], ncols=min(5, len(pixels) + 1), size=2.0, standin=standin,
                            title=figure_text("One training image and {count} passes through the "
                                    "training transform (random crop + flip)", count=len(pixels)))
    fig.axes[0].set_title(figure_text("original"), fontsize=8)
    for k, ax in enumerate(fig.axes[1:len(pixels) + 1], 1):
        ax.set_title(figure_text("view {k}", k=k), fontsize=8)
    fig.tight_layout()   # again: show_images laid out the grid before these titles
    return fig
