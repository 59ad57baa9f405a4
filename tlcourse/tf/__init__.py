"""TensorFlow/Keras adapter: the same public names as ``tlcourse.torch``.

    from tlcourse import tf as tlc
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # hide TensorFlow's start-up chatter

from tlcourse import cache as _cache

_cache.export_framework_homes()   # keras.utils.get_file looks for weights in our cache

FRAMEWORK = "tf"

# pretrained ImageNet models (same names as tlcourse.torch)
from tlcourse.tf.models import (MODELS, count_params, feature_dim, normalize,  # noqa: E402
                                predict_topk, pretrained, probabilities, to_batch, to_pixels)

# input pipelines for datasets.Split (same names as the other adapter)
from tlcourse.tf.data import make_loader, make_transform, show_batch  # noqa: E402
