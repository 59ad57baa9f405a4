"""The Oxford-IIIT Pet lab, framework-neutral: reference answers and checks for the
graded tests, and the evaluation figures.  Numpy only.

The reference answers carry ``@reference_answer`` (``tlcourse.exercises``):
inside a graded test that forbids one, the student's code can't call it, while
the test (through ``exercises.reference``) and the checks here still can::

    pets.breed_of("american_pit_bull_terrier_12.jpg")   # 'american_pit_bull_terrier'
    pets.species_of("Egyptian_Mau_1.jpg")               # 'cat' (capitalised = cat)
    pets.top_k_accuracy(scores, labels, k=3)            # ties: lower class index first
    pets.most_confused_pairs(cm, class_names, n=5)
    pets.per_species_accuracy(labels, preds, class_species)
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tlcourse.exercises import reference_answer
from tlcourse.messages import _, figure_text

SPECIES = ("cat", "dog")

# A file name: breed (letters and underscores), underscore, number, extension.
_NAME = re.compile(r"^(?P<breed>[A-Za-z]+(?:_[A-Za-z]+)*)_(?P<number>\d+)(?:\.[A-Za-z]+)?$")


# --------------------------------------------------------------------------
# task 1: the label map from file names
# --------------------------------------------------------------------------
# The reference answers (@reference_answer) keep plain f-string messages, not _(): a
# student's edited copy of one must keep its fingerprint (exercises.fingerprint).
@reference_answer
def breed_of(filename) -> str:
    """"american_pit_bull_terrier_12.jpg" -> "american_pit_bull_terrier".

    The breed is everything before the last underscore (breed names contain
    underscores themselves); a leading folder is ignored."""
    name = Path(str(filename)).name
    m = _NAME.match(name)
    if not m:
        raise ValueError(f"{filename!r} is not an Oxford-IIIT Pet image name "
                         "(<breed>_<number>.jpg, e.g. 'Egyptian_Mau_1.jpg')")
    return m.group("breed")


@reference_answer
def species_of(name) -> str:
    """"cat" when the breed (or file) name starts with a capital letter, else "dog"
    (the dataset's own rule, stated in annotations/list.txt)."""
    first = Path(str(name)).name[:1]
    if not first.isalpha():
        raise ValueError(f"{name!r} does not start with a letter")
    return "cat" if first.isupper() else "dog"


@reference_answer
def label_map(filenames) -> dict[str, int]:
    """{breed: class index} for the breeds in ``filenames``, indices in the
    dataset's CLASS-ID order (breeds sorted case-insensitively), so index =
    CLASS-ID - 1.  The same result whatever the order of the input and however
    often it is called."""
    breeds = {breed_of(f) for f in filenames}
    return {b: i for i, b in enumerate(sorted(breeds, key=str.lower))}


def image_names(root) -> list[str]:
    """The ``.jpg`` file names in ``<root>/images`` (the real folder also holds
    a few ``.mat`` files), sorted."""
    folder = Path(root) / "images"
    if not folder.is_dir():
        raise FileNotFoundError(_("{folder} is missing: fetch the dataset first "
                                  "(`tlcourse fetch oxford_pets`, or `--standin` offline)",
                                  folder=folder))
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() == ".jpg")


def official_breeds(root) -> list[str]:
    """Breed names in CLASS-ID order as ``annotations/list.txt`` (or trainval+test) gives them."""
    ann = Path(root) / "annotations"
    by_id = {}
    files = [ann / "list.txt"] if (ann / "list.txt").is_file() else \
        [ann / "trainval.txt", ann / "test.txt"]
    for f in files:
        for line in f.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                image_id, class_id = line.split()[:2]
                by_id.setdefault(int(class_id), breed_of(image_id))
    return [by_id[i] for i in sorted(by_id)]


def class_species(root) -> list[str]:
    """"cat"/"dog" for each class index, from the annotations' SPECIES column
    (1 = cat, 2 = dog), independent of any student code."""
    ann = Path(root) / "annotations"
    out = {}
    for f in (ann / "trainval.txt", ann / "test.txt"):
        for line in f.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                _, class_id, species, _ = line.split()
                out.setdefault(int(class_id) - 1, SPECIES[int(species) - 1])
    return [out[i] for i in sorted(out)]


def check_label_map(student_map, filenames) -> None:
    """Assert ``student_map`` is the right label map for ``filenames``."""
    want = label_map(filenames)
    assert isinstance(student_map, dict), f"label_map must return a dict, not {type(student_map)}"
    assert set(student_map) == set(want), (
        f"wrong breeds: missing {sorted(set(want) - set(student_map))[:5]}, "
        f"unexpected {sorted(set(student_map) - set(want))[:5]}")
    wrong = [(b, student_map[b], i) for b, i in want.items() if student_map[b] != i]
    assert not wrong, f"wrong indices (breed, yours, expected): {wrong[:5]}"


# --------------------------------------------------------------------------
# task 2: splits
# --------------------------------------------------------------------------
@reference_answer
def read_list(path) -> list[tuple[str, int]]:
    """(image id, class index = CLASS-ID - 1) for each line of an official list file."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            image_id, class_id = line.split()[:2]
            rows.append((image_id, int(class_id) - 1))
    return rows


def check_split(train_idx, val_idx, labels, val_fraction: float) -> None:
    """Assert that (train_idx, val_idx) split ``labels`` with no overlap, nothing
    lost, and every class in val in proportion (round(fraction * n), give or take 1)."""
    labels = np.asarray(labels)
    tr = np.asarray(train_idx, dtype=int).ravel()
    va = np.asarray(val_idx, dtype=int).ravel()
    assert len(set(tr.tolist())) == len(tr) and len(set(va.tolist())) == len(va), \
        "an index appears twice within a split"
    both = set(tr.tolist()) & set(va.tolist())
    assert not both, f"{len(both)} images are in both train and val (leakage), e.g. {sorted(both)[:3]}"
    assert sorted(tr.tolist() + va.tolist()) == list(range(len(labels))), \
        "train + val must be exactly the trainval list (some images lost or invented)"
    for c in np.unique(labels):
        n = int(np.sum(labels == c))
        got = int(np.sum(labels[va] == c))
        want = round(val_fraction * n)
        assert abs(got - want) <= 1, (f"class {c}: {got} of its {n} images in val, expected "
                                      f"about {want} (stratify the split class by class)")


def check_no_leakage(*named_ids) -> None:
    """Assert no image id is in two splits: ``check_no_leakage(("train", ids), ("test", ids))``."""
    seen = {}
    for name, ids in named_ids:
        for i in ids:
            other = seen.setdefault(i, name)
            assert other == name, f"{i!r} is in both {other} and {name} (leakage)"


# --------------------------------------------------------------------------
# task 4: top-k accuracy
# --------------------------------------------------------------------------
@reference_answer
def top_k_accuracy(scores, labels, k: int = 1) -> float:
    """Fraction of rows whose true label is among the ``k`` highest scores.

    Ties are broken in favour of the lower class index (as a stable sort of
    the negated scores does).  ``k`` larger than the number of classes counts
    every row as correct.  Bad input raises ``ValueError``."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (samples, classes), got shape {scores.shape}")
    if labels.ndim != 1 or len(labels) != len(scores):
        raise ValueError(f"labels must be 1-D with one label per row of scores: labels "
                         f"{labels.shape}, scores {scores.shape}")
    if len(labels) == 0:
        raise ValueError("no samples")
    if not (isinstance(k, (int, np.integer)) and not isinstance(k, bool)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 \
            or labels.max() >= scores.shape[1]:
        raise ValueError(f"labels must be integers in [0, {scores.shape[1]})")
    true = scores[np.arange(len(labels)), labels][:, None]
    cls = np.arange(scores.shape[1])[None, :]
    # rank of the true class: classes scoring higher, or equal with a lower index
    rank = np.sum((scores > true) | ((scores == true) & (cls < labels[:, None])), axis=1)
    return float(np.mean(rank < k))


# --------------------------------------------------------------------------
# task 5: evaluation
# --------------------------------------------------------------------------
@reference_answer
def confusion_matrix(labels, preds, num_classes: int) -> np.ndarray:
    """cm[i, j] = number of images of class i predicted as class j."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels, int), np.asarray(preds, int)), 1)
    return cm


@reference_answer
def most_confused_pairs(cm, class_names, n: int = 5) -> list[tuple[str, str, int]]:
    """The ``n`` pairs of classes mixed up most often, either way round:
    [(name_a, name_b, cm[a, b] + cm[b, a]), ...] with a < b (class index),
    largest count first, ties by class index; pairs never confused are left out."""
    cm = np.asarray(cm)
    both = cm + cm.T
    pairs = [(int(both[a, b]), a, b) for a in range(len(cm)) for b in range(a + 1, len(cm))
             if both[a, b] > 0]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [(class_names[a], class_names[b], c) for c, a, b in pairs[:n]]


@reference_answer
def per_species_accuracy(labels, preds, class_species) -> dict[str, float]:
    """Breed accuracy over the cat images and over the dog images:
    {"cat": ..., "dog": ...} (NaN for a species with no images)."""
    labels, preds = np.asarray(labels, int), np.asarray(preds, int)
    species = np.asarray(class_species)[labels]
    out = {}
    for s in SPECIES:
        mask = species == s
        out[s] = float(np.mean(preds[mask] == labels[mask])) if mask.any() else float("nan")
    return out


def species_confusions(labels, preds, class_species) -> int:
    """How many images were given a breed of the other species (cat <-> dog)."""
    sp = np.asarray(class_species)
    return int(np.sum(sp[np.asarray(labels, int)] != sp[np.asarray(preds, int)]))


def check_close(mine, reference, what: str, tol: float = 1e-6) -> None:
    """Assert two numbers (or dicts of numbers) agree; the message names ``what``."""
    if isinstance(reference, dict):
        assert isinstance(mine, dict) and set(mine) == set(reference), \
            _("{what}: expected keys {keys}, got {mine}", what=what, keys=sorted(reference),
              mine=repr(mine))
        for key in reference:
            check_close(mine[key], reference[key], f"{what}[{key!r}]", tol)
        return
    ok = (np.isnan(reference) and np.isnan(mine)) or abs(float(mine) - float(reference)) <= tol
    assert ok, _("{what}: got {mine}, expected {reference}", what=what, mine=repr(mine),
                 reference=repr(reference))


def report(top1: float, top3: float, per_species: dict, pairs, split, print_fn=print) -> str:
    """The evaluation summary as text, saying so when the data is a stand-in."""
    lines = [_("test split: {count} images ({label})", count=format(len(split), ","),
               label=split.label),
             _("top-1 accuracy {top1}   top-3 accuracy {top3}", top1=format(top1, ".3f"),
               top3=format(top3, ".3f")),
             _("per species: {accuracies}",
               accuracies=", ".join(f"{k} {v:.3f}" for k, v in per_species.items())),
             _("most confused pairs:")]
    lines += [f"  {a} <-> {b}: {c}" for a, b, c in pairs]
    if split.standin:
        lines.append(_("(STAND-IN DATA: synthetic pictures; these numbers say nothing about real "
                       "pets)"))
    text = "\n".join(lines)
    print_fn(text)
    return text


def show_wrong_predictions(split, preds, probs=None, n: int = 16, seed: int = 0):
    """A grid of test images the model got wrong: true breed, and the prediction
    (with its probability when ``probs`` is given).  Stamped on stand-in data."""
    from tlcourse import plots

    labels = np.asarray(split.labels)
    preds = np.asarray(preds, int)
    wrong = np.flatnonzero(preds != labels)
    if len(wrong) > n:
        wrong = np.sort(np.random.default_rng(seed).choice(wrong, n, replace=False))
    fig = plots.show_images([split.paths[i] for i in wrong], labels[wrong], split.class_names,
                            standin=split.standin, predictions=preds[wrong],
                            title=figure_text("{shown} of {wrong} wrong predictions ({count} test images)",
                                    shown=len(wrong), wrong=int(np.sum(preds != labels)),
                                    count=len(split)), ncols=4, size=2.4)
    if probs is not None:
        for ax, i in zip(fig.axes, wrong):
            ax.set_title(ax.get_title() + f" ({np.asarray(probs)[i, preds[i]]:.2f})",
                         fontsize=7, color="red")
    return fig


def plot_confusion(cm, class_names, standin: bool = False, title: str | None = None):
    """The 37 x 37 confusion matrix as an image (counts), rows = true breed."""
    import matplotlib.pyplot as plt

    from tlcourse.plots import stamp_standin

    fig, ax = plt.subplots(figsize=(9, 8))
    im = ax.imshow(np.asarray(cm), cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=6)
    ax.set_xlabel(figure_text("predicted breed"))
    ax.set_ylabel(figure_text("true breed"))
    fig.colorbar(im, ax=ax, fraction=0.04)
    ax.set_title((title or figure_text("Confusion matrix (test split)"))
                 + (" (" + figure_text("stand-in data") + ")" if standin else ""))
    fig.tight_layout()
    return stamp_standin(fig, standin)


# --------------------------------------------------------------------------
# grading: the saved model and the threshold
# --------------------------------------------------------------------------
def min_top1(profile) -> float:
    """The top-1 accuracy the graded test requires: the profile's *declared* value
    (``profiles.PROFILES``), so ``get_profile(pets_min_top1=0)`` can't lower it.  On
    stand-in pictures (the smoke profile's, or real-sized ones put where the download goes,
    as the laptop benchmark does) the real data's bar means nothing: the stand-ins' bar."""
    from tlcourse import standin
    from tlcourse.catalog import dataset_folder
    from tlcourse.profiles import PROFILES

    on_standin = profile.on_standin or standin.is_standin_folder(dataset_folder("oxford_pets"))
    return PROFILES["smoke" if on_standin else profile.name].pets_min_top1


def at_size(preprocess, size: int):
    """``preprocess`` with another input size (the lab's ``P.pets_image_size``)."""
    import dataclasses
    return dataclasses.replace(preprocess, size=int(size))


def check_raises(fn, *args, what: str = "", **kwargs) -> None:
    """Assert ``fn(*args, **kwargs)`` raises ValueError (a clear error, not a wrong answer)."""
    try:
        result = fn(*args, **kwargs)
    except ValueError:
        return
    raise AssertionError(_("{what}: expected a ValueError, got {result}",
                           what=what or fn.__name__, result=repr(result)))
