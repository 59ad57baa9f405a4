"""`tlcourse attack IMAGE --target CLASS`: one targeted attack from the command line.

Only the chosen framework is imported (never both in one process)."""
from __future__ import annotations

import importlib


def main(args) -> int:
    from tlcourse import adversarial, imagenet

    target = imagenet.parse_class(args.target)
    eps = adversarial.parse_eps(args.eps)
    tlc = importlib.import_module(f"tlcourse.{args.framework}")   # one framework only
    model, prep = tlc.pretrained(args.model)
    result = tlc.targeted_attack(model, prep, args.image, target, eps, args.steps)
    names = imagenet.class_names()
    print(f"framework {args.framework}, model {args.model}, image {args.image}")
    print(f"before: {names[result.start_class]} p={result.start_prob:.3f}")
    print(f"after:  {names[result.final_class]} p={result.final_prob:.3f} "
          f"(target {names[target]} p={result.target_prob:.3f})")
    print(f"{'SUCCESS' if result.success else 'FAILED'} after {result.steps} steps "
          f"(at most {args.steps}); eps {adversarial.eps_label(eps)}; perturbation "
          f"L_inf {result.linf * 255:.1f}/255, L2 {result.l2:.3f} (pixels in [0, 1])")
    if args.out:
        from PIL import Image

        from tlcourse.cache import atomic_path
        pixels = (result.adversarial * 255).round().clip(0, 255).astype("uint8")
        with atomic_path(args.out) as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")
        print(f"adversarial image ({pixels.shape[1]}x{pixels.shape[0]}, lossless PNG) -> {args.out}")
    return 0 if result.success else 2
