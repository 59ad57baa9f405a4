"""`tlcourse attack IMAGE --target CLASS [--eps 4/255]`: one targeted attack from the command line.

Every argument is checked before the model loads; only the chosen framework is
imported (never both in one process).  Exit status: 0 the attack succeeded,
3 it did not within the steps, 2 a bad argument.
"""
from __future__ import annotations

from tlcourse.cli import checks
from tlcourse.contract import FRAMEWORKS, adapter
from tlcourse.preprocess import MODELS

ATTACK_FAILED = 3


def add_parser(sub):
    p = sub.add_parser("attack", help="targeted adversarial attack on one image")
    p.add_argument("image", help="image file (resized and centre-cropped to the model's size)")
    p.add_argument("--target", required=True, help="ImageNet class name or index, e.g. tabby")
    p.add_argument("--eps", default="4/255", help="L-infinity budget in pixel levels (4/255)")
    p.add_argument("--steps", type=int, default=20, help="most projected steps (default 20)")
    p.add_argument("--framework", choices=FRAMEWORKS, default="torch")
    p.add_argument("--model", default="mobilenet_v2", help=f"one of {', '.join(MODELS)}")
    p.add_argument("--out", default=None, help="write the adversarial image here (PNG)")
    return p


def run(args) -> int:
    from tlcourse import adversarial, imagenet

    image = checks.image_file(args.image)
    target = checks.imagenet_class(args.target)
    eps = checks.epsilon(args.eps)
    checks.int_in_range(args.steps, "--steps", 1, 10_000)
    checks.model_name(args.model)
    out = checks.output_file(args.out)

    tlc = adapter(args.framework)
    model, prep = tlc.pretrained(args.model)
    result = tlc.targeted_attack(model, prep, str(image), target, eps, args.steps)
    names = imagenet.class_names()
    print(f"framework {args.framework}, model {args.model}, image {image}")
    print(f"before: {names[result.start_class]} p={result.start_prob:.3f}")
    print(f"after:  {names[result.final_class]} p={result.final_prob:.3f} "
          f"(target {names[target]} p={result.target_prob:.3f})")
    print(f"{'SUCCESS' if result.success else 'FAILED'} after {result.steps} steps "
          f"(at most {args.steps}); eps {adversarial.eps_label(eps)}; perturbation "
          f"L_inf {result.linf * 255:.1f}/255, L2 {result.l2:.3f} (pixels in [0, 1])")
    if out:
        from PIL import Image

        from tlcourse.cache import atomic_path
        pixels = (result.adversarial * 255).round().clip(0, 255).astype("uint8")
        with atomic_path(out) as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")
        print(f"adversarial image ({pixels.shape[1]}x{pixels.shape[0]}, lossless PNG) -> {out}")
    return 0 if result.success else ATTACK_FAILED
