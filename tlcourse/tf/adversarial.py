"""Ideal class images and targeted attacks in TensorFlow (same names as ``tlcourse.torch``).

Small pieces that compose, in the spirit of Lucid and torchattacks:

- objectives: ``class_log_prob`` (log-probability of a class) and
  ``logit_score`` (the class score before the softmax);
- parameterisations: ``pixel_image`` and ``fourier_image`` (Fourier
  spectrum + colour decorrelation), each a callable giving [0, 1] NHWC pixels;
- robustness: ``apply_transforms`` (random jitter/scale/rotation, drawn by
  ``Transforms``), and the ``total_variation`` penalty;
- ``grow_class_image``: gradient descent on the input for one class;
- attacks on [0, 1] pixels under an L-infinity budget: ``fgsm`` (one step),
  ``pgd_step`` (one projected signed-gradient step), ``targeted_attack``
  (the loop, a result record), ``attack_photos`` (many photos and budgets).

Random starts and random transforms are drawn with numpy in the core
(``tlcourse.adversarial``), so this module and the PyTorch one start from the
same numbers; the loops of ``grow_class_image``, ``targeted_attack`` and
``attack_photos`` are the core's too, given TensorFlow's steps here.  Tensors
are NHWC here, NCHW in PyTorch.

The input gradients of the attacks, the saliency maps and the grown images
come from one traced step per model and objective (``score_gradient``: a
``tf.function`` with ``GradientTape(watch_accessed_variables=False)`` and
``tape.watch(x)``, so no weight gradient is computed), for any batch size and
target.
"""
from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from tlcourse import adversarial as core
from tlcourse.adversarial import (STANDARD_TRANSFORMS, AttackResult, ClassImage,  # noqa: F401
                                  Transforms, parse_eps)
from tlcourse.contract import PUBLIC_API
from tlcourse.imagenet import parse_class
from tlcourse.tf.models import forward, normalize, to_pixels, traced
from tlcourse.exercises import reference_answer

__all__ = PUBLIC_API["adversarial"]


# --------------------------------------------------------------------------
# objective and penalty
# --------------------------------------------------------------------------
@reference_answer
def total_variation(x) -> tf.Tensor:
    """Mean absolute difference between vertical neighbours plus that between
    horizontal neighbours, over an NHWC batch (``core.total_variation_reference``)."""
    x = tf.convert_to_tensor(x, tf.float32)
    dy = tf.abs(x[:, 1:, :, :] - x[:, :-1, :, :])
    dx = tf.abs(x[:, :, 1:, :] - x[:, :, :-1, :])

    def mean(d):   # an empty direction (one pixel high or wide) adds 0, not NaN
        return tf.reduce_mean(d) if d.shape.num_elements() else tf.constant(0.0)

    return mean(dy) + mean(dx)


def class_log_prob(model, preprocess, x01, target) -> tf.Tensor:
    """log p(target | image) for each image of a [0, 1] NHWC batch: shape (N,).

    ``target``: a class index, or several (e.g. the five domestic cats): then
    the log of their total probability."""
    return _log_prob_of_logits(forward(model, normalize(preprocess, x01)), target)


def logit_score(logits, target) -> tf.Tensor:
    """Per row of ``logits``: the target's logit (several: the logsumexp of theirs)."""
    return _masked_logsumexp(logits, _class_log_mask(target, logits.shape[-1]))


def _log_prob_of_logits(logits, target) -> tf.Tensor:
    return logit_score(tf.nn.log_softmax(logits, axis=-1), target)


def _class_log_mask(target, classes: int) -> tf.Tensor:
    """0 for the target's classes, -inf for the others: (classes,).  As a tensor, the
    target of a traced step can change without a new trace (``score_gradient``)."""
    mask = np.full(classes, -np.inf, np.float32)
    mask[core.class_list(target)] = 0.0
    return tf.constant(mask)


def _masked_logsumexp(scores, log_mask) -> tf.Tensor:
    """Per row: the logsumexp of the scores the log-mask keeps."""
    return tf.reduce_logsumexp(scores + tf.cast(log_mask, scores.dtype), axis=1)


def _score_gradient_function(model_ref, spec, objective: str):
    """A model's traced step: for a model input batch ``x`` and a class log-mask,
    (log p(target) per image, the objective per image, d sum(objective) / d x).
    The tape watches ``x`` only: the model's weights (trainable or not as
    TensorFlow sees them) get no gradient computed."""
    def step(x, log_mask):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            logits = tf.cast(model_ref()(x, training=False), tf.float32)
            log_prob = _masked_logsumexp(tf.nn.log_softmax(logits, axis=-1), log_mask)
            gain = log_prob if objective == "log_prob" else _masked_logsumexp(logits, log_mask)
            total = tf.reduce_sum(gain)
        return log_prob, gain, tape.gradient(total, x)

    signature = None if spec is None else [spec, tf.TensorSpec([None], tf.float32)]
    return tf.function(step, input_signature=signature, reduce_retracing=True, autograph=False)


def score_gradient(model, x, target, objective: str = "log_prob"):
    """(log p(target | x), the objective, d sum(objective) / d x) for a batch ``x`` of
    model inputs (normalised), by the model's own traced step (one trace per
    objective, any batch size, any target).  ``objective``: "log_prob", or
    "logit" (the target's logit; several targets: the logsumexp of theirs).
    ``target``: class index(es), or a log-mask tensor from ``_class_log_mask``."""
    core.check_objective(objective)
    step = traced(model).function(("score_gradient", objective),
                                  functools.partial(_score_gradient_function,
                                                    objective=objective))
    log_mask = target if isinstance(target, tf.Tensor) else \
        _class_log_mask(target, model.outputs[0].shape[-1])
    return step(tf.convert_to_tensor(x, tf.float32), log_mask)


def pixel_score_gradient(model, preprocess, x01, target, objective: str = "log_prob"):
    """``score_gradient`` for [0, 1] pixels: the gradient is with respect to the
    pixels (through ``normalize``, differentiated eagerly: a few operations)."""
    x01 = tf.convert_to_tensor(x01, tf.float32)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x01)
        x = normalize(preprocess, x01)
    log_prob, gain, grad = score_gradient(model, x, target, objective)
    return log_prob, gain, tape.gradient(x, x01, output_gradients=grad)


def classify_pixels(model, preprocess, pixels) -> np.ndarray:
    """Probabilities (N, 1000) for [0, 1] pixels, (N, H, W, 3) numpy or tensor,
    at the size given (not resized: the networks end in global pooling, and a
    resize would blur exactly the fine patterns an attack or a grown image relies on)."""
    logits = forward(model, normalize(preprocess, as_pixels(pixels)))
    return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy()


def as_pixels(pixels) -> tf.Tensor:
    """[0, 1] pixels as an NHWC float32 tensor from a tensor or an (N,)H,W,3 array."""
    x = tf.convert_to_tensor(pixels, tf.float32)
    return x[None] if x.shape.rank == 3 else x


def _first_image(x) -> np.ndarray:
    """The first image of an NHWC batch as (H, W, 3) numpy."""
    return np.asarray(x[0])


# --------------------------------------------------------------------------
# parameterisations: callables returning [0, 1] NHWC pixels
# --------------------------------------------------------------------------
class pixel_image:   # noqa: N801  (used like a function, as in Lucid)
    """Pixels through a sigmoid (always a valid image): ``image()`` -> (batch, size, size, 3)."""

    def __init__(self, size: int = 224, batch: int = 1, seed: int = 0):
        self.logits = tf.Variable(core.pixel_init(size, batch, seed))
        self.variables = [self.logits]

    def __call__(self) -> tf.Tensor:
        return tf.sigmoid(self.logits)


class fourier_image:   # noqa: N801
    """Lucid's Fourier parameterisation with colour decorrelation: the
    variables are a 1/f^decay_power-scaled spectrum in a decorrelated colour space;
    ``image()`` is its inverse FFT, mapped to RGB, through a sigmoid."""

    def __init__(self, size: int = 224, batch: int = 1, seed: int = 0,
                 decorrelate: bool = True, decay_power: float = core.FOURIER_DECAY):
        self.size, self.decorrelate = size, decorrelate
        self.spectrum = tf.Variable(core.fourier_init(size, batch, seed))
        self.scale = tf.constant(core.fourier_scale(size, decay_power))
        self.color = tf.constant(core.COLOR_CORRELATION)
        self.variables = [self.spectrum]

    def __call__(self) -> tf.Tensor:
        spec = tf.complex(self.spectrum[..., 0] * self.scale, self.spectrum[..., 1] * self.scale)
        # tf's irfft2d divides by h*w; "ortho" (as numpy/torch use) divides by sqrt(h*w)
        x = tf.signal.irfft2d(spec, fft_length=[self.size, self.size]) * float(self.size)
        x = tf.transpose(x, [0, 2, 3, 1]) / core.FOURIER_MAGIC          # NCHW -> NHWC
        if self.decorrelate:   # decorrelated colour space -> RGB
            x = tf.einsum("nhwc,dc->nhwd", x, self.color)
        return tf.sigmoid(x)


def _bilinear_plan(h: int, w: int, thetas: np.ndarray):
    """Where each output pixel reads from, for (copies, 2, 3) affine matrices in
    normalised coordinates: torch's affine_grid + grid_sample (align_corners=False,
    padding_mode="border").  Returns the flat indices of the four neighbours
    (each (copies, h*w) int32) and the bilinear weights wx, wy (each
    (copies, h, w, 1)).  Plain numpy, so a traced step can take them as tensors:
    drawn anew each step, never frozen into the graph."""
    ys = (2 * np.arange(h) + 1) / h - 1
    xs = (2 * np.arange(w) + 1) / w - 1
    gx, gy = np.meshgrid(xs, ys)                               # (h, w) each
    base = np.stack([gx, gy, np.ones_like(gx)], -1)            # (h, w, 3)
    src = np.einsum("hwk,cjk->chwj", base, thetas)             # (copies, h, w, 2): x, y
    px = np.clip(((src[..., 0] + 1) * w - 1) / 2, 0, w - 1)    # border: clamp coordinates
    py = np.clip(((src[..., 1] + 1) * h - 1) / 2, 0, h - 1)
    x0, y0 = np.floor(px).astype(np.int32), np.floor(py).astype(np.int32)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    wx, wy = (px - x0).astype(np.float32), (py - y0).astype(np.float32)
    corners = [(yy * w + xx).reshape(len(thetas), -1).astype(np.int32)
               for yy, xx in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))]
    return (*corners, wx[..., None], wy[..., None])


def _bilinear_sample(x, i00, i01, i10, i11, wx, wy):
    """Resample an NHWC batch by a ``_bilinear_plan`` of k copies (works traced or
    eager): every copy's transform applied to the whole batch, (k * N, H, W, C),
    copy-major as in PyTorch."""
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    copies = tf.shape(i00)[0]
    flat = tf.tile(tf.reshape(x, [n, h * w, -1]), [copies, 1, 1])   # (k * N, h*w, C)

    def per_image(a):          # one row per output image: copy j's row for each of the N
        return tf.repeat(a, n, axis=0)

    def at(idx):
        return tf.reshape(tf.gather(flat, per_image(idx), axis=1, batch_dims=1),
                          [copies * n, h, w, -1])

    wx, wy = per_image(wx), per_image(wy)
    return ((1 - wy) * ((1 - wx) * at(i00) + wx * at(i01))
            + wy * ((1 - wx) * at(i10) + wx * at(i11)))


def _pad_grey(x, pad: int):
    return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=0.5)


def _draw_plan(transforms: Transforms, rng: np.random.Generator, size: int):
    """``transforms.copies`` random affines for a ``size`` image padded by ``transforms.pad``."""
    padded = size + 2 * transforms.pad
    return _bilinear_plan(padded, padded, transforms.sample_copies(rng, padded))


def apply_transforms(x, transforms: Transforms | None, rng: np.random.Generator):
    """Pad with mid-grey, then ``transforms.copies`` random affines (shift, zoom,
    rotation) per call, each applied to the whole batch: (copies * N, H', W', 3),
    copy-major."""
    if transforms is None:
        return x
    return _bilinear_sample(_pad_grey(x, transforms.pad),
                            *_draw_plan(transforms, rng, x.shape[1]))


def grow_class_image(model, preprocess, target, image="pixels", steps: int = 128,
                     lr: float = 0.05, tv_weight: float = 0.0,
                     transforms: Transforms | None = None, size: int = 224, seed: int = 0,
                     objective: str = "log_prob", progress: bool = True,
                     label: str = "") -> ClassImage:
    """Gradient descent on an image to maximise log p(target) (``objective="logit"``:
    the class score before the softmax), with an optional total-variation penalty
    and random robustness transforms.

    ``image``: "pixels", "fourier", or a parameterisation object (its
    ``variables`` are optimised with Adam).  Returns a ``ClassImage``.

    One step is one ``tf.function`` (eager, the parameterisation and the
    transforms cost a Python call per operation): the parameterisation, the
    random transform (drawn in numpy outside the trace and passed in as
    tensors, a new one each step), the penalty and Adam's update are traced for
    each image (a fraction of a second); the network's part is the model's
    traced ``score_gradient``, called from it, whose one trace serves every
    image grown on the model, whatever its class, penalty or parameterisation."""
    core.check_objective(objective)
    kinds = {"pixels": pixel_image, "fourier": fourier_image}
    param = core.parameterisation(image, kinds, size, seed)
    opt = keras.optimizers.Adam(learning_rate=lr)
    opt.build(param.variables)   # optimizer state is created outside the traced step
    log_mask = _class_log_mask(target, model.outputs[0].shape[-1])
    tv = tf.constant(float(tv_weight))
    rng = np.random.default_rng(seed)

    @tf.function(autograph=False)   # plain Python around TF ops: nothing to convert
    def traced_step(plan):
        with tf.GradientTape() as tape:   # the parameterisation's variables only
            x = param()
            seen = x if transforms is None else _bilinear_sample(
                _pad_grey(x, transforms.pad), *plan)
            model_input = normalize(preprocess, seen)
            penalty = tv * total_variation(x)
        log_prob, _, grad = score_gradient(model, model_input, log_mask, objective)
        # loss = -mean(objective) + penalty: the network's part enters as its input gradient
        n = tf.cast(tf.shape(grad)[0], tf.float32)
        grads = tape.gradient([model_input, penalty], param.variables,
                              output_gradients=[-grad / n, tf.ones_like(penalty)])
        opt.apply_gradients(zip(grads, param.variables))
        return tf.reduce_mean(tf.exp(log_prob))

    def step() -> float:   # a new random transform each step, drawn outside the trace
        plan = () if transforms is None else \
            tuple(map(tf.constant, _draw_plan(transforms, rng, size)))
        return float(traced_step(plan))

    return core.run_growth(param, step, functools.partial(classify_pixels, model, preprocess),
                           _first_image, target=target, steps=steps, progress=progress,
                           label=label)


# --------------------------------------------------------------------------
# attacks
# --------------------------------------------------------------------------
def _grad_log_prob(model, preprocess, x01, target):
    """(log p(target) per image, its gradient with respect to the pixels)."""
    log_prob, _, grad = pixel_score_gradient(model, preprocess, x01, target)
    return log_prob, grad


def fgsm(model, preprocess, x01, target: int, eps) -> tf.Tensor:
    """Targeted fast gradient sign method: one step of size eps towards the target."""
    eps = parse_eps(eps)
    _, grad = _grad_log_prob(model, preprocess, x01, target)
    return tf.clip_by_value(x01 + eps * tf.sign(grad), 0.0, 1.0)


@reference_answer
def pgd_step(model, preprocess, x_adv, x_orig, target: int, eps, step_size: float) -> tf.Tensor:
    """One projected signed-gradient step: up the gradient of log p(target) by
    ``step_size`` per pixel, then back into the eps-ball around ``x_orig`` and [0, 1]."""
    eps = parse_eps(eps)
    _, grad = _grad_log_prob(model, preprocess, x_adv, target)
    x = x_adv + step_size * tf.sign(grad)
    x = tf.clip_by_value(x, x_orig - eps, x_orig + eps)
    return tf.clip_by_value(x, 0.0, 1.0)


def _quantise(x):
    """Onto the 8-bit grid, so the adversarial image can be saved as a PNG as it is."""
    return tf.round(x * 255.0) / 255.0


@reference_answer
def targeted_attack(model, preprocess, image, target, eps="4/255", steps: int = 20,
                    step_size: float = core.LEVEL, step=None, quantise: bool = True,
                    name: str = "") -> AttackResult:
    """Iterated projected steps until the model's top class is ``target``, or
    ``steps`` steps: the basic iterative method (BIM, iterative FGSM; PGD would
    add a random start).  ``image``: a path, PIL image, uint8 array, or [0, 1]
    pixels (1, H, W, 3).  ``step``: the step function (default ``pgd_step``;
    the notebook's exercise plugs in its own).  With ``quantise`` the image
    stays on the 8-bit grid (a real, saveable image).  Returns an ``AttackResult``."""
    target, eps = parse_class(target), parse_eps(eps)
    step = step or pgd_step
    if isinstance(image, (tf.Tensor, tf.Variable)):
        x_orig = tf.cast(image, tf.float32)[:1]
    else:
        x_orig = to_pixels(preprocess, image)[:1]

    def one_step(x):
        x = tf.convert_to_tensor(step(model, preprocess, x, x_orig, target, eps, step_size),
                                 tf.float32)
        return _quantise(x) if quantise else x

    return core.run_targeted_attack(x_orig, one_step,
                                    functools.partial(classify_pixels, model, preprocess),
                                    _first_image, target=target, eps=eps, steps=steps, name=name)


attack_photos = reference_answer(core.attack_photos_with(targeted_attack))
