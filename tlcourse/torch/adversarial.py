"""Ideal class images and targeted attacks in PyTorch (same names as ``tlcourse.tf``).

Small pieces that compose, in the spirit of Lucent and torchattacks:

- objectives: ``class_log_prob`` (log-probability of a class) and
  ``logit_score`` (the class score before the softmax);
- parameterisations: ``pixel_image`` and ``fourier_image`` (Fourier
  spectrum + colour decorrelation), each a callable giving [0, 1] NCHW pixels;
- robustness: ``apply_transforms`` (random jitter/scale/rotation, drawn by
  ``Transforms``), and the ``total_variation`` penalty;
- ``grow_class_image``: gradient descent on the input for one class;
- attacks on [0, 1] pixels under an L-infinity budget: ``fgsm`` (one step),
  ``pgd_step`` (one projected signed-gradient step), ``targeted_attack``
  (the loop, a result record), ``attack_photos`` (many photos and budgets).

The loops of ``grow_class_image``, ``targeted_attack`` and ``attack_photos``
are the core's (``tlcourse.adversarial``), shared with TensorFlow; this module
gives them PyTorch's steps.  The model sees ``normalize(preprocess, pixels)``,
so budgets are in pixel units whatever the model's normalisation: eps = 4/255
is four grey levels.
"""
from __future__ import annotations

import contextlib
import functools
import os

import numpy as np
import torch
from torch.nn import functional as F

from tlcourse import adversarial as core
from tlcourse.adversarial import (STANDARD_TRANSFORMS, AttackResult, ClassImage,  # noqa: F401
                                  Transforms, parse_eps)
from tlcourse.contract import PUBLIC_API
from tlcourse.imagenet import parse_class
from tlcourse.torch.models import normalize, parameters_device, to_pixels
from tlcourse.exercises import reference_answer

__all__ = PUBLIC_API["adversarial"]


# --------------------------------------------------------------------------
# objective and penalty
# --------------------------------------------------------------------------
@reference_answer
def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between vertical neighbours plus that between
    horizontal neighbours, over an NCHW batch (``core.total_variation_reference``)."""
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs()
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs()
    zero = x.new_zeros(())
    return (dy.mean() if dy.numel() else zero) + (dx.mean() if dx.numel() else zero)


def class_log_prob(model, preprocess, x01: torch.Tensor, target) -> torch.Tensor:
    """log p(target | image) for each image of a [0, 1] NCHW batch: shape (N,).

    ``target``: a class index, or several (e.g. the five domestic cats): then
    the log of their total probability.  ``x01`` may live on the CPU while the
    model is on a GPU (a photo from ``to_pixels``): the move keeps its gradient."""
    return _log_prob_of_logits(_logits(model, preprocess, x01), target)


def logit_score(logits: torch.Tensor, target) -> torch.Tensor:
    """Per row of ``logits``: the target's logit (several: the logsumexp of theirs)."""
    return torch.logsumexp(logits[:, core.class_list(target)], dim=1)


def _log_prob_of_logits(logits: torch.Tensor, target) -> torch.Tensor:
    return logit_score(torch.log_softmax(logits, dim=1), target)


def _logits(model, preprocess, x01: torch.Tensor) -> torch.Tensor:
    return model(normalize(preprocess, x01.to(parameters_device(model))))


def classify_pixels(model, preprocess, pixels) -> np.ndarray:
    """Probabilities (N, 1000) for [0, 1] pixels, (N, H, W, 3) numpy or NCHW tensor,
    at the size given (not resized: the networks end in global pooling, and a
    resize would blur exactly the fine patterns an attack or a grown image relies on)."""
    x = as_pixels(pixels)
    with torch.inference_mode():
        logits = model(normalize(preprocess, x.to(parameters_device(model))))
    return torch.softmax(logits.float(), dim=1).cpu().numpy()


def as_pixels(pixels) -> torch.Tensor:
    """[0, 1] pixels as an NCHW float tensor from a tensor or an (N,)H,W,3 numpy array."""
    if isinstance(pixels, torch.Tensor):
        return pixels.float()
    a = np.asarray(pixels, np.float32)
    a = a[None] if a.ndim == 3 else a
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def _first_image(x: torch.Tensor) -> np.ndarray:
    """The first image of an NCHW batch as (H, W, 3) numpy."""
    return x[0].detach().cpu().numpy().transpose(1, 2, 0)


# --------------------------------------------------------------------------
# parameterisations: callables returning [0, 1] NCHW pixels
# --------------------------------------------------------------------------
class pixel_image:   # noqa: N801  (used like a function, as in Lucent)
    """Pixels through a sigmoid (always a valid image): ``image()`` -> (batch, 3, size, size)."""

    def __init__(self, size: int = 224, batch: int = 1, seed: int = 0):
        start = core.pixel_init(size, batch, seed).transpose(0, 3, 1, 2)
        self.logits = torch.tensor(np.ascontiguousarray(start), requires_grad=True)
        self.variables = [self.logits]

    def __call__(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)


class fourier_image:   # noqa: N801
    """Lucid's Fourier parameterisation with colour decorrelation: the
    variables are a 1/f^decay_power-scaled spectrum in a decorrelated colour space;
    ``image()`` is its inverse FFT, mapped to RGB, through a sigmoid."""

    def __init__(self, size: int = 224, batch: int = 1, seed: int = 0,
                 decorrelate: bool = True, decay_power: float = core.FOURIER_DECAY):
        self.size, self.decorrelate = size, decorrelate
        self.spectrum = torch.tensor(core.fourier_init(size, batch, seed), requires_grad=True)
        self.scale = torch.from_numpy(core.fourier_scale(size, decay_power))
        self.color = torch.from_numpy(core.COLOR_CORRELATION)
        self.variables = [self.spectrum]

    def __call__(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.spectrum) * self.scale
        x = torch.fft.irfft2(spec, s=(self.size, self.size), norm="ortho") / core.FOURIER_MAGIC
        if self.decorrelate:   # decorrelated colour space -> RGB
            x = torch.einsum("nchw,dc->ndhw", x, self.color)
        return torch.sigmoid(x)


def apply_transforms(x: torch.Tensor, transforms: Transforms | None,
                     rng: np.random.Generator) -> torch.Tensor:
    """Pad with mid-grey, then ``transforms.copies`` random affines (shift, zoom,
    rotation) per call, each applied to the whole batch: (copies * N, 3, H', W'),
    copy-major."""
    if transforms is None:
        return x
    p, n = transforms.pad, x.shape[0]
    x = F.pad(x, (p, p, p, p), value=0.5)
    theta = torch.from_numpy(transforms.sample_copies(rng, x.shape[-1])).repeat_interleave(n, 0)
    x = x.repeat(transforms.copies, 1, 1, 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grow_class_image(model, preprocess, target, image="pixels", steps: int = 128,
                     lr: float = 0.05, tv_weight: float = 0.0,
                     transforms: Transforms | None = None, size: int = 224, seed: int = 0,
                     objective: str = "log_prob", progress: bool = True,
                     label: str = "") -> ClassImage:
    """Gradient descent on an image to maximise log p(target) (``objective="logit"``:
    the class score before the softmax), with an optional total-variation penalty
    and random robustness transforms.

    ``image``: "pixels", "fourier", or a parameterisation object (its
    ``variables`` are optimised with Adam).  Returns a ``ClassImage``."""
    core.check_objective(objective)
    param = core.parameterisation(image, {"pixels": pixel_image, "fourier": fourier_image},
                                  size, seed)
    opt = torch.optim.Adam(param.variables, lr=lr)
    rng = np.random.default_rng(seed)

    def step() -> float:
        x = param()
        logits = _logits(model, preprocess, apply_transforms(x, transforms, rng))
        logp = _log_prob_of_logits(logits, target)
        gain = logp if objective == "log_prob" else logit_score(logits, target)
        loss = -gain.mean() + (tv_weight * total_variation(x) if tv_weight else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(logp.detach().exp().mean())

    with _one_thread_when_passive():
        return core.run_growth(param, step, functools.partial(classify_pixels, model, preprocess),
                               _first_image, target=target, steps=steps, progress=progress,
                               label=label)


@contextlib.contextmanager
def _one_thread_when_passive():
    """One intra-op thread while growing, when OpenMP threads sleep between ops
    (OMP_WAIT_POLICY=PASSIVE, as ``import tlcourse`` sets it): waking a second
    thread for every small batch-1 op cost more than it saved.  MobileNetV2 at
    128 px, forward + backward, 2 cores: 74 ms with 2 threads, 37-44 ms with 1
    (with ACTIVE waiting, 31 and 40 ms)."""
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------
# attacks
# --------------------------------------------------------------------------
def _grad_log_prob(model, preprocess, x01, target):
    x = x01.detach().clone().requires_grad_(True)
    logp = class_log_prob(model, preprocess, x, target)
    grad, = torch.autograd.grad(logp.sum(), x)
    return logp.detach(), grad


def fgsm(model, preprocess, x01: torch.Tensor, target: int, eps) -> torch.Tensor:
    """Targeted fast gradient sign method: one step of size eps towards the target."""
    eps = parse_eps(eps)
    _, grad = _grad_log_prob(model, preprocess, x01, target)
    return (x01 + eps * grad.sign()).clamp(0, 1).detach()


@reference_answer
def pgd_step(model, preprocess, x_adv: torch.Tensor, x_orig: torch.Tensor, target: int,
             eps, step_size: float) -> torch.Tensor:
    """One projected signed-gradient step: up the gradient of log p(target) by
    ``step_size`` per pixel, then back into the eps-ball around ``x_orig`` and [0, 1]."""
    eps = parse_eps(eps)
    _, grad = _grad_log_prob(model, preprocess, x_adv, target)
    x = x_adv + step_size * grad.sign()
    x = torch.max(torch.min(x, x_orig + eps), x_orig - eps)
    return x.clamp(0, 1).detach()


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """Onto the 8-bit grid, so the adversarial image can be saved as a PNG as it is."""
    return torch.round(x * 255) / 255


@reference_answer
def targeted_attack(model, preprocess, image, target, eps="4/255", steps: int = 20,
                    step_size: float = core.LEVEL, step=None, quantise: bool = True,
                    name: str = "") -> AttackResult:
    """Iterated projected steps until the model's top class is ``target``, or
    ``steps`` steps: the basic iterative method (BIM, iterative FGSM; PGD would
    add a random start).  ``image``: a path, PIL image, uint8 array, or [0, 1]
    pixels (1, 3, H, W).  ``step``: the step function (default ``pgd_step``;
    the notebook's exercise plugs in its own).  With ``quantise`` the image
    stays on the 8-bit grid (a real, saveable image).  Returns an ``AttackResult``."""
    target, eps = parse_class(target), parse_eps(eps)
    step = step or pgd_step
    x_orig = image if isinstance(image, torch.Tensor) else to_pixels(preprocess, image)
    x_orig = x_orig[:1].float().to(parameters_device(model))

    def one_step(x):   # on a copy: a step that works in place must not change x_orig
        x = step(model, preprocess, x.clone(), x_orig, target, eps, step_size)
        return _quantise(x) if quantise else x

    return core.run_targeted_attack(x_orig, one_step,
                                    functools.partial(classify_pixels, model, preprocess),
                                    _first_image, target=target, eps=eps, steps=steps, name=name)


attack_photos = reference_answer(core.attack_photos_with(targeted_attack))
