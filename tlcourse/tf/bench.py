"""The benchmark's plain Keras reference: the same network as ``pretrained``,
built with plain ``keras.applications`` calls (our ports for MobileNetV2 and
EfficientNet-Lite0) and no tlcourse helper code, for ``tlcourse bench`` to time
against the helper's path.

Tooling only: not part of the adapter's public API (``contract.PUBLIC_API``) nor
of ``tlc.``; the benchmarks reach it with ``contract.adapter("tf", "bench")``.
``tlcourse.torch.bench`` has the same names and signatures.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def plain_network(name: str, weights_path=None, image_size: int = 224) -> keras.Model:
    """The ImageNet classifier ``name`` (logits): with ``weights_path`` (a Keras
    weights file) loaded, else randomly initialised and built for
    ``image_size`` x ``image_size`` inputs."""
    from tlcourse.ports import KERAS_PORTS, keras_builder

    if name in KERAS_PORTS:   # Keras has no ImageNet weights we can have offline: our ports
        net = keras_builder(name)(include_top=True)
        if weights_path is not None:
            net.load_weights(weights_path)
        return net
    application = {"vgg16": keras.applications.VGG16, "resnet50": keras.applications.ResNet50}[name]
    if weights_path is not None:
        return application(weights=str(weights_path), classifier_activation=None)
    return application(weights=None, input_shape=(image_size, image_size, 3),
                       classifier_activation=None)


def plain_forward(net, x):
    """One eager inference forward, waited for (``.numpy()`` waits for the result)."""
    return net(x, training=False).numpy()


def traced_forward(net):
    """The same forward traced once into a ``tf.function`` graph, waited for:
    reported beside the eager paths, for comparison only."""
    traced = tf.function(lambda batch: net(batch, training=False))
    return lambda x: traced(x).numpy()


def threads():
    """TensorFlow's intra-op threads ("auto" when TensorFlow picks)."""
    return tf.config.threading.get_intra_op_parallelism_threads() or "auto"
