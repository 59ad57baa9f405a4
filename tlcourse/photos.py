"""Real sample photos through the asset registry (offline: package and wheel files)."""
from __future__ import annotations

from pathlib import Path

from tlcourse import assets, catalog
from tlcourse.imagenet import DOG_CLASSES


def chelsea() -> Path:
    """Chelsea the tabby cat (scikit-image, CC0)."""
    return assets.fetch("photo_chelsea", progress=False)


def imagenet_samples() -> list[tuple[Path, int]]:
    """The 20 foolbox ImageNet photos with their true class index."""
    out = []
    for name in catalog.FOOLBOX_IMAGENET:
        path = assets.fetch("photo_" + name.rsplit(".", 1)[0], progress=False)
        out.append((path, int(name.rsplit(".", 1)[0].split("_")[-1])))
    return out


def dog_photos() -> list[tuple[Path, int]]:
    """The sample photos whose true class is a dog breed."""
    return [(p, c) for p, c in imagenet_samples() if c in DOG_CLASSES]
