"""PyTorch adapter: the same public names as ``tlcourse.tf``.

    from tlcourse import torch as tlc
"""
import sys as _sys

# Importing TensorFlow and then torchvision in one process segfaults while
# triton is installed; say so clearly instead of crashing the kernel.
if "tensorflow" in _sys.modules and "torchvision" not in _sys.modules:
    raise ImportError("TensorFlow is already imported in this process; importing torchvision "
                      "now would crash it. Use one framework per notebook (restart the kernel), "
                      "or import tlcourse.torch before TensorFlow.")

# OMP_WAIT_POLICY=PASSIVE is set by `import tlcourse` (tlcourse/__init__.py),
# which Python runs before this module.

from tlcourse import cache as _cache  # noqa: E402

_cache.export_framework_homes()   # torchvision looks for weights in our cache

FRAMEWORK = "torch"

# Pretrained ImageNet models (same names as tlcourse.tf)
from tlcourse.torch.models import (MODELS, count_params, device, feature_dim, normalize,  # noqa: E402
                                   predict_topk, pretrained, probabilities, to_batch,
                                   to_pixels)

# input pipelines for datasets.Split (same names as the other adapter)
from tlcourse.torch.data import make_loader, make_transform, show_batch  # noqa: E402

# training, features, fine-tuning, saving (same names as the other adapter)
from tlcourse.torch.train import (History, adam, array_loader,  # noqa: E402
                                  compiled_with_current_trainable, evaluate, extract_features,
                                  feature_classifier, feature_maps, features_key, fit, freeze,
                                  load_model, predict, predict_images, save_model, top_layers,
                                  with_new_head)

# ideal class images and targeted attacks (same names as the other adapter)
from tlcourse.torch.adversarial import (STANDARD_TRANSFORMS, AttackResult, ClassImage,  # noqa: E402
                                      Transforms, apply_transforms, as_pixels, attack_photos,
                                      class_log_prob, classify_pixels, fgsm, fourier_image,
                                      grow_class_image, parse_eps, pgd_step, pixel_image,
                                      targeted_attack, total_variation)

# the Oxford-IIIT Pet lab (same names as the other adapter): tlc.pets.try_load_model, ...
from tlcourse.torch import pets  # noqa: E402
