"""TensorFlow/Keras adapter: the same public names as ``tlcourse.torch``.

    from tlcourse import tf as tlc
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # hide TensorFlow's start-up chatter

from tlcourse import cache as _cache

_cache.export_framework_homes()   # keras.utils.get_file looks for weights in our cache

FRAMEWORK = "tf"
