"""Where the network looks, in TensorFlow (same names as ``tlcourse.torch.saliency``).

- ``last_conv_block``: the layer whose output Grad-CAM weighs: the last layer
  with a 4-D output that is not a pooling (our MobileNetV2 port: ``features_18_2``,
  named like torchvision's ``features.18``; VGG-16: ``block5_conv3``; ResNet-50:
  ``conv5_block3_out``);
- ``input_saliency``: |d score / d pixel|, the largest over the colour channels;
- ``grad_cam``: Grad-CAM on that layer, through a sub-model that returns the
  layer's output beside the logits.

The score is the target's logit (several targets: the logsumexp of their
logits).  Maps come back as numpy, one per image, unscaled, so that maps of
one figure can share a scale (``tlcourse.saliency`` draws them).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tlcourse.contract import PUBLIC_API
from tlcourse.tf.adversarial import as_pixels, logit_score, pixel_score_gradient
from tlcourse.tf.models import normalize
from tlcourse.messages import _

__all__ = PUBLIC_API["saliency"]


def last_conv_block(model) -> keras.layers.Layer:
    """The base's last convolutional block: the last layer of ``model`` whose
    output is 4-D (a feature map) and that is not a pooling."""
    for layer in reversed(model.layers):
        if "Pooling" not in type(layer).__name__ and len(layer.output.shape) == 4:
            return layer
    raise ValueError(_("no layer with a 4-D output in {model}: pass the layer to use as "
                       "grad_cam(..., layer=layer)", model=model.name))


def _class_score(logits, target) -> tf.Tensor:
    """The target's logit (several: the logsumexp of theirs), summed over the batch."""
    return tf.reduce_sum(logit_score(logits, target))


def input_saliency(model, preprocess, pixels, target) -> np.ndarray:
    """|d score / d pixel| for [0, 1] pixels (NHWC), the largest over the colour
    channels: (N, H, W) numpy.  The gradient comes from the model's traced step
    (``tlcourse.tf.adversarial.score_gradient``, the attacks' too)."""
    _, _, grad = pixel_score_gradient(model, preprocess, as_pixels(pixels), target, "logit")
    return tf.reduce_max(tf.abs(grad), axis=-1).numpy()


def grad_cam(model, preprocess, pixels, target, layer=None) -> np.ndarray:
    """Grad-CAM of ``target`` on ``layer`` (default ``last_conv_block(model)``):
    (N, h, w) numpy at the layer's resolution, zero or positive."""
    layer = layer or last_conv_block(model)
    probe = keras.Model(model.inputs, [layer.output, model.outputs[0]])
    x = as_pixels(pixels)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)   # the gradient flows from the input; the weights get none
        acts, logits = probe(normalize(preprocess, x), training=False)
        score = _class_score(logits, target)
    grads = tape.gradient(score, acts)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)   # one weight per channel
    return tf.nn.relu(tf.reduce_sum(weights * acts, axis=-1)).numpy()
