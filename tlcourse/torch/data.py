"""PyTorch input pipeline for a ``tlcourse.datasets.Split`` (same names as ``tlcourse.tf.data``).

    data = datasets.cats_dogs()
    model, prep = pretrained("mobilenet_v2", include_top=False)
    train = make_loader(data.train, prep, train=True)      # (N,3,H,W) float32, (N,) int64
    test = make_loader(data.test, prep, train=False)

Training: torchvision's RandomResizedCrop + RandomHorizontalFlip, then the
model's normalisation.  Evaluation: exactly ``to_batch`` (shorter side to
size/crop_fraction, centre crop, normalise), so evaluation batches match the
TensorFlow pipeline's and the models' own preprocessing.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2 as T

from tlcourse import plots
from tlcourse.contract import PUBLIC_API, loader_defaults
from tlcourse.datasets import Split, load_split_image
from tlcourse.images import UnreadableImage
from tlcourse.preprocess import Preprocess, pixels_array
from tlcourse.messages import _

__all__ = [*PUBLIC_API["data"], "SplitDataset", "torchvision_pets"]


class _ToInput:
    """PIL image -> normalised float32 CHW tensor.

    Normalised in numpy (``Preprocess.normalize_array``, the reference both
    adapters agree with): per-image torch ops in the main process run on
    several intra-op threads and were 3-5x slower on a 2-core CPU.
    ``crop`` resizes and centre-crops exactly as ``to_batch`` does (evaluation).
    A class, not a lambda, so DataLoader workers can pickle it."""

    def __init__(self, preprocess: Preprocess, crop: bool):
        self.preprocess, self.crop = preprocess, crop

    def __call__(self, im) -> torch.Tensor:
        if self.crop:
            x01 = pixels_array(self.preprocess, im)[0]
        else:
            x01 = np.asarray(im, dtype=np.float32) / 255.0
        x = self.preprocess.normalize_array(x01, channels_last=True)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def make_transform(preprocess: Preprocess, train: bool):
    """PIL image -> normalised float32 CHW tensor; random crop + flip when ``train``."""
    if train:
        # torchvision's augmentation on the PIL image, then the same conversion as evaluation
        return T.Compose([T.RandomResizedCrop(preprocess.size, antialias=True),
                          T.RandomHorizontalFlip(),
                          _ToInput(preprocess, crop=False)])
    return _ToInput(preprocess, crop=True)


class SplitDataset(Dataset):
    """(image tensor, label) pairs of a Split; images read with ``load_rgb``
    (grayscale, CMYK, RGBA and palette files converted to RGB).  A file that
    cannot be read any more gives None, which the loader's batches leave out
    (``datasets.load_split_image`` notes it in the scan report)."""

    def __init__(self, split: Split, transform, cache: bool = False):
        self.split, self.transform = split, transform
        self._cache = {} if cache else None

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        if self._cache is not None and i in self._cache:
            x = self._cache[i]
        else:
            im = load_split_image(self.split, self.split.paths[i])
            if im is None:
                return None
            x = self.transform(im)
            if self._cache is not None:
                self._cache[i] = x
        return x, self.split.labels[i]


def make_loader(split: Split, preprocess: Preprocess, train: bool, batch_size: int | None = None,
                shuffle: bool | None = None, num_workers: int | None = None, seed: int = 0,
                cache: bool | None = None, profile=None) -> DataLoader:
    """Batches of (float32 NCHW input, int64 labels) from ``split``.

    ``train`` picks the augmentation (and shuffling, unless ``shuffle`` says
    otherwise).  ``batch_size`` and ``num_workers`` default to the profile's.
    ``cache`` keeps evaluation images in memory after their first read (off
    for training, whose crops change every epoch; default: on for evaluation
    when the split is small, under 4,000 images).  Pinned memory when a GPU exists.
    ``loader.standin`` says whether the split is stand-in data (``fit`` records it).
    """
    prof, batch_size, shuffle, cache = loader_defaults(split, train, batch_size, shuffle, cache,
                                                       profile)
    num_workers = prof.num_workers if num_workers is None else num_workers
    # a per-worker cache would be filled once per worker: only cache in-process
    ds = SplitDataset(split, make_transform(preprocess, train), cache=cache and num_workers == 0)
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                        pin_memory=torch.cuda.is_available(), generator=gen,
                        persistent_workers=num_workers > 0, collate_fn=_collate)
    loader.standin = split.standin
    return loader


def _collate(items):
    items = [item for item in items if item is not None]    # files unreadable since the scan
    if not items:
        raise UnreadableImage(_("every image of this batch failed to load; see the scan "
                                "report's skipped_on_load"))
    xs, ys = zip(*items)
    return torch.stack(xs), torch.as_tensor(ys, dtype=torch.int64)


def show_batch(batch, split: Split, preprocess: Preprocess, n: int = 16, predictions=None,
               title: str | None = None):
    """Plot the first ``n`` images of a (x, y) batch with their class names,
    stamped "STAND-IN DATA" when the split is a stand-in."""
    x, y = batch
    x = x[:n].detach().cpu().numpy()
    pixels = np.clip(preprocess.denormalize_array(x, channels_last=False), 0, 1)
    return plots.show_images(pixels.transpose(0, 2, 3, 1), np.asarray(y[:n]), split.class_names,
                             standin=split.standin, predictions=predictions, title=title)


def torchvision_pets(split: Split, preprocess: Preprocess | None = None, train: bool = False):
    """``torchvision.datasets.OxfordIIITPet(download=False)`` on our cached folder.

    ``split.name`` "test" reads the official test list, "train"/"val" the
    trainval list.  Files in the quarantine report are left out (torchvision
    would crash on them), so the result is a ``Subset``; its class names and
    labels are torchvision's, which equal ours (a test checks)."""
    from pathlib import Path

    from torch.utils.data import Subset
    from torchvision.datasets import OxfordIIITPet

    if split.dataset != "oxford_pets":
        raise ValueError(_("torchvision_pets needs an Oxford-IIIT Pet split, not {dataset}",
                           dataset=repr(split.dataset)))
    transform = make_transform(preprocess, train) if preprocess is not None else None
    root = Path(split.root).parent          # torchvision appends "oxford-iiit-pet"
    listed = "test" if split.name == "test" else "trainval"
    ds = OxfordIIITPet(root, split=listed, transform=transform, download=False)
    # The dataset's items follow its list file (annotations/<list>.txt: "<image id> <class>
    # <species> <breed id>" per line), which torchvision reads; read it here too.
    lines = (root / "oxford-iiit-pet" / "annotations" / f"{listed}.txt").read_text().split("\n")
    image_ids = [line.split()[0] for line in lines if line.strip()]
    if len(image_ids) != len(ds):
        raise ValueError(_("{listed}.txt lists {listed_images} images, torchvision's dataset "
                           "has {images}: the two no longer read the list alike", listed=listed,
                           listed_images=len(image_ids), images=len(ds)))
    wanted = {Path(p).name for p in split.paths}
    keep = [i for i, image_id in enumerate(image_ids) if f"{image_id}.jpg" in wanted]
    return Subset(ds, keep)
