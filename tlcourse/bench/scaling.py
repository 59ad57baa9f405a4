"""``tlcourse bench scaling [--sizes 500,2000,8000]``: cost as the data grows.

The transfer-learning pipeline of the lesson (load the Cats vs Dogs splits,
features of train and val from a frozen pretrained base, a small classifier
trained on them) on stand-in data of N images, for several N, per framework.

* The stand-ins (synthetic pictures, real on-disk layout, 160-256 px JPEGs,
  ``tlcourse.standin``) are written once per N into
  ``<cache>/bench/scaling/n<N>/`` and kept for later runs (their writing is
  timed separately, not part of the pipeline).
* Each (framework, N) runs in a fresh process (``harness``) with an empty feature cache and
  no scan memo, like a first run; the model is loaded first (timed apart), then
  the pass runs twice in the same process: the second one finds the features in
  the cache.  The process's peak RSS is reported.
* The base sees ``image_size`` x ``image_size`` inputs, by default the smoke
  profile's (160 px, what the notebook's base sees).  A smaller size makes the
  run shorter but shrinks the feature step against the head's training, which
  the cache cannot shorten: the second-pass speed-up would then understate
  what caching saves in the notebook.
"""
from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

from tlcourse.bench import harness
from tlcourse.bench.report import part_status
from tlcourse.contract import FRAMEWORKS, adapter
from tlcourse.profiles import PROFILES, get_profile

SIZES = (500, 2000, 8000)
IMAGE_SIZE = PROFILES["smoke"].image_size   # what the notebook's base sees in smoke
MODEL = "mobilenet_v2"


def dataset_cache(root: Path, n: int) -> Path:
    return Path(root) / f"n{n}"


def ensure_standin(cache_root: Path, n: int, log=print) -> float:
    """Write the N-image stand-in under ``cache_root`` unless it is there; seconds spent."""
    from tlcourse import standin
    from tlcourse.datasets import DATASETS

    dest = cache_root / "datasets" / "standin" / DATASETS["cats_dogs"][1]
    if dest.is_dir():
        return 0.0
    log(f"scaling: writing a {n:,}-image stand-in to {dest} ...")
    start = time.perf_counter()
    standin.write_into(dest, standin.write_cats_dogs, per_class=max(2, n // 2))
    return time.perf_counter() - start


def _one_pass(tlc, base, prep, profile, epochs: int) -> dict:
    from tlcourse import datasets

    t0 = time.perf_counter()
    data = datasets.cats_dogs(profile=profile, progress=False)
    t1 = time.perf_counter()
    feats = {}
    for split in (data.train, data.val):
        key = tlc.features_key(MODEL, split, prep)
        loader = tlc.make_loader(split, prep, train=False, profile=profile)
        feats[split.name] = tlc.extract_features(base, loader, cache_key=key, progress=False)
    t2 = time.perf_counter()
    (X_tr, y_tr), (X_va, y_va) = feats["train"], feats["val"]
    clf = tlc.feature_classifier(X_tr.shape[1], len(data.class_names))
    history = tlc.fit(clf, tlc.array_loader(X_tr, y_tr, 64, shuffle=True, standin=data.standin),
                      tlc.array_loader(X_va, y_va, 256), epochs=epochs, lr=profile.lr_head,
                      name=MODEL, progress=False)
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "features_s": t2 - t1, "head_s": t3 - t2, "total_s": t3 - t0,
            "train": len(data.train), "val": len(data.val), "feature_dim": int(X_tr.shape[1]),
            "val_accuracy": history.last("val_accuracy")}


def measure(framework: str, images: int, image_size: int = IMAGE_SIZE,
            epochs: int | None = None, profile: str = "smoke") -> dict:
    """In a fresh process (TLCOURSE_CACHE = the N-image scratch cache): model load,
    then the pass twice.  Returns one row of the report."""
    import dataclasses
    import resource

    P = get_profile(profile, image_size=image_size, num_workers=0)
    epochs = epochs or P.epochs_features
    tlc = adapter(framework)
    t0 = time.perf_counter()
    base, prep = tlc.pretrained(MODEL, include_top=False)
    prep = dataclasses.replace(prep, size=image_size)
    model_s = time.perf_counter() - t0
    first = _one_pass(tlc, base, prep, P, epochs)
    second = _one_pass(tlc, base, prep, P, epochs)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"framework": framework, "images": images, "status": "ok", "image_size": image_size,
            "epochs": epochs, "model_s": model_s, "load_s": first["load_s"],
            "features_s": first["features_s"], "head_s": first["head_s"],
            "first_s": first["total_s"], "second_s": second["total_s"],
            "second_features_s": second["features_s"], "second_head_s": second["head_s"],
            "speedup": first["total_s"] / max(second["total_s"], 1e-9),
            "features_speedup": first["features_s"] / max(second["features_s"], 1e-9),
            "train": first["train"], "val": first["val"], "feature_dim": first["feature_dim"],
            "val_accuracy": first["val_accuracy"], "peak_mb": peak_kb / 1024}


def growth(rows: list[dict]) -> dict:
    """Per framework, smallest vs largest N: how time and memory grew."""
    out = {}
    for fw in dict.fromkeys(r["framework"] for r in rows):
        ok = sorted((r for r in rows if r["framework"] == fw and r.get("status") == "ok"),
                    key=lambda r: r["images"])
        if len(ok) < 2:
            continue
        a, b = ok[0], ok[-1]
        n_ratio, t_ratio = b["images"] / a["images"], b["first_s"] / a["first_s"]
        out[fw] = {"n_ratio": n_ratio, "time_ratio": t_ratio,
                   "exponent": math.log(t_ratio) / math.log(n_ratio) if n_ratio > 1 else None,
                   "ms_per_image_small": 1000 * a["first_s"] / a["images"],
                   "ms_per_image_large": 1000 * b["first_s"] / b["images"],
                   "peak_mb_small": a["peak_mb"], "peak_mb_large": b["peak_mb"]}
    return out


def run(opts) -> dict:
    """The scaling part at the sizes, frameworks, image size and profile of ``opts``."""
    return measure_sizes(sizes=opts.sizes or SIZES, frameworks=opts.frameworks,
                         image_size=opts.scaling_image_size or IMAGE_SIZE, profile=opts.profile)


def measure_sizes(sizes=SIZES, frameworks=FRAMEWORKS, image_size: int = IMAGE_SIZE,
                  epochs: int | None = None, root: Path | None = None, profile: str = "smoke",
                  log=harness.log, timeout: float = 3600) -> dict:
    """The scaling part: ``{"rows", "summary", "notes", "status"}``."""
    from tlcourse import cache

    root = Path(root) if root else cache.cache_dir() / "bench" / "scaling"
    epochs = epochs or get_profile(profile).epochs_features
    sizes = sorted(int(n) for n in sizes)
    notes, rows = [], []
    written = {}
    for n in sizes:
        where = dataset_cache(root, n)
        harness.scratch_cache(where, share=(), fresh=())
        written[n] = ensure_standin(where, n, log)
    if any(written.values()):
        notes.append("Stand-ins written for this run: " + ", ".join(
            f"{n:,} images in {s:.0f} s" for n, s in written.items() if s) + " (not counted "
            "in the pipeline times).")
    for fw in frameworks:
        for n in sizes:
            where = dataset_cache(root, n)
            # a first run: no features, no scan memo
            shutil.rmtree(where / "features", ignore_errors=True)
            for memo in (where / "datasets" / "standin").glob("*/.tlcourse-scan.json"):
                memo.unlink()
            env = harness.framework_homes_env()
            env["TLCOURSE_CACHE"] = str(where)
            log(f"scaling: {fw}, {n:,} images at {image_size} px ...")
            try:
                row = harness.call_in_subprocess(
                    "tlcourse.bench.scaling:measure",
                    dict(framework=fw, images=n, image_size=image_size, epochs=epochs,
                         profile=profile), env=env, timeout=timeout)
                log(f"scaling: {fw} {n:,}: first {row['first_s']:.1f} s, second "
                    f"{row['second_s']:.2f} s ({row['speedup']:.0f}x), peak {row['peak_mb']:.0f} MB")
            except harness.BenchError as exc:
                row = {"framework": fw, "images": n, "status": "failed", "error": exc.summary}
                log(f"scaling: {fw} {n:,}: FAILED {exc}")
            rows.append(row)
    ok = [r for r in rows if r.get("status") == "ok"]
    summary = {"model": MODEL, "image_size": image_size, "epochs": epochs, "sizes": sizes,
               "frameworks": list(frameworks), "source_px": "160–256", "growth": growth(rows),
               "min_speedup": min((r["speedup"] for r in ok), default=None),
               "cpus": os.cpu_count()}
    return {"status": part_status(rows), "rows": rows, "summary": summary, "notes": notes}
