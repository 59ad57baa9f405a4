"""The Keras MobileNetV2 port equals torchvision's MobileNetV2.

Needs torch and TensorFlow in one process: conftest imports torch and
torchvision first (the other order crashes while triton is installed).
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

import tlcourse.tf  # noqa: F401  (sets KERAS_HOME/TORCH_HOME; imports TensorFlow after torch)
from tlcourse import assets, photos
from tlcourse.imagenet import softmax
from tlcourse.preprocess import get_preprocess, pixels_array
from tlcourse.tf import convert, models
from tlcourse.tf.mobilenet_v2 import mobilenet_v2, torch_prefix

import keras

# Largest |logit difference| accepted between the port and torchvision on the
# real photos.  Measured here: 1.7e-5 (logits span about -11..29), float32 on
# CPU; the margin allows other CPUs' kernels.  A wrong layout or padding
# moves logits by 0.1 or more, so this cannot pass by accident.
LOGIT_TOL = 2e-4


@pytest.fixture(scope="module")
def photo_batch():
    """chelsea + the 20 foolbox ImageNet photos, normalised NHWC, and their names."""
    prep = get_preprocess("mobilenet_v2")
    paths = [photos.chelsea()] + [p for p, _ in photos.imagenet_samples()]
    return prep.normalize_array(pixels_array(prep, paths)), [p.name for p in paths]


@pytest.fixture(scope="module")
def torch_model():
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(assets.fetch("mobilenet_v2_torch", progress=False),
                                   map_location="cpu", weights_only=True))
    return net.eval()


@pytest.fixture(scope="module")
def keras_port():
    model, _ = models.pretrained("mobilenet_v2")
    return model


def torch_logits(net, x_nhwc):
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))).numpy()


def test_port_equals_torchvision_on_real_photos(photo_batch, torch_model, keras_port):
    x, names = photo_batch
    want = torch_logits(torch_model, x)
    got = keras_port(x, training=False).numpy()
    diff = np.abs(want - got)
    print(f"max |logit difference| over {len(names)} photos: {diff.max():.2e}")
    assert diff.max() < LOGIT_TOL, f"worst photo: {names[diff.max(axis=1).argmax()]}"
    # the same top-1 on every photo, and practically the same probabilities
    mismatched = [n for n, a, b in zip(names, want.argmax(1), got.argmax(1)) if a != b]
    assert not mismatched
    assert np.abs(softmax(want) - softmax(got)).max() < 1e-4


def test_port_base_equals_torchvision_features(photo_batch, torch_model):
    base, _ = models.pretrained("mobilenet_v2", include_top=False)
    x = photo_batch[0][:4]
    with torch.no_grad():
        feats = torch_model.features(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
        want = feats.mean(dim=(2, 3)).numpy()
    got = base(x, training=False).numpy()
    assert got.shape == want.shape == (4, 1280)
    assert np.abs(want - got).max() < LOGIT_TOL


def test_port_matches_at_another_input_size(torch_model, keras_port):
    """Odd sizes exercise the padding of every strided conv (not only 224)."""
    x = np.random.default_rng(1).standard_normal((2, 161, 197, 3)).astype(np.float32)
    assert np.abs(torch_logits(torch_model, x) - keras_port(x, training=False).numpy()).max() < LOGIT_TOL


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


def test_layer_names_map_to_torch_keys():
    sd = torch.load(assets.fetch("mobilenet_v2_torch", progress=False), weights_only=True)
    prefixes = {k.rsplit(".", 1)[0] for k in sd}
    weighted = [l.name for l in mobilenet_v2().layers if l.weights]
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
    """`assets.fetch("mobilenet_v2_keras")` runs `python -m tlcourse.tf.convert`
    (a process that imports TensorFlow via tlcourse.tf before the converter
    asks for torch: it must restart itself in the safe order) and writes the
    .weights.h5 atomically where `pretrained` reads it."""
    # torch weights from the session cache; the Keras file into an empty folder
    monkeypatch.setenv("TORCH_HOME", str(assets.get("mobilenet_v2_torch").path.parents[2]))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    asset = assets.get("mobilenet_v2_keras")
    assert asset.path == tmp_path / "keras" / "models" / asset.filename
    assert not assets.is_cached(asset)
    path = assets.fetch("mobilenet_v2_keras", progress=False)
    assert path.is_file() and path.name.endswith(".weights.h5")
    assert [p.name for p in path.parent.iterdir()] == [path.name]   # no temporaries left
    model = mobilenet_v2()
    model.load_weights(path)
    x = np.random.default_rng(2).standard_normal((1, 224, 224, 3)).astype(np.float32)
    net = torchvision.models.mobilenet_v2()
    net.load_state_dict(torch.load(assets.get("mobilenet_v2_torch").path, weights_only=True))
    assert np.abs(torch_logits(net.eval(), x) - model(x).numpy()).max() < LOGIT_TOL


def test_converter_script_restarts_with_torch_first():
    """Run as `python -c` with TensorFlow imported first, importing the converter
    module must refuse clearly rather than crash the process."""
    code = ("import tensorflow\n"
            "try:\n"
            "    import tlcourse.tf.convert\n"
            "except ImportError as e:\n"
            "    print('REFUSED', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED" in proc.stdout and "torch" in proc.stdout
