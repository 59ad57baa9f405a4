"""Will the full profile fit a GPU runner?  ``benchmarks/gpu_check.sh`` runs this.

One short, offline run on the machine in question (a CUDA GPU, no internet):

1. writes full-size stand-ins with the real datasets' image counts, layout and
   resolution: Cats vs Dogs 25,000 JPEGs, Oxford-IIIT Pet 7,390 JPEGs, each
   about 500x375 (the sizes photos in both datasets typically have).  The
   pictures are synthetic (``tlcourse.standin``): a pool of distinct pictures
   per class is drawn and repeated over the files, so writing is quick while
   every file is still a real JPEG to decode;
2. per framework, in its own process (``harness``), on the GPU when there is
   one, through the adapter's public API only (``contract.adapter``), so the
   figures include what the course's own code does per batch (moving it to
   the GPU, eager Keras calls for inference):
   * each model's throughput on ready batches of random pictures (no input
     pipeline): inference (``probabilities``) and full training (every weight
     trainable, Adam, ``fit``): MobileNetV2 and EfficientNet-Lite0 with their
     offline ImageNet weights (``pretrained``), **VGG-16 and ResNet-50
     randomly initialised** (the adapter's plain network,
     ``contract.adapter(framework, "bench").plain_network``; their weights need
     internet; the arithmetic, hence the time, is the same);
   * each dataset's input pipeline alone (the course's ``make_loader``, training
     augmentation, the full profile's batch size and workers);
   * the lesson's pipeline end to end on each dataset with MobileNetV2: a
     frozen-base pass (base + new head, ``predict``) and fine-tuning (top
     blocks unfrozen by ``pets.unfreeze_top``, ``fit``), real loaders;
3. prints images/s and the time per epoch over each dataset's training split
   (estimated from the measured steady-state throughput), and an estimate of
   the full profile's training time per assignment (VGG-16 / ResNet-50 epochs
   from the profile, at the slower of their measured model throughput and the
   measured input pipeline).

``GPU_CHECK_SIZE=tiny`` does the same end to end on a CPU in about a minute
(a few images, 32 px, batch 2, 1 timed batch): the figures then only show
that the script works.  Environment: ``GPU_CHECK_DIR`` (where the stand-ins go;
default ``<cache>/bench/gpu_check/<size>``, kept for later runs),
``GPU_CHECK_WORKERS`` (loader workers; default the full profile's),
``GPU_CHECK_STEPS`` (timed batches per figure), ``GPU_CHECK_FRAMEWORKS``
(``torch,tf``), ``GPU_CHECK_MODELS``, ``GPU_CHECK_JSON`` (also write the
figures there as JSON).  A value it cannot use stops it with exit status 2.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from tlcourse.bench import harness, report
from tlcourse.bench.models import weights_status
from tlcourse.contract import FRAMEWORKS, adapter
from tlcourse.preprocess import MODELS

PETS_IMAGES = 7390       # Oxford-IIIT Pet: 7,390 images in 37 breeds (7,349 in the official lists)


@dataclasses.dataclass(frozen=True)
class Size:
    name: str
    cats_dogs: int          # images in all (half cats, half dogs)
    pets: int               # images in all, over 37 breeds
    pool: int               # distinct pictures drawn per class (then repeated)
    image_size: int         # model input
    batch: int
    steps: int              # timed batches per figure
    warmup: int
    workers: int | None     # None: the full profile's


SIZES = {
    "full": Size("full", 25_000, PETS_IMAGES, pool=48, image_size=224, batch=64, steps=30,
                 warmup=3, workers=None),
    "tiny": Size("tiny", 40, 74, pool=3, image_size=32, batch=2, steps=1, warmup=1, workers=0),
}
PHOTO_SIZES = ((500, 375), (375, 500), (500, 333), (500, 400), (400, 500), (500, 500),
               (333, 500), (450, 338))


class SettingError(ValueError):
    """A GPU_CHECK_* variable has a value the check cannot use (the message says which)."""


def _env_list(var: str, default: tuple[str, ...], known: tuple[str, ...]) -> list[str]:
    values = [v for v in os.environ.get(var, ",".join(default)).split(",") if v]
    unknown = [v for v in values if v not in known]
    if unknown or not values:
        raise SettingError(f"{var}={os.environ.get(var)!r}: use a comma-separated list of "
                           f"{', '.join(known)}")
    return values


def _env_int(var: str) -> int | None:
    text = os.environ.get(var)
    if not text:
        return None
    if not text.isdigit():
        raise SettingError(f"{var}={text!r}: use a whole number, e.g. {var}=2")
    return int(text)


def settings_from_env() -> tuple[Size, list[str], list[str]]:
    """(size, frameworks, models) from $GPU_CHECK_SIZE (default full, with
    $GPU_CHECK_STEPS and $GPU_CHECK_WORKERS applied), $GPU_CHECK_FRAMEWORKS and
    $GPU_CHECK_MODELS; ``SettingError`` names a bad value."""
    name = os.environ.get("GPU_CHECK_SIZE") or "full"
    if name not in SIZES:
        raise SettingError(f"GPU_CHECK_SIZE={name!r}: use one of {', '.join(SIZES)}")
    size = SIZES[name]
    steps, workers = _env_int("GPU_CHECK_STEPS"), _env_int("GPU_CHECK_WORKERS")
    if steps:
        size = dataclasses.replace(size, steps=steps)
    if workers is not None:
        size = dataclasses.replace(size, workers=workers)
    return (size, _env_list("GPU_CHECK_FRAMEWORKS", FRAMEWORKS, FRAMEWORKS),
            _env_list("GPU_CHECK_MODELS", MODELS, MODELS))


# --------------------------------------------------------------------------
# full-size stand-ins (real counts, layout and resolution)
# --------------------------------------------------------------------------
def _pool(looks, n, rng):
    from tlcourse import standin

    return [standin.picture_jpeg(looks[int(rng.integers(len(looks)))],
                                 PHOTO_SIZES[int(rng.integers(len(PHOTO_SIZES)))], rng)
            for _ in range(n)]


def write_cats_dogs(root: Path, images: int, pool: int, seed: int = 0) -> Path:
    """``PetImages/{Cat,Dog}/<n>.jpg`` as in kagglecatsanddogs_5340.zip, ~500x375 JPEGs."""
    import numpy as np

    from tlcourse import standin

    rng = np.random.default_rng(seed)
    for cls in ("Cat", "Dog"):
        folder = Path(root) / "PetImages" / cls
        folder.mkdir(parents=True, exist_ok=True)
        pictures = _pool(standin.CATS_DOGS_LOOKS[cls], pool, rng)
        for n in range(images // 2):
            (folder / f"{n}.jpg").write_bytes(pictures[n % pool])
    return Path(root)


def write_oxford_pets(root: Path, images: int, pool: int, seed: int = 0) -> Path:
    """``images/<Breed>_<n>.jpg`` and the annotation lists, as in the real archives."""
    import numpy as np

    from tlcourse import standin

    root = Path(root)
    rng = np.random.default_rng(seed + 1)
    looks = standin.pet_looks()
    rows = standin.pets_class_rows()
    per = [images // len(rows) + (1 if i < images % len(rows) else 0) for i in range(len(rows))]
    (root / "images").mkdir(parents=True, exist_ok=True)
    trainval, test = [], []
    for (name, class_id, species, breed_id), count in zip(rows, per):
        pictures = _pool([looks[name]], max(1, pool // 8), rng)
        for k in range(count):
            stem = f"{name}_{k + 1}"
            (root / "images" / f"{stem}.jpg").write_bytes(pictures[k % len(pictures)])
            (trainval if k % 2 == 0 else test).append(f"{stem} {class_id} {species} {breed_id}\n")
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    (ann / "trainval.txt").write_text("".join(trainval))
    (ann / "test.txt").write_text("".join(test))
    (ann / "list.txt").write_text(standin.LIST_HEADER + "".join(trainval + test))
    return root


def ensure_data(where: Path, size: Size, log=print) -> dict:
    """Write the two stand-ins under ``where`` (a TLCOURSE_CACHE) unless present."""
    from tlcourse import datasets, standin

    out = {}
    for name, writer, count in (("cats_dogs", write_cats_dogs, size.cats_dogs),
                                ("oxford_pets", write_oxford_pets, size.pets)):
        dest = Path(where) / "datasets" / "standin" / datasets.DATASETS[name][1]
        if dest.is_dir():
            out[name] = 0.0
            continue
        log(f"writing a {count:,}-image {name} stand-in (~500x375 JPEGs) to {dest} ...")
        start = time.perf_counter()
        standin.write_into(dest, writer, images=count, pool=size.pool)
        out[name] = time.perf_counter() - start
    return out


# --------------------------------------------------------------------------
# measurements, in one framework's process, through the adapter's public API
# --------------------------------------------------------------------------
def _device_name(tlc) -> str:
    device = str(tlc.device())
    if "cpu" in device.lower():
        return f"CPU ({os.cpu_count()} cores)"
    gpus = report.gpus()
    return f"{device}: {', '.join(gpus)}" if gpus else device


def model_throughput(framework: str, name: str, size: Size) -> dict:
    """Inference and full training (every weight trainable, Adam) on ready
    batches of random pictures, through ``probabilities`` and ``fit``: offline
    weights through ``pretrained``, the others randomly initialised."""
    import numpy as np

    from tlcourse.preprocess import get_preprocess

    tlc = adapter(framework)
    if weights_status(name, framework)[0] == "offline":
        net, prep = tlc.pretrained(name, trainable=True)
    else:
        net = adapter(framework, "bench").plain_network(name, image_size=size.image_size)
        prep = get_preprocess(name)
    prep = dataclasses.replace(prep, size=size.image_size)
    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (size.batch, size.image_size, size.image_size, 3), np.uint8)
    x = tlc.to_batch(prep, list(pictures))
    # fit first: it also puts the network where the course computes (the GPU)
    train = tlc.array_loader(np.concatenate([np.asarray(x)] * size.steps),
                             rng.integers(0, 1000, size.batch * size.steps), size.batch)
    # epoch 1 pays for start-up (tracing, cuDNN's choices); epoch 2 is the steady state
    history = tlc.fit(net, train, epochs=2, lr=1e-4, progress=False)
    infer = harness.time_interleaved({"infer": lambda: tlc.probabilities(net, x)},
                                     rounds=size.steps, warmup=size.warmup)["infer"]
    return {"inference_ips": harness.throughput(size.batch, infer),
            "train_ips": size.batch * size.steps / history["seconds"][-1],
            "params": tlc.count_params(net)[1]}


def _pipeline_ips(loader, size: Size, on_batch=None) -> float:
    """Images/s over ``size.steps`` batches after ``size.warmup`` (re-iterating if short)."""
    seen, start, it = 0, None, 0
    while True:
        for batch in loader:
            if on_batch is not None:
                on_batch(batch)
            it += 1
            if it == size.warmup:
                start = time.perf_counter()
            elif it > size.warmup:
                seen += int(batch[0].shape[0])
                if it >= size.warmup + size.steps:
                    return seen / (time.perf_counter() - start)


def dataset_throughput(framework: str, dname: str, size: Size, P) -> dict:
    """The lesson's pipeline on one dataset with MobileNetV2: the training
    loader alone, a frozen-base pass (base + new head, inference) and
    fine-tuning (top blocks unfrozen, ``fit``), all on the real loaders."""
    from tlcourse import datasets

    tlc = adapter(framework)
    start = time.perf_counter()
    data = datasets.load(dname, profile=P, progress=False)
    d = {"load_s": time.perf_counter() - start, "train": len(data.train), "val": len(data.val),
         "test": len(data.test), "classes": len(data.class_names)}
    base, prep = tlc.pretrained("mobilenet_v2", include_top=False)
    prep = dataclasses.replace(prep, size=size.image_size)
    train_loader = tlc.make_loader(data.train, prep, train=True, profile=P)
    d["pipeline_ips"] = _pipeline_ips(train_loader, size)

    model = tlc.with_new_head(base, len(data.class_names))
    eval_loader = tlc.make_loader(data.train, prep, train=False, profile=P, cache=False)
    d["frozen_ips"] = _pipeline_ips(eval_loader, size,
                                    on_batch=lambda batch: tlc.predict(model, [batch]))

    tlc.pets.unfreeze_top(base, P.finetune_blocks)
    # epoch 1 pays for start-up (workers, tracing); epoch 2 is the steady state
    history = tlc.fit(model, train_loader, epochs=2, lr=P.lr_finetune,
                      steps_per_epoch=size.steps, progress=False)
    d["finetune_ips"] = size.steps * size.batch / history["seconds"][-1]
    for key in ("pipeline", "frozen", "finetune"):
        d[f"{key}_epoch_s"] = d["train"] / d[f"{key}_ips"]
    return d


def measure(framework: str, size: dict, models=MODELS) -> dict:
    """Everything for one framework, in this process.  Run with TLCOURSE_CACHE
    pointing at the folder ``ensure_data`` wrote."""
    from tlcourse.profiles import get_profile

    sz = Size(**size)
    P = get_profile("full", data="standin", image_size=sz.image_size, batch_size=sz.batch,
                    **({} if sz.workers is None else {"num_workers": sz.workers}))
    out = {"framework": framework, "device": _device_name(adapter(framework)), "size": sz.name,
           "image_size": sz.image_size, "batch": sz.batch, "steps": sz.steps,
           "workers": P.num_workers, "models": {}, "datasets": {}}
    # one model or dataset failing must not hide the others
    for name in models:
        start = time.perf_counter()
        try:
            r = model_throughput(framework, name, sz)
        except Exception as exc:
            r = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        r["weights"] = "ImageNet (offline)" if weights_status(name, framework)[0] == "offline" \
            else "random init: throughput only"
        r["seconds"] = time.perf_counter() - start
        out["models"][name] = r
    for dname in ("cats_dogs", "oxford_pets"):
        try:
            out["datasets"][dname] = dataset_throughput(framework, dname, sz, P)
        except Exception as exc:
            out["datasets"][dname] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    out["estimates"] = estimates(out, P)
    return out


def estimates(result: dict, P=None) -> dict:
    """Full-profile training time per assignment, from the measured figures:
    each epoch at the slower of the model (VGG-16 / ResNet-50) and the pipeline."""
    from tlcourse.profiles import PROFILES

    full = P or PROFILES["full"]
    models, data = result.get("models", {}), result.get("datasets", {})

    def epoch(dataset, model, mode):
        d, m = data.get(dataset, {}), models.get(model, {})
        ips = [x for x in (d.get("pipeline_ips"), m.get(f"{mode}_ips")) if x]
        return d["train"] / min(ips) if ips and d.get("train") and len(ips) == 2 else None

    out = {}
    tl = [(full.epochs_head, epoch("cats_dogs", full.base_model, "inference")),
          (full.epochs_finetune, epoch("cats_dogs", full.base_model, "train"))]
    # the lab trains its head through the frozen base (no feature cache): inference passes
    pets = [(full.pets_epochs_head, epoch("oxford_pets", full.pets_base_model, "inference")),
            (full.pets_epochs_finetune, epoch("oxford_pets", full.pets_base_model, "train"))]
    for key, parts, model, what in (
            ("transfer_learning", tl, full.base_model,
             f"{full.epochs_head} frozen-base + {full.epochs_finetune} fine-tune epochs"),
            ("pets_lab", pets, full.pets_base_model,
             f"{full.pets_epochs_head} head + "
             f"{full.pets_epochs_finetune} fine-tune epochs")):
        if all(s is not None for _, s in parts):
            out[key] = {"model": model, "epochs": what,
                        "seconds": sum(n * s for n, s in parts)}
    return out


# --------------------------------------------------------------------------
# printing
# --------------------------------------------------------------------------
def _n(x, d=1):
    return "-" if x is None else f"{x:,.{d}f}"


MODEL_HEADER = (f"{'model':20} {'weights':30} {'params':>12} {'infer img/s':>12} "
                f"{'train img/s':>12}")
DATASET_HEADER = (f"{'dataset':12} {'train imgs':>10} {'scan s':>7} {'pipeline img/s':>15} "
                  f"{'frozen img/s':>13} {'fine-tune img/s':>16}  per epoch (train split): "
                  f"pipeline / frozen base / fine-tune, MobileNetV2")


def _model_figures(m: dict) -> str:
    return f"{m['params']:>12,} {_n(m['inference_ips']):>12} {_n(m['train_ips']):>12}"


def _dataset_figures(d: dict) -> str:
    return (f"{d.get('train', 0):>10,} {_n(d.get('load_s')):>7} {_n(d.get('pipeline_ips')):>15} "
            f"{_n(d.get('frozen_ips')):>13} {_n(d.get('finetune_ips')):>16}  "
            f"{_n(d.get('pipeline_epoch_s'))} s / {_n(d.get('frozen_epoch_s'))} s / "
            f"{_n(d.get('finetune_epoch_s'))} s")


def _line(label: str, record: dict, figures) -> str:
    return f"{label} " + (f"FAILED: {record['error']}" if record.get("error") else figures(record))


def render(results: list[dict], size: Size, data_s: dict) -> str:
    """The check's figures as text: per framework, models, datasets, estimates."""
    written = ", ".join(f"{k} {v:.0f} s" for k, v in data_s.items() if v)
    lines = [f"GPU check, size {size.name}: model input {size.image_size} px, batch "
             f"{size.batch}, {size.steps} timed batches per figure after {size.warmup} warm-up.",
             f"Stand-ins: Cats vs Dogs {size.cats_dogs:,} and Oxford-IIIT Pet {size.pets:,} "
             f"synthetic ~500x375 JPEGs ({'written now: ' + written if written else 'already written'})."]
    if size.name == "tiny":
        lines.append("TINY RUN: a handful of images at 32 px; the figures only show that "
                     "the check works, not what a GPU runner can do.")
    for r in results:
        lines += ["", f"== {report.fw(r['framework'])} on {r.get('device', '?')} "
                      f"(loader workers {r.get('workers', '?')})"]
        if r.get("error"):
            lines.append(f"FAILED: {r['error']}")
            continue
        lines.append(MODEL_HEADER)
        lines += [_line(f"{k:20} {m['weights']:30}", m, _model_figures)
                  for k, m in r.get("models", {}).items()]
        lines += ["", DATASET_HEADER]
        lines += [_line(f"{k:12}", d, _dataset_figures) for k, d in r.get("datasets", {}).items()]
        for key, e in r.get("estimates", {}).items():
            lines.append(f"estimate, {key} full profile ({e['model']}, {e['epochs']}): "
                         f"{e['seconds'] / 60:.1f} min of training (epochs at the slower of "
                         f"the model and the pipeline; evaluation and start-up not included)")
    return "\n".join(lines)


def main() -> int:
    from tlcourse import cache

    try:
        size, frameworks, models = settings_from_env()
    except SettingError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    where = Path(os.environ.get("GPU_CHECK_DIR") or
                 cache.cache_dir() / "bench" / "gpu_check" / size.name)
    print(f"gpu_check: size {size.name}, data in {where}", flush=True)
    harness.scratch_cache(where, share=(), fresh=("features",))
    data_s = ensure_data(where, size, log=lambda m: print(m, flush=True))
    env = harness.framework_homes_env()
    env["TLCOURSE_CACHE"] = str(where)
    results = []
    for fw in frameworks:
        print(f"gpu_check: measuring {fw} ...", flush=True)
        start = time.perf_counter()
        try:
            r = harness.call_in_subprocess("tlcourse.bench.gpu:measure",
                                           dict(framework=fw, size=dataclasses.asdict(size),
                                                models=models), env=env, timeout=3600)
        except harness.BenchError as exc:
            r = {"framework": fw, "error": str(exc)}
        r["seconds"] = time.perf_counter() - start
        results.append(r)
    print()
    print(render(results, size, data_s))
    if os.environ.get("GPU_CHECK_JSON"):
        Path(os.environ["GPU_CHECK_JSON"]).write_text(
            json.dumps({"size": dataclasses.asdict(size), "results": results}, indent=1))
    bad = [r["framework"] for r in results if r.get("error")
           or any(m.get("error") for m in r.get("models", {}).values())
           or any(d.get("error") for d in r.get("datasets", {}).values())]
    if bad:
        print(f"\ngpu_check: FAILED parts in {', '.join(bad)} (see above)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
