"""Offline stand-ins for Cats vs Dogs and Oxford-IIIT Pet, laid out like the real data.

Our build and CI machines cannot reach Microsoft's or Oxford's servers, so the
smoke profile runs on small generated datasets with exactly the real on-disk
layout; the real loaders (scan and its report, splits, both frameworks'
pipelines) then run unchanged on them.

- Cats vs Dogs: ``PetImages/Cat/<n>.jpg`` and ``PetImages/Dog/<n>.jpg`` plus a
  ``Thumbs.db`` in each folder, as in ``kagglecatsanddogs_5340.zip``.
- Oxford-IIIT Pet: ``images/<Breed_Name>_<n>.jpg`` (12 capitalised cat breeds,
  25 lower-case dog breeds) and ``annotations/list.txt`` (with its comment
  header), ``annotations/trainval.txt`` and ``annotations/test.txt`` (no
  header), ``<image> <CLASS-ID> <SPECIES> <BREED-ID>`` per line.

``real_sized=True`` writes the same content at the real photos' size: their
width and height distribution and file sizes (``REAL_SIZES``, with where each
figure comes from), so that a laptop-profile run decodes, resizes and caches as
much as on the real data (``tlcourse bench notebooks --profile laptop``, which
writes as many files as the laptop profile reads).  Every stand-in folder holds
``STANDIN_MARKER``: data loaded from it says "stand-in data" wherever it sits in
the cache.

Both include the awkward files the real archives have: an empty file, a
truncated JPEG, a non-image named ``.jpg``, and readable odd modes (grayscale,
CMYK, RGBA, palette, a PNG named ``.jpg``) so that the scan's exclusions and
conversions are exercised.

The pictures are synthetic "animals": a head whose shape (pointed ears vs
hanging ears), coat texture and colour depend on the class, with random size,
position, colours, background clutter and noise, and some coats borrowed from
another class.  A pretrained CNN's features separate the classes well but not
perfectly (see ``tests/test_datasets.py`` and benchmarks/).
"""
from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from tlcourse import cache

# The 37 real breeds, as the real file names spell them.
CAT_BREEDS = ("Abyssinian", "Bengal", "Birman", "Bombay", "British_Shorthair", "Egyptian_Mau",
              "Maine_Coon", "Persian", "Ragdoll", "Russian_Blue", "Siamese", "Sphynx")
DOG_BREEDS = ("american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle", "boxer",
              "chihuahua", "english_cocker_spaniel", "english_setter", "german_shorthaired",
              "great_pyrenees", "havanese", "japanese_chin", "keeshond", "leonberger",
              "miniature_pinscher", "newfoundland", "pomeranian", "pug", "saint_bernard",
              "samoyed", "scottish_terrier", "shiba_inu", "staffordshire_bull_terrier",
              "wheaten_terrier", "yorkshire_terrier")
# CLASS-ID order of the real list.txt: all 37 names sorted case-insensitively.
PET_BREEDS = tuple(sorted(CAT_BREEDS + DOG_BREEDS, key=str.lower))

LIST_HEADER = (
    "#Image CLASS-ID SPECIES BREED ID\n"
    "#ID: 1:37 Class ids\n"
    "#SPECIES: 1:Cat 2:Dog\n"
    "#BREED ID: 1-25:Cat 1:12:Dog\n"
    "#All images with 1st letter as captial are cat images\n"
    "#images with small first letter are dog images\n"
)

CATS_DOGS_PER_CLASS = 120
PETS_PER_BREED = 20
# written into every stand-in folder: whatever folder it is put in (a benchmark puts
# real-sized stand-ins where the real downloads go), its figures say "stand-in data"
STANDIN_MARKER = "TLCOURSE-STANDIN.txt"
AWKWARD_PER_CLASS = 6   # odd files write_cats_dogs puts in each class (its `odd` lists)
TEXTURES = ("stripes", "spots", "checks", "rings", "plain", "zigzag")


# ---------------------------------------------------------------------------
# drawing
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Look:
    """What a class looks like: head shape, coat texture and a hue range."""
    ears: str            # "pointed" (cat-like) or "floppy" (dog-like)
    texture: str
    hue: float | None    # centre hue in [0, 1); None = any colour
    snout: bool = False  # dogs get a muzzle
    step: int | None = None  # coat pattern scale in pixels; None = random


def _hsv(rng, hue, sat=(0.35, 0.9), val=(0.35, 0.95)) -> tuple[int, int, int]:
    import colorsys
    h = rng.random() if hue is None else (hue + rng.normal(0, 0.04)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


def _texture(size, kind, fg, bg, rng, step=None) -> Image.Image:
    w, h = size
    tex = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(tex)
    step = int(rng.integers(7, 15)) if step is None else int(step + rng.integers(-1, 2))
    if kind == "stripes":
        slope = rng.uniform(-0.8, 0.8)
        for x in range(-h, w + h, step):
            d.line([(x, 0), (x + slope * h, h)], fill=fg, width=max(2, step // 3))
    elif kind == "spots":
        for _ in range(int(w * h / step ** 2 / 2)):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(step / 4, step / 2)
            d.ellipse([x - r, y - r, x + r, y + r], fill=fg)
    elif kind == "checks":
        for i, x in enumerate(range(0, w, step)):
            for j, y in enumerate(range(0, h, step)):
                if (i + j) % 2:
                    d.rectangle([x, y, x + step - 1, y + step - 1], fill=fg)
    elif kind == "rings":
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        for r in range(step, 2 * max(w, h), step):
            d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fg, width=max(2, step // 3))
    elif kind == "zigzag":
        for y in range(0, h + step, step):
            pts = [(x, y + (step // 2 if (x // step) % 2 else 0)) for x in range(0, w + step, step)]
            d.line(pts, fill=fg, width=max(2, step // 3))
    # "plain": the background colour only
    return tex


def _animal(look: Look, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    w, h = size
    # background: a gradient between two random colours, plus clutter
    c0, c1 = np.array(_hsv(rng, None, val=(0.2, 1.0))), np.array(_hsv(rng, None, val=(0.2, 1.0)))
    t = np.linspace(0, 1, h)[:, None, None]
    img = Image.fromarray((c0 * (1 - t) + c1 * t).repeat(w, axis=1).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        d.line([(x0, y0), (x0 + rng.normal(0, w / 3), y0 + rng.normal(0, h / 3))],
               fill=_hsv(rng, None), width=int(rng.integers(1, 6)))

    # the head: random size and position, partly outside the frame sometimes
    r = rng.uniform(0.18, 0.36) * min(w, h)
    cx, cy = rng.uniform(r * 0.8, w - r * 0.8), rng.uniform(r * 1.1, h - r * 0.7)
    mask = Image.new("L", size, 0)
    m = ImageDraw.Draw(mask)
    squash = rng.uniform(0.8, 1.15)
    m.ellipse([cx - r, cy - r * squash, cx + r, cy + r * squash], fill=255)
    if look.ears == "pointed":
        for side in (-1, 1):
            bx = cx + side * r * rng.uniform(0.45, 0.75)
            m.polygon([(bx - r * 0.35, cy - r * 0.55), (bx + r * 0.35, cy - r * 0.55),
                       (bx + side * r * 0.15, cy - r * rng.uniform(1.35, 1.7))], fill=255)
    else:
        for side in (-1, 1):
            ex = cx + side * r * rng.uniform(0.8, 1.0)
            m.ellipse([ex - r * 0.32, cy - r * 0.6, ex + r * 0.32, cy + r * rng.uniform(0.5, 0.9)],
                      fill=255)
    if look.snout:
        m.ellipse([cx - r * 0.45, cy + r * 0.1, cx + r * 0.45, cy + r * 1.05], fill=255)
    coat = _texture(size, look.texture, _hsv(rng, look.hue), _hsv(rng, look.hue, val=(0.1, 0.6)), rng,
                    look.step)
    img.paste(coat, (0, 0), mask)

    # eyes and nose, so both classes are "faces"
    d = ImageDraw.Draw(img)
    eye = r * rng.uniform(0.09, 0.15)
    for side in (-1, 1):
        ex, ey = cx + side * r * 0.38, cy - r * 0.12
        d.ellipse([ex - eye, ey - eye, ex + eye, ey + eye], fill=_hsv(rng, None, val=(0.7, 1.0)))
        d.ellipse([ex - eye / 2, ey - eye / 2, ex + eye / 2, ey + eye / 2], fill=(10, 10, 10))
    nose_y = cy + r * (0.55 if look.snout else 0.25)
    d.polygon([(cx - r * 0.1, nose_y), (cx + r * 0.1, nose_y), (cx, nose_y + r * 0.1)], fill=(20, 15, 15))

    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0)))
    arr = np.asarray(img, dtype=np.float32)
    arr += rng.normal(0, rng.uniform(3, 18), arr.shape)
    if rng.random() < 0.5:
        arr = np.fliplr(arr)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _random_size(rng) -> tuple[int, int]:
    return int(rng.integers(160, 257)), int(rng.integers(160, 257))


def _jpeg_bytes(im: Image.Image, rng) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(rng.integers(70, 95)))
    return buf.getvalue()


# ---------------------------------------------------------------------------
# the real photos' sizes (real_sized=True)
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RealSizes:
    """What the files of a real dataset look like on disk, for real-sized stand-ins.

    A picture's longer side is ``long_side`` for a share ``at_long_side`` of the
    files, larger (up to ``largest``) for ``larger``, else smaller (down to
    ``smallest``); the longer side over the shorter is drawn from ``aspect`` and a
    share ``portrait`` stands upright.  Each file is encoded at the JPEG quality (in
    ``quality``) that brings it nearest a size proportional to its pixels, scaled so
    that the mean over the set is ``mean_kib`` (KiB, 1,024 bytes)."""
    files: int                 # image files in the real set
    per_class: int             # of which per class (Cats vs Dogs) or breed (Pets, mean)
    long_side: int
    at_long_side: float
    larger: float
    largest: int
    smallest: int
    aspect: tuple[float, float]
    portrait: float
    mean_kib: float
    quality: tuple[int, int]

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """(width, height) of one picture."""
        u = rng.random()
        if u < self.at_long_side:
            long = self.long_side
        elif u < self.at_long_side + self.larger:
            long = int(rng.integers(self.long_side + 1, self.largest + 1))
        else:
            long = int(rng.integers(self.smallest, self.long_side))
        short = max(1, round(long / rng.uniform(*self.aspect)))
        return (short, long) if rng.random() < self.portrait else (long, short)

    @functools.cached_property
    def mean_pixels(self) -> float:
        """The mean pixel count of ``draw`` (from a fixed sample, the same on every run)."""
        rng = np.random.default_rng(12345)
        return float(np.mean([math.prod(self.draw(rng)) for _ in range(4000)]))

    def target_bytes(self, size: tuple[int, int], rng: np.random.Generator) -> int:
        """The file size to aim at for a picture of ``size``: its share of the mean by
        pixels, spread as photos' sizes are (log-normal, mean 1)."""
        spread = rng.lognormal(-0.35 ** 2 / 2, 0.35)
        return int(self.mean_kib * 1024 * math.prod(size) / self.mean_pixels * spread)


# The figures, and where each comes from.  "Documented" figures are counts and archive
# sizes; picture sizes are estimates (no published distribution was found) from looking
# at the sets: every file's longer side is stored by the sources at most about 500 px.
REAL_SIZES = {
    # Microsoft's kagglecatsanddogs_5340.zip (the Kaggle "Dogs vs. Cats" photos, from
    # Petfinder): 12,500 JPEGs a class (12,501 files: Cat/666.jpg is empty), documented
    # by the Kaggle competition and Hugging Face's cats_vs_dogs card.  Mean file size:
    # the archive's 824,887,076 bytes (tlcourse.catalog) over its 25,002 files is
    # 32.2 KiB; Hugging Face's cats_vs_dogs card records 735,119,341 bytes for 23,442
    # decodable images, 30.6 KiB; mean_kib is between the two.  Estimates: most photos
    # 500 px on the longer side (500x375, 375x500, 500x333, ...), the rest smaller, none
    # larger; 4:3-ish, about a third upright; quality 50-98.
    "cats_dogs": RealSizes(files=25_000, per_class=12_500, long_side=500, at_long_side=0.8,
                           larger=0.0, largest=500, smallest=150, aspect=(1.0, 1.6),
                           portrait=0.3, mean_kib=31.4, quality=(50, 98)),
    # Oxford-IIIT Pet (Parkhi et al. 2012): 7,349 images, 37 breeds, "roughly 200 images
    # for each class" (the dataset's README; TensorFlow Datasets: 3,680 train + 3,669
    # test); 7,349 / 37 = 198.6.  Mean file size: images.tar.gz's 791,918,971 bytes
    # (tlcourse.catalog, from TFDS's checksums) over its 7,390 files is 104.6 KiB;
    # TFDS gives the prepared set as 773.68 MiB for 7,349 images, 107.8 KiB; mean_kib is
    # between the two: larger files than Cats vs Dogs' (higher quality, some larger
    # photos).  Estimates: most 500 px on the longer side, one in ten larger (up to
    # 1,600 px), the rest smaller (down to 200 px); quality 60-98.
    "oxford_pets": RealSizes(files=7_349, per_class=199, long_side=500, at_long_side=0.75,
                             larger=0.1, largest=1600, smallest=200, aspect=(1.0, 1.6),
                             portrait=0.3, mean_kib=106.2, quality=(60, 98)),
}


def jpeg_near(im: Image.Image, target_bytes: int, quality: tuple[int, int]) -> bytes:
    """``im`` as a JPEG of the quality in ``quality`` whose size is nearest ``target_bytes``
    (bisection: a JPEG grows with its quality)."""
    def encode(q: int) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=q)
        return buf.getvalue()

    lo, hi = quality
    best = encode(hi)
    if len(best) <= target_bytes:
        return best
    while hi - lo > 1:
        mid = (lo + hi) // 2
        data = encode(mid)
        if abs(len(data) - target_bytes) < abs(len(best) - target_bytes):
            best = data
        if len(data) > target_bytes:
            hi = mid
        else:
            lo = mid
    return best


def _real_sized_jpeg(look: Look, sizes: RealSizes, rng: np.random.Generator) -> bytes:
    size = sizes.draw(rng)
    return jpeg_near(_animal(look, size, rng), sizes.target_bytes(size, rng), sizes.quality)


def picture_jpeg(look: Look, size: tuple[int, int], rng: np.random.Generator) -> bytes:
    """One synthetic "animal" of ``look`` (e.g. a value of ``CATS_DOGS_LOOKS[...]`` or
    ``pet_looks()``), ``size`` = (width, height) pixels, as the bytes of a JPEG file
    (quality 70-94): what every readable stand-in file holds.  Everything random
    (placement, colours, clutter, noise, quality) comes from ``rng``, so a seeded
    generator gives the same bytes again."""
    return _jpeg_bytes(_animal(look, size, rng), rng)


# ---------------------------------------------------------------------------
# the awkward files (the real archives have all of these)
# ---------------------------------------------------------------------------
def _odd_file(kind: str, im: Image.Image, rng) -> bytes:
    """Bytes for a ``.jpg``-named file of the given awkward kind."""
    buf = io.BytesIO()
    if kind == "empty":                      # like PetImages/Cat/666.jpg
        return b""
    if kind == "truncated":                  # a JPEG cut off mid-scan
        data = _jpeg_bytes(im, rng)
        return data[: len(data) // 2]
    if kind == "not_an_image":               # an HTML error page saved as .jpg
        return b"<html><body>404 Not Found</body></html>\n"
    if kind == "grayscale":
        im.convert("L").save(buf, "JPEG", quality=90)
    elif kind == "cmyk":
        im.convert("CMYK").save(buf, "JPEG", quality=90)
    elif kind == "rgba_png":                 # readable, but PNG inside a .jpg name
        rgba = im.convert("RGBA")
        alpha = Image.new("L", im.size, 255)
        ImageDraw.Draw(alpha).rectangle([0, 0, im.size[0] // 5, im.size[1]], fill=0)
        rgba.putalpha(alpha)
        rgba.save(buf, "PNG")
    elif kind == "palette_gif":              # palette image, GIF inside a .jpg name
        im.convert("P", palette=Image.ADAPTIVE, colors=64).save(buf, "GIF")
    elif kind == "png":
        im.save(buf, "PNG")
    else:
        raise ValueError(kind)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ---------------------------------------------------------------------------
# Cats vs Dogs
# ---------------------------------------------------------------------------
CATS_DOGS_LOOKS = {
    # Cats: pointed ears, mostly striped/plain coats.  Dogs: hanging ears and a
    # muzzle, mostly spotted/checked coats.  A share of each borrows the other's
    # coat so the texture alone is not enough.
    "Cat": [Look("pointed", t, None) for t in ("stripes", "stripes", "plain", "zigzag", "spots")],
    "Dog": [Look("floppy", t, None, snout=True) for t in ("spots", "spots", "checks", "rings", "stripes")],
}


def write_cats_dogs(root: Path, per_class: int = CATS_DOGS_PER_CLASS, seed: int = 0,
                    real_sized: bool = False) -> Path:
    """Write ``root/PetImages/{Cat,Dog}/<n>.jpg`` (plus awkward files); return root.
    ``real_sized``: pictures of the real photos' sizes (``REAL_SIZES``)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    odd = {"Cat": ("empty", "truncated", "grayscale", "cmyk", "rgba_png", "palette_gif"),
           "Dog": ("not_an_image", "truncated", "grayscale", "cmyk", "png", "palette_gif")}
    for cls in ("Cat", "Dog"):
        folder = root / "PetImages" / cls
        odd_at = dict(zip(rng.choice(per_class, len(odd[cls]), replace=False).tolist(), odd[cls]))
        for n in range(per_class):
            looks = CATS_DOGS_LOOKS[cls]
            look = looks[int(rng.integers(len(looks)))]
            if n in odd_at:
                size = REAL_SIZES["cats_dogs"].draw(rng) if real_sized else _random_size(rng)
                data = _odd_file(odd_at[n], _animal(look, size, rng), rng)
            elif real_sized:
                data = _real_sized_jpeg(look, REAL_SIZES["cats_dogs"], rng)
            else:
                data = picture_jpeg(look, _random_size(rng), rng)
            _write(folder / f"{n}.jpg", data)
        _write(folder / "Thumbs.db", rng.bytes(512))   # Windows thumbnail cache, as in the real zip
    (root / "readme[1].txt").write_text("Stand-in for kagglecatsanddogs_5340.zip, generated by "
                                        "tlcourse.standin (synthetic pictures, not photos).\n")
    _write_marker(root, real_sized)
    return root


# ---------------------------------------------------------------------------
# Oxford-IIIT Pet
# ---------------------------------------------------------------------------
def pet_looks() -> dict[str, Look]:
    """One look per breed: species fixes the head shape, breed the coat and hue."""
    looks = {}
    for i, name in enumerate(CAT_BREEDS):
        looks[name] = Look("pointed", TEXTURES[i % 4], hue=(i // 4) / 3 + 0.05, step=8 + 5 * (i % 2))
    for i, name in enumerate(DOG_BREEDS):
        looks[name] = Look("floppy", TEXTURES[(i % 5) + 1], hue=(i // 5) / 5 + 0.1, snout=True,
                           step=8 + 5 * ((i // 5) % 2))
    return looks


def pets_class_rows() -> list[tuple[str, int, int, int]]:
    """(breed, CLASS-ID, SPECIES, BREED-ID) as in the real list.txt."""
    rows = []
    for class_id, name in enumerate(PET_BREEDS, start=1):
        cat = name in CAT_BREEDS
        breed_id = (CAT_BREEDS if cat else DOG_BREEDS).index(name) + 1
        rows.append((name, class_id, 1 if cat else 2, breed_id))
    return rows


def write_oxford_pets(root: Path, per_breed: int = PETS_PER_BREED, seed: int = 0,
                      real_sized: bool = False) -> Path:
    """Write ``root/images/*.jpg`` and ``root/annotations/{list,trainval,test}.txt``; return root.
    ``real_sized``: pictures of the real photos' sizes (``REAL_SIZES``)."""
    root = Path(root)
    rng = np.random.default_rng(seed + 1)
    looks = pet_looks()
    odd_breeds = dict(zip(("Abyssinian", "Bengal", "Egyptian_Mau", "beagle", "pug", "samoyed",
                           "boxer", "Sphynx"),
                          ("truncated", "grayscale", "cmyk", "not_an_image", "rgba_png",
                           "palette_gif", "empty", "png")))
    trainval, test = [], []
    for name, class_id, species, breed_id in pets_class_rows():
        numbers = rng.permutation(np.arange(1, per_breed + 1) + int(rng.integers(0, 150)))
        for k, n in enumerate(sorted(numbers.tolist())):
            stem = f"{name}_{n}"
            if name in odd_breeds and k == 0:
                size = REAL_SIZES["oxford_pets"].draw(rng) if real_sized else _random_size(rng)
                data = _odd_file(odd_breeds[name], _animal(looks[name], size, rng), rng)
            elif real_sized:
                data = _real_sized_jpeg(looks[name], REAL_SIZES["oxford_pets"], rng)
            else:
                data = picture_jpeg(looks[name], _random_size(rng), rng)
            _write(root / "images" / f"{stem}.jpg", data)
            row = f"{stem} {class_id} {species} {breed_id}\n"
            (trainval if k % 2 == 0 else test).append((stem, row))
    # the real images folder also holds a few stray non-image files
    _write(root / "images" / "Abyssinian_1.mat", b"MATLAB 5.0 MAT-file stand-in\n")
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    key = lambda item: item[0].lower()
    (ann / "trainval.txt").write_text("".join(r for _, r in sorted(trainval, key=key)))
    (ann / "test.txt").write_text("".join(r for _, r in sorted(test, key=key)))
    (ann / "list.txt").write_text(LIST_HEADER + "".join(r for _, r in sorted(trainval + test, key=key)))
    (ann / "README").write_text("Stand-in for the Oxford-IIIT Pet annotations, generated by "
                                "tlcourse.standin (synthetic pictures, not photos).\n")
    _write_marker(root, real_sized)
    return root


def _write_marker(root: Path, real_sized: bool) -> None:
    (root / STANDIN_MARKER).write_text(
        "Generated by tlcourse.standin: synthetic pictures, not photos"
        + (", at the real photos' sizes" if real_sized else "") + ". Data loaded from this "
        "folder is labelled stand-in data wherever the folder is.\n")


def is_standin_folder(root: Path) -> bool:
    """Whether the dataset folder ``root`` was written by this module (it holds the marker)."""
    return (Path(root) / STANDIN_MARKER).is_file()


# ---------------------------------------------------------------------------
# archives with the real names and layout (served by the HTTP tests)
# ---------------------------------------------------------------------------
def build_archives(out_dir: Path, seed: int = 0, cats_dogs_per_class: int = CATS_DOGS_PER_CLASS,
                   pets_per_breed: int = PETS_PER_BREED) -> dict[str, Path]:
    """Write ``kagglecatsanddogs_5340.zip``, ``images.tar.gz`` and ``annotations.tar.gz``
    (stand-in contents, real layout) into ``out_dir``; return {file name: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cd = write_cats_dogs(tmp / "cd", cats_dogs_per_class, seed)
        pets = write_oxford_pets(tmp / "pets", pets_per_breed, seed)
        out = {}
        zpath = out_dir / "kagglecatsanddogs_5340.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as zf:
            for f in sorted(cd.rglob("*")):
                if f.is_file() and f.name != STANDIN_MARKER:     # the real archive has none
                    zf.write(f, f.relative_to(cd).as_posix())
        out[zpath.name] = zpath
        for part in ("images", "annotations"):
            tpath = out_dir / f"{part}.tar.gz"
            with tarfile.open(tpath, "w:gz") as tf:
                tf.add(pets / part, arcname=part)
            out[tpath.name] = tpath
    return out


def write_into(dest: Path, writer, **kwargs) -> Path:
    """Run ``writer`` into a temporary folder beside ``dest`` and rename it into
    place, so a killed run never leaves a half-written dataset."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}.", dir=dest.parent))
    # mkdtemp makes the folder owner-only; a shared cache (and the grading sandbox,
    # whose kernels run as another user) needs the mode a plain mkdir gives
    os.chmod(tmp, 0o777 & ~cache.current_umask())
    try:
        writer(tmp, **kwargs)
        if dest.exists():     # another process finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest
