"""The Keras half of ``tlcourse bench models`` (see ``tlcourse.bench.harness``).

``tlcourse.bench.harness`` runs ``forward_throughput`` in its own process (one
framework per process).  Two paths over the same ready batch:

- helper: the model ``pretrained()`` returns, called through
  ``probabilities()`` (the forward + softmax that ``predict_topk`` uses);
- bare: the same network built directly, with no tlcourse helper code (our
  port's builder + ``load_weights``, or ``keras.applications``), called as
  ``model(x, training=False)``.

Both are eager calls of the Keras model, timed in alternation (median).
"""
from __future__ import annotations

import itertools

from tlcourse import assets, photos
from tlcourse.bench import harness as bench
from tlcourse.tf import models


def bare_network(name: str, weights_path):
    """The same network as ``pretrained(name)``, built with plain Keras calls."""
    import keras

    if name in ("mobilenet_v2", "efficientnet_lite0"):
        net = models._port_builder(name)(include_top=True)   # our port's builder, nothing else
        net.load_weights(weights_path)
        return net
    if name == "vgg16":
        return keras.applications.VGG16(weights=str(weights_path), classifier_activation=None)
    return keras.applications.ResNet50(weights=str(weights_path), classifier_activation=None)


def forward_throughput(name: str, batch: int = 32, size: int = 224, repeats: int | None = None) -> dict:
    """Images/s through the helper's path and through a bare forward, CPU.

    ``repeats``: timed rounds (default: as many as fit ~20 s, 3..15).
    Raises ``AssetError`` when the weights are missing (online-only models offline).
    """
    import tensorflow as tf

    model, prep = models.pretrained(name)        # fetches (or fails clearly) first
    asset = models.PORTS.get(name, f"{name}_keras")
    bare = bare_network(name, assets.get(asset).path)
    bare_copy = bare_network(name, assets.get(asset).path)   # A/A control: the ratio's noise
    if size != prep.size:
        prep = type(prep)(size, prep.mean, prep.std, prep.crop_fraction, prep.mode)
    # a real batch: the sample photos, repeated to fill it, made once by to_batch
    paths = [p for p, _ in photos.imagenet_samples()]
    x = models.to_batch(prep, list(itertools.islice(itertools.cycle(paths), batch)))

    def helper_path():
        return models.probabilities(model, x)

    def bare_path():
        return bare(x, training=False).numpy()   # .numpy() waits for the result

    def bare_copy_path():
        return bare_copy(x, training=False).numpy()

    compiled = tf.function(lambda batch: bare(batch, training=False))

    def compiled_path():   # for comparison only: a traced graph instead of eager calls
        return compiled(x).numpy()

    if repeats is None:
        first = bench.time_interleaved({"helper": helper_path}, rounds=1, warmup=1)["helper"][0]
        repeats = bench.rounds_for(3 * first, budget_s=40.0, lo=5)
    times = bench.time_interleaved({"helper": helper_path, "bare": bare_path,
                                    "bare_copy": bare_copy_path, "compiled": compiled_path},
                                   rounds=repeats, warmup=1)
    compiled_ips = bench.throughput(batch, times["compiled"])
    return {"images_per_s": bench.throughput(batch, times["helper"]),
            "bare_images_per_s": bench.throughput(batch, times["bare"]),
            "compiled_images_per_s": compiled_ips,
            "time_ratio": bench.paired_time_ratio(times["helper"], times["bare"]),
            "aa_ratio": bench.paired_time_ratio(times["bare_copy"], times["bare"]),
            "params": models.count_params(model)[1], "rounds": len(times["helper"]),
            "threads": tf.config.threading.get_intra_op_parallelism_threads() or "auto",
            "note": f"helper and bare are eager Keras calls; the same network in a "
                    f"tf.function: {compiled_ips:.1f} images/s"}


if __name__ == "__main__":   # python -m tlcourse.bench.models_tf [NAME]
    import sys

    print(forward_throughput(sys.argv[1] if len(sys.argv) > 1 else "mobilenet_v2"))
