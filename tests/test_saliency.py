"""Where the network looks: saliency maps and Grad-CAM.

The core's picture-making (``tlcourse.saliency``: scaling, upsampling, overlay,
correlation, the figure) is tested on small arrays.  The adapters' maps are
computed in one child Python per framework (TensorFlow then torchvision in one
process crashes), saved as .npy and compared here:

- the two frameworks' Grad-CAM maps of MobileNetV2 (the same network: our Keras
  port carries torchvision's weights) agree on the same photo and class, and
  the comparison can fail (another class, a shuffled map);
- Grad-CAM is what it claims, checked without autograd: for a network that ends
  in global average pooling and one linear layer, the mean gradient over the
  positions of channel k is the class's weight for k divided by the number of
  positions, so Grad-CAM is the class activation map (CAM) over that number;
- input saliency is the gradient, checked by finite differences;
- the notebooks' "under the hood" cell (the framework code students read)
  gives the helpers' maps.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from tlcourse import contract, saliency
from tlcourse.preprocess import get_preprocess

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"torch": ROOT / "source" / "adversarial_cat" / "AdversarialCatPyTorch.ipynb",
             "tf": ROOT / "source" / "adversarial_cat" / "AdversarialCatTF.ipynb"}


# --------------------------------------------------------------------------
# the core: numpy only
# --------------------------------------------------------------------------
def test_scale_each_map_alone_or_all_on_one_scale():
    weak, strong = np.full((2, 2), 1.0), np.array([[0.0, 4.0], [2.0, 4.0]])
    alone = saliency.scale([weak, strong])
    assert np.allclose(alone[0], 1.0) and np.allclose(alone[1], [[0, 1], [0.5, 1]])
    shared = saliency.scale([weak, strong], shared=True)
    assert np.allclose(shared[0], 0.25), "on one scale the weak map must stay faint"
    assert np.allclose(shared[1], [[0, 1], [0.5, 1]])
    assert np.array_equal(saliency.scale([np.zeros((3, 3))])[0], np.zeros((3, 3)))
    spiky = np.arange(100.0).reshape(10, 10)
    assert saliency.scale([spiky], percentile=50)[0].max() == 1.0   # the top half saturates
    assert np.isclose(saliency.scale([spiky], percentile=50)[0][0, 1], 1 / 49.5)


def test_maps_must_be_two_dimensional():
    assert saliency.scale([np.ones((1, 3, 3))])[0].shape == (3, 3)   # a batch of one is fine
    with pytest.raises(ValueError, match=r"2-D.*\(2, 3, 3\)"):
        saliency.scale([np.ones((2, 3, 3))])


def test_upsample_is_bilinear_on_pixel_centres():
    up = saliency.upsample(np.array([[0.0, 1.0]], np.float32), (2, 4))
    assert up.shape == (2, 4)
    assert np.allclose(up[0], [0.0, 0.25, 0.75, 1.0]) and np.allclose(up[0], up[1])
    assert np.allclose(saliency.upsample(np.full((7, 7), 0.3), (224, 160)), 0.3)


def test_overlay_blends_the_heat_map_over_the_photo():
    photo = np.zeros((32, 32, 3))
    hot = saliency.overlay(photo, np.ones((2, 2)), alpha=0.5)
    cold = saliency.overlay(photo, np.zeros((2, 2)), alpha=0.5)
    assert hot.shape == cold.shape == (32, 32, 3)
    assert 0 <= hot.min() and hot.max() <= 1
    assert hot[..., 0].mean() > hot[..., 2].mean() and cold[..., 2].mean() > cold[..., 0].mean(), \
        "jet: strong evidence red, none blue"
    assert np.allclose(saliency.overlay(np.full((8, 8, 3), 0.6), np.ones((2, 2)), alpha=0.0), 0.6)


def test_correlation_of_maps():
    rng = np.random.default_rng(0)
    a = rng.random((7, 7))
    assert saliency.correlation(a, 3 * a + 1) == pytest.approx(1.0)
    assert saliency.correlation(a, -a) == pytest.approx(-1.0)
    assert abs(saliency.correlation(a, rng.random((7, 7)))) < 0.5
    assert np.isnan(saliency.correlation(a, np.ones((7, 7))))
    with pytest.raises(ValueError, match="different sizes"):
        saliency.correlation(a, np.ones((5, 5)))


def test_show_maps_draws_one_row_per_image_and_names_a_bad_kind():
    import matplotlib.pyplot as plt

    photo, m = np.full((16, 16, 3), 0.5), np.eye(4)
    fig = saliency.show_maps([(photo, "one", [("saliency: cat", m, "saliency"), ("Grad-CAM: cat", m, "grad-cam")]),
                              (photo, "two", [("Grad-CAM: dog", 0 * m, "grad-cam")])],
                             shared_scale=True, suptitle="test")
    assert len(fig.axes) == 6
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["one", "saliency: cat", "Grad-CAM: cat"] and titles[4] == "Grad-CAM: dog"
    plt.close(fig)
    with pytest.raises(ValueError, match="'heat'.*saliency, grad-cam"):
        saliency.show_maps([(photo, "one", [("x", m, "heat")])])


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_last_conv_block_names_a_model_without_one(framework):
    tlc = contract.adapter(framework)
    if framework == "torch":
        import torch
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    else:
        import keras
        model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="layer="):
        tlc.last_conv_block(model)


def _untrained(framework: str, name: str):
    """The full profile's networks, randomly initialised (their weights are online only)."""
    if framework == "torch":
        import torchvision
        return getattr(torchvision.models, name)(weights=None).eval()
    import keras
    return {"vgg16": keras.applications.VGG16, "resnet50": keras.applications.ResNet50}[name](weights=None)


@pytest.mark.parametrize("framework,name,block", [("torch", "vgg16", "features.29"), ("torch", "resnet50", "layer4"),
                                                  ("tf", "vgg16", "block5_conv3"),
                                                  ("tf", "resnet50", "conv5_block3_out")])
def test_last_conv_block_of_the_full_profiles_networks(framework, name, block):
    tlc = contract.adapter(framework)
    model = _untrained(framework, name)
    found = tlc.last_conv_block(model)
    if framework == "torch":
        assert found is model.get_submodule(block)
    else:
        assert found.name == block
    prep = get_preprocess(name)
    pixels = np.random.default_rng(0).random((1, 224, 224, 3), np.float32)   # Keras's top needs 224
    cam = tlc.grad_cam(model, prep, pixels, 281)
    assert cam.shape == ((1, 14, 14) if name == "vgg16" else (1, 7, 7))   # strides 16 and 32


# --------------------------------------------------------------------------
# the adapters: one child Python per framework, maps saved as .npy
# --------------------------------------------------------------------------
DRIVER = r'''
import json, sys
import numpy as np
framework, out, notebook = sys.argv[1], sys.argv[2], sys.argv[3]
from tlcourse import contract, imagenet, photos
tlc = contract.adapter(framework)
CAT = list(imagenet.DOMESTIC_CAT_CLASSES)
facts = {}

def save(name, value):
    np.save(f"{out}/{framework}_{name}.npy", np.asarray(value))

def numpy(t):
    return np.asarray(t.detach().cpu() if hasattr(t, "detach") else t)

model, prep = tlc.pretrained("mobilenet_v2")
x_cat = tlc.to_pixels(prep, photos.chelsea())
dog, dog_class = photos.dog_photos()[0]
x_dog = tlc.to_pixels(prep, dog)
block = tlc.last_conv_block(model)
facts["block"] = type(block).__name__ if framework == "torch" else block.name
if framework == "torch":
    facts["block_is_features_18"] = block is model.features[18]
save("chelsea_cat", tlc.grad_cam(model, prep, x_cat, CAT))
save("chelsea_zebra", tlc.grad_cam(model, prep, x_cat, imagenet.ZEBRA))
save("dog_dog", tlc.grad_cam(model, prep, x_dog, dog_class))
save("dog_saliency", tlc.input_saliency(model, prep, x_dog, dog_class))

# CAM without autograd: activations of the last block, the linear layer's weights
if framework == "torch":
    import torch
    with torch.no_grad():
        acts = model.features(tlc.normalize(prep, x_dog))[0].permute(1, 2, 0).numpy()   # HWC
    w = model.classifier[1].weight.detach().numpy().T                                    # (1280, 1000)
    logits = lambda x: numpy(model(tlc.normalize(prep, x)))
else:
    import keras
    acts = numpy(keras.Model(model.input, block.output)(tlc.normalize(prep, x_dog), training=False))[0]
    w = numpy(model.get_layer("classifier_1").kernel)
    logits = lambda x: numpy(model(tlc.normalize(prep, x), training=False))
save("dog_cam_reference", np.maximum(acts @ w[:, dog_class], 0) / (acts.shape[0] * acts.shape[1]))

# input saliency against central finite differences at its strongest pixel
def nudge(x, i, j, c, h):
    delta = np.zeros(tuple(x.shape), np.float32)
    delta[(0, c, i, j) if framework == "torch" else (0, i, j, c)] = h
    return x + (torch.from_numpy(delta) if framework == "torch" else delta)

sal = np.load(f"{out}/{framework}_dog_saliency.npy")[0]
i, j = np.unravel_index(np.argmax(sal), sal.shape)
h = 1e-3
diffs = [(logits(nudge(x_dog, i, j, c, h))[0, dog_class] - logits(nudge(x_dog, i, j, c, -h))[0, dog_class]) / (2 * h)
         for c in range(3)]
facts["saliency_at_peak"] = float(sal[i, j])
facts["finite_difference_at_peak"] = float(max(abs(d) for d in diffs))

# the notebook's under-the-hood cell, with the names it uses
cell = next(c for c in json.load(open(notebook))["cells"]
            if "uth_grad_cam" in c.get("metadata", {}).get("tags", []))
import types
ns = dict(P=types.SimpleNamespace(grading=False), tlc=tlc, model=model, prep=prep, x_cat=x_cat, CAT=CAT, np=np,
          cat_saliency=tlc.input_saliency(model, prep, x_cat, CAT)[0],
          cat_cam=tlc.grad_cam(model, prep, x_cat, CAT)[0])
exec("import torch" if framework == "torch" else "import tensorflow as tf", ns)
exec(compile("".join(cell["source"]), "<under the hood>", "exec"), ns)
save("plain_saliency", numpy(ns["plain_saliency"]))
save("plain_cam", numpy(ns["plain_cam"]))
save("helper_saliency", ns["cat_saliency"])
save("helper_cam", ns["cat_cam"])

model2, prep2 = tlc.pretrained("efficientnet_lite0")
save("lite0_chelsea_cat", tlc.grad_cam(model2, prep2, tlc.to_pixels(prep2, photos.chelsea()), CAT))
json.dump(facts, open(f"{out}/{framework}_facts.json", "w"))
'''


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    """Each framework's maps, computed in its own child Python: ``load(framework, name)``."""
    out = tmp_path_factory.mktemp("saliency")
    for framework in contract.FRAMEWORKS:
        proc = subprocess.run([sys.executable, "-c", DRIVER, framework, str(out), str(NOTEBOOKS[framework])],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{framework}: {proc.stderr[-3000:]}"

    def load(framework, name):
        if name == "facts":
            return json.loads((out / f"{framework}_facts.json").read_text())
        return np.load(out / f"{framework}_{name}.npy")
    return load


@pytest.mark.parametrize("name", ["chelsea_cat", "dog_dog", "lite0_chelsea_cat"])
def test_grad_cam_of_the_two_frameworks_agrees(maps, name):
    torch_map, tf_map = maps("torch", name), maps("tf", name)
    assert torch_map.shape == tf_map.shape and torch_map.ndim == 3
    assert saliency.correlation(torch_map, tf_map) >= 0.9


def test_the_agreement_test_can_fail(maps):
    same = saliency.correlation(maps("torch", "chelsea_cat"), maps("tf", "chelsea_cat"))
    other_class = saliency.correlation(maps("torch", "chelsea_cat"), maps("tf", "chelsea_zebra"))
    dog = maps("tf", "dog_dog")
    shuffled = np.random.default_rng(0).permutation(dog.ravel()).reshape(dog.shape)
    shuffled_corr = saliency.correlation(maps("torch", "dog_dog"), shuffled)
    assert other_class < 0.5 and same - other_class > 0.4, "another class's map must not pass"
    assert abs(shuffled_corr) < 0.5, "a shuffled map must not pass"


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_maps_have_the_block_and_photo_resolution(maps, framework):
    cam, sal = maps(framework, "dog_dog"), maps(framework, "dog_saliency")
    assert cam.shape == (1, 7, 7) and sal.shape == (1, 224, 224)   # MobileNetV2 at 224 px: stride 32
    assert cam.min() >= 0 and sal.min() >= 0 and cam.max() > 0 and sal.max() > 0
    facts = maps(framework, "facts")
    if framework == "torch":
        assert facts["block"] == "Conv2dNormActivation" and facts["block_is_features_18"]
    else:
        assert facts["block"] == "features_18_2"


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_grad_cam_is_the_class_activation_map_for_a_pooled_linear_head(maps, framework):
    cam, reference = maps(framework, "dog_dog")[0], maps(framework, "dog_cam_reference")
    assert reference.max() > 0
    assert np.allclose(cam, reference, rtol=1e-3, atol=1e-4 * reference.max())


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_input_saliency_is_the_gradient(maps, framework):
    facts = maps(framework, "facts")
    assert facts["saliency_at_peak"] > 0
    assert facts["finite_difference_at_peak"] == pytest.approx(facts["saliency_at_peak"], rel=0.05)


@pytest.mark.parametrize("framework", contract.FRAMEWORKS)
def test_the_notebooks_under_the_hood_code_gives_the_helpers_maps(maps, framework):
    for what in ("saliency", "cam"):
        plain, helper = maps(framework, f"plain_{what}"), maps(framework, f"helper_{what}")
        assert plain.shape == helper.shape and helper.max() > 0
        assert np.allclose(plain, helper, rtol=1e-5, atol=1e-6 * helper.max()), what
