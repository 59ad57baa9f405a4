"""`tlcourse classify IMAGE... [--model NAME] [--framework torch|tf] [-k N]`: top-k per image.

The adapter is imported only when asked for, so one process loads one framework
(importing TensorFlow and then torchvision crashes).
"""
from __future__ import annotations

from tlcourse.cli.checks import image_file, int_in_range, model_name
from tlcourse.contract import FRAMEWORKS, adapter
from tlcourse.preprocess import MODELS


def add_parser(sub):
    p = sub.add_parser("classify", help="top-5 ImageNet classes for each image")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--model", default="mobilenet_v2", help=f"one of {', '.join(MODELS)}")
    p.add_argument("--framework", default="torch", choices=FRAMEWORKS)
    p.add_argument("-k", type=int, default=5, help="how many classes to show (1-1000)")
    return p


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


def run(args) -> int:
    # every argument is checked before a model loads
    model_name(args.model)
    int_in_range(args.k, "-k", 1, 1000)
    images = [str(image_file(i)) for i in args.images]
    classify(images, model=args.model, framework=args.framework, k=args.k)
    return 0
