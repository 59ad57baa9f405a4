"""TensorFlow/Keras adapter: the same public names as ``tlcourse.torch``.

    from tlcourse import tf as tlc
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # hide TensorFlow's start-up chatter

from tlcourse import cache as _cache

_cache.export_framework_homes()   # keras.utils.get_file looks for weights in our cache

FRAMEWORK = "tf"

# pretrained ImageNet models (same names as tlcourse.torch)
from tlcourse.tf.models import (MODELS, count_params, device, feature_dim, normalize,  # noqa: E402
                                predict_topk, pretrained, probabilities, to_batch, to_pixels)

# input pipelines for datasets.Split (same names as the other adapter)
from tlcourse.tf.data import make_loader, make_transform, show_batch  # noqa: E402

# training, features, fine-tuning, saving (same names as the other adapter)
from tlcourse.tf.train import (History, adam, array_loader,  # noqa: E402
                               compiled_with_current_trainable, evaluate, extract_features,
                               feature_classifier, feature_maps, features_key, fit, freeze,
                               load_model, predict, predict_images, save_model, top_layers,
                               with_new_head)

# ideal class images and targeted attacks (same names as the other adapter)
from tlcourse.tf.adversarial import (STANDARD_TRANSFORMS, AttackResult, ClassImage,  # noqa: E402
                                      Transforms, apply_transforms, as_pixels, attack_photos,
                                      class_log_prob, classify_pixels, fgsm, fourier_image,
                                      grow_class_image, parse_eps, pgd_step, pixel_image,
                                      targeted_attack, total_variation)

# the Oxford-IIIT Pet lab (same names as the other adapter): tlc.pets.try_load_model, ...
from tlcourse.tf import pets  # noqa: E402
