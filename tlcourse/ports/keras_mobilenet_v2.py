"""torchvision's MobileNetV2, rebuilt from Keras layers.

``keras.applications.MobileNetV2`` is a different network in the details
(asymmetric "same" padding on strided convs, BatchNorm epsilon 1e-3), so
torchvision's weights cannot simply be loaded into it.  This module rebuilds
torchvision's layers exactly:

- 3x3 stride-2 convs: torch pads one pixel on every side (``padding=1``);
  Keras "same" pads only bottom/right for even inputs.  We use
  ``ZeroPadding2D(1)`` + "valid" there.  Stride-1 3x3 convs use "same", which
  is already symmetric (one pixel each side).
- BatchNorm: epsilon 1e-5 (torch's default); Keras momentum 0.9 is torch's
  momentum 0.1 (Keras keeps 0.9 of the old running value, torch adds 0.1 of
  the new one).
- ReLU6; head = global average pooling, dropout 0.2, dense 1000 (logits).

Layer names are torch's state-dict prefixes with "." replaced by "_":
``features.2.conv.1.0.weight`` -> layer ``features_2_conv_1_0`` (see
``convert.torch_prefix``).

No torch is needed to build or use the model; ``tlcourse.ports.convert`` makes
the ``.weights.h5`` file once from torchvision's checkpoint.
"""
from __future__ import annotations

import keras
from keras import layers

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9        # = torch momentum 0.1
NUM_CLASSES = 1000
FEATURE_DIM = 1280

# torchvision's inverted_residual_setting: expansion t, channels c, repeats n, first stride s
SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _conv_bn_relu6(x, filters, kernel, stride, name, init, depthwise=False):
    """torchvision's Conv2dNormActivation: conv (no bias) -> BN -> ReLU6."""
    if kernel == 3 and stride == 2:
        x = layers.ZeroPadding2D(1, name=name + "_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding=padding, use_bias=False,
                                   depthwise_initializer=init, name=name + "_0")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=False,
                          kernel_initializer=init, name=name + "_0")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name + "_1")(x)
    return layers.ReLU(max_value=6.0, name=name + "_2")(x)


def _inverted_residual(x, in_ch, out_ch, stride, expand, name, init):
    """torchvision's InvertedResidual; ``name`` is e.g. "features_3"."""
    conv = name + "_conv"
    h = x
    i = 0
    if expand != 1:   # 1x1 expansion
        h = _conv_bn_relu6(h, in_ch * expand, 1, 1, f"{conv}_{i}", init)
        i += 1
    h = _conv_bn_relu6(h, None, 3, stride, f"{conv}_{i}", init, depthwise=True)   # 3x3 depthwise
    h = layers.Conv2D(out_ch, 1, use_bias=False, kernel_initializer=init,
                      name=f"{conv}_{i + 1}")(h)                                  # 1x1 projection
    h = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{conv}_{i + 2}")(h)
    if stride == 1 and in_ch == out_ch:
        h = layers.Add(name=name + "_add")([x, h])
    return h


def mobilenet_v2(include_top: bool = True, input_shape=(None, None, 3),
                 dropout: float = 0.2, name: str = "mobilenet_v2_torchvision",
                 initializer: str = "glorot_uniform") -> keras.Model:
    """torchvision's MobileNetV2 (width 1.0) as a Keras functional model, NHWC.

    include_top=True: logits (N, 1000), no softmax, like the torch model.
    include_top=False: the convolutional base + global average pooling, (N, 1280).
    Any input size works (224 is what the weights were trained at).
    ``initializer``: of the conv and dense kernels ("zeros" when weights are
    loaded next: drawing random ones costs about 0.15 s of CPU a model).
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn_relu6(inputs, 32, 3, 2, "features_0", initializer)
    in_ch, index = 32, 1
    for t, c, n, s in SETTING:
        for j in range(n):
            x = _inverted_residual(x, in_ch, c, s if j == 0 else 1, t, f"features_{index}",
                                   initializer)
            in_ch, index = c, index + 1
    x = _conv_bn_relu6(x, FEATURE_DIM, 1, 1, f"features_{index}", initializer)   # features.18
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if include_top:
        x = layers.Dropout(dropout, name="classifier_0")(x)
        x = layers.Dense(NUM_CLASSES, kernel_initializer=initializer, name="classifier_1")(x)
    return keras.Model(inputs, x, name=name)
