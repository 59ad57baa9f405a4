"""``tlcourse bench adversarial``: the adversarial-cat targets, per framework.

Uses only the public API (``tlcourse.adversarial`` and the adapters'
``grow_class_image``, ``attack_photos``, ``classify_pixels``) on MobileNetV2
with its offline ImageNet weights, each framework in its own process
(``harness``):

* ideal cat: an image grown from noise (raw pixels + total variation 1.0, the
  notebook's "ideal cat") at the profile's image size; p(cat) at the end, the
  first step at which p(cat) reached 0.9, and what EfficientNet-Lite0 (a second
  network) says of the same image;
* ideal images that transfer: the cat and the zebra grown with the core's
  ``TRANSFERABLE`` recipe (Fourier + colour decorrelation + transforms) for
  each of three seeds; the probability of the target group on both networks,
  its median and spread over the seeds on EfficientNet-Lite0 (target: median
  >= 0.85), and the seconds per image (target: <= 20 s on 2 cores), with the
  load average at the time;
* targeted attack: every offline dog photo pushed to "tabby" at each ε, steps
  of 1/255, at most the profile's ``attack_steps``; success rate and steps per ε;
* transfer: the share of those adversarial images EfficientNet-Lite0 also
  calls "tabby".
"""
from __future__ import annotations

import math
import time

from tlcourse.bench import harness
from tlcourse.bench.report import part_status
from tlcourse.contract import adapter

EPS = ("1/255", "2/255", "4/255", "8/255")
IDEAL_STEPS = 64          # the notebook's pixels + TV image uses 64 steps in smoke
TARGET_P = 0.9
SEEDS = (0, 1, 2)
SECOND_TARGET = 0.85      # median p(target group) on EfficientNet-Lite0 over SEEDS
SECONDS_TARGET = 20.0     # per image, on 2 cores


def _steps_to(history, target: float = TARGET_P):
    return next((i + 1 for i, p in enumerate(history) if p >= target), None)


CLASSES = ("cat", "zebra")


def transferable_images(framework: str = "torch", classes=CLASSES, seeds=SEEDS) -> list[dict]:
    """The ideal images of ``classes`` ("cat": the five domestic cats, "zebra")
    grown on MobileNetV2 with ``adversarial.TRANSFERABLE`` for each seed, at
    the recipe's size, judged by MobileNetV2 and
    EfficientNet-Lite0: one row per class.  Run it in the framework's own process."""
    import os

    import numpy as np

    from tlcourse import adversarial as adv
    from tlcourse import imagenet
    tlc = adapter(framework)
    first, second = tlc.pretrained("mobilenet_v2"), tlc.pretrained("efficientnet_lite0")
    targets = {"cat": list(imagenet.DOMESTIC_CAT_CLASSES), "zebra": [imagenet.ZEBRA]}
    unknown = [c for c in classes if c not in targets]
    if unknown:
        raise ValueError(f"ideal image classes {unknown}: choose from {sorted(targets)}")
    rows = []
    for name in classes:
        target, runs = targets[name], []
        for seed in seeds:
            cpu = time.process_time()
            g = tlc.grow_class_image(*first, target, seed=seed, progress=False,
                                     label=f"{name} seed {seed}", **adv.TRANSFERABLE.kwargs())
            runs.append({"seed": seed, "p_first": float(g.prob),
                         "p_second": float(adv.class_prob(tlc.classify_pixels(*second, g.image),
                                                          target)[0]),
                         "seconds": float(g.seconds), "cpu_seconds": time.process_time() - cpu,
                         "load": os.getloadavg()[0]})
        second_p = [r["p_second"] for r in runs]
        slowest = max(r["seconds"] for r in runs)
        rows.append({"class": name, "steps": adv.TRANSFERABLE.steps,
                     "size": adv.TRANSFERABLE.size, "runs": runs,
                     "median_second": float(np.median(second_p)), "min_second": min(second_p),
                     "max_second": max(second_p),
                     "median_first": float(np.median([r["p_first"] for r in runs])),
                     "max_seconds": slowest,
                     "median_met": bool(np.median(second_p) >= SECOND_TARGET),
                     "time_met": slowest <= SECONDS_TARGET})
    return rows


def measure(framework: str = "torch", ideal_steps: int = IDEAL_STEPS, eps=EPS,
            attack_steps: int | None = None, profile: str | None = None) -> dict:
    """In the framework's own process: the figures of one row."""
    import numpy as np

    from tlcourse import adversarial as adv
    from tlcourse import imagenet, photos
    from tlcourse.profiles import get_profile

    tlc = adapter(framework)
    P = get_profile(profile)
    attack_steps = attack_steps or P.attack_steps
    cat = list(imagenet.DOMESTIC_CAT_CLASSES)
    start = time.perf_counter()
    model, prep = tlc.pretrained("mobilenet_v2")
    second = tlc.pretrained("efficientnet_lite0")

    g = tlc.grow_class_image(model, prep, cat, image="pixels", tv_weight=1.0,
                             steps=ideal_steps, size=P.image_size, progress=False)
    p_second = float(adv.class_prob(tlc.classify_pixels(*second, g.image), cat)[0])
    ideal = {"image": "pixels + TV 1.0", "size": P.image_size, "steps": ideal_steps,
             "p_cat": float(g.prob), "steps_to_target": _steps_to(g.history),
             "p_cat_second": p_second, "seconds": float(g.seconds)}
    transferable = transferable_images(framework)

    dogs = [p for p, _ in photos.dog_photos()]
    t0 = time.perf_counter()
    results = tlc.attack_photos(model, prep, dogs, imagenet.TABBY, list(eps), steps=attack_steps,
                                progress=False)
    attack_seconds = time.perf_counter() - t0
    rows = []
    for r in adv.results_table(results):
        rows.append({k: (None if isinstance(v, float) and math.isnan(v) else v)
                     for k, v in r.items()})
    smallest = adv.smallest_working_eps(results)
    fooled = [int(np.argmax(tlc.classify_pixels(*second, r.adversarial)[0])) == imagenet.TABBY
              for r in results]
    return {"framework": framework, "status": "ok", "profile": P.name,
            "ideal_cat": ideal, "ideal_transferable": transferable, "attack": rows, "attack_steps": attack_steps,
            "attack_seconds": attack_seconds,
            "smallest_eps": adv.eps_label(smallest) if smallest else None,
            "transfer": {"fooled": int(sum(fooled)), "total": len(fooled),
                         "rate": float(np.mean(fooled)) if fooled else None},
            "photos": [getattr(p, "name", str(p)) for p in dogs],
            "seconds": time.perf_counter() - start}



def transferable_lines(rows: list[dict]) -> list[str]:
    """One line per class of ``transferable_images``: median and spread over the
    seeds on the second network, and the slowest image."""
    return [f"ideal {r['class']} ({r['steps']} steps, {r['size']} px): EfficientNet-Lite0 "
            f"median {r['median_second']:.3f} (min {r['min_second']:.3f}, max "
            f"{r['max_second']:.3f}) over seeds {[x['seed'] for x in r['runs']]}; "
            f"MobileNetV2 median {r['median_first']:.3f}; slowest image "
            f"{r['max_seconds']:.1f} s at load {max(x['load'] for x in r['runs']):.1f}; "
            f"median >= {SECOND_TARGET}: {'met' if r['median_met'] else 'NOT MET'}; "
            f"<= {SECONDS_TARGET:.0f} s an image: {'met' if r['time_met'] else 'NOT MET'}"
            for r in rows]


def run(opts) -> dict:
    """The adversarial part: one row per framework of ``opts``, at its profile."""
    rows = []
    for fw in opts.frameworks:
        harness.log(f"adversarial: {fw} ...")
        try:
            r = harness.call_in_subprocess("tlcourse.bench.adversarial:measure",
                                           dict(framework=fw, profile=opts.profile), timeout=3600)
            harness.log(f"adversarial: {fw}: ideal cat p={r['ideal_cat']['p_cat']:.3f}, "
                        f"transfer {r['transfer']['fooled']}/{r['transfer']['total']}")
            for line in transferable_lines(r["ideal_transferable"]):
                harness.log(f"adversarial: {fw}: {line}")
        except harness.BenchError as exc:
            r = {"framework": fw, "status": "failed", "error": exc.summary}
            harness.log(f"adversarial: {fw}: FAILED {exc}")
        rows.append(r)
    notes = ["MobileNetV2 with torchvision's ImageNet weights in both frameworks (the Keras "
             "model is the port of the same file); EfficientNet-Lite0 as the second network. "
             "Dog photos: the offline ImageNet sample photos whose class is a dog breed."]
    transferable = [f"- {r['framework']}: {line}" for r in rows if r["status"] == "ok"
                    for line in transferable_lines(r["ideal_transferable"])]
    if transferable:
        notes.insert(0, "Ideal images that transfer (the core's TRANSFERABLE recipe; "
                        "probability of the target group, median and spread over the seeds):\n\n"
                     + "\n".join(transferable))
    return {"status": part_status(rows), "rows": rows, "notes": notes}
