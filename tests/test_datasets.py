"""Dataset preparation, framework-neutral: stand-in layout, scan report, splits, stamps."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tlcourse import datasets, standin
from tlcourse.profiles import get_profile


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache holding freshly generated stand-ins (generated once per module)."""
    root = tmp_path_factory.mktemp("tlcache")
    old = os.environ.get("TLCOURSE_CACHE")
    os.environ["TLCOURSE_CACHE"] = str(root)
    datasets.fetch("cats_dogs", use_standin=True, log=lambda *_: None)
    datasets.fetch("oxford_pets", use_standin=True, log=lambda *_: None)
    yield root
    if old is None:
        os.environ.pop("TLCOURSE_CACHE")
    else:
        os.environ["TLCOURSE_CACHE"] = old


SMOKE = get_profile("smoke")


# ---------------------------------------------------------------------------
# the stand-ins look like the real archives
# ---------------------------------------------------------------------------
def test_cats_dogs_standin_has_the_real_layout(cache):
    root = datasets.dataset_root("cats_dogs", standin_data=True)
    assert root == cache / "datasets" / "standin" / "cats_vs_dogs"
    for cls in ("Cat", "Dog"):
        names = [p.name for p in (root / "PetImages" / cls).iterdir()]
        jpgs = [n for n in names if n.endswith(".jpg")]
        assert len(jpgs) == standin.CATS_DOGS_PER_CLASS
        assert sorted(int(n[:-4]) for n in jpgs) == list(range(standin.CATS_DOGS_PER_CLASS))
        assert "Thumbs.db" in names


def test_pets_standin_has_the_real_layout(cache):
    root = datasets.dataset_root("oxford_pets", standin_data=True)
    assert root.name == "oxford-iiit-pet"
    images = [p.name for p in (root / "images").iterdir() if p.suffix == ".jpg"]
    breeds = {n.rsplit("_", 1)[0] for n in images}
    assert breeds == set(standin.CAT_BREEDS) | set(standin.DOG_BREEDS)
    assert len(breeds) == 37
    assert sum(b[0].isupper() for b in breeds) == 12          # cats capitalised
    assert sum(b[0].islower() for b in breeds) == 25          # dogs lower case
    ann = root / "annotations"
    text = (ann / "list.txt").read_text().splitlines()
    assert text[0] == "#Image CLASS-ID SPECIES BREED ID"
    assert sum(line.startswith("#") for line in text) == 6
    tv, te = (datasets.read_pets_list(ann / f) for f in ("trainval.txt", "test.txt"))
    assert not (ann / "trainval.txt").read_text().startswith("#")   # no header, as upstream
    listed = datasets.read_pets_list(ann / "list.txt")
    assert sorted(listed) == sorted(tv + te)
    assert not {r[0] for r in tv} & {r[0] for r in te}
    for image_id, class_id, species, breed_id in listed:
        breed = image_id.rsplit("_", 1)[0]
        assert (root / "images" / f"{image_id}.jpg").exists()
        assert class_id == standin.PET_BREEDS.index(breed) + 1
        assert species == (1 if breed[0].isupper() else 2)
        group = standin.CAT_BREEDS if species == 1 else standin.DOG_BREEDS
        assert breed_id == group.index(breed) + 1


def test_standin_generation_is_deterministic(tmp_path):
    a = standin.write_cats_dogs(tmp_path / "a", per_class=6, seed=3)
    b = standin.write_cats_dogs(tmp_path / "b", per_class=6, seed=3)
    c = standin.write_cats_dogs(tmp_path / "c", per_class=6, seed=4)
    f = "PetImages/Dog/5.jpg"
    assert (a / f).read_bytes() == (b / f).read_bytes()
    assert (a / f).read_bytes() != (c / f).read_bytes()


def test_standin_images_are_not_flat_colours(cache):
    from tlcourse.images import load_array
    data = datasets.cats_dogs(SMOKE, progress=False)
    arr = load_array(data.train.paths[0], size=None).astype(float)
    assert arr.std() > 20
    assert len(np.unique(arr.reshape(-1, 3), axis=0)) > 1000
    # per-class mean colours are not a giveaway: both classes use every hue
    means = {c: np.mean([load_array(p, 32).mean((0, 1)) for p, l in
                         zip(data.train.paths, data.train.labels) if l == c][:40], axis=0)
             for c in (0, 1)}
    assert np.abs(means[0] - means[1]).max() < 40


# ---------------------------------------------------------------------------
# the scan report: unreadable files excluded, odd modes kept, nothing deleted
# ---------------------------------------------------------------------------
def test_scan_excludes_unreadable_and_keeps_odd_modes(cache):
    root = datasets.dataset_root("cats_dogs", True)
    before = sorted(p.name for p in root.rglob("*") if p.name != datasets.SCAN_FILE)
    data = datasets.cats_dogs(SMOKE, progress=False)
    q = data.scan_report
    assert data.quarantine is q and data.train.quarantine is q     # the notebooks' name
    assert q.checked == 2 * standin.CATS_DOGS_PER_CLASS
    reasons = " | ".join(n.reason for n in q.excluded)
    assert len(q.excluded) == 4
    assert "empty file" in reasons and "truncated" in reasons and "not an image" in reasons
    conv = " | ".join(n.reason for n in q.converted)
    for word in ("grayscale", "CMYK", "RGBA", "palette", "PNG file named .jpg",
                 "GIF file named .jpg"):
        assert word in conv, word
    used = set()
    for s in data:
        used |= set(s.paths)
    excluded = {str(root / n.path) for n in q.excluded}
    assert not used & excluded
    assert {str(root / n.path) for n in q.converted} <= used
    assert len(used) == q.checked - len(q.excluded)
    # nothing deleted or moved (the scan memo is our only addition)
    after = sorted(p.name for p in root.rglob("*"))
    assert [n for n in after if n != datasets.SCAN_FILE] == before
    assert "Nothing was deleted" in q.summary()


def test_every_kept_file_loads_as_rgb(cache):
    from tlcourse.images import load_rgb
    data = datasets.oxford_pets(SMOKE, progress=False)
    for note in data.scan_report.converted:
        im = load_rgb(Path(data.root) / note.path)
        assert im.mode == "RGB"
    assert len(data.scan_report.excluded) == 3


def test_scan_notices_a_file_that_changed(cache, tmp_path):
    root = standin.write_cats_dogs(tmp_path / "cd", per_class=12, seed=1)
    rels = [f"PetImages/Cat/{i}.jpg" for i in range(12)]
    good, rep = datasets.scan(root, rels, "cats_dogs", True, progress=False)
    victim = sorted(good)[0]
    (root / victim).write_bytes(b"garbage")
    os.utime(root / victim, ns=(1, 1))      # a different mtime even on coarse clocks
    good2, rep2 = datasets.scan(root, rels, "cats_dogs", True, progress=False)
    assert victim not in good2
    assert len(rep2.excluded) == len(rep.excluded) + 1


def test_scan_skips_a_fifo_instead_of_hanging(tmp_path):
    root = standin.write_cats_dogs(tmp_path / "cd", per_class=12, seed=1)
    fifo = root / "PetImages" / "Cat" / "100.jpg"
    os.mkfifo(fifo)
    rels = [f"PetImages/Cat/{i}.jpg" for i in (0, 1, 2, 3, 100)]
    out = {}
    t = threading.Thread(target=lambda: out.update(
        result=datasets.scan(root, rels, "cats_dogs", True, progress=False)), daemon=True)
    t.start()
    t.join(15)
    if t.is_alive():     # a reader is blocked opening the FIFO: give it a writer, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(15)
        pytest.fail("the scan hung opening a FIFO named .jpg")
    good, report = out["result"]
    assert "PetImages/Cat/100.jpg" not in good
    (note,) = [n for n in report.excluded if n.path == "PetImages/Cat/100.jpg"]
    assert "not a regular file" in note.reason
    assert fifo.exists()                                   # left where it was


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")   # PIL's, at open
def test_scan_excludes_an_image_over_the_pixel_cap(tmp_path):
    from PIL import Image

    from tlcourse.images import UnreadableImage, load_rgb

    root = standin.write_cats_dogs(tmp_path / "cd", per_class=12, seed=1)
    big = root / "PetImages" / "Dog" / "100.jpg"
    Image.new("1", (10_000, 10_000)).save(big, format="PNG")      # valid, 100 megapixels
    rels = ["PetImages/Dog/0.jpg", "PetImages/Dog/100.jpg"]
    good, report = datasets.scan(root, rels, "cats_dogs", True, progress=False)
    assert "PetImages/Dog/100.jpg" not in good
    (note,) = [n for n in report.excluded if n.path == "PetImages/Dog/100.jpg"]
    assert "10000x10000" in note.reason and "megapixels" in note.reason
    with pytest.raises(UnreadableImage, match="10000x10000"):
        load_rgb(big)


# ---------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------
def test_cats_dogs_splits_are_stratified_disjoint_and_deterministic(cache):
    a = datasets.cats_dogs(SMOKE, progress=False)
    b = datasets.cats_dogs(SMOKE, progress=False)
    assert a == b
    assert a.class_names == ("Cat", "Dog")
    sets = [set(s.paths) for s in a]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    total = sum(len(s) for s in a)
    for s, frac in zip(a, (0.7, 0.15, 0.15)):
        assert abs(len(s) / total - frac) < 0.03
        counts = s.counts()
        assert abs(counts["Cat"] - counts["Dog"]) <= 2
    for s in a:
        for p, l in zip(s.paths, s.labels):
            assert f"/PetImages/{a.class_names[l]}/" in p
    other = datasets.cats_dogs(SMOKE, seed=1, progress=False)
    assert set(other.test.paths) != set(a.test.paths)


def test_pets_splits_follow_the_official_lists(cache):
    data = datasets.oxford_pets(SMOKE, progress=False)
    root = Path(data.root)
    official_test = {r[0] for r in datasets.read_pets_list(root / "annotations/test.txt")}
    official_tv = {r[0] for r in datasets.read_pets_list(root / "annotations/trainval.txt")}
    stem = lambda p: Path(p).stem
    assert {stem(p) for p in data.test.paths} <= official_test
    assert {stem(p) for p in data.train.paths + data.val.paths} <= official_tv
    assert not set(data.train.paths) & set(data.val.paths)
    assert len(data.class_names) == 37
    assert data.class_names[0] == "Abyssinian"
    assert "American Pit Bull Terrier" in data.class_names
    assert all(c >= 1 for c in data.val.counts().values())      # stratified val
    assert data == datasets.oxford_pets(SMOKE, progress=False)
    for p, l in zip(data.test.paths, data.test.labels):
        assert datasets.pet_class_name(stem(p).rsplit("_", 1)[0]) == data.class_names[l]


def test_stratified_split_proportions_and_seed():
    labels = np.repeat([0, 1, 2], [100, 50, 10])
    parts = datasets.stratified_split(labels, (0.6, 0.2, 0.2), seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(160))
    assert [int((labels[parts[0]] == c).sum()) for c in range(3)] == [60, 30, 6]
    again = datasets.stratified_split(labels, (0.6, 0.2, 0.2), seed=0)
    assert all((x == y).all() for x, y in zip(parts, again))
    with pytest.raises(ValueError):
        datasets.stratified_split(labels, (0.5, 0.2))


def test_profile_caps_images_per_class(cache):
    capped = datasets.cats_dogs(get_profile("smoke", images_per_class=5), progress=False)
    assert all(v == 5 for s in capped for v in s.counts().values())
    full = datasets.cats_dogs(SMOKE, progress=False)
    assert set(capped.train.paths) <= set(full.train.paths)


def test_profile_picks_real_or_standin(cache):
    assert datasets._use_standin(SMOKE) and not datasets._use_standin(get_profile("full"))
    data = datasets.cats_dogs(SMOKE, progress=False)
    assert data.standin and "/standin/" in data.root
    with pytest.raises(ValueError):
        datasets.cats_dogs(get_profile("smoke", data="fake"), progress=False)


# ---------------------------------------------------------------------------
# stand-in data says so
# ---------------------------------------------------------------------------
def test_standin_results_are_labelled(cache):
    data = datasets.cats_dogs(SMOKE, progress=False)
    assert data.label == "stand-in data"
    assert data.test.stamp("accuracy 0.91") == "accuracy 0.91 (stand-in data)"
    assert "stand-in data" in str(data)
    assert "stand-in data" in data.scan_report.summary()
    real = dataclasses.replace(data.test, standin=False)
    assert real.stamp("accuracy 0.91") == "accuracy 0.91"


def _figure_texts(fig):
    texts = [t.get_text() for t in fig.texts]
    texts += [ax.get_title() for ax in fig.axes]
    if fig._suptitle is not None:
        texts.append(fig._suptitle.get_text())
    return " ".join(texts)


def test_figures_on_standin_data_are_stamped(cache):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tlcourse import plots
    data = datasets.cats_dogs(SMOKE, progress=False)
    fig = plots.show_split(data.train, n=8)
    assert "STAND-IN DATA" in _figure_texts(fig)
    assert "Cat" in _figure_texts(fig) or "Dog" in _figure_texts(fig)
    fig2 = plots.show_quarantine(data.scan_report)
    assert "STAND-IN DATA" in _figure_texts(fig2)
    real = dataclasses.replace(data.train, standin=False)
    fig3 = plots.show_split(real, n=4)
    assert "STAND-IN DATA" not in _figure_texts(fig3)
    plt.close("all")


def test_core_imports_no_framework():
    code = ("import sys, tlcourse.datasets, tlcourse.standin, tlcourse.plots, tlcourse.augment; "
            "bad = [m for m in ('torch', 'tensorflow', 'torchvision', 'keras') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fetch_list_shows_datasets_with_sources():
    rows = {r["name"]: r for r in datasets.list_rows()}
    assert set(rows) == {"cats_dogs", "oxford_pets"}
    pets_sources = [s for a in rows["oxford_pets"]["archives"] for s in a["sources"]]
    assert any("thor.robots.ox.ac.uk" in s for s in pets_sources)
    assert any("www.robots.ox.ac.uk" in s for s in pets_sources)
    from tlcourse import assets
    names = {r["name"] for r in assets.status_rows()}
    assert {"cats_dogs_zip", "oxford_pets_images", "oxford_pets_annotations"} <= names


def test_augment_box_stays_inside_and_varies():
    from tlcourse.augment import random_resized_crop_box
    rng = np.random.default_rng(0)
    boxes = [random_resized_crop_box(200, 150, rng) for _ in range(200)]
    for left, top, w, h in boxes:
        assert 0 <= left and 0 <= top and left + w <= 200 and top + h <= 150 and w > 0 and h > 0
    assert len(set(boxes)) > 150
