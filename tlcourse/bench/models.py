"""``tlcourse bench models``: CPU forward throughput and the helper's overhead.

Per model and framework, images/s at batch 32, 224x224, through two paths
over the same ready batch (the sample photos, made once by ``to_batch``):

* helper: the model the adapter's ``pretrained`` returns, called through its
  ``probabilities`` (the forward + softmax that ``predict_topk`` uses);
* bare: the same network built here with plain torchvision / Keras calls and
  the same weights file, no tlcourse helper code: the benchmark's reference.

The paths are timed interleaved (median), with a second bare copy as an A/A
control of the ratio's noise; the helper may be at most 5% slower.  In
TensorFlow both paths are eager calls; the same network in a ``tf.function``
is reported beside them.  Each (framework, model) runs in its own process
(``harness.call_in_subprocess``), with no GPU visible; models whose weights are neither cached nor
to be had offline are reported "not cached", never downloaded for a benchmark.
"""
from __future__ import annotations

import itertools
import os

from tlcourse.bench import harness
from tlcourse.bench.report import part_status
from tlcourse.contract import adapter
from tlcourse.preprocess import MODELS

MAX_OVERHEAD = 0.05      # helper path may be at most 5% slower than a bare forward
ASSET_SUFFIX = {"torch": "_torch", "tf": "_keras"}


def weights_status(name: str, framework: str) -> tuple[str, bool]:
    """("offline" | "online", runnable now): a model runs when its weights are
    cached or can be had offline; a benchmark never starts a big download."""
    from tlcourse import assets

    asset = assets.get(name + ASSET_SUFFIX[framework])
    return ("offline" if asset.offline else "online"), asset.offline or assets.is_cached(asset)


def bare_network(framework: str, name: str, weights_path=None, image_size: int = 224):
    """The ImageNet classifier ``name`` (logits) built with plain torchvision /
    Keras calls and our ports' builders: with ``weights_path`` loaded, else
    randomly initialised (Keras then builds it for ``image_size`` inputs).
    A torch network comes in eval mode."""
    if framework == "torch":
        import torch
        import torchvision

        from tlcourse.ports.torch_efficientnet_lite import efficientnet_lite0

        if name == "efficientnet_lite0":   # torchvision has no Lite0: our port itself
            return efficientnet_lite0(weights_path).eval()
        net = getattr(torchvision.models, name)(weights=None)
        if weights_path is not None:
            net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        return net.eval()
    import keras

    if name in ("mobilenet_v2", "efficientnet_lite0"):
        if name == "mobilenet_v2":
            from tlcourse.ports.keras_mobilenet_v2 import mobilenet_v2 as builder
        else:
            from tlcourse.ports.keras_efficientnet_lite import efficientnet_lite0 as builder
        net = builder(include_top=True)
        if weights_path is not None:
            net.load_weights(weights_path)
        return net
    application = {"vgg16": keras.applications.VGG16, "resnet50": keras.applications.ResNet50}[name]
    if weights_path is not None:
        return application(weights=str(weights_path), classifier_activation=None)
    return application(weights=None, input_shape=(image_size, image_size, 3),
                       classifier_activation=None)


def bare_forward(framework: str, net, x) -> object:
    """One inference forward of a bare network, waited for."""
    if framework == "torch":
        import torch

        with torch.inference_mode():
            return net(x)
    return net(x, training=False).numpy()   # .numpy() waits for the result


def _threads(framework: str):
    if framework == "torch":
        import torch

        return torch.get_num_threads()
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or "auto"


def forward_throughput(framework: str, name: str, batch: int = 32,
                       budget_s: float = 40.0) -> dict:
    """Images/s through the helper's path and through a bare forward, in this
    process (``budget_s``: about how long the timed rounds may take).  Raises
    the registry's ``AssetError`` when the weights are missing."""
    from tlcourse import assets, photos

    tlc = adapter(framework)
    model, prep = tlc.pretrained(name)
    weights = assets.get(name + ASSET_SUFFIX[framework]).path
    bare = bare_network(framework, name, weights)
    bare_copy = bare_network(framework, name, weights)   # A/A control: the ratio's noise
    paths = [p for p, _ in photos.imagenet_samples()]
    x = tlc.to_batch(prep, list(itertools.islice(itertools.cycle(paths), batch)))
    fns = {"helper": lambda: tlc.probabilities(model, x),
           "bare": lambda: bare_forward(framework, bare, x),
           "bare_copy": lambda: bare_forward(framework, bare_copy, x)}
    if framework == "tf":   # for comparison only: a traced graph instead of eager calls
        import tensorflow as tf

        traced = tf.function(lambda b: bare(b, training=False))
        fns["compiled"] = lambda: traced(x).numpy()
    first = harness.time_interleaved({"helper": fns["helper"]}, rounds=1, warmup=1)["helper"][0]
    times = harness.time_interleaved(fns, rounds=harness.rounds_for(len(fns) * first, budget_s,
                                                                    lo=5), warmup=1)
    out = {"images_per_s": harness.throughput(batch, times["helper"]),
           "bare_images_per_s": harness.throughput(batch, times["bare"]),
           "time_ratio": harness.paired_time_ratio(times["helper"], times["bare"]),
           "aa_ratio": harness.paired_time_ratio(times["bare_copy"], times["bare"]),
           "params": tlc.count_params(model)[1], "rounds": len(times["helper"]),
           "threads": _threads(framework)}
    if "compiled" in times:
        out["compiled_images_per_s"] = harness.throughput(batch, times["compiled"])
        out["note"] = (f"helper and bare are eager Keras calls; the same network in a "
                       f"tf.function: {out['compiled_images_per_s']:.1f} images/s")
    return out


def measure_row(framework: str, name: str, batch: int) -> dict:
    """One row of the part: the figures, or why there are none."""
    kind, runnable = weights_status(name, framework)
    row = {"model": name, "framework": framework, "weights": kind}
    if not runnable:
        return {**row, "status": "not cached"}
    try:
        row.update(harness.call_in_subprocess("tlcourse.bench.models:forward_throughput",
                                              dict(framework=framework, name=name, batch=batch),
                                              env=dict(os.environ, CUDA_VISIBLE_DEVICES=""),
                                              timeout=900), status="ok")
    except harness.BenchError as exc:
        row["status"] = "not cached" if exc.error_type == "AssetError" else \
            f"failed: {exc.summary[:200]}"
        return row
    row["overhead_ok"] = "yes" if row["time_ratio"] <= 1 + MAX_OVERHEAD else "NO"
    return row


def run(opts) -> dict:
    """The models part: every (framework, model) of ``opts``."""
    rows = []
    for framework in opts.frameworks:
        for name in opts.models or MODELS:
            harness.log(f"models: {name} ({framework}) ...")
            rows.append(measure_row(framework, name, opts.batch))
    measured = [r for r in rows if r.get("status") != "not cached"]
    bad_overhead = [r for r in rows if r.get("overhead_ok") == "NO"]
    notes = [f"CPU, batch {opts.batch}, 224x224, float32, inference only. \"helper\" = the model "
             "from `pretrained()` called through `probabilities()` on a batch `to_batch()` "
             "already made; \"bare\" = the same network built without the helper. Median of "
             "interleaved rounds after a warm-up. VGG-16 and ResNet-50 need internet for "
             "their weights: \"not cached\" here (see `benchmarks/gpu_check.sh` for their "
             "throughput with random weights)."]
    if bad_overhead:
        notes.append("**Helper overhead above 5%**: " + ", ".join(
            f"{r['model']} ({r['framework']})" for r in bad_overhead))
    return {"status": part_status(measured), "rows": rows, "notes": notes}
