"""PyTorch adapter: the names ``tlcourse.contract.PUBLIC_API`` declares, the
same as ``tlcourse.tf``'s, each defined in the module of this package the
contract names (``models``, ``data``, ``train``, ``adversarial``,
``saliency``; ``pets``).

    from tlcourse import torch as tlc
"""
import sys as _sys

# Importing TensorFlow and then torchvision in one process segfaults while
# triton is installed; say so clearly instead of crashing the kernel.
if "tensorflow" in _sys.modules and "torchvision" not in _sys.modules:
    from tlcourse.messages import _
    raise ImportError(_("TensorFlow is already imported in this process; importing torchvision "
                        "now would crash it. Use one framework per notebook (restart the kernel), "
                        "or import tlcourse.torch before TensorFlow."))

# OMP_WAIT_POLICY=PASSIVE is set by `import tlcourse` (tlcourse/__init__.py),
# which Python runs before this module.

from tlcourse import cache as _cache, contract as _contract  # noqa: E402

_cache.export_framework_homes()   # torchvision looks for weights in our cache

# The contract's names, imported one by one so that editors and static tools see them
# (tests/test_contract.py checks that these lines import exactly PUBLIC_API).
from tlcourse.torch.models import (  # noqa: E402,F401
    MODELS, device, feature_dim, pretrained, count_params, to_pixels, to_batch,
    normalize, probabilities, predict_topk)
from tlcourse.torch.data import (  # noqa: E402,F401
    make_loader, make_transform, show_batch)
from tlcourse.torch.train import (  # noqa: E402,F401
    History, adam, array_loader, compiled_with_current_trainable, evaluate,
    extract_features, feature_classifier, feature_maps, features_key, fit, freeze,
    load_model, predict, predict_images, save_model, top_layers, with_new_head)
from tlcourse.torch.adversarial import (  # noqa: E402,F401
    STANDARD_TRANSFORMS, AttackResult, ClassImage, Transforms, apply_transforms,
    as_pixels, attack_photos, class_log_prob, classify_pixels, fgsm, fourier_image,
    grow_class_image, parse_eps, pgd_step, pixel_image, targeted_attack, total_variation)
from tlcourse.torch.saliency import (  # noqa: E402,F401
    last_conv_block, input_saliency, grad_cam)
from tlcourse.torch import pets  # noqa: E402,F401

FRAMEWORK = "torch"
__all__ = list(_contract.public_names())
