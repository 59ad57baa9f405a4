"""Reading images, framework-neutral: odd modes converted, unreadable files named."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class UnreadableImage(ValueError):
    """The file is not an image PIL can decode (corrupt, truncated, not an image)."""


def load_rgb(path) -> Image.Image:
    """Open an image as RGB.  Grayscale, CMYK, palette and RGBA files are converted
    (RGBA on white); corrupt or truncated files raise ``UnreadableImage``."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()   # force full decode: truncated files fail here, not later
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGB", im.size, (255, 255, 255))
                bg.paste(im, mask=im.getchannel("A"))
                return bg
            return im.convert("RGB")
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImage(f"{path}: cannot be read as an image ({exc}). "
                              "Replace or remove the file; it was not changed.") from exc


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
