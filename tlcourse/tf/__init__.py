"""TensorFlow/Keras adapter: the names ``tlcourse.contract.PUBLIC_API``
declares, the same as ``tlcourse.torch``'s, each defined in the module of this
package the contract names (``models``, ``data``, ``train``, ``adversarial``; ``pets``).

    from tlcourse import tf as tlc
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # hide TensorFlow's start-up chatter

from tlcourse import cache as _cache, contract as _contract  # noqa: E402

_cache.export_framework_homes()   # keras.utils.get_file looks for weights in our cache

__all__ = _contract.export(globals(), "tf")
