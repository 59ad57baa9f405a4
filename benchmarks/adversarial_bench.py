"""Measures the adversarial-cat targets in one framework (one framework per process).

    TLCOURSE_PROFILE=smoke python benchmarks/adversarial_bench.py --framework torch
    TLCOURSE_PROFILE=smoke python benchmarks/adversarial_bench.py --framework tf

Prints the numbers recorded in benchmarks/adversarial.md."""
import argparse
import importlib
import time

import numpy as np

import tlcourse
from tlcourse import adversarial as adv, imagenet, photos

parser = argparse.ArgumentParser()
parser.add_argument("--framework", choices=["torch", "tf"], default="torch")
args = parser.parse_args()
tlc = importlib.import_module(f"tlcourse.{args.framework}")
P = tlcourse.get_profile()
CAT = list(imagenet.DOMESTIC_CAT_CLASSES)
model, prep = tlc.pretrained("mobilenet_v2")
second = tlc.pretrained("efficientnet_lite0")   # torch: own module; tf: the Keras port
print(f"framework {args.framework}, profile {P.name}, size {P.image_size}, "
      f"dream steps {P.dream_steps}, attack steps {P.attack_steps}")

for label, kw in (("pixels + TV 1.0", dict(image="pixels", tv_weight=1.0)),
                  ("pixels + TV + transforms", dict(image="pixels", tv_weight=1.0,
                                                    transforms=tlc.STANDARD_TRANSFORMS)),
                  ("fourier + decorrelation + transforms", dict(image="fourier",
                                                                transforms=tlc.STANDARD_TRANSFORMS))):
    g = tlc.grow_class_image(model, prep, CAT, steps=P.dream_steps, size=P.image_size,
                             progress=False, **kw)
    p2 = adv.class_prob(tlc.classify_pixels(*second, g.image), CAT)[0] if second else float("nan")
    print(f"ideal cat, {label:38s} p(cat) MobileNetV2 {g.prob:.3f}  EfficientNet-Lite0 {p2:.3f}  "
          f"{g.seconds:.1f} s")

dogs = [p for p, _ in photos.dog_photos()]
start = time.perf_counter()
results = tlc.attack_photos(model, prep, dogs, imagenet.TABBY,
                            ["1/255", "2/255", "4/255", "8/255"], steps=P.attack_steps,
                            progress=False)
print(f"\ntargeted attack -> tabby, {len(dogs)} dog photos, <= {P.attack_steps} steps of 1/255 "
      f"({time.perf_counter() - start:.1f} s)")
print(adv.format_table(adv.results_table(results)))
smallest = adv.smallest_working_eps(results)
print("smallest eps that works on every photo:", adv.eps_label(smallest) if smallest else "none")
for r in results:
    print(" ", r.summary())
if second:
    fooled = [tlc.classify_pixels(*second, r.adversarial)[0].argmax() == imagenet.TABBY
              for r in results]
    print(f"transfer to EfficientNet-Lite0: {np.mean(fooled):.0%} of {len(fooled)} "
          "adversarial images classified tabby")
