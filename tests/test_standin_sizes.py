"""Real-sized stand-ins (issue 31): the generator's figures are the real sets' documented
ones, a small sample of its files has the real photos' sizes, its counts fill the laptop
profile's caps and no more, and data loaded from it, wherever it sits, says stand-in."""
from __future__ import annotations

import inspect
import statistics
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tlcourse import assets, datasets, standin
from tlcourse.bench import notebooks
from tlcourse.course import release_checks
from tlcourse.profiles import PROFILES

KIB = 1024
# the documented figures (see the comments on standin.REAL_SIZES for the sources)
CATS_DOGS_FILES_IN_ZIP = 25_002           # 12,501 a class + readme[1].txt
HF_CATS_VS_DOGS = (735_119_341, 23_442)   # Hugging Face cats_vs_dogs: bytes, decodable images
PETS_IMAGES = 7_349                       # the Oxford-IIIT Pet paper and TFDS (3,680 + 3,669)
PETS_FILES_IN_TAR = 7_390
TFDS_PETS_BYTES = 773.68 * 2**20          # TFDS: dataset size 773.68 MiB


def documented_mean_kib() -> dict[str, tuple[float, float]]:
    """(lowest, highest) mean file size in KiB the sources give for each set."""
    cats = (assets.get("cats_dogs_zip").size / CATS_DOGS_FILES_IN_ZIP / KIB,
            HF_CATS_VS_DOGS[0] / HF_CATS_VS_DOGS[1] / KIB)
    pets = (assets.get("oxford_pets_images").size / PETS_FILES_IN_TAR / KIB,
            TFDS_PETS_BYTES / PETS_IMAGES / KIB)
    return {"cats_dogs": (min(cats), max(cats)), "oxford_pets": (min(pets), max(pets))}


def test_the_figures_are_the_documented_ones():
    cats, pets = standin.REAL_SIZES["cats_dogs"], standin.REAL_SIZES["oxford_pets"]
    assert cats.files == 2 * cats.per_class == 25_000
    assert pets.files == PETS_IMAGES
    assert abs(pets.per_class * len(standin.PET_BREEDS) - PETS_IMAGES) <= len(standin.PET_BREEDS)
    for name, (low, high) in documented_mean_kib().items():
        assert low <= standin.REAL_SIZES[name].mean_kib <= high, (name, low, high)
    # the estimates stay within what the sources store: 500 px photos, Pets larger ones
    assert cats.long_side == cats.largest == 500 and cats.larger == 0
    assert pets.long_side == 500 < pets.largest


def jpeg_files(folder: Path) -> list[tuple[Path, tuple[int, int]]]:
    """(path, size) of every plain RGB JPEG under ``folder`` (the awkward files left out)."""
    out = []
    for f in sorted(folder.rglob("*.jpg")):
        try:
            with Image.open(f) as im:
                if im.format == "JPEG" and im.mode == "RGB":
                    out.append((f, im.size))
        except OSError:
            continue
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A few dozen real-sized files of each set (seconds), written as the bench writes them."""
    root = tmp_path_factory.mktemp("real-sized")
    standin.write_cats_dogs(root / "cats_dogs", per_class=45, real_sized=True)
    standin.write_oxford_pets(root / "oxford_pets", per_breed=3, real_sized=True)
    return root


@pytest.mark.parametrize("name", ["cats_dogs", "oxford_pets"])
def test_a_sample_has_the_real_photos_sizes_and_file_sizes(sample, name):
    sizes = standin.REAL_SIZES[name]
    files = jpeg_files(sample / name)
    assert len(files) >= 80
    longs = [max(wh) for _, wh in files]
    assert max(longs) <= sizes.largest and min(longs) >= sizes.smallest
    at_long = sum(x == sizes.long_side for x in longs) / len(longs)
    assert abs(at_long - sizes.at_long_side) < 0.15, at_long
    if sizes.larger:
        assert any(x > sizes.long_side for x in longs), "Pets has some larger photos"
    ratios = [max(wh) / min(wh) for _, wh in files]
    assert min(ratios) >= sizes.aspect[0] - 0.01 and max(ratios) <= sizes.aspect[1] + 0.01
    upright = sum(h > w for _, (w, h) in files) / len(files)
    assert abs(upright - sizes.portrait) < 0.15, upright
    # file sizes: the documented mean, within the spread of a sample this small
    mean_kib = statistics.mean(f.stat().st_size for f, _ in files) / KIB
    low, high = documented_mean_kib()[name]
    assert 0.8 * low <= mean_kib <= 1.2 * high, mean_kib
    # far larger than the smoke stand-ins (160-256 px), which is the point
    assert statistics.median(longs) >= 400


def test_jpeg_near_picks_the_quality_whose_file_is_nearest_the_target():
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    sizes = {q: len(standin.jpeg_near(im, 0, (q, q))) for q in (50, 98)}
    target = (sizes[50] + sizes[98]) // 2
    data = standin.jpeg_near(im, target, (50, 98))
    assert abs(len(data) - target) < 0.1 * target
    assert len(standin.jpeg_near(im, 10 * sizes[98], (50, 98))) == sizes[98], "capped at the top"


def split_sizes(per_class: int, unreadable: int, fractions) -> list[int]:
    """Files of one class in each split after the scan left ``unreadable`` out."""
    labels = np.zeros(per_class - unreadable, dtype=int)
    return [len(idx) for idx in datasets.stratified_split(labels, fractions)]


def test_laptop_counts_fill_the_caps_and_no_more():
    cap = PROFILES["laptop"].images_per_class
    counts = notebooks.laptop_counts()
    odd = release_checks._literal_in(standin.write_cats_dogs, "odd")
    assert {len(kinds) for kinds in odd.values()} == {standin.AWKWARD_PER_CLASS}
    fractions = inspect.signature(datasets.cats_dogs).parameters["fractions"].default
    for kinds in odd.values():
        unreadable = sum(k in release_checks.UNREADABLE for k in kinds)
        assert min(split_sizes(counts["cats_dogs"], unreadable, fractions)) >= cap
        # one file fewer a class beyond the awkward ones would leave a split short
        assert min(split_sizes(counts["cats_dogs"] - standin.AWKWARD_PER_CLASS - 1 + unreadable,
                               unreadable, fractions)) < cap
    assert counts["cats_dogs"] < standin.REAL_SIZES["cats_dogs"].per_class
    # Pets: about 200 a breed, half of them trainval: every split is under the cap,
    # so a laptop run reads every image, as on the real set
    assert counts["oxford_pets"] == standin.REAL_SIZES["oxford_pets"].per_class
    assert (counts["oxford_pets"] + 1) // 2 < cap


def test_a_real_sized_stand_in_where_the_download_goes_says_stand_in(tmp_path, monkeypatch):
    """What `tlcourse bench notebooks --profile laptop` installs in its scratch cache."""
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(notebooks, "laptop_counts", lambda: {"cats_dogs": 12, "oxford_pets": 2})
    made = notebooks.install_standins(["cats_dogs", "oxford_pets"])
    assert made["cats_dogs"]["files"] > 24 and made["oxford_pets"]["mb"] > 0
    root = datasets.dataset_root("cats_dogs")                 # the real download's place
    assert standin.is_standin_folder(root)
    assert max(wh[0] for _, wh in jpeg_files(root)) > 256, "real-sized, not smoke-sized"
    data = datasets.cats_dogs("laptop", progress=False)
    assert data.standin and data.label == "stand-in data"
    assert "(stand-in data)" in str(data) and "(stand-in data)" in data.scan_report.summary()
    assert datasets.oxford_pets("laptop", progress=False).standin


def test_install_refuses_a_folder_that_is_not_a_stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    real = datasets.dataset_root("cats_dogs")
    (real / "PetImages" / "Cat").mkdir(parents=True)          # a real download, say
    with pytest.raises(RuntimeError, match="is not a stand-in"):
        notebooks.install_standins(["cats_dogs"])
    assert not standin.is_standin_folder(real)
