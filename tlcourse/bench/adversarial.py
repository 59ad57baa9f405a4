"""The adversarial-cat targets, measured in one framework (one framework per process).

    python -m tlcourse.bench.adversarial --framework torch     # prints the figures
    tlcourse bench adversarial                                 # both, into benchmarks/RESULTS.*

Uses only the public API (``tlcourse.adversarial`` and the adapters'
``grow_class_image``, ``attack_photos``, ``classify_pixels``) on MobileNetV2
with its offline ImageNet weights:

* ideal cat: an image grown from noise (raw pixels + total variation 1.0, the
  notebook's "ideal cat") at the profile's image size; p(cat) at the end, the
  first step at which p(cat) reached 0.9, and what EfficientNet-Lite0 (a second
  network) says of the same image;
* targeted attack: every offline dog photo pushed to "tabby" at each ε, steps
  of 1/255, at most the profile's ``attack_steps``; success rate and steps per ε;
* transfer: the share of those adversarial images EfficientNet-Lite0 also
  calls "tabby".
"""
from __future__ import annotations

import importlib
import math
import time

EPS = ("1/255", "2/255", "4/255", "8/255")
IDEAL_STEPS = 64          # the notebook's pixels + TV image uses 64 steps in smoke
TARGET_P = 0.9


def _steps_to(history, target: float = TARGET_P):
    return next((i + 1 for i, p in enumerate(history) if p >= target), None)


def measure(framework: str = "torch", ideal_steps: int = IDEAL_STEPS, eps=EPS,
            attack_steps: int | None = None, profile: str | None = None) -> dict:
    import numpy as np

    from tlcourse import adversarial as adv
    from tlcourse import imagenet, photos
    from tlcourse.profiles import get_profile

    tlc = importlib.import_module(f"tlcourse.{framework}")
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
            "ideal_cat": ideal, "attack": rows, "attack_steps": attack_steps,
            "attack_seconds": attack_seconds,
            "smallest_eps": adv.eps_label(smallest) if smallest else None,
            "transfer": {"fooled": int(sum(fooled)), "total": len(fooled),
                         "rate": float(np.mean(fooled)) if fooled else None},
            "photos": [getattr(p, "name", str(p)) for p in dogs],
            "seconds": time.perf_counter() - start}


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", choices=["torch", "tf"], default="torch")
    ap.add_argument("--ideal-steps", type=int, default=IDEAL_STEPS)
    args = ap.parse_args()
    print(json.dumps(measure(args.framework, args.ideal_steps), indent=1))
