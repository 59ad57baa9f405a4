"""Training augmentation on PIL images, framework-neutral.

The PyTorch pipeline uses torchvision's ``RandomResizedCrop`` and
``RandomHorizontalFlip``; the tf.data pipeline decodes with PIL (it reads
every file the quarantine kept, CMYK and palette included) and uses this
port of the same algorithm, so both frameworks train on the same kind of
crops.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

SCALE = (0.08, 1.0)          # torchvision's defaults (the Inception-style crop)
RATIO = (3 / 4, 4 / 3)


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale=SCALE, ratio=RATIO) -> tuple[int, int, int, int]:
    """(left, top, w, h) of a crop covering ``scale`` of the area with aspect in
    ``ratio`` (log-uniform); after 10 misses, the centre crop clipped to ``ratio``
    (torchvision's ``RandomResizedCrop.get_params``)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def random_resized_crop(im: Image.Image, size: int, rng: np.random.Generator,
                        scale=SCALE, ratio=RATIO) -> Image.Image:
    left, top, w, h = random_resized_crop_box(im.width, im.height, rng, scale, ratio)
    return im.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))


def train_augment(im: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    """Random resized crop to size x size, then a horizontal flip half the time."""
    im = random_resized_crop(im, size, rng)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    return im
