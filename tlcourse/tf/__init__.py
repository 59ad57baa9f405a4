"""TensorFlow/Keras adapter: the names ``tlcourse.contract.PUBLIC_API``
declares, the same as ``tlcourse.torch``'s, each defined in the module of this
package the contract names (``models``, ``data``, ``train``, ``adversarial``,
``saliency``; ``pets``).

    from tlcourse import tf as tlc
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # hide TensorFlow's start-up chatter

from tlcourse import cache as _cache, contract as _contract  # noqa: E402

_cache.export_framework_homes()   # keras.utils.get_file looks for weights in our cache

# The contract's names, imported one by one so that editors and static tools see them
# (tests/test_contract.py checks that these lines import exactly PUBLIC_API).
from tlcourse.tf.models import (  # noqa: E402,F401
    MODELS, device, feature_dim, pretrained, count_params, to_pixels, to_batch,
    normalize, probabilities, predict_topk)
from tlcourse.tf.data import (  # noqa: E402,F401
    make_loader, make_transform, show_batch)
from tlcourse.tf.train import (  # noqa: E402,F401
    History, adam, array_loader, compiled_with_current_trainable, evaluate,
    extract_features, feature_classifier, feature_maps, features_key, fit, freeze,
    load_model, predict, predict_images, save_model, top_layers, with_new_head)
from tlcourse.tf.adversarial import (  # noqa: E402,F401
    STANDARD_TRANSFORMS, AttackResult, ClassImage, Transforms, apply_transforms,
    as_pixels, attack_photos, class_log_prob, classify_pixels, fgsm, fourier_image,
    grow_class_image, parse_eps, pgd_step, pixel_image, targeted_attack, total_variation)
from tlcourse.tf.saliency import (  # noqa: E402,F401
    last_conv_block, input_saliency, grad_cam)
from tlcourse.tf import pets  # noqa: E402,F401

FRAMEWORK = "tf"
__all__ = list(_contract.public_names())
