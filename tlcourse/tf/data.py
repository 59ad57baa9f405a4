"""tf.data input pipeline for a ``tlcourse.datasets.Split`` (same names as ``tlcourse.torch.data``).

    data = datasets.cats_dogs()
    model, prep = pretrained("mobilenet_v2", include_top=False)
    train = make_loader(data.train, prep, train=True)      # (N,H,W,3) float32, (N,) int64
    test = make_loader(data.test, prep, train=False)

Files are decoded by PIL inside ``tf.numpy_function`` (parallel map): unlike
``tf.io.decode_jpeg`` it reads every file the quarantine kept (CMYK JPEGs,
PNGs and GIFs named .jpg) exactly as the PyTorch pipeline does, and like it
skips a file that became unreadable since the scan (``datasets.load_split_image``).  Training:
random resized crop + horizontal flip (``tlcourse.augment``, a port of
torchvision's).  Evaluation: exactly ``to_batch``; the resized uint8 crops are
cached in memory when the split is small, so later epochs skip decoding.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import tensorflow as tf

from tlcourse import plots
from tlcourse.augment import train_augment
from tlcourse.contract import PUBLIC_API, loader_defaults
from tlcourse.datasets import Split, load_split_image
from tlcourse.images import resize_center_crop
from tlcourse.preprocess import Preprocess

__all__ = PUBLIC_API["data"]


def make_transform(preprocess: Preprocess, train: bool):
    """PIL image -> normalised float32 HWC array; random crop + flip when ``train``."""
    return _make_transform(preprocess, train, seed=None)


def _make_transform(preprocess: Preprocess, train: bool, seed):
    rng = np.random.default_rng(seed)
    lock = threading.Lock()     # tf.data calls this from several threads

    def pixels(im) -> np.ndarray:
        if train:
            with lock:
                sub = np.random.default_rng(rng.integers(2 ** 63))
            im = train_augment(im, preprocess.size, sub)
        elif im.size != (preprocess.size, preprocess.size):   # as pixels_array does
            im = resize_center_crop(im, preprocess.size, preprocess.crop_fraction)
        return np.asarray(im, dtype=np.uint8)

    def transform(im) -> np.ndarray:
        return preprocess.normalize_array(pixels(im).astype(np.float32) / 255.0)

    transform.pixels = pixels   # the uint8 stage, used by the cached pipeline
    return transform


def make_loader(split: Split, preprocess: Preprocess, train: bool, batch_size: int | None = None,
                shuffle: bool | None = None, num_workers: int | None = None, seed: int = 0,
                cache: bool | None = None, profile=None) -> tf.data.Dataset:
    """Batches of (float32 NHWC input, int64 labels) from ``split``.

    ``train`` picks the augmentation (and shuffling, unless ``shuffle`` says
    otherwise).  ``batch_size`` defaults to the profile's; ``num_workers``
    caps the parallel decode calls (default: tf.data's autotuning).
    ``cache`` keeps the decoded, resized evaluation images (uint8) in memory
    after the first epoch (off for training, whose crops change every epoch;
    default: on for evaluation when the split is small, under 4,000 images).
    ``loader.standin`` says whether the split is stand-in data (``fit`` records it).
    """
    _, batch_size, shuffle, cache = loader_defaults(split, train, batch_size, shuffle, cache,
                                                    profile)
    parallel = tf.data.AUTOTUNE if not num_workers else num_workers
    size = preprocess.size
    transform = _make_transform(preprocess, train, seed)

    def read(path):
        # the path travels as bytes: a file name that is not UTF-8 has no tf.string text form
        im = load_split_image(split, os.fsdecode(path))
        if im is None:      # unreadable since the scan: dropped from its batch (_without_skipped)
            return np.zeros((size, size, 3), np.uint8), False
        return transform.pixels(im), True

    def load(path, label):
        x, ok = tf.numpy_function(read, [path], (tf.uint8, tf.bool), stateful=train)
        x.set_shape((size, size, 3))
        ok.set_shape(())
        return x, label, ok

    mean = tf.constant(preprocess.mean, tf.float32)
    std = tf.constant(preprocess.std, tf.float32)

    def norm(x, label):
        y = (tf.cast(x, tf.float32) / 255.0 - mean) / std
        return (y[..., ::-1] if preprocess.bgr else y), label

    paths = np.array([os.fsencode(p) for p in split.paths], dtype=object)
    ds = tf.data.Dataset.from_tensor_slices((paths, np.asarray(split.labels, dtype=np.int64)))
    if shuffle:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(load, num_parallel_calls=parallel, deterministic=not train)
    if cache and not train:
        ds = ds.cache()
    loader = (ds.batch(batch_size).map(_without_skipped).map(norm, num_parallel_calls=parallel)
              .prefetch(tf.data.AUTOTUNE))
    loader.standin = split.standin
    return loader


def _without_skipped(x, label, ok):
    """A batch without the images that failed at load time.  Dropped from their batch,
    not filtered out before batching: the number of batches stays known (Keras's
    ``steps_per_epoch`` and progress bars rely on it; a filter makes it unknown)."""
    return tf.boolean_mask(x, ok), tf.boolean_mask(label, ok)


def show_batch(batch, split: Split, preprocess: Preprocess, n: int = 16, predictions=None,
               title: str | None = None):
    """Plot the first ``n`` images of a (x, y) batch with their class names,
    stamped "STAND-IN DATA" when the split is a stand-in."""
    x, y = batch
    x = np.asarray(x[:n])
    pixels = np.clip(preprocess.denormalize_array(x, channels_last=True), 0, 1)
    return plots.show_images(pixels, np.asarray(y[:n]), split.class_names,
                             standin=split.standin, predictions=predictions, title=title)

