"""Training for Keras: the same names and meaning as ``tlcourse.torch.train``.

    base, prep = pretrained("mobilenet_v2", include_top=False)
    model = with_new_head(base, num_classes=2)            # base frozen, new head
    history = fit(model, train_loader, val_loader, epochs=3, lr=1e-3)

Models output logits; the loss is sparse categorical cross-entropy.
BatchNorm: ``with_new_head`` calls the base with ``training=False``, as the Keras
transfer-learning guide advises, so a frozen base's BatchNorm layers run in
inference mode.  Keras 3 passes the outer model's training flag on to a nested
model under ``fit`` (keras-team/keras#20285), so a *trainable* BatchNorm would
update its statistics all the same: ``pets.unfreeze_top`` keeps the BatchNorm
layers frozen (statistics ImageNet's), in both adapters.  After changing ``trainable`` a Keras model
must be compiled again (``fit`` compiles when given ``lr=`` or a new
``optimizer=``).  Everything here is stock Keras: one learning rate per
optimizer, as in the guide (fine-tuning recompiles with one low rate).

``fit`` is Keras's ``compile`` and ``fit`` with a progress bar and a
``History``; Keras traces the training step once per compile (1-2 s for
MobileNetV2 on 2 cores), so a fit of at most ``EAGER_STEPS`` steps that
compiles runs eagerly instead (``compile(run_eagerly=True)``).
"""
from __future__ import annotations

import re
import time
import weakref
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tlcourse import train as core
from tlcourse.messages import _
from tlcourse.contract import PUBLIC_API
from tlcourse.preprocess import Preprocess
from tlcourse.exercises import reference_answer
from tlcourse.tf.models import forward, to_batch

__all__ = list(PUBLIC_API["train"])

History = core.History
FRAMEWORK = "tf"
EAGER_STEPS = 4   # a fit of at most this many steps in all runs eagerly: cheaper than a trace


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# --------------------------------------------------------------------------
# freezing and heads
# --------------------------------------------------------------------------
def freeze(model):
    """Make every weight of ``model`` untrainable (``model.trainable = False``); returns it.
    Compile (again) afterwards for the change to reach training."""
    model.trainable = False
    return model


_BLOCK = re.compile(r"^(features_\d+|block\d+|conv\d+|stem|top)(_|$)")


def _blocks(base) -> list[tuple[str, list]]:
    """The base's layers grouped into blocks, in order: ``features_N`` (our
    MobileNetV2 port, named like torchvision's), ``blockN`` (VGG), ``convN`` (ResNet)."""
    blocks = []
    for layer in base.layers:
        m = _BLOCK.match(layer.name)
        key = m.group(1) if m else layer.name
        if blocks and blocks[-1][0] == key:
            blocks[-1][1].append(layer)
        else:
            blocks.append((key, [layer]))
    return blocks


def _weighted_blocks(base):
    return [(name, layers) for name, layers in _blocks(base) if any(l.weights for l in layers)]


def top_layers(base, n_blocks: int) -> list:
    """The layers of the top ``n_blocks`` blocks (with weights) of a pretrained base:
    what fine-tuning unfreezes.  MobileNetV2 has 19 blocks, VGG-16 five."""
    blocks = _weighted_blocks(base)
    if not 0 <= n_blocks <= len(blocks):
        raise ValueError(_("n_blocks must be between 0 and {blocks} for this base",
                           blocks=len(blocks)))
    return [layer for _, layers in blocks[len(blocks) - n_blocks:] for layer in layers]


@reference_answer
def with_new_head(base, num_classes: int, dropout: float = 0.2, feature_dim: int | None = None):
    """``base`` (frozen here) called with ``training=False``, then dropout and one
    dense layer (logits).  A functional ``keras.Model``."""
    freeze(base)
    inputs = keras.Input(shape=base.input_shape[1:], name="image")
    x = base(inputs, training=False)      # frozen BatchNorm: inference mode
    outputs = feature_classifier(feature_dim or base.output_shape[-1], num_classes, dropout)(x)
    return keras.Model(inputs, outputs, name=f"{base.name}_new_head")


@reference_answer
def feature_classifier(feature_dim: int, num_classes: int, dropout: float = 0.2):
    """The small classifier trained on features: dropout + one dense layer (logits)."""
    return keras.Sequential([keras.Input(shape=(feature_dim,)), keras.layers.Dropout(dropout),
                             keras.layers.Dense(num_classes)], name="head")


def adam(model, lr: float) -> keras.optimizers.Optimizer:
    """``keras.optimizers.Adam(learning_rate=lr)``, what ``fit(lr=...)`` compiles
    ``model`` with (Keras finds the model's trainable weights at compile time)."""
    return keras.optimizers.Adam(learning_rate=float(lr))


_FITTED = weakref.WeakKeyDictionary()   # model -> (its optimizer, what trained) at tlc.fit


def _trainable_ids(model) -> frozenset:
    return frozenset(id(v) for v in model.trainable_weights)


def compiled_with_current_trainable(model) -> bool:
    """True when the model's next ``fit`` trains exactly the weights that are
    trainable now (Keras needs a compile after ``trainable`` changes).

    Keras builds a compiled model's optimizer for the weights trainable at the
    first ``fit`` after ``compile``: until then (``model.optimizer.built`` is
    False) any change is still taken.  Once built, the optimizer keeps those
    weights, and ``fit`` trains them until the next ``compile``: this function
    compares them with the trainable weights now, as ``tlc.fit`` recorded them
    (a model trained by Keras's own ``fit`` since its last ``compile``: False,
    compile to be sure)."""
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None:
        return False
    if not optimizer.built:
        return True
    fitted_optimizer, trained = _FITTED.get(model, (None, None))
    return fitted_optimizer is not None and fitted_optimizer() is optimizer \
        and trained == _trainable_ids(model)


# --------------------------------------------------------------------------
# training and evaluation
# --------------------------------------------------------------------------
class _Epochs(keras.callbacks.Callback):
    """tqdm bar per epoch (Keras's own bar is turned off), wall seconds of each
    epoch's training, then the validation (``evaluate``: the model's compiled
    inference graph, which later predictions reuse, where Keras's validation
    would trace a graph of its own after every compile)."""

    def __init__(self, epochs, steps, show, val_loader=None):
        super().__init__()
        self.epochs, self.steps, self.show, self.val_loader = epochs, steps, show, val_loader
        self.seconds, self.validation = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.bar = tqdm(total=self.steps, desc=core.epoch_title(epoch, self.epochs), unit="batch",
                        disable=not self.show, leave=False)

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)
        if logs:
            self.bar.set_postfix(loss=f"{logs.get('loss', 0):.4f}",
                                 acc=f"{logs.get('accuracy', 0):.3f}")

    def on_epoch_end(self, epoch, logs=None):
        self.bar.close()
        self.seconds.append(time.perf_counter() - self.start)
        if self.val_loader is not None:
            self.validation.append(evaluate(self.model, self.val_loader))


def _cardinality(ds) -> int | None:
    """The batches in a loader: a tf.data.Dataset's cardinality, or the length of a
    list of batches; None when unknown."""
    if not isinstance(ds, tf.data.Dataset):
        return len(ds) if hasattr(ds, "__len__") else None
    n = int(tf.data.experimental.cardinality(ds))
    return n if n >= 0 else None


def _build_training_state(model, data) -> None:
    """Create the optimizer's, loss's and metrics' variables before ``fit`` traces its step.

    Without a distribution strategy Keras creates them inside its first trace of
    the training step, and TensorFlow, seeing new variables, then traces the step
    a second time (about 1 s more for MobileNetV2 on 2 cores).  One tiny eager
    update builds them; the metrics are reset after it (and by ``fit`` anyway)."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:   # a subclassed model: Keras builds it in the trace
        return
    label_spec = data.element_spec[1]
    y_true = tf.zeros([1, *label_spec.shape[1:]], label_spec.dtype)
    y_pred = tf.zeros([1, *outputs[0].shape[1:]], outputs[0].dtype)
    if not model.optimizer.built:   # (an optimizer compiled again keeps what it has)
        model.optimizer.build(model.trainable_variables)
    model.compute_loss(y=y_true, y_pred=y_pred)
    model.compute_metrics(None, y_true, y_pred, sample_weight=None)
    model.reset_metrics()


def fit(model, train_loader, val_loader=None, epochs: int = 1, lr: float | None = None,
        optimizer=None, steps_per_epoch: int | None = None, name: str | None = None,
        standin: bool | None = None, progress: bool = True) -> core.History:
    """Train with cross-entropy; returns a ``History`` (loss/accuracy per epoch,
    validation when ``val_loader`` is given, seconds of training per epoch).

    Compiles the model with ``optimizer`` or ``keras.optimizers.Adam(lr)``;
    with neither, or with the optimizer the model was already compiled with,
    it trains as compiled.  ``steps_per_epoch`` caps the batches per epoch.
    A fit that compiles and runs at most ``EAGER_STEPS`` steps in all compiles
    with ``run_eagerly=True``: tracing Keras's training step costs several
    seconds, an eager step a fraction of one (the model then stays eager until
    it is compiled again)."""
    data = train_loader.take(steps_per_epoch) if steps_per_epoch else train_loader
    steps = _cardinality(data)
    short = steps is not None and steps * epochs <= EAGER_STEPS
    if optimizer is not None and getattr(model, "optimizer", None) is optimizer \
            and getattr(model, "compiled", False):
        pass                                   # compiled by the caller: keep it
    elif optimizer is not None or lr is not None:
        model.compile(optimizer=optimizer if optimizer is not None else adam(model, lr),
                      loss=_loss(), metrics=["accuracy"], run_eagerly=short)
    elif not getattr(model, "compiled", False):
        raise ValueError(_("fit needs lr= or optimizer= (or a model compiled already)"))
    epochs_log = _Epochs(epochs, steps, progress, val_loader)
    if not model.run_eagerly:
        _build_training_state(model, data)
    logs = model.fit(data, epochs=epochs, verbose=0, shuffle=False,   # loaders shuffle
                     callbacks=[epochs_log]).history                  # themselves
    _FITTED[model] = (weakref.ref(model.optimizer), _trainable_ids(model))
    if standin is None:
        standin = bool(getattr(train_loader, "standin", False))
    history = core.History(name or model.name, standin=standin)
    losses = logs.get("loss", [])
    for e, loss in enumerate(losses):
        val_loss, val_acc = epochs_log.validation[e] if val_loader is not None else (None, None)
        history.add(loss, logs.get("accuracy", [None] * len(losses))[e], val_loss, val_acc,
                    epochs_log.seconds[e])
        if progress:
            print(core.epoch_line(e, epochs, history.epochs[-1]))
    return history


def _logits_and_labels(model, loader):
    batches = _cardinality(loader) or 1
    for x, y in loader:
        yield forward(model, x, calls_ahead=batches), np.asarray(y)


def evaluate(model, loader) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over ``loader``, in inference mode."""
    total, correct, seen = 0.0, 0, 0
    for logits, y in _logits_and_labels(model, loader):
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(y, tf.cast(logits, tf.float32))
        total += float(tf.reduce_sum(loss))
        correct += int(np.sum(np.argmax(logits, 1) == y))
        seen += len(y)
    if not seen:
        raise ValueError(_("the loader is empty"))
    return total / seen, correct / seen


def predict(model, loader) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, classes), true labels (N,)) over ``loader``."""
    probs, labels = [], []
    for logits, y in _logits_and_labels(model, loader):
        probs.append(tf.nn.softmax(tf.cast(logits, tf.float32), -1).numpy())
        labels.append(y)
    return np.concatenate(probs), np.concatenate(labels)


def predict_images(model, preprocess: Preprocess, images) -> np.ndarray:
    """Class probabilities (N, classes) for images (paths, PIL images or uint8 arrays),
    prepared like the evaluation pipeline."""
    logits = forward(model, to_batch(preprocess, images))
    return tf.nn.softmax(tf.cast(logits, tf.float32), -1).numpy()


def array_loader(X, y, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                 standin: bool = False):
    """Batches of (features, labels) from numpy arrays, for training a classifier on
    features.  ``standin`` marks the History of a fit on it as stand-in data."""
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(X, np.float32), np.asarray(y, np.int64)))
    if shuffle:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds.standin = standin
    return ds


# --------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------
def features_key(model_name: str, split, preprocess: Preprocess) -> str:
    """The cache key of a split's features from ``model_name`` at this preprocessing."""
    return core.features_key(FRAMEWORK, model_name, split, preprocess)


@reference_answer
def extract_features(model, loader, cache_key: str | None = None,
                     progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D) float32, labels (N,)) of every batch of ``loader`` through
    ``model`` in inference mode.  With ``cache_key`` they are saved once and reused."""
    def compute():
        xs, ys = [], []
        batches = _cardinality(loader)
        for x, y in tqdm(loader, desc=_("features"), unit="batch", disable=not progress,
                         total=batches, leave=False):
            xs.append(np.asarray(forward(model, x, calls_ahead=batches or 1), np.float32))
            ys.append(np.asarray(y))
        return np.concatenate(xs), np.concatenate(ys)
    return core.cached_features(cache_key, compute)


def feature_maps(base, preprocess: Preprocess, image, n_layers: int = 4) -> list:
    """[(block name, activations (H, W, C)), ...] of one image at ``n_layers`` blocks
    spread from the bottom to the top of the base."""
    blocks = _weighted_blocks(base)
    picks = np.unique(np.linspace(0, len(blocks) - 1, n_layers).round().astype(int))
    outputs = [blocks[i][1][-1].output for i in picks]
    probe = keras.Model(base.inputs, outputs)
    acts = probe(to_batch(preprocess, image), training=False)
    acts = acts if isinstance(acts, (list, tuple)) else [acts]
    return [(blocks[i][0].replace("features_", "features."), np.asarray(a[0]))
            for i, a in zip(picks, acts)]


# --------------------------------------------------------------------------
# saving: the native .keras format (architecture + weights in one file)
# --------------------------------------------------------------------------
def save_model(model, path) -> Path:
    """Save as a ``.keras`` file (architecture, weights, compile settings)."""
    from tlcourse.cache import atomic_path

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(_("{path}: use a .keras file name", path=path))
    with atomic_path(path) as tmp:
        keras_tmp = tmp.with_name(tmp.name + ".keras")   # Keras insists on the suffix
        try:
            model.save(keras_tmp)
            keras_tmp.replace(tmp)
        finally:
            keras_tmp.unlink(missing_ok=True)
    return path


def load_model(path):
    """The model ``save_model`` wrote, ready to predict (not compiled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(_("{path}: no saved model there", path=path))
    return keras.saving.load_model(path, compile=False)
