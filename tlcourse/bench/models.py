"""``tlcourse bench models``: CPU forward throughput and the helper's overhead.

Per model and framework, images/s at batch 32, 224x224, through two paths
over the same ready batch (the sample photos, made once by ``to_batch``):

* helper: the model the adapter's ``pretrained`` returns, called through its
  ``probabilities`` (the forward + softmax that ``predict_topk`` uses);
* bare: the same network built with plain torchvision / Keras calls and the
  same weights file, no tlcourse helper code: the benchmark's reference.  That
  framework code lives in the adapter (``tlcourse.torch.bench``,
  ``tlcourse.tf.bench``: ``plain_network``, ``plain_forward``, ``threads``,
  ``traced_forward``), reached through ``contract.adapter(framework, "bench")``;
  no bench module imports a framework (tests/test_layout.py).

The paths are timed interleaved (median), with a second bare copy as an A/A
control of the ratio's noise; the helper may be at most 5% slower.  The bare
path is an eager call; in TensorFlow the same network in a ``tf.function``
(the adapter's ``traced_forward``) is timed beside them and reported with the
helper/traced time ratio (the TF helper's ``probabilities`` runs the model's
own ``tf.function`` after its first calls, so that is its like-for-like).
Each (framework, model) runs in its own process (``harness.call_in_subprocess``),
with no GPU visible; models whose weights are neither cached nor to be had
offline are reported "not cached", never downloaded for a benchmark.
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


def forward_throughput(framework: str, name: str, batch: int = 32,
                       budget_s: float = 40.0) -> dict:
    """Images/s through the helper's path and through a bare forward, in this
    process (``budget_s``: about how long the timed rounds may take).  Raises
    the registry's ``AssetError`` when the weights are missing."""
    from tlcourse import assets, photos

    tlc, plain = adapter(framework), adapter(framework, "bench")
    model, prep = tlc.pretrained(name)
    weights = assets.get(name + ASSET_SUFFIX[framework]).path
    bare = plain.plain_network(name, weights)
    bare_copy = plain.plain_network(name, weights)   # A/A control: the ratio's noise
    paths = [p for p, _ in photos.imagenet_samples()]
    x = tlc.to_batch(prep, list(itertools.islice(itertools.cycle(paths), batch)))
    fns = {"helper": lambda: tlc.probabilities(model, x),
           "bare": lambda: plain.plain_forward(bare, x),
           "bare_copy": lambda: plain.plain_forward(bare_copy, x)}
    traced = plain.traced_forward(bare)   # for comparison only (TF: a graph, not eager calls)
    if traced is not None:
        fns["compiled"] = lambda: traced(x)
    first = harness.time_interleaved({"helper": fns["helper"]}, rounds=1, warmup=1)["helper"][0]
    times = harness.time_interleaved(fns, rounds=harness.rounds_for(len(fns) * first, budget_s,
                                                                    lo=5), warmup=1)
    out = {"images_per_s": harness.throughput(batch, times["helper"]),
           "bare_images_per_s": harness.throughput(batch, times["bare"]),
           "time_ratio": harness.paired_time_ratio(times["helper"], times["bare"]),
           "aa_ratio": harness.paired_time_ratio(times["bare_copy"], times["bare"]),
           "params": tlc.count_params(model)[1], "rounds": len(times["helper"]),
           "threads": plain.threads()}
    if "compiled" in times:
        out["compiled_images_per_s"] = harness.throughput(batch, times["compiled"])
        out["compiled_time_ratio"] = harness.paired_time_ratio(times["helper"], times["compiled"])
        out["note"] = (f"bare is an eager call; the same network traced (the adapter's "
                       f"traced_forward, a tf.function): {out['compiled_images_per_s']:.1f} "
                       f"images/s, time helper/traced {out['compiled_time_ratio']:.3f}")
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
