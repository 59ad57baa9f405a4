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

from tlcourse import cache as _cache

_cache.export_framework_homes()   # torchvision looks for weights in our cache

FRAMEWORK = "torch"

# Pretrained ImageNet models (same names as tlcourse.tf)
from tlcourse.torch.models import (MODELS, count_params, feature_dim, normalize,  # noqa: E402
                                   predict_topk, pretrained, probabilities, to_batch,
                                   to_pixels)

# input pipelines for datasets.Split (same names as the other adapter)
from tlcourse.torch.data import make_loader, make_transform, show_batch  # noqa: E402
