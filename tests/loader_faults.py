"""A tiny split with the files that broke the loaders (issue 30), shared by the
PyTorch and TensorFlow loader tests: an image damaged in place after the scan
(size and mtime put back) and a file name that is not UTF-8."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image

from tlcourse import datasets

NON_UTF8 = b"caf\xe9.jpg"


def tiny_split(root: Path, n: int = 6) -> datasets.Split:
    """``n`` readable JPEGs (one with a non-UTF-8 name), scanned, as a "train" split."""
    root.mkdir(parents=True)
    names = [f"{i}.jpg" for i in range(n - 1)] + [os.fsdecode(NON_UTF8)]
    for i, name in enumerate(names):
        Image.new("RGB", (40, 30), (40 * i, 90, 200 - 30 * i)).save(
            os.fsencode(root) + b"/" + os.fsencode(name), format="JPEG")
    good, report = datasets.scan(root, names, "tiny", False, progress=False)
    assert good == set(names)
    return datasets.Split("tiny", "train", tuple(os.path.join(root, n) for n in names),
                          tuple(i % 2 for i in range(n)), ("a", "b"), False, str(root), report)


def damage_in_place(path: str) -> None:
    """Overwrite the header, then put size and mtime back (as a bad disk or sync would)."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.write(b"\0" * 64)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size


def one_epoch(batches) -> int:
    """Images delivered by one pass over a loader, warnings silenced (tests check the report)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(int(y.shape[0]) for _, y in batches)
