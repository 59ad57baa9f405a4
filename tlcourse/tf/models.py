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
graph on 2 cores).  ``forward`` compiles each model once (``tf.function``, any
batch size) when it is called repeatedly, and runs it eagerly while it is not:
a trace costs about as much as a few eager calls.

One graph per architecture (``same_architecture``, ``lent_weights``): a
lesson that builds several models of one architecture (the same network on
three data sizes) would pay a trace for each (MobileNetV2 + head: about 0.7 s
for inference, 1.5 s for a training step, on 2 cores).  A loop over a loader
(``inference_loop``) with a new model of an architecture already compiled runs
on the compiled model's graph instead: that model's variables take the new
one's values for the loop (a swap of values: tens of milliseconds) and get
their own back afterwards.  To lend its graph the last compiled model of each
of the last ``TWINS_KEPT`` architectures is kept alive (the training step's
twins likewise, in ``tlcourse.tf.train``); not models over ``TWIN_MAX_MB``.
"""
from __future__ import annotations

import collections
import contextlib
import weakref

import numpy as np

import keras
import tensorflow as tf
from tensorflow.python.eager import record   # stop_recording: no public equivalent

from tlcourse import assets, imagenet
from tlcourse.contract import PUBLIC_API
from tlcourse.preprocess import (KERAS_CAFFE, MODELS, PREPROCESS, Preprocess,  # noqa: F401
                                 check_model_name, feature_dim, pixels_array)

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


def _port_builder(name: str):
    if name == "mobilenet_v2":
        from tlcourse.ports.keras_mobilenet_v2 import mobilenet_v2
        return mobilenet_v2
    from tlcourse.ports.keras_efficientnet_lite import efficientnet_lite0
    return efficientnet_lite0


_PORT_WEIGHTS: dict = {}   # (weights file, its mtime and size) -> the weights as read


def _port(name: str, include_top: bool) -> keras.Model:
    """One of our ports of a torch network, with its converted weights.

    The weights read from a file are kept in memory (MobileNetV2: 14 MB): a
    lesson asks for the same network several times, and ``set_weights`` takes a
    fifth of the time Keras's ``load_weights`` takes to read the file again."""
    path = assets.fetch(PORTS[name])   # converted from the torch file on first use
    full = _port_builder(name)(include_top=True, initializer="zeros")   # weights come next
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key in _PORT_WEIGHTS:
        full.set_weights(_PORT_WEIGHTS[key])
    else:
        try:
            full.load_weights(path)
        except Exception as exc:   # a stale or foreign file: say which and how to rebuild it
            raise assets.AssetError(
                f"{path} could not be loaded into the Keras {name} port ({exc}). Delete it "
                f"and run `tlcourse fetch {PORTS[name]}` to convert it again.") from exc
        _PORT_WEIGHTS[key] = full.get_weights()
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
class _Compiled:
    """A model's inference as a ``tf.function``, and how many eager calls it has had."""

    def __init__(self, model):
        self.calls = 0
        self.layers = len(model.layers)   # a Sequential that gains a layer needs a new trace
        ref = weakref.ref(model)          # the cache must not keep the model alive
        self.spec = _batch_spec(model, "inputs")
        self.function = tf.function(lambda x: ref()(x, training=False),
                                    input_signature=None if self.spec is None else [self.spec],
                                    reduce_retracing=True, autograph=False)
        # the gradient of an eager call is taken by a compiled graph of its own
        # (``call_with_input_gradient``)
        out_spec = _batch_spec(model, "outputs")
        self.input_gradient = tf.function(
            self._input_gradient, reduce_retracing=True, autograph=False,
            input_signature=None if self.spec is None or out_spec is None
            else [self.spec, out_spec])

    def _input_gradient(self, x, upstream):
        """The gradient of ``upstream . model(x)`` with respect to ``x``, traced: its
        backward pass is that of ``function``'s graph, built once for both eager
        tapes and traced steps (``grow_class_image``)."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = self.function(x)
        return tape.gradient(logits, x, output_gradients=upstream)

    def call_with_input_gradient(self, x):
        """``function(x)`` for eager code under a gradient tape (an attack, a saliency
        map), with ``input_gradient`` as its gradient.  Without this an eager tape
        builds a second backward graph (about 1.5 s for MobileNetV2 on 2 cores) and
        records the gradients of every weight TensorFlow sees as trainable (a frozen
        Keras model's variables still are), a third slower per step.  For models
        with no trainable weights: gradients flow to the input only."""
        @tf.custom_gradient
        def call(x):
            def grad(upstream, variables=None):
                gx = self.input_gradient(x, upstream)
                return (gx, [None] * len(variables)) if variables else gx
            with record.stop_recording():   # the tape records ``call``, not the graph inside
                return self.function(x), grad
        return call(x)


_COMPILED = weakref.WeakKeyDictionary()   # model -> _Compiled
TWINS_KEPT = 4       # architectures whose last traced model is kept alive to lend its graph
TWIN_MAX_MB = 100    # larger models are not kept (VGG-16 with its top: 528 MB)


class RecentModels:
    """The last traced model (and a value) per key, for at most ``TWINS_KEPT`` keys,
    kept alive: a model built inside a function (one per data size) is gone by
    the time the next one needs its graph.  Models over ``TWIN_MAX_MB`` of
    variables are not kept (nor lend their graph)."""

    def __init__(self):
        self.entries = collections.OrderedDict()

    def get(self, key):
        if key not in self.entries:
            return None, None
        self.entries.move_to_end(key)
        return self.entries[key]

    def put(self, key, model, value=None):
        size = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in model.variables)
        if size > TWIN_MAX_MB * 2 ** 20:
            return
        self.entries[key] = (model, value)
        self.entries.move_to_end(key)
        while len(self.entries) > TWINS_KEPT:
            self.entries.popitem(last=False)


_COMPILED_BY_ARCHITECTURE = RecentModels()   # architecture(model) -> a compiled model


def _batch_spec(model, which: str) -> tf.TensorSpec | None:
    """The model's one input (``which`` = "inputs") or output ("outputs") with any
    batch size, or None (several, or a subclassed model that declares none:
    traced per shape then)."""
    tensors = getattr(model, which, None)
    if not tensors or len(tensors) != 1:
        return None
    return tf.TensorSpec((None, *tensors[0].shape[1:]), tensors[0].dtype)


def model_state(model) -> list:
    """The variables a forward or training pass of ``model`` reads and writes: weights,
    BatchNorm statistics and random-seed state, not the metrics of the model or of
    models nested in it (which differ with whether and how those were trained)."""
    metrics = {id(v) for layer in model._flatten_layers()
               for v in getattr(layer, "metrics_variables", ())}
    return [v for v in model.variables if id(v) not in metrics]


def architecture(model, trainable: bool = False) -> str:
    """What a traced graph of ``model`` depends on, independent of which model it is:
    its config (layer names, which Keras numbers per model, replaced by their
    position; nested models' compile settings left out), its variables' shapes
    and dtypes, and with ``trainable`` which of them train (what a training
    step, unlike inference, depends on)."""
    layers = list(model._flatten_layers())
    position = {layer.name: f"<layer {i}>" for i, layer in enumerate(layers)}

    def canonical(value):
        if isinstance(value, dict):   # a nested model's compile settings do not enter its graph
            return {k: canonical(v) for k, v in value.items() if k != "compile_config"}
        if isinstance(value, (list, tuple)):
            return [canonical(v) for v in value]
        return position.get(value, value) if isinstance(value, str) else value

    try:
        config = canonical(model.get_config())
    except NotImplementedError:   # a subclassed model without get_config: never shared
        return f"<unshareable {id(model)}>"
    variables = [(tuple(v.shape), str(v.dtype), trainable and v.trainable)
                 for v in model_state(model)]
    return repr((type(model).__name__, [type(layer).__name__ for layer in layers],
                 config, variables))


def _shareable_pairs(owner_variables, variables) -> list | None:
    """The (owner's, model's) variable pairs to swap, those the two models do not
    share (a base two models wrap); None when they do not correspond one to one."""
    if len(owner_variables) != len(variables):
        return None
    pairs = [(a, b) for a, b in zip(owner_variables, variables) if a is not b]
    own = {id(a) for a, _ in pairs}
    if any(id(b) in own or tuple(a.shape) != tuple(b.shape) for a, b in pairs):
        return None   # a variable of one is a different variable of the other
    return pairs


def _exchange(pairs) -> None:
    """Swap the values of each pair of variables (plain TensorFlow ops: a Keras
    ``assign`` costs several times more)."""
    for a, b in pairs:
        a_value = a.value.read_value()
        a.value.assign(b.value.read_value(), read_value=False)
        b.value.assign(a_value, read_value=False)


@contextlib.contextmanager
def lent_weights(owner_variables, variables):
    """For the block, ``owner_variables`` hold the values of ``variables`` (in the
    same order); afterwards ``variables`` take the values the block left in the
    owner's (what a training step wrote) and the owner's get their own back.
    (Two swaps: in the block ``variables`` hold the owner's values.)"""
    pairs = _shareable_pairs(owner_variables, variables)
    if pairs is None:
        raise ValueError("the two models' variables do not correspond one to one")
    _exchange(pairs)
    try:
        yield
    finally:
        _exchange(pairs)


def _compiled_twin(model):
    """A live model of ``model``'s architecture whose inference graph is traced, or None."""
    key = architecture(model)
    twin, _ = _COMPILED_BY_ARCHITECTURE.get(key)
    entry = _COMPILED.get(twin) if twin is not None else None
    if twin is None or twin is model or entry is None or entry.layers != len(twin.layers) \
            or entry.function.experimental_get_tracing_count() == 0 \
            or _shareable_pairs(model_state(twin), model_state(model)) is None:
        return None, key
    return twin, key


def forward(model, x, calls_ahead: int = 1) -> tf.Tensor:
    """``model(x, training=False)``, computed by one compiled graph per model.

    A model's first ``EAGER_CALLS`` calls run eagerly (a model called once is
    not worth a trace); later calls, and calls inside a traced function, go
    through one graph traced for any batch size, gradients included (the
    gradient of a compiled call is compiled too; for a frozen model under an
    eager tape, the input's only: ``_Compiled.call_with_input_gradient``).
    ``calls_ahead``: the calls the caller is about to make, this one included
    (the batches of a loader): more than ``EAGER_CALLS`` compile the model at
    once (``inference_loop`` may borrow a compiled twin's graph instead).  Inputs the model's input does not
    accept go to the model itself, for Keras's error message."""
    entry = _COMPILED.get(model)
    if entry is None or entry.layers != len(model.layers):
        entry = _COMPILED[model] = _Compiled(model)
    if entry.spec is not None and not entry.spec.is_compatible_with(x):
        x = tf.convert_to_tensor(x)
        if x.dtype.is_floating and x.dtype != entry.spec.dtype:   # e.g. float64 numpy
            x = tf.cast(x, entry.spec.dtype)
        if not entry.spec.is_compatible_with(x):
            return model(x, training=False)
    if not tf.executing_eagerly():
        return entry.function(x)
    if entry.calls + calls_ahead <= EAGER_CALLS:
        entry.calls += 1
        return model(x, training=False)
    if not model.trainable_weights:
        return entry.call_with_input_gradient(x)
    return entry.function(x)


@contextlib.contextmanager
def inference_loop(model, calls: int):
    """``forward`` for a loop of ``calls`` inference calls (the batches of a loader),
    as a function of the batch.  A model of an architecture already compiled
    (``architecture``) borrows that model's graph for the loop: its weights are
    lent for the loop (two swaps, milliseconds) instead of a trace of its own.
    Loops run outside gradient tapes, which would watch the lender's variables."""
    entry = _COMPILED.get(model)
    untraced = entry is None or entry.layers != len(model.layers) \
        or entry.function.experimental_get_tracing_count() == 0
    if tf.executing_eagerly() and untraced and calls + (entry.calls if entry else 0) \
            > EAGER_CALLS:
        twin, key = _compiled_twin(model)
        if twin is not None:
            with lent_weights(model_state(twin), model_state(model)):
                yield lambda x: forward(twin, x, calls_ahead=calls)
            return
        _COMPILED_BY_ARCHITECTURE.put(key, model)   # compiled in this loop: it lends next
    yield lambda x: forward(model, x, calls_ahead=calls)


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
        raise ValueError(f"the model outputs shape {tuple(logits.shape)}, not ImageNet's 1000 "
                         "classes: use pretrained(name, include_top=True) for predictions")
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
