"""``tlcourse bench data``: input-pipeline throughput per framework, on CPU.

Images/s of decode + augment (random resized crop + flip) or decode + resize +
centre crop, at 224x224, batch 32, through each adapter's ``make_loader`` on
the Cats vs Dogs data of the profile in force (stand-in in smoke).  Each
(framework, workers, mode) runs in its own process (``harness``).  The figures
go into benchmarks/RESULTS.md beside the models' forward throughput, so one can
see whether the pipeline starves training.
"""
from __future__ import annotations

import os
import time

from tlcourse.bench import harness
from tlcourse.bench.report import part_status
from tlcourse.contract import adapter


def _mode(train: bool) -> str:
    return "train (augment)" if train else "eval (resize+crop)"


def measure(framework: str, train: bool, workers: int, batch: int = 32, images: int = 256) -> dict:
    """In the framework's own process: images/s over ``images`` images after one warm-up batch."""
    from tlcourse import datasets
    from tlcourse.preprocess import get_preprocess

    data = datasets.cats_dogs(progress=False)
    # cache off: we measure decoding every time, as an epoch over real data would
    loader = adapter(framework).make_loader(data.train, get_preprocess("mobilenet_v2"),
                                            train=train, batch_size=batch, num_workers=workers,
                                            cache=False)
    seen, t0 = 0, None
    while seen < images:
        for x, _ in loader:
            if t0 is None:             # the first batch pays for start-up
                t0 = time.perf_counter()
                continue
            seen += int(x.shape[0])
            if seen >= images:
                break
    return {"framework": framework, "mode": _mode(train), "workers": workers,
            "images_per_s": seen / (time.perf_counter() - t0), "data": data.label}


def run(opts) -> dict:
    """The data part: torch with 0 and 2 loader workers, tf.data autotuned; train and eval."""
    cores = os.cpu_count() or 1
    combos = [(f, w) for f, w in (("torch", 0), ("torch", min(2, cores)), ("tf", 0))
              if f in opts.frameworks]
    rows = []
    for framework, workers in combos:
        for train in (True, False):
            harness.log(f"data: {framework} workers={workers} train={train} ...")
            try:
                rows.append(harness.call_in_subprocess(
                    "tlcourse.bench.data:measure",
                    dict(framework=framework, train=train, workers=workers), timeout=900))
            except harness.BenchError as exc:
                rows.append({"framework": framework, "mode": _mode(train), "workers": workers,
                             "error": exc.summary[:300]})
    return {"status": part_status(rows, lambda r: "images_per_s" in r), "rows": rows,
            "notes": ["Cats vs Dogs train split of the profile in force through each "
                      "framework's `make_loader` (PIL decode, then random resized crop + flip "
                      "for train, resize + centre crop for eval, to 224x224, normalised), "
                      "batch 32, 256 images after a warm-up batch, in-memory cache off. "
                      "tf.data workers = 0 means autotuned parallel calls. Compare with the "
                      "models' forward throughput above: a pipeline slower than the model "
                      "starves it."]}
