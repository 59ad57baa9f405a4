"""Reading images, framework-neutral: odd modes converted, unreadable files named.

``open_image`` is the one gate every read goes through: it refuses what is not
a regular file (a FIFO named ``.jpg`` would block the reader for ever) and
images over ``MAX_PIXELS`` (a valid 10000x10000 PNG costs 0.5 GB and 1.5 s at
every load), before any pixel is decoded.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tlcourse.messages import _

# 50 megapixels: a 48 MP phone photo passes; the course's datasets are under 1 MP.
MAX_PIXELS = 50_000_000


class UnreadableImage(ValueError):
    """The file is not an image we read (corrupt, truncated, not an image, not a
    regular file, or over ``MAX_PIXELS``)."""


def open_image(path) -> Image.Image:
    """``Image.open`` (header only) of a regular file of at most ``MAX_PIXELS``
    pixels; ``UnreadableImage`` naming the file and the fix otherwise."""
    path = Path(path)
    mode = os.stat(path).st_mode          # FileNotFoundError passes through
    if not stat.S_ISREG(mode):
        kind = ("FIFO" if stat.S_ISFIFO(mode) else "directory" if stat.S_ISDIR(mode)
                else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "socket" if stat.S_ISSOCK(mode) else "special file")
        raise UnreadableImage(_("{path}: not a regular file ({kind}); not opened. Replace it "
                                "with an image file or remove it.", path=path, kind=kind))
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:      # PIL's own cap, far above ours
        raise UnreadableImage(_("{path}: {error}; not decoded. Resize it.", path=path,
                                error=exc)) from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise UnreadableImage(_("{path}: {width}x{height} = {megapixels} megapixels, over the "
                                "{limit} megapixel limit (tlcourse.images.MAX_PIXELS); not "
                                "decoded. Resize it (e.g. to 2000 pixels on the long side).",
                                path=path, width=w, height=h,
                                megapixels=format(w * h / 1e6, ".0f"),
                                limit=format(MAX_PIXELS / 1e6, ".0f")))
    return im


def load_rgb(path) -> Image.Image:
    """Open an image as RGB.  Grayscale, CMYK, palette and RGBA files are converted
    (RGBA on white); corrupt, truncated, non-regular and oversized files raise
    ``UnreadableImage``."""
    path = Path(path)
    try:
        with open_image(path) as im:
            im.load()   # force full decode: truncated files fail here, not later
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGB", im.size, (255, 255, 255))
                bg.paste(im, mask=im.getchannel("A"))
                return bg
            return im.convert("RGB")
    except (FileNotFoundError, UnreadableImage):
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImage(_("{path}: cannot be read as an image ({error}). Replace or "
                                "remove the file; it was not changed.", path=path,
                                error=exc)) from exc


def resize_center_crop(im: Image.Image, size: int, crop_fraction: float = 0.875) -> Image.Image:
    """Shorter side to size/crop_fraction, then the centre size x size (the
    ImageNet evaluation transform: 256 -> 224)."""
    short = round(size / crop_fraction)
    w, h = im.size
    scale = short / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def load_array(path, size: int | None = 224) -> np.ndarray:
    """uint8 array (H, W, 3); resized and centre-cropped when ``size`` is given."""
    im = load_rgb(path)
    if size is not None:
        im = resize_center_crop(im, size)
    return np.asarray(im, dtype=np.uint8)
