"""The Keras ports equal the PyTorch networks they were converted from.

- mobilenet_v2: torchvision's MobileNetV2 (tlcourse/tf/mobilenet_v2.py);
- efficientnet_lite0: the torch adapter's EfficientNet-Lite0
  (tlcourse/tf/efficientnet_lite.py vs tlcourse/torch/efficientnet_lite.py).

Needs torch and TensorFlow in one process: conftest imports torch and
torchvision first (the other order crashes while triton is installed).
"""
import shutil

import numpy as np
import pytest
import torch
import torchvision

import tlcourse.tf  # noqa: F401  (sets KERAS_HOME/TORCH_HOME; imports TensorFlow after torch)
from tlcourse import assets, photos
from tlcourse.imagenet import softmax
from tlcourse.preprocess import get_preprocess, pixels_array
from tlcourse.ports import convert, keras_builder
from tlcourse.tf import models
from tlcourse.ports.convert import torch_prefix
from tlcourse.ports.keras_mobilenet_v2 import mobilenet_v2
from tlcourse.ports.torch_efficientnet_lite import efficientnet_lite0, rename_lite_keys

import keras

PORTS = ["mobilenet_v2", "efficientnet_lite0"]

# Largest |logit difference| accepted between a port and its torch network on
# the real photos.  Measured here (float32, CPU): 1.7e-5 for mobilenet_v2
# (logits span about -11..29), 8e-6 for efficientnet_lite0 (-4..14); the
# margin allows other CPUs' kernels.  A wrong layout or padding moves logits
# by 0.1 or more (see test_symmetric_padding_is_needed), so this cannot pass
# by accident.
LOGIT_TOL = 2e-4


@pytest.fixture(scope="module")
def photo_pixels():
    """chelsea + the 20 foolbox ImageNet photos as [0, 1] NHWC pixels, and their names."""
    prep = get_preprocess("mobilenet_v2")   # both ports: 224, crop 0.875
    paths = [photos.chelsea()] + [p for p, _ in photos.imagenet_samples()]
    return pixels_array(prep, paths), [p.name for p in paths]


def torch_network(name):
    if name == "mobilenet_v2":
        net = torchvision.models.mobilenet_v2()
        net.load_state_dict(torch.load(assets.fetch("mobilenet_v2_torch", progress=False),
                                       map_location="cpu", weights_only=True))
    else:
        net = efficientnet_lite0(assets.fetch("efficientnet_lite0_torch", progress=False))
    return net.eval()


def torch_logits(net, x_nhwc):
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))).numpy()


@pytest.mark.parametrize("name", PORTS)
def test_port_equals_torch_on_real_photos(name, photo_pixels):
    pixels, names = photo_pixels
    model, prep = models.pretrained(name)
    assert prep == get_preprocess(name)        # the torch model's own normalisation
    x = prep.normalize_array(pixels)
    net = torch_network(name)
    want = torch_logits(net, x)
    got = model(x, training=False).numpy()
    diff = np.abs(want - got)
    print(f"{name}: max |logit difference| over {len(names)} photos: {diff.max():.2e}")
    assert diff.max() < LOGIT_TOL, f"worst photo: {names[diff.max(axis=1).argmax()]}"
    # the same top-1 on every photo, and practically the same probabilities
    mismatched = [n for n, a, b in zip(names, want.argmax(1), got.argmax(1)) if a != b]
    assert not mismatched
    assert np.abs(softmax(want) - softmax(got)).max() < 1e-4

    # the headless base gives the torch network's pooled features
    base, _ = models.pretrained(name, include_top=False)
    with torch.no_grad():
        feats = net.features(torch.from_numpy(np.ascontiguousarray(x[:4].transpose(0, 3, 1, 2))))
    assert np.abs(feats.mean(dim=(2, 3)).numpy() - base(x[:4], training=False).numpy()).max() < LOGIT_TOL

    # odd sizes exercise the padding of every strided conv (not only 224)
    odd = np.random.default_rng(1).standard_normal((2, 161, 197, 3)).astype(np.float32)
    assert np.abs(torch_logits(net, odd) - model(odd, training=False).numpy()).max() < LOGIT_TOL


def test_symmetric_padding_is_needed():
    """Why the port pads explicitly: torch's padding=1 on a 3x3 stride-2 conv is
    ZeroPadding2D(1) + "valid" in Keras, while Keras "same" gives other numbers."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)           # OIHW
    x = rng.standard_normal((1, 8, 8, 3)).astype(np.float32)           # NHWC, even size
    conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
    conv.weight.data = torch.from_numpy(w)
    with torch.no_grad():
        want = conv(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    kernel = convert.torch_to_keras(w, "Conv2D")

    def keras_conv(padding, pad_first):
        inp = keras.Input((8, 8, 3))
        h = keras.layers.ZeroPadding2D(1)(inp) if pad_first else inp
        layer = keras.layers.Conv2D(4, 3, strides=2, padding=padding, use_bias=False)
        out = layer(h)
        layer.set_weights([kernel])
        return keras.Model(inp, out)(x).numpy()

    assert np.abs(keras_conv("valid", True) - want).max() < 1e-5
    assert np.abs(keras_conv("same", False) - want).max() > 1e-2


def test_depthwise_layout():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 1, 3, 3)).astype(np.float32)          # torch depthwise (C, 1, H, W)
    x = rng.standard_normal((1, 6, 6, 5)).astype(np.float32)
    conv = torch.nn.Conv2d(5, 5, 3, padding=1, groups=5, bias=False)
    conv.weight.data = torch.from_numpy(w)
    with torch.no_grad():
        want = conv(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    layer = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)
    layer.build((1, 6, 6, 5))
    layer.set_weights([convert.torch_to_keras(w, "DepthwiseConv2D")])
    assert np.abs(layer(x).numpy() - want).max() < 1e-5


@pytest.mark.parametrize("name", PORTS)
def test_layer_names_map_to_torch_keys(name):
    torch_asset, keras_asset, _, rename = convert.PORTS[name]
    sd = torch.load(assets.fetch(torch_asset, progress=False), weights_only=True)
    if rename is not None:
        assert rename is convert._rename_lite
        sd = rename_lite_keys(sd)
    prefixes = {k.rsplit(".", 1)[0] for k in sd}
    weighted = [l.name for l in keras_builder(name)().layers if l.weights]
    assert {torch_prefix(n) for n in weighted} == prefixes
    assert torch_prefix("features_2_conv_1_0") == "features.2.conv.1.0"


def test_converter_refuses_mismatched_state_dicts():
    sd = {k: v.numpy() for k, v in torch.load(assets.fetch("mobilenet_v2_torch", progress=False),
                                              weights_only=True).items()}
    model = mobilenet_v2()
    missing = dict(sd)
    del missing["features.5.conv.1.1.running_var"]
    with pytest.raises(KeyError, match="features.5.conv.1.1.running_var"):
        convert.set_weights_from_torch(model, missing)
    extra = dict(sd, **{"features.19.0.weight": np.zeros((1, 1, 1, 1), np.float32)})
    with pytest.raises(KeyError, match="not used"):
        convert.set_weights_from_torch(model, extra)


def test_registry_builds_the_port_with_the_converter(tmp_path, monkeypatch):
    """`assets.fetch("mobilenet_v2_keras")` runs `python -m tlcourse.ports.convert`
    (a process that imports TensorFlow via tlcourse.tf before the converter
    asks for torch: it must restart itself in the safe order) and writes the
    .weights.h5 atomically where `pretrained` reads it."""
    # only the MobileNetV2 torch file in TORCH_HOME; the Keras file into an empty folder
    src = assets.fetch("mobilenet_v2_torch", progress=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(src, assets.get("mobilenet_v2_torch").path)
    asset = assets.get("mobilenet_v2_keras")
    assert asset.path == tmp_path / "keras" / "models" / asset.filename
    assert not assets.is_cached(asset)
    path = assets.fetch("mobilenet_v2_keras", progress=False)
    assert path.is_file() and path.name.endswith(".weights.h5")
    # no temporaries left, only the port that was asked for was converted, and
    # the build recorded the sha256 of what it wrote (the `.verified` stamp)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == sorted([path.name, f".{path.name}.verified"]), names
    assert assets.is_cached(asset)
    model = mobilenet_v2()
    model.load_weights(path)
    x = np.random.default_rng(2).standard_normal((1, 224, 224, 3)).astype(np.float32)
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(src, weights_only=True))
    assert np.abs(torch_logits(net.eval(), x) - model(x).numpy()).max() < LOGIT_TOL
