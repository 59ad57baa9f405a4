"""tf.data input pipeline on the stand-ins, and agreement with the PyTorch pipeline."""
from __future__ import annotations

import os
from pathlib import Path

# torch and torchvision first: importing them after TensorFlow crashes the process
import torch  # noqa: F401
import torchvision  # noqa: F401

import numpy as np
import pytest
import tensorflow as tf

from tlcourse import datasets
from tlcourse.preprocess import CAFFE_MEAN, CAFFE_STD, Preprocess, get_preprocess
from tlcourse.profiles import get_profile
from tlcourse.tf import data as fdata
from tlcourse.tf import make_loader

SMOKE = get_profile("smoke")
PREP = get_preprocess("mobilenet_v2")


@pytest.fixture(scope="module")
def data():
    # the stand-ins are deterministic, so the shared test cache is safe to reuse
    # (tests of caching itself use a temporary cache: see test_datasets.py)
    os.environ.setdefault("TLCOURSE_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "tlcourse"))
    return datasets.cats_dogs(SMOKE, progress=False), datasets.oxford_pets(SMOKE, progress=False)


@pytest.mark.parametrize("train", [True, False])
def test_batches_have_the_right_shape_dtype_and_range(data, train):
    cd, _ = data
    x, y = next(iter(make_loader(cd.train, PREP, train=train, batch_size=8)))
    assert tuple(x.shape) == (8, 224, 224, 3) and x.dtype == tf.float32
    assert tuple(y.shape) == (8,) and y.dtype == tf.int64
    lo = ((0 - np.asarray(PREP.mean)) / np.asarray(PREP.std)).min() - 1e-4
    hi = ((1 - np.asarray(PREP.mean)) / np.asarray(PREP.std)).max() + 1e-4
    assert lo <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= hi
    assert float(tf.math.reduce_std(x)) > 0.3
    assert set(y.numpy().tolist()) <= {0, 1}


def test_every_kept_file_decodes_including_odd_modes(data):
    _, pets = data
    converted = {str(os_path) for os_path in
                 (os.path.join(pets.root, n.path) for n in pets.quarantine.converted)}
    split = pets.test if converted & set(pets.test.paths) else pets.train
    n = sum(1 for _ in make_loader(split, PREP, train=False, batch_size=64).unbatch())
    assert n == len(split)


def test_training_augmentation_is_random(data):
    cd, _ = data
    from tlcourse.images import load_rgb
    im = load_rgb(cd.train.paths[0])
    t = fdata.make_transform(PREP, train=True)
    a, b = t(im), t(im)
    assert a.shape == b.shape == (224, 224, 3) and not np.allclose(a, b)


def test_caffe_mode_is_bgr(data):
    cd, _ = data
    caffe = Preprocess(160, CAFFE_MEAN, CAFFE_STD, mode="caffe")
    plain = Preprocess(160, CAFFE_MEAN, CAFFE_STD, mode="torch")
    sub = cd.val.subset(2)
    xc, _ = next(iter(make_loader(sub, caffe, train=False, batch_size=4)))
    xp, _ = next(iter(make_loader(sub, plain, train=False, batch_size=4)))
    np.testing.assert_allclose(xc.numpy(), xp.numpy()[..., ::-1], atol=1e-4)


def test_same_labels_and_pixels_as_the_torch_pipeline(data):
    from tlcourse.torch import make_loader as torch_loader
    for split in (data[0].test, data[1].test):
        sub = split.subset(2)
        xt, yt = zip(*torch_loader(sub, PREP, train=False, batch_size=16, num_workers=0))
        xf, yf = zip(*make_loader(sub, PREP, train=False, batch_size=16))
        assert torch.cat(yt).tolist() == np.concatenate([y.numpy() for y in yf]).tolist() \
            == list(sub.labels)
        a = torch.cat(xt).numpy().transpose(0, 2, 3, 1)
        b = np.concatenate([x.numpy() for x in xf])
        np.testing.assert_allclose(a, b, atol=1e-5)



def test_an_image_damaged_after_the_scan_is_skipped_and_noted(tmp_path):
    from loader_faults import damage_in_place, one_epoch, tiny_split
    split = tiny_split(tmp_path / "tiny")
    damage_in_place(split.paths[2])
    for train in (True, False):
        assert one_epoch(make_loader(split, PREP, train=train, batch_size=4)) == len(split) - 1
    assert [n.path for n in split.scan_report.skipped_on_load] == ["2.jpg"]


def test_a_non_utf8_file_name_loads(tmp_path):
    from loader_faults import one_epoch, tiny_split
    split = tiny_split(tmp_path / "tiny")
    assert one_epoch(make_loader(split, PREP, train=False, batch_size=4)) == len(split)
