"""Will the full profile fit a GPU runner?  ``benchmarks/gpu_check.sh`` runs this.

One short, offline run on the machine in question (a CUDA GPU, no internet):

1. writes full-size stand-ins with the real datasets' image counts, layout and
   resolution: Cats vs Dogs 25,000 JPEGs, Oxford-IIIT Pet 7,390 JPEGs, each
   about 500x375 (the sizes photos in both datasets typically have).  The
   pictures are synthetic (``tlcourse.standin``): a pool of distinct pictures
   per class is drawn and repeated over the files, so writing is quick while
   every file is still a real JPEG to decode;
2. per framework, in its own process, on the GPU when there is one:
   * each model's throughput on ready batches (no input pipeline), inference and
     one full training step (every weight trainable, Adam): MobileNetV2 and
     EfficientNet-Lite0 with their offline ImageNet weights, **VGG-16 and
     ResNet-50 randomly initialised** (their weights need internet; the
     arithmetic, hence the time, is the same; the accuracy is meaningless);
   * each dataset's input pipeline alone (the course's ``make_loader``, training
     augmentation, the full profile's batch size and workers);
   * the lesson's pipeline end to end on each dataset with MobileNetV2: a frozen-base
     pass (feature extraction) and fine-tuning (new head, top blocks unfrozen,
     the course's ``fit``), real loaders;
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
figures there as JSON).
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

MODELS = ("mobilenet_v2", "efficientnet_lite0", "vgg16", "resnet50")
OFFLINE = ("mobilenet_v2", "efficientnet_lite0")
FRAMEWORKS = ("torch", "tf")
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


def size_from_env(name: str | None = None) -> Size:
    """The size named (default $GPU_CHECK_SIZE, else full), with $GPU_CHECK_STEPS and
    $GPU_CHECK_WORKERS applied."""
    name = name or os.environ.get("GPU_CHECK_SIZE") or "full"
    if name not in SIZES:
        raise SystemExit(f"GPU_CHECK_SIZE={name!r}: use one of {', '.join(SIZES)}")
    size = SIZES[name]
    if os.environ.get("GPU_CHECK_STEPS"):
        size = dataclasses.replace(size, steps=int(os.environ["GPU_CHECK_STEPS"]))
    if os.environ.get("GPU_CHECK_WORKERS"):
        size = dataclasses.replace(size, workers=int(os.environ["GPU_CHECK_WORKERS"]))
    return size


# --------------------------------------------------------------------------
# full-size stand-ins (real counts, layout and resolution)
# --------------------------------------------------------------------------
def _pool(looks, n, rng):
    from tlcourse import standin

    return [standin._jpeg_bytes(standin._animal(looks[int(rng.integers(len(looks)))],
                                                PHOTO_SIZES[int(rng.integers(len(PHOTO_SIZES)))],
                                                rng), rng) for _ in range(n)]


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
# measurements, in one framework's process
# --------------------------------------------------------------------------
def _timed(step, warmup: int, steps: int, sync) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls (``sync`` waits for the device)."""
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps


class _Torch:
    name = "torch"

    def __init__(self):
        import torch

        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            self.device_name = torch.cuda.get_device_name(0)
        else:
            self.device_name = f"CPU ({torch.get_num_threads()} threads)"

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def model(self, name: str):
        import torchvision

        from tlcourse import torch as tlc
        if name in OFFLINE:
            return tlc.pretrained(name)[0]
        return getattr(torchvision.models, name)(weights=None)

    def model_throughput(self, name: str, size: Size) -> dict:
        torch = self.torch
        net = self.model(name).to(self.device)
        x = torch.randn(size.batch, 3, size.image_size, size.image_size, device=self.device)
        y = torch.randint(0, 1000, (size.batch,), device=self.device)
        net.eval()

        def infer():
            with torch.inference_mode():
                net(x)
        t_inf = _timed(infer, size.warmup, size.steps, self.sync)
        for p in net.parameters():
            p.requires_grad_(True)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)

        def train():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        t_train = _timed(train, size.warmup, size.steps, self.sync)
        params = sum(p.numel() for p in net.parameters())
        del net, opt
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return {"inference_ips": size.batch / t_inf, "train_ips": size.batch / t_train,
                "params": params}

    def to_device(self, model):
        return model.to(self.device)

    def unfreeze(self, base, top):
        for m in top:
            for p in m.parameters():
                p.requires_grad_(True)


class _TF:
    name = "tf"

    def __init__(self):
        import tensorflow as tf

        self.tf = tf
        gpus = tf.config.list_physical_devices("GPU")
        for g in gpus:
            try:
                tf.config.experimental.set_memory_growth(g, True)
            except (RuntimeError, ValueError):
                pass
        self.device_name = ", ".join(g.name for g in gpus) or "CPU"

    def sync(self):
        pass        # every step below ends in .numpy() or a float, which waits

    def model(self, name: str, size: Size):
        import keras

        from tlcourse import tf as tlc
        if name in OFFLINE:
            return tlc.pretrained(name)[0]
        shape = (size.image_size, size.image_size, 3)
        builder = {"vgg16": keras.applications.VGG16,
                   "resnet50": keras.applications.ResNet50}[name]
        return builder(weights=None, input_shape=shape, classifier_activation=None)

    def model_throughput(self, name: str, size: Size) -> dict:
        import keras

        tf = self.tf
        net = self.model(name, size)
        x = tf.random.normal((size.batch, size.image_size, size.image_size, 3))
        y = tf.random.uniform((size.batch,), 0, 1000, dtype=tf.int64)
        # traced graphs, as Keras' fit runs them; eager in a tiny run (tracing a
        # training step costs a minute on a small CPU, more than the whole run)
        compiled = size.name != "tiny"
        forward = tf.function(lambda b: net(b, training=False)) if compiled else \
            (lambda b: net(b, training=False))
        t_inf = _timed(lambda: forward(x).numpy(), size.warmup, size.steps, self.sync)
        net.trainable = True
        opt = keras.optimizers.Adam(1e-4)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def step(b, labels):
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, net(b, training=True))
            grads = tape.gradient(loss, net.trainable_variables)
            opt.apply_gradients(zip(grads, net.trainable_variables))
            return loss
        if compiled:
            step = tf.function(step)
        t_train = _timed(lambda: float(step(x, y)), size.warmup, size.steps, self.sync)
        params = int(sum(int(tf.size(v)) for v in net.weights))
        keras.backend.clear_session()
        return {"inference_ips": size.batch / t_inf, "train_ips": size.batch / t_train,
                "params": params}

    def to_device(self, model):
        return model

    def unfreeze(self, base, top):
        """As the notebook's solution does: base trainable, then only the top blocks."""
        base.trainable = True
        for layer in base.layers:
            layer.trainable = layer in top


def _pipeline_ips(loader, size: Size, on_batch=None) -> float:
    """Images/s over ``size.steps`` batches after ``size.warmup`` (re-iterating if short)."""
    seen, start, it = 0, None, 0
    while True:
        for x, _ in loader:
            if on_batch is not None:
                on_batch(x)
            it += 1
            if it == size.warmup:
                start = time.perf_counter()
            elif it > size.warmup:
                seen += int(x.shape[0])
                if it >= size.warmup + size.steps:
                    return seen / (time.perf_counter() - start)


def measure(framework: str, size: str = "full", models=MODELS) -> dict:
    """Everything for one framework, in this process.  Run with TLCOURSE_CACHE
    pointing at the folder ``ensure_data`` wrote."""
    import importlib

    from tlcourse import datasets
    from tlcourse.profiles import get_profile

    sz = size_from_env(size)
    fw = _Torch() if framework == "torch" else _TF()
    tlc = importlib.import_module(f"tlcourse.{framework}")
    P = get_profile("full", data="standin", image_size=sz.image_size, batch_size=sz.batch,
                    **({} if sz.workers is None else {"num_workers": sz.workers}))
    out = {"framework": framework, "device": fw.device_name, "size": sz.name,
           "image_size": sz.image_size, "batch": sz.batch, "steps": sz.steps,
           "workers": P.num_workers, "models": {}, "datasets": {}}

    for name in models:
        start = time.perf_counter()
        try:
            r = fw.model_throughput(name, sz)
        except Exception as exc:   # one model failing must not hide the others
            r = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        r["weights"] = "ImageNet (offline)" if name in OFFLINE else \
            "random init: throughput only"
        r["seconds"] = time.perf_counter() - start
        out["models"][name] = r

    for dname in ("cats_dogs", "oxford_pets"):
        d = {}
        try:
            start = time.perf_counter()
            data = datasets.load(dname, profile=P, progress=False)
            d["load_s"] = time.perf_counter() - start
            d.update(train=len(data.train), val=len(data.val), test=len(data.test),
                     classes=len(data.class_names))
            base, prep = tlc.pretrained("mobilenet_v2", include_top=False)
            prep = dataclasses.replace(prep, size=sz.image_size)
            train_loader = tlc.make_loader(data.train, prep, train=True, profile=P)
            d["pipeline_ips"] = _pipeline_ips(train_loader, sz)

            base = fw.to_device(base)
            eval_loader = tlc.make_loader(data.train, prep, train=False, profile=P, cache=False)
            if framework == "torch":
                import torch

                def feed(x):
                    with torch.inference_mode():
                        base(x.to(fw.device, non_blocking=True)).float().cpu()
            else:
                f = fw.tf.function(lambda b: base(b, training=False))

                def feed(x):
                    f(x).numpy()
            d["frozen_ips"] = _pipeline_ips(eval_loader, sz, on_batch=feed)

            model = fw.to_device(tlc.with_new_head(base, len(data.class_names)))
            fw.unfreeze(base, tlc.top_layers(base, P.finetune_blocks))
            # epoch 1 pays for start-up (workers, tracing); epoch 2 is the steady state
            hist = tlc.fit(model, train_loader, epochs=2, lr=P.lr_finetune,
                           steps_per_epoch=sz.steps, progress=False)
            seconds = hist["seconds"][-1]
            d["finetune_ips"] = sz.steps * sz.batch / seconds if seconds else None
            for key, ips in (("pipeline", "pipeline_ips"), ("frozen", "frozen_ips"),
                             ("finetune", "finetune_ips")):
                if d.get(ips):
                    d[f"{key}_epoch_s"] = d["train"] / d[ips]
        except Exception as exc:
            d["error"] = f"{type(exc).__name__}: {exc}"[:300]
        out["datasets"][dname] = d
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
    pets = [(full.pets_epochs_scratch, epoch("oxford_pets", full.pets_base_model, "train")),
            (full.pets_epochs_head, epoch("oxford_pets", full.pets_base_model, "inference")),
            (full.pets_epochs_finetune, epoch("oxford_pets", full.pets_base_model, "train"))]
    for key, parts, model, what in (
            ("transfer_learning", tl, full.base_model,
             f"{full.epochs_head} frozen-base + {full.epochs_finetune} fine-tune epochs"),
            ("pets_lab", pets, full.pets_base_model,
             f"{full.pets_epochs_scratch} scratch + {full.pets_epochs_head} head + "
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


def report(results: list[dict], size: Size, data_s: dict) -> str:
    lines = [f"GPU check, size {size.name}: model input {size.image_size} px, batch "
             f"{size.batch}, {size.steps} timed batches per figure after {size.warmup} warm-up.",
             f"Stand-ins: Cats vs Dogs {size.cats_dogs:,} and Oxford-IIIT Pet {size.pets:,} "
             f"synthetic ~500x375 JPEGs ({'written now: ' + ', '.join(f'{k} {v:.0f} s' for k, v in data_s.items() if v) if any(data_s.values()) else 'already written'})."]
    if size.name == "tiny":
        lines.append("TINY RUN: a handful of images at 32 px; the figures only show that "
                     "the check works, not what a GPU runner can do.")
    for r in results:
        lines += ["", f"== {FRAMEWORK_NAMES.get(r['framework'], r['framework'])} on "
                      f"{r.get('device', '?')} (loader workers {r.get('workers', '?')})"]
        if r.get("error"):
            lines.append(f"FAILED: {r['error']}")
            continue
        lines.append(f"{'model':20} {'weights':30} {'params':>12} {'infer img/s':>12} "
                     f"{'train img/s':>12}")
        for name, m in r.get("models", {}).items():
            if m.get("error"):
                lines.append(f"{name:20} {m['weights']:30} FAILED: {m['error']}")
                continue
            lines.append(f"{name:20} {m['weights']:30} {m['params']:>12,} "
                         f"{_n(m['inference_ips']):>12} {_n(m['train_ips']):>12}")
        lines.append("")
        lines.append(f"{'dataset':12} {'train imgs':>10} {'scan s':>7} {'pipeline img/s':>15} "
                     f"{'frozen img/s':>13} {'fine-tune img/s':>16}  per epoch (train split): "
                     f"pipeline / frozen base / fine-tune, MobileNetV2")
        for name, d in r.get("datasets", {}).items():
            if d.get("error"):
                lines.append(f"{name:12} FAILED: {d['error']}")
                continue
            lines.append(f"{name:12} {d.get('train', 0):>10,} {_n(d.get('load_s')):>7} "
                         f"{_n(d.get('pipeline_ips')):>15} {_n(d.get('frozen_ips')):>13} "
                         f"{_n(d.get('finetune_ips')):>16}  {_n(d.get('pipeline_epoch_s'))} s / "
                         f"{_n(d.get('frozen_epoch_s'))} s / {_n(d.get('finetune_epoch_s'))} s")
        for key, e in r.get("estimates", {}).items():
            lines.append(f"estimate, {key} full profile ({e['model']}, {e['epochs']}): "
                         f"{e['seconds'] / 60:.1f} min of training (epochs at the slower of "
                         f"the model and the pipeline; evaluation and start-up not included)")
    return "\n".join(lines)


FRAMEWORK_NAMES = {"torch": "PyTorch", "tf": "TensorFlow"}


def main() -> int:
    from tlcourse import cache
    from tlcourse.bench import harness as bench

    size = size_from_env()
    frameworks = [f for f in os.environ.get("GPU_CHECK_FRAMEWORKS", "torch,tf").split(",") if f]
    models = [m for m in os.environ.get("GPU_CHECK_MODELS", ",".join(MODELS)).split(",") if m]
    where = Path(os.environ.get("GPU_CHECK_DIR") or
                 cache.cache_dir() / "bench" / "gpu_check" / size.name)
    print(f"gpu_check: size {size.name}, data in {where}", flush=True)
    bench.scratch_cache(where, share=(), fresh=("features",))
    data_s = ensure_data(where, size, log=lambda m: print(m, flush=True))
    env = bench.framework_homes_env()
    env["TLCOURSE_CACHE"] = str(where)
    results = []
    for fw in frameworks:
        print(f"gpu_check: measuring {fw} ...", flush=True)
        start = time.perf_counter()
        try:
            r = bench.call_in_subprocess("tlcourse.bench.gpu", "measure",
                                         dict(framework=fw, size=size.name, models=models),
                                         env=env, timeout=3600)
        except bench.BenchError as exc:
            r = {"framework": fw, "error": str(exc)}
        r["seconds"] = time.perf_counter() - start
        results.append(r)
    text = report(results, size, data_s)
    print()
    print(text)
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
