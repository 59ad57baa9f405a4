"""tlcourse.tf: pretrained Keras models, preprocessing, predictions (offline).

conftest imports torch first; torch is used here only to read the
MobileNetV2 checkpoint as an independent parameter count.
"""
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

import tlcourse.tf as tlc  # before keras: sets KERAS_HOME
from tlcourse import assets, photos
from tlcourse.imagenet import DOMESTIC_CAT_CLASSES
from tlcourse.preprocess import KERAS_CAFFE, get_preprocess, pixels_array

import keras
import tensorflow as tf

OFFLINE_MODELS = ["mobilenet_v2", "efficientnet_lite0"]   # Keras models with offline weights
ONLINE_MODELS = ["vgg16", "resnet50"]


_BUILT = {}


def offline_model(name):
    """pretrained(name), built once per test session."""
    if name not in _BUILT:
        _BUILT[name] = tlc.pretrained(name)
    return _BUILT[name]


@pytest.fixture(scope="module")
def mobilenet():
    return offline_model("mobilenet_v2")


# --------------------------------------------------------------------------
# accuracy on real photos
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", OFFLINE_MODELS)
def test_chelsea_is_a_domestic_cat(name):
    model, prep = offline_model(name)
    (top,) = tlc.predict_topk(model, prep, photos.chelsea(), k=5)
    assert len(top) == 5
    assert top[0][0] in DOMESTIC_CAT_CLASSES, top
    probs = [p for _, _, p in top]
    assert probs == sorted(probs, reverse=True) and 0 < probs[0] <= 1


@pytest.mark.parametrize("name", OFFLINE_MODELS)
def test_foolbox_imagenet_photos_top5(name):
    model, prep = offline_model(name)
    samples = photos.imagenet_samples()
    results = tlc.predict_topk(model, prep, [p for p, _ in samples], k=5)
    hits = sum(true in [i for i, _, _ in top] for (_, true), top in zip(samples, results))
    assert len(results) == 20
    assert hits >= 18, f"{hits}/20 in top-5"


def test_probabilities_and_logits(mobilenet):
    model, prep = mobilenet
    x = tlc.to_batch(prep, photos.chelsea())
    logits = model(x, training=False).numpy()
    assert logits.shape == (1, 1000)
    assert abs(logits.sum() - 1) > 1e-3          # logits, not probabilities (like torch)
    probs = tlc.probabilities(model, x)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert probs.argmax() == logits.argmax()


# --------------------------------------------------------------------------
# include_top, trainable, count_params
# --------------------------------------------------------------------------
def torch_checkpoint_params(name):
    """Parameters in the torch weights file: weights and biases, not BatchNorm's
    running statistics (an independent count)."""
    sd = torch.load(assets.fetch(f"{name}_torch", progress=False), weights_only=True)
    return sum(v.numel() for k, v in sd.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


@pytest.mark.parametrize("name", OFFLINE_MODELS)
def test_include_top_false_and_counts(name):
    model, _ = offline_model(name)
    total = torch_checkpoint_params(name)
    assert tlc.count_params(model) == (0, total)                 # frozen by default
    assert model.trainable is False and not model.trainable_weights

    base, prep = tlc.pretrained(name, include_top=False, trainable=True)
    assert base.output_shape == (None, tlc.feature_dim(name)) == (None, 1280)
    head = 1280 * 1000 + 1000
    assert tlc.count_params(base) == (total - head, total - head)
    assert len(base.trainable_weights) > 0
    for size in (224, 160):   # the smoke profile works at 160
        x = np.zeros((2, size, size, 3), np.float32)
        assert base(x, training=False).shape == (2, 1280)


def test_base_shares_the_loaded_weights(mobilenet):
    """The headless model carries the same pretrained weights as the full one."""
    model, prep = mobilenet
    base, _ = tlc.pretrained("mobilenet_v2", include_top=False)
    x = tlc.to_batch(prep, photos.chelsea())
    feats = base(x, training=False).numpy()
    w, b = model.get_layer("classifier_1").get_weights()
    np.testing.assert_allclose(feats @ w + b, model(x, training=False).numpy(), atol=1e-4)


def _fake_weights(tmp_path, cls, include_top):
    """keras.applications weights (random, saved locally): the real ones are online only."""
    net = cls(weights=None, include_top=include_top, pooling=None if include_top else "avg",
              classifier_activation=None)
    path = tmp_path / f"{net.name}-{include_top}.weights.h5"
    net.save_weights(path)
    return net, path


@pytest.mark.parametrize("name,cls,include_top,dim", [
    ("resnet50", keras.applications.ResNet50, False, 2048),
    ("vgg16", keras.applications.VGG16, False, 512),
    ("resnet50", keras.applications.ResNet50, True, 1000),
])
def test_keras_applications_wiring(name, cls, include_top, dim, tmp_path, monkeypatch):
    """pretrained() loads the file the registry fetched into keras.applications'
    network: shape, head, freezing, counts (weights faked: online-only)."""
    ref, path = _fake_weights(tmp_path, cls, include_top)
    asked = []
    monkeypatch.setattr(assets, "fetch", lambda n, **kw: asked.append(n) or path)
    model, prep = tlc.pretrained(name, include_top=include_top)
    assert asked == [f"{name}_keras" + ("" if include_top else "_notop")]
    assert model.output_shape == (None, dim)
    if not include_top:
        assert dim == tlc.feature_dim(name)
    assert prep == KERAS_CAFFE[name] and prep.bgr
    for a, b in zip(ref.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    n_stats = sum(int(np.prod(v.shape)) for v in ref.non_trainable_weights)
    assert tlc.count_params(model) == (0, ref.count_params() - n_stats)
    model.trainable = True
    assert tlc.count_params(model) == (ref.count_params() - n_stats,) * 2


# --------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------
def test_to_pixels_and_to_batch():
    prep = get_preprocess("mobilenet_v2")
    paths = [photos.chelsea(), photos.imagenet_samples()[0][0]]
    x01 = tlc.to_pixels(prep, paths)
    assert isinstance(x01, tf.Tensor) and x01.dtype == tf.float32
    assert tuple(x01.shape) == (2, 224, 224, 3)
    assert 0 <= float(tf.reduce_min(x01)) and float(tf.reduce_max(x01)) <= 1
    np.testing.assert_allclose(x01.numpy(), pixels_array(prep, paths))
    batch = tlc.to_batch(prep, paths)
    np.testing.assert_allclose(batch.numpy(), prep.normalize_array(x01.numpy()), atol=1e-6)
    # an image already at model size is used as it is (not cropped twice)
    again = tlc.to_pixels(prep, (x01.numpy()[0] * 255).round().astype(np.uint8))
    np.testing.assert_allclose(again.numpy()[0], x01.numpy()[0], atol=1 / 255)


def test_caffe_preprocessing_equals_keras_own():
    """Our Preprocess for vgg16/resnet50 gives what keras.applications' own
    preprocess_input gives (BGR, mean subtracted, 0-255 units)."""
    x01 = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    for name, module in (("vgg16", keras.applications.vgg16), ("resnet50", keras.applications.resnet50)):
        want = module.preprocess_input(x01 * 255.0)
        got = tlc.normalize(KERAS_CAFFE[name], x01).numpy()
        np.testing.assert_allclose(got, want, atol=1e-3)


def test_normalize_is_differentiable():
    prep = get_preprocess("mobilenet_v2")
    x01 = tf.Variable(np.full((1, 4, 4, 3), 0.5, np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tlc.normalize(prep, x01))
    grad = tape.gradient(y, x01).numpy()
    np.testing.assert_allclose(grad[0, 0, 0], 1 / np.asarray(prep.std), rtol=1e-5)


def test_bad_inputs_say_what_to_do():
    prep = get_preprocess("mobilenet_v2")
    with pytest.raises(TypeError, match="uint8"):
        tlc.to_batch(prep, np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="Unknown model"):
        tlc.pretrained("alexnet")
    base, _ = tlc.pretrained("mobilenet_v2", include_top=False)
    with pytest.raises(ValueError, match="include_top=True"):
        tlc.predict_topk(base, prep, photos.chelsea())


# --------------------------------------------------------------------------
# online-only models: everything up to the network call
# --------------------------------------------------------------------------
def keras_own_download(cls, include_top, monkeypatch):
    """(file name, URL, md5) that keras.applications itself would download."""
    from keras.src.utils import file_utils

    seen = {}

    def fake_get_file(fname=None, origin=None, file_hash=None, **kw):
        seen.update(fname=fname, origin=origin, file_hash=file_hash)
        raise RuntimeError("stop before the network")

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    with pytest.raises(RuntimeError, match="stop before"):
        cls(weights="imagenet", include_top=include_top)
    monkeypatch.undo()
    return seen["fname"], seen["origin"], seen["file_hash"]


@pytest.mark.parametrize("name", ONLINE_MODELS)
@pytest.mark.parametrize("include_top", [True, False])
def test_online_only_models_stop_at_the_network(name, include_top, tmp_path, monkeypatch):
    cls = {"vgg16": keras.applications.VGG16, "resnet50": keras.applications.ResNet50}[name]
    fname, origin, md5 = keras_own_download(cls, include_top, monkeypatch)

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))    # an empty cache
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    asset_name = f"{name}_keras" + ("" if include_top else "_notop")
    asset = assets.get(asset_name)
    assert not asset.offline
    assert (asset.hash.algo, asset.hash.value) == ("md5", md5)
    assert asset.path == tmp_path / "keras" / "models" / fname   # where keras.utils.get_file looks
    urls = []

    def no_network(opener, req, data=None, timeout=None):
        urls.append(req.full_url if hasattr(req, "full_url") else req)
        raise urllib.error.URLError("network unreachable (test)")

    # the network boundary: every HTTP request the registry makes goes through an opener
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", no_network)
    with pytest.raises(assets.AssetError) as err:
        tlc.pretrained(name, include_top=include_top)
    assert urls == [origin]                      # exactly the URL Keras itself uses
    msg = str(err.value)
    assert asset_name in msg and origin in msg and str(asset.path) in msg and md5 in msg
    assert not asset.path.exists()



def test_forward_compiles_a_model_once_for_any_batch_size():
    import gc
    import weakref

    import tensorflow as tf
    from tlcourse.tf import models

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(5, 4))           # float64: cast to the input's
    expected = model(x.astype(np.float32)).numpy()
    outs = [models.forward(model, x) for _ in range(models.EAGER_CALLS + 2)]
    assert all(np.allclose(o, expected, atol=1e-6) for o in outs)
    entry = models.traced(model)
    assert entry.calls == models.EAGER_CALLS                    # then compiled
    assert models.forward(model, x[:2].astype(np.float32)).shape == (2, 3)
    assert entry.forward.experimental_get_tracing_count() == 1, "one trace, any batch size"
    # the gradient through the compiled call is the eager one
    xt = tf.constant(x, tf.float32)
    grads = []
    for fn in (lambda t: model(t, training=False), lambda t: models.forward(model, t)):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.reduce_sum(fn(xt) ** 2)
        grads.append(tape.gradient(y, xt).numpy())
    assert np.allclose(*grads, atol=1e-5)
    with pytest.raises(ValueError):                             # Keras's own message
        models.forward(model, np.zeros((2, 5), np.float32))
    model.add(keras.layers.Dense(2))                            # a new layer: a new graph
    assert models.forward(model, x).shape == (5, 2)
    ref = weakref.ref(model)
    del model, entry
    gc.collect()
    assert ref() is None, "its functions do not keep a model alive"


def test_forward_compiles_at_once_for_a_loop_over_a_loader():
    from tlcourse.tf import models

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = np.zeros((2, 4), np.float32)
    models.forward(model, x, calls_ahead=models.EAGER_CALLS + 1)
    assert models.traced(model).calls == 0
    assert models.traced(model).forward.experimental_get_tracing_count() == 1


def test_the_traced_input_gradient_is_the_eager_one():
    """The package's input gradients (attacks, saliency, grown images) come from
    the model's traced step: the eager tape's gradient, one trace for any batch
    size and target."""
    from tlcourse.tf import adversarial as A
    from tlcourse.tf import models

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3)])
    model.trainable = False
    rng = np.random.default_rng(1)
    for batch, target in ((3, 0), (5, [1, 2])):
        x = tf.constant(rng.normal(size=(batch, 4)), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            want_log_prob = A.logit_score(tf.nn.log_softmax(model(x, training=False)), target)
            total = tf.reduce_sum(want_log_prob)
        want = tape.gradient(total, x)
        log_prob, gain, grad = A.score_gradient(model, x, target)
        np.testing.assert_allclose(grad, want, atol=1e-5)
        np.testing.assert_allclose(log_prob, want_log_prob, atol=1e-5)
        np.testing.assert_allclose(gain, log_prob)
        assert np.abs(grad.numpy()).max() > 0
    step = models.traced(model).functions[("score_gradient", "log_prob")]
    assert step.experimental_get_tracing_count() == 1, "one trace, any batch and target"
    _, logit, _ = A.score_gradient(model, x, 2, objective="logit")
    np.testing.assert_allclose(logit, model(x, training=False)[:, 2], atol=1e-5)


def test_an_eager_tape_through_forward_differentiates_inputs_and_weights():
    """A hand-written loop under a tape (fine-tuning, an exercise's attack): the
    compiled call gives the eager call's gradients, the weights' too."""
    from tlcourse.tf import models

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 4)), tf.float32)
    grads = []
    for fn in (lambda t: model(t, training=False),
               lambda t: models.forward(model, t, calls_ahead=models.EAGER_CALLS + 1)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(fn(x) ** 2)
        grads.append(tape.gradient(y, [x, model.layers[0].kernel]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_each_pretrained_call_is_a_new_model_with_the_weights():
    first, _ = tlc.pretrained("mobilenet_v2", include_top=False)
    second, _ = tlc.pretrained("mobilenet_v2", include_top=False)
    assert second is not first
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.weights, second.weights))
    assert np.abs(second.weights[0].numpy()).max() > 0          # real weights, not the zero init
