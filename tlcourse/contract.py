"""The adapter contract: which frameworks there are, the one list of names both
adapters export, and how to get one adapter.

``tlcourse.torch`` and ``tlcourse.tf`` offer the same public names with the same
signatures (as ``from d2l import torch as d2l`` does).  ``PUBLIC_API`` declares
those names once, grouped by the adapter module that defines them; each
adapter's ``__init__`` imports them one by one (so editors and static tools see
them, and a declared name an adapter lacks fails at import), and
tests/test_contract.py checks that those imports are exactly ``PUBLIC_API``, that
both adapters export these names with the same signatures, and behave alike.

The few rules both adapters apply to their arguments live here too
(``loader_defaults``), so they cannot drift apart.

Tooling that must work with either framework (the command line, the
benchmarks) picks one with ``adapter`` and imports only that one: importing
TensorFlow and then torchvision in one process crashes.
"""
from __future__ import annotations

import importlib

from tlcourse.profiles import Profile, get_profile

FRAMEWORKS = ("torch", "tf")

# adapter module -> the names it gives the adapter (tlc.<name>)
PUBLIC_API = {
    "models": ("MODELS", "device", "feature_dim", "pretrained", "count_params", "to_pixels",
               "to_batch", "normalize", "probabilities", "predict_topk"),
    "data": ("make_loader", "make_transform", "show_batch"),
    "train": ("History", "adam", "array_loader", "compiled_with_current_trainable", "evaluate",
              "extract_features", "feature_classifier", "feature_maps", "features_key", "fit",
              "freeze", "load_model", "predict", "predict_images", "save_model", "top_layers",
              "with_new_head"),
    "adversarial": ("STANDARD_TRANSFORMS", "AttackResult", "ClassImage", "Transforms",
                    "apply_transforms", "as_pixels", "attack_photos", "class_log_prob",
                    "classify_pixels", "fgsm", "fourier_image", "grow_class_image", "parse_eps",
                    "pgd_step", "pixel_image", "targeted_attack", "total_variation"),
}
# submodules the adapter exports whole (tlc.pets.unfreeze_top), with their own names
SUBMODULES = {
    "pets": ("unfreeze_top", "weights_snapshot"),
}


def public_names() -> tuple[str, ...]:
    """An adapter's ``__all__``: ``FRAMEWORK`` ("torch" or "tf"), every name of
    ``PUBLIC_API`` and the ``SUBMODULES``."""
    return ("FRAMEWORK", *(n for names in PUBLIC_API.values() for n in names), *SUBMODULES)


def adapter(framework: str, part: str | None = None):
    """``tlcourse.torch`` or ``tlcourse.tf``, imported on first use; with ``part``,
    that module of the adapter (``adapter("tf", "bench")`` is ``tlcourse.tf.bench``,
    the benchmark's plain-Keras reference, which ``tlc.`` does not export).

    Tooling that serves both frameworks imports framework code only through this
    (tests/test_layout.py: no framework import in bench/, cli/, course/, and no
    import by string elsewhere but the few it names, with why)."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    if part is not None and not part.isidentifier():
        raise ValueError(f"part must be a module name of the adapter, not {part!r}")
    return importlib.import_module(f"tlcourse.{framework}" + (f".{part}" if part else ""))


CACHE_BELOW = 4000   # make_loader keeps evaluation splits smaller than this in memory


def loader_defaults(split, train: bool, batch_size: int | None, shuffle: bool | None,
                    cache: bool | None, profile) -> tuple[Profile, int, bool, bool]:
    """``make_loader``'s arguments left as None filled in, the same in both
    adapters: ``(profile, batch_size, shuffle, cache)``.  The batch size is the
    profile's; training data is shuffled; an evaluation split under
    ``CACHE_BELOW`` images is cached (training crops change every epoch)."""
    prof = get_profile(profile) if profile is None or isinstance(profile, str) else profile
    shuffle = train if shuffle is None else shuffle
    cache = (not train and len(split) < CACHE_BELOW) if cache is None else cache
    return prof, batch_size or prof.batch_size, shuffle, cache


# --------------------------------------------------------------------------
# Where the network looks (issue 17): saliency maps in both adapters
# (tlcourse.<framework>.saliency; the pictures are the core's tlcourse.saliency).
# --------------------------------------------------------------------------
PUBLIC_API["saliency"] = ("last_conv_block", "input_saliency", "grad_cam")
