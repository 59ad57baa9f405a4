"""Pretrained ImageNet models for Keras: the same names and meaning as ``tlcourse.torch``.

    model, prep = pretrained("mobilenet_v2")
    predict_topk(model, prep, ["cat.jpg"])     # [[(285, 'Egyptian cat', 0.71), ...]]

Every model takes NHWC float batches that are already normalised (``to_batch``)
and returns logits (no softmax), like the torch models.

- ``mobilenet_v2``: our Keras port of torchvision's MobileNetV2 with
  torchvision's weights (offline; proven equal to the torch model in
  tests/test_keras_port.py) and torchvision's normalisation.
- ``vgg16``, ``resnet50``: ``keras.applications`` with Keras's own ImageNet
  weights (online only) and Keras's "caffe" preprocessing (BGR, mean
  subtracted in 0-255 units), expressed as a ``Preprocess`` with mode "caffe".
- ``efficientnet_lite0``: our Keras port (``efficientnet_lite.py``) of the
  PyTorch EfficientNet-Lite0 the torch adapter uses, same weights (offline)
  and the same normalisation (mean 127, std 128 in 0-255 units).

Inference (``forward``, which every prediction of this adapter goes through):
a Keras model called eagerly pays a Python call per layer and per operation
(MobileNetV2, 16 images at 96 px: about 0.3 s, against 0.05 s as one compiled
graph on 2 cores).  ``forward`` gives each model one
``tf.function(reduce_retracing=True)`` (any batch size) once it is called
repeatedly, and runs it eagerly while it is not: a trace costs about as much as
a few eager calls.  Each model has its own functions (``traced``); nothing is
shared between models.
"""
from __future__ import annotations

import weakref

import numpy as np

import keras
import tensorflow as tf

from tlcourse import assets, imagenet
from tlcourse.contract import PUBLIC_API
from tlcourse.ports import keras_builder
from tlcourse.preprocess import (KERAS_CAFFE, MODELS, PREPROCESS, Preprocess,  # noqa: F401
                                 check_model_name, feature_dim, pixels_array)
from tlcourse.messages import _

PREDICT_BATCH = 32   # images per forward in predict_topk, to bound memory
EAGER_CALLS = 2      # calls of a model run eagerly before ``forward`` compiles it
# our Keras ports of torch networks -> their weights asset (built by tlcourse.ports.convert)
PORTS = {"mobilenet_v2": "mobilenet_v2_keras", "efficientnet_lite0": "efficientnet_lite0_keras"}

__all__ = PUBLIC_API["models"]


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------
def device() -> str:
    """Where TensorFlow computes by default: "/GPU:0" when it sees a GPU, else
    "/CPU:0".  Nothing to move: TensorFlow places models and batches there by
    itself (the PyTorch adapter's ``device`` is where it moves them)."""
    return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"


def pretrained(name: str, include_top: bool = True, trainable: bool = False):
    """An ImageNet-pretrained ``keras.Model`` and its ``Preprocess``.

    include_top=True: logits (N, 1000).  include_top=False: the convolutional
    base ending in global average pooling, (N, feature_dim(name)).
    trainable=False freezes every weight (``model.trainable = False``).
    Weights come through the asset registry: offline-capable models work
    offline; online-only ones raise ``AssetError`` naming the URL and where
    to put the file by hand.
    """
    check_model_name(name)
    if name in PORTS:
        model = _port(name, include_top)
    elif name == "vgg16":
        path = assets.fetch("vgg16_keras" if include_top else "vgg16_keras_notop")
        model = keras.applications.VGG16(weights=str(path), include_top=include_top,
                                         pooling=None if include_top else "avg",
                                         classifier_activation=None)
    else:   # resnet50
        path = assets.fetch("resnet50_keras" if include_top else "resnet50_keras_notop")
        model = keras.applications.ResNet50(weights=str(path), include_top=include_top,
                                            pooling=None if include_top else "avg",
                                            classifier_activation=None)
    model.trainable = trainable
    # the input each Keras model's weights were trained with
    return model, KERAS_CAFFE.get(name) or PREPROCESS[name]


def _port(name: str, include_top: bool) -> keras.Model:
    """One of our ports of a torch network (``tlcourse.ports``), with its converted weights."""
    path = assets.fetch(PORTS[name])   # converted from the torch file on first use
    full = keras_builder(name)(include_top=True, initializer="zeros")   # weights come next
    try:
        full.load_weights(path)
    except Exception as exc:   # a stale or foreign file: say which and how to rebuild it
        raise assets.AssetError(
            _("{path} could not be loaded into the Keras {name} port ({error}). Delete it and run "
              "`tlcourse fetch {asset}` to convert it again.", path=path, name=name, error=exc,
              asset=PORTS[name])) from exc
    if include_top:
        return full
    # The base shares the full model's (already loaded) layers up to the pooling.
    return keras.Model(full.input, full.get_layer("pool").output, name=f"{name}_base")


def count_params(model) -> tuple[int, int]:
    """(trainable, total) parameter counts.

    Like PyTorch's ``parameters()``, BatchNorm's running mean and variance are
    not parameters (they are buffers in torch, non-trainable weights in
    Keras), so both adapters give the same numbers for the same network.
    """
    def size(v):
        return int(np.prod(v.shape))

    stats = ("moving_mean", "moving_variance")
    total = sum(size(v) for v in model.weights if not v.path.endswith(stats))
    trainable = sum(size(v) for v in model.trainable_weights)
    return trainable, total


# --------------------------------------------------------------------------
# inference: one compiled graph per model
# --------------------------------------------------------------------------
class Traced:
    """A model's own ``tf.function`` objects: ``forward`` (inference, any batch size),
    those other modules add with ``function`` (the input gradient of a class
    score), and how many eager calls ``forward`` has made.  They hold the model
    weakly: a model is not kept alive by its functions."""

    def __init__(self, model):
        self.calls = 0
        self.layers = len(model.layers)   # a Sequential that gains a layer needs new traces
        self.model = weakref.ref(model)
        self.spec = batch_spec(model)
        self.forward = tf.function(lambda x: self.model()(x, training=False),
                                   input_signature=None if self.spec is None else [self.spec],
                                   reduce_retracing=True, autograph=False)
        self.functions = {}

    def function(self, key, make):
        """The model's function ``key``, made once by ``make(model_ref, spec)`` (a
        ``tf.function``; ``model_ref()`` is the model)."""
        if key not in self.functions:
            self.functions[key] = make(self.model, self.spec)
        return self.functions[key]


_TRACED = weakref.WeakKeyDictionary()   # model -> its Traced (weak: dies with the model)


def traced(model) -> Traced:
    """``model``'s own traced functions (made on first use, again when it gains layers)."""
    entry = _TRACED.get(model)
    if entry is None or entry.layers != len(model.layers):
        entry = _TRACED[model] = Traced(model)
    return entry


def batch_spec(model) -> tf.TensorSpec | None:
    """The model's one input with any batch size, or None (several inputs, or a
    subclassed model that declares none: traced per shape then)."""
    tensors = getattr(model, "inputs", None)
    if not tensors or len(tensors) != 1:
        return None
    return tf.TensorSpec((None, *tensors[0].shape[1:]), tensors[0].dtype)


def as_model_input(model, x):
    """``x`` as a tensor of the model's input dtype (float64 numpy: cast), or None when
    the model's input does not accept its shape."""
    spec = traced(model).spec
    if spec is None or spec.is_compatible_with(x):
        return x
    x = tf.convert_to_tensor(x)
    if x.dtype.is_floating and x.dtype != spec.dtype:
        x = tf.cast(x, spec.dtype)
    return x if spec.is_compatible_with(x) else None


def forward(model, x, calls_ahead: int = 1) -> tf.Tensor:
    """``model(x, training=False)``, computed by the model's ``tf.function``.

    A model's first ``EAGER_CALLS`` calls run eagerly (a model called once is
    not worth a trace); later calls go through one graph traced for any batch
    size.  Inside a traced function the model is called directly (it becomes
    part of that graph).  ``calls_ahead``: the calls the caller is about to
    make, this one included (the batches of a loader): more than
    ``EAGER_CALLS`` compile the model at once.  Inputs the model's input does
    not accept go to the model itself, for Keras's error message.  Under a
    gradient tape TensorFlow differentiates the traced call like the eager one
    (the package's own input gradients use ``tlcourse.tf.adversarial``'s traced step)."""
    entry = traced(model)
    ready = as_model_input(model, x)
    if ready is None or not tf.executing_eagerly():
        return model(x if ready is None else ready, training=False)
    if entry.calls + calls_ahead <= EAGER_CALLS:
        entry.calls += 1
        return model(ready, training=False)
    return entry.forward(ready)


# --------------------------------------------------------------------------
# images -> tensors (loading, resizing and cropping are the core's pixels_array)
# --------------------------------------------------------------------------
def to_pixels(preprocess: Preprocess, images) -> tf.Tensor:
    """Images -> float32 NHWC batch in [0, 1], resized and centre-cropped, NOT normalised
    (what an attack perturbs).  ``images``: a path, PIL image, uint8 HWC array, or a list.
    Images already size x size are used as they are."""
    return tf.constant(pixels_array(preprocess, images))


def normalize(preprocess: Preprocess, x01) -> tf.Tensor:
    """[0, 1] NHWC pixels -> model input; differentiable (plain tf ops).

    (x - mean) / std, then channels reversed to BGR for "caffe" models; the
    numpy reference is ``Preprocess.normalize_array``.
    """
    x = tf.convert_to_tensor(x01, dtype=tf.float32)
    y = (x - tf.constant(preprocess.mean, tf.float32)) / tf.constant(preprocess.std, tf.float32)
    return y[..., ::-1] if preprocess.bgr else y


def to_batch(preprocess: Preprocess, images) -> tf.Tensor:
    """Images -> normalised float32 NHWC batch, ready for the model."""
    return normalize(preprocess, to_pixels(preprocess, images))


def probabilities(model, batch) -> np.ndarray:
    """Softmax of the model's output for a ready (normalised) batch, as numpy (N, classes).

    Runs the model in inference mode (``training=False``: BatchNorm uses its
    running statistics, dropout is off)."""
    logits = forward(model, batch)
    if logits.shape.rank != 2 or logits.shape[1] != len(imagenet.class_names()):
        raise ValueError(_("the model outputs shape {shape}, not ImageNet's 1000 classes: use "
                           "pretrained(name, include_top=True) for predictions",
                           shape=tuple(logits.shape)))
    return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy()


def _is_ready_batch(images) -> bool:
    """A tensor, or a float 4-D array, is taken as already normalised (NHWC)."""
    if isinstance(images, (tf.Tensor, tf.Variable)):
        return True
    return isinstance(images, np.ndarray) and images.ndim == 4 and images.dtype.kind == "f"


def predict_topk(model, preprocess: Preprocess, images, k: int = 5):
    """For each image, the k most likely ImageNet classes: [[(index, name, prob), ...], ...].

    ``images`` as for ``to_batch`` (they go through the model PREDICT_BATCH at
    a time), or a batch ``to_batch`` already made."""
    if _is_ready_batch(images):
        return imagenet.topk_from_probs(probabilities(model, images), k)
    pixels = pixels_array(preprocess, images)   # decode and crop once
    out = []
    for start in range(0, len(pixels), PREDICT_BATCH):
        chunk = normalize(preprocess, pixels[start:start + PREDICT_BATCH])
        out += imagenet.topk_from_probs(probabilities(model, chunk), k)
    return out
