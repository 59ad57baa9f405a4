"""ImageNet-1k class names, offline.

The list is torchvision's ``MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]``
written to ``tlcourse/data/imagenet_classes.txt`` (Keras's
``decode_predictions`` downloads its JSON and fails offline).
"""
from __future__ import annotations

import functools
from importlib import resources

import numpy as np
from tlcourse.messages import _

DOG_CLASSES = range(151, 269)          # Chihuahua .. Mexican hairless
DOMESTIC_CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
TABBY, TIGER_CAT, ZEBRA = 281, 282, 340


@functools.lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    text = resources.files("tlcourse").joinpath("data/imagenet_classes.txt").read_text()
    names = tuple(text.splitlines())
    assert len(names) == 1000, "imagenet_classes.txt must have 1000 lines"
    return names


def class_index(name: str) -> int:
    """Index of a class by name ("tabby", "zebra"); case-insensitive."""
    lowered = [n.lower() for n in class_names()]
    try:
        return lowered.index(name.lower())
    except ValueError:
        close = [n for n in class_names() if name.lower() in n.lower()][:5]
        raise ValueError(_("No ImageNet class named {name}. Similar: {close}", name=repr(name),
                           close=close)) from None


def parse_class(spec: str | int) -> int:
    """An index from an int, a numeric string or a class name; ValueError names a bad one."""
    if isinstance(spec, str) and not spec.strip().lstrip("-").isdigit():
        return class_index(spec.strip())
    index = int(spec)
    if not 0 <= index < len(class_names()):
        raise ValueError(_("class index {spec} is out of range: ImageNet classes are 0-{last} "
                           "(or give a name, e.g. 'tabby')", spec=repr(spec),
                           last=len(class_names()) - 1))
    return index


def softmax(logits) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def topk_from_probs(probs, k: int = 5) -> list[list[tuple[int, str, float]]]:
    """For each row of probabilities, the k best (index, name, probability)."""
    probs = np.atleast_2d(np.asarray(probs))
    names = class_names()
    out = []
    for row in probs:
        idx = np.argsort(-row, kind="stable")[:k]
        out.append([(int(i), names[i], float(row[i])) for i in idx])
    return out
