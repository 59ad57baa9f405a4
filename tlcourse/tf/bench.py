"""Keras half of ``tlcourse bench models``: CPU forward throughput.

``tlcourse/bench.py`` runs ``forward_throughput`` in its own process (one
framework per process), for each model and framework.

Two paths over the same ready batch (random pixels put through ``to_batch``'s
normalisation, batch 32, 224x224):

- helper: the model ``pretrained()`` returns, called through
  ``probabilities()`` (the forward + softmax that ``predict_topk`` uses);
- bare: the same network built directly (our port's builder or
  ``keras.applications``, no tlcourse helper code) called as ``model(x, training=False)``.

The two are timed in alternation and the median of each is kept, so drift in
the machine's speed hits both alike.
"""
from __future__ import annotations

import statistics
import time

import numpy as np


def _bare_network(name: str, include_top: bool = True):
    """The network without any tlcourse helper code; weights do not change the speed."""
    import keras

    if name == "mobilenet_v2":
        from tlcourse.tf.mobilenet_v2 import mobilenet_v2
        return mobilenet_v2(include_top=include_top)
    if name == "vgg16":
        return keras.applications.VGG16(weights=None, classifier_activation=None)
    if name == "resnet50":
        return keras.applications.ResNet50(weights=None, classifier_activation=None)
    raise NotImplementedError(f"no Keras {name!r} (see tlcourse.tf.models.pretrained)")


def forward_throughput(name: str, batch: int = 32, size: int = 224, repeats: int = 5,
                       warmup: int = 2) -> dict:
    """Images/s of the helper path and of a bare forward for Keras model ``name``.

    Returns ``{"framework", "model", "batch", "size", "repeats", "helper_ips",
    "bare_ips", "ratio"}`` where ratio = helper_ips / bare_ips (1.0 = no
    overhead).  Raises ``AssetError`` when the weights are not to be had
    (online-only models offline) and ``NotImplementedError`` for models with no
    Keras version.
    """
    from tqdm.auto import tqdm

    from tlcourse.tf import models

    model, prep = models.pretrained(name)
    bare = _bare_network(name)
    pixels = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
    x = models.normalize(prep, pixels)

    def helper_step():
        models.probabilities(model, x)

    def bare_step():
        np.asarray(bare(x, training=False))   # np.asarray waits for the result

    for _ in range(warmup):
        helper_step()
        bare_step()
    times = {"helper": [], "bare": []}
    for _ in tqdm(range(repeats), desc=f"tf {name}", leave=False):
        for key, step in (("helper", helper_step), ("bare", bare_step)):
            t0 = time.perf_counter()
            step()
            times[key].append(time.perf_counter() - t0)
    helper_ips = batch / statistics.median(times["helper"])
    bare_ips = batch / statistics.median(times["bare"])
    return dict(framework="tf", model=name, batch=batch, size=size, repeats=repeats,
                helper_ips=helper_ips, bare_ips=bare_ips, ratio=helper_ips / bare_ips)


if __name__ == "__main__":   # python -m tlcourse.tf.bench [NAME]
    import sys

    print(forward_throughput(sys.argv[1] if len(sys.argv) > 1 else "mobilenet_v2"))
