"""PyTorch input pipeline on the stand-ins: shapes, dtypes, ranges, labels, torchvision's Pets."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tlcourse import datasets
from tlcourse.preprocess import CAFFE_MEAN, CAFFE_STD, Preprocess, get_preprocess
from tlcourse.profiles import get_profile
from tlcourse.torch import data as tdata
from tlcourse.torch import make_loader

SMOKE = get_profile("smoke")
PREP = get_preprocess("mobilenet_v2")


@pytest.fixture(scope="module")
def data():
    # the stand-ins are deterministic, so the shared test cache is safe to reuse
    # (tests of caching itself use a temporary cache: see test_datasets.py)
    os.environ.setdefault("TLCOURSE_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "tlcourse"))
    return datasets.cats_dogs(SMOKE, progress=False), datasets.oxford_pets(SMOKE, progress=False)


def bounds(prep):
    lo = (0 - np.asarray(prep.mean)) / np.asarray(prep.std)
    hi = (1 - np.asarray(prep.mean)) / np.asarray(prep.std)
    return lo.min() - 1e-4, hi.max() + 1e-4


@pytest.mark.parametrize("train", [True, False])
def test_batches_have_the_right_shape_dtype_and_range(data, train):
    cd, _ = data
    x, y = next(iter(make_loader(cd.train, PREP, train=train, batch_size=8, num_workers=0)))
    assert x.shape == (8, 3, 224, 224) and x.dtype == torch.float32
    assert y.shape == (8,) and y.dtype == torch.int64
    lo, hi = bounds(PREP)
    assert lo <= float(x.min()) and float(x.max()) <= hi
    assert float(x.std()) > 0.3          # real content, not a constant
    assert set(y.tolist()) <= {0, 1}


def test_eval_loader_keeps_order_and_labels_and_matches_to_batch(data):
    cd, _ = data
    sub = cd.test.subset(3)
    xs, ys = zip(*make_loader(sub, PREP, train=False, batch_size=4, num_workers=0))
    assert torch.cat(ys).tolist() == list(sub.labels)
    from tlcourse.torch import to_batch
    ref = to_batch(PREP, list(sub.paths[:2]))
    assert torch.allclose(torch.cat(xs)[:2], ref, atol=1e-6)


def test_training_augmentation_is_random(data):
    cd, _ = data
    one = cd.train.subset(1)
    t = tdata.make_transform(PREP, train=True)
    from tlcourse.images import load_rgb
    im = load_rgb(one.paths[0])
    a, b = t(im), t(im)
    assert a.shape == b.shape == (3, 224, 224)
    assert not torch.allclose(a, b)
    e = tdata.make_transform(PREP, train=False)
    assert torch.equal(e(im), e(im))


def test_workers_and_caffe_mode(data):
    cd, _ = data
    caffe = Preprocess(160, CAFFE_MEAN, CAFFE_STD, mode="caffe")
    x, y = next(iter(make_loader(cd.val, caffe, train=False, batch_size=4, num_workers=2)))
    assert x.shape == (4, 3, 160, 160)
    # BGR, ImageNet mean subtracted in 0-255 units (keras "caffe")
    assert float(x.min()) >= -123.7 and float(x.max()) <= 255 - 103.9 + 1e-3


def test_profile_defaults(data):
    cd, _ = data
    dl = make_loader(cd.train, PREP, train=True, profile=SMOKE)
    assert dl.batch_size == SMOKE.batch_size and dl.num_workers == SMOKE.num_workers
    assert dl.pin_memory == torch.cuda.is_available()


def test_pets_through_torchvision_match_our_split(data):
    _, pets = data
    tv = tdata.torchvision_pets(pets.test, PREP)
    assert tv.dataset.classes == list(pets.class_names)
    assert len(tv) == len(pets.test)
    plain = tdata.torchvision_pets(pets.test)          # (PIL image, label) items: public API only
    assert [label for _, label in plain] == list(pets.test.labels)
    x, y = tv[0]
    assert x.shape == (3, 224, 224) and y == pets.test.labels[0]
    trainval = tdata.torchvision_pets(pets.train)
    assert len(trainval) == len(pets.train)


def test_show_batch_is_stamped(data):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cd, _ = data
    batch = next(iter(make_loader(cd.train, PREP, train=True, batch_size=4)))
    fig = tdata.show_batch(batch, cd.train, PREP)
    assert any("STAND-IN DATA" in t.get_text() for t in fig.texts)
    plt.close("all")


def test_an_image_damaged_after_the_scan_is_skipped_and_noted(tmp_path):
    from loader_faults import damage_in_place, one_epoch, tiny_split
    split = tiny_split(tmp_path / "tiny")
    damage_in_place(split.paths[2])
    prep = get_preprocess("mobilenet_v2")
    for train in (True, False):
        assert one_epoch(make_loader(split, prep, train=train, batch_size=4)) == len(split) - 1
    assert [n.path for n in split.scan_report.skipped_on_load] == ["2.jpg"]
    assert "Skipped on load: 2.jpg" in split.scan_report.summary()
    # the next scan sees the change (ctime) and excludes the file
    _, report = datasets.scan(split.root, [os.path.basename(p) for p in split.paths], "tiny",
                              False, progress=False)
    assert [n.path for n in report.excluded] == ["2.jpg"]


def test_a_non_utf8_file_name_loads(tmp_path):
    from loader_faults import one_epoch, tiny_split
    split = tiny_split(tmp_path / "tiny")
    prep = get_preprocess("mobilenet_v2")
    assert one_epoch(make_loader(split, prep, train=False, batch_size=4)) == len(split)
