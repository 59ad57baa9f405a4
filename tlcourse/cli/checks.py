"""Argument checks shared by the subcommands: each returns the parsed value or
raises ``UsageError`` naming the bad value and what is allowed."""
from __future__ import annotations

import math
import os
from pathlib import Path



class UsageError(ValueError):
    """A bad command-line value; the message names it and says what is allowed."""


def image_file(value: str) -> Path:
    """An existing, readable image file (decoded now, before any model loads)."""
    from tlcourse.images import UnreadableImage, load_rgb

    path = Path(value)
    if not path.exists():
        raise UsageError(f"image {value!r} does not exist")
    if not path.is_file():
        raise UsageError(f"image {value!r} is not a regular file (a directory?); give an image file")
    try:
        load_rgb(path)
    except UnreadableImage as exc:
        if exc.__cause__ is None:    # refused before decoding (too many pixels): its own reason
            raise UsageError(f"image {value!r}: {str(exc).removeprefix(f'{path}: ')}") from None
        raise UsageError(f"image {value!r} cannot be read as an image ({exc.__cause__}); "
                         "give a JPEG or PNG file") from None
    return path


def model_name(value: str) -> str:
    from tlcourse.preprocess import check_model_name
    try:
        check_model_name(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return value


def imagenet_class(value: str) -> int:
    from tlcourse import imagenet
    try:
        return imagenet.parse_class(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def epsilon(value: str) -> float:
    from tlcourse import adversarial
    try:
        eps = adversarial.parse_eps(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if eps == 0:
        raise UsageError(f"epsilon {value!r} allows no change at all; give a budget above 0, "
                         "e.g. '1/255'")
    return eps


def int_in_range(value: int, name: str, low: int, high: int | None = None) -> int:
    if value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise UsageError(f"{name} {value} is out of range: give a whole number {allowed}")
    return value


def seconds(value: float | None, name: str) -> float | None:
    """A finite number of seconds above 0 (argparse's float() takes "1e309" as inf)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name} {value} must be a number of seconds above 0 (and finite)")
    return value


def output_file(value: str | None) -> Path | None:
    """A file to write: not a directory, in a folder that exists and is writable."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"--out {value!r} is a directory; give a file name such as adv.png")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--out {value!r}: folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--out {value!r}: folder {str(parent)!r} is not writable")
    return path
