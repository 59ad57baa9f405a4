"""`tlcourse classify IMAGE... [--model NAME] [--framework torch|tf]`: top-5 per image.

Framework-neutral: the adapter is imported only when asked for, so one process
loads one framework (importing TensorFlow and then torchvision crashes).
"""
from __future__ import annotations

import importlib

from tlcourse.preprocess import MODELS

FRAMEWORKS = ("torch", "tf")


def adapter(framework: str):
    """``tlcourse.torch`` or ``tlcourse.tf``, imported on first use."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, not {framework!r}")
    return importlib.import_module(f"tlcourse.{framework}")


def classify(images, model: str = "mobilenet_v2", framework: str = "torch", k: int = 5,
             print_fn=print):
    """Print (and return) the k most probable ImageNet classes for each image."""
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; choose one of {', '.join(MODELS)}")
    images = [images] if isinstance(images, str) or not hasattr(images, "__iter__") else list(images)
    tlc = adapter(framework)
    net, prep = tlc.pretrained(model)
    results = tlc.predict_topk(net, prep, images, k=k)
    for image, top in zip(images, results):
        print_fn(f"{image}  ({model}, {framework})")
        for index, name, prob in top:
            print_fn(f"  {prob:7.2%}  {index:4d}  {name}")
    return results


def main(args) -> int:
    """The CLI entry: ``args.images``, ``args.model``, ``args.framework``, ``args.k``."""
    from tlcourse.assets import AssetError
    from tlcourse.images import UnreadableImage

    try:
        classify(args.images, model=args.model, framework=args.framework, k=args.k)
    except (AssetError, UnreadableImage, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}")
        return 1
    return 0
