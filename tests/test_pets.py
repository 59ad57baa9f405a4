"""tlcourse.pets (the Pets lab's reference answers and checks) and the grading helpers
that need no notebook run.  Fast: numpy and a few small files."""
import json

import nbformat
import numpy as np
import pytest

from tlcourse import pets
from tlcourse.course import grade as grading


# --------------------------------------------------------------------------
# task 1: names
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name, breed, species", [
    ("american_pit_bull_terrier_12.jpg", "american_pit_bull_terrier", "dog"),
    ("Egyptian_Mau_1.jpg", "Egyptian_Mau", "cat"),
    ("great_pyrenees_101.jpg", "great_pyrenees", "dog"),
    ("images/British_Shorthair_7.jpg", "British_Shorthair", "cat"),
    ("Abyssinian_100", "Abyssinian", "cat"),
])
def test_breed_and_species(name, breed, species):
    assert pets.breed_of(name) == breed
    assert pets.species_of(name) == species
    assert pets.species_of(breed) == species


@pytest.mark.parametrize("bad", ["beagle.jpg", "_12.jpg", "12_beagle", ""])
def test_breed_of_rejects_other_names(bad):
    with pytest.raises(ValueError):
        pets.breed_of(bad)


def test_label_map_is_class_id_order_and_order_free():
    files = ["beagle_1.jpg", "Abyssinian_2.jpg", "american_bulldog_3.jpg", "Bengal_9.jpg",
             "beagle_7.jpg"]
    m = pets.label_map(files)
    assert m == {"Abyssinian": 0, "american_bulldog": 1, "beagle": 2, "Bengal": 3}
    assert pets.label_map(files[::-1]) == m
    pets.check_label_map(m, files)
    with pytest.raises(AssertionError, match="wrong indices"):
        pets.check_label_map({**m, "beagle": 3, "Bengal": 2}, files)
    with pytest.raises(AssertionError, match="missing"):
        pets.check_label_map({"beagle": 0}, files)


def test_standin_annotations_agree_with_the_rules(tmp_path):
    from tlcourse import standin
    root = standin.write_oxford_pets(tmp_path / "pets", per_breed=2)
    files = pets.image_names(root)
    assert not any(f.endswith(".mat") for f in files)
    breeds = pets.official_breeds(root)
    assert len(breeds) == 37
    assert sorted(pets.label_map(files), key=pets.label_map(files).get) == breeds
    species = pets.class_species(root)
    assert species == [pets.species_of(b) for b in breeds]
    assert species.count("cat") == 12
    rows = pets.read_list(root / "annotations" / "list.txt")      # header comments skipped
    assert len(rows) == len(files) and all(0 <= c < 37 for _, c in rows)


# --------------------------------------------------------------------------
# task 2: splits
# --------------------------------------------------------------------------
def test_check_split_accepts_stratified_and_rejects_the_rest():
    from tlcourse.datasets import stratified_split
    labels = np.repeat(np.arange(5), 10)
    tr, va = stratified_split(labels, (0.8, 0.2), seed=0)
    pets.check_split(tr, va, labels, 0.2)
    with pytest.raises(AssertionError, match="leakage"):
        pets.check_split(np.r_[tr, va[:1]], va, labels, 0.2)
    with pytest.raises(AssertionError, match="lost"):
        pets.check_split(tr[1:], va, labels, 0.2)
    # all of class 0 in val, none of class 1: not stratified
    skewed_val = np.r_[np.arange(0, 10), va[labels[va] > 1]]
    skewed_train = np.setdiff1d(np.arange(50), skewed_val)
    with pytest.raises(AssertionError, match="stratify"):
        pets.check_split(skewed_train, skewed_val, labels, 0.2)


def test_check_no_leakage():
    pets.check_no_leakage(("train", ["a", "b"]), ("test", ["c"]))
    with pytest.raises(AssertionError, match="'b' is in both train and test"):
        pets.check_no_leakage(("train", ["a", "b"]), ("test", ["b"]))


# --------------------------------------------------------------------------
# task 4: top-k
# --------------------------------------------------------------------------
def brute_top_k(scores, labels, k):
    """Loop version: rank by (-score, class index)."""
    hits = 0
    for row, y in zip(scores, labels):
        order = sorted(range(len(row)), key=lambda c: (-row[c], c))
        hits += y in order[:k]
    return hits / len(labels)


def test_top_k_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(300, 7)).astype(float)     # many ties
    labels = rng.integers(0, 7, size=300)
    for k in (1, 2, 3, 7, 9):
        assert pets.top_k_accuracy(scores, labels, k) == pytest.approx(brute_top_k(scores, labels, k))
    assert pets.top_k_accuracy([[0.5, 0.5]], [1], 1) == 0.0
    assert pets.top_k_accuracy([[0.5, 0.5]], [0], 1) == 1.0
    assert pets.top_k_accuracy([[0.1, 0.2]], [0], 50) == 1.0


@pytest.mark.parametrize("scores, labels, k", [
    (np.zeros(3), [0], 1), (np.zeros((2, 3)), [0], 1), (np.zeros((1, 3)), [[0]], 1),
    (np.zeros((1, 3)), [0], 0), (np.zeros((1, 3)), [0], 1.5), (np.zeros((1, 3)), [3], 1),
    (np.zeros((0, 3)), [], 1), (np.zeros((1, 3)), [0], True),
])
def test_top_k_bad_input_is_a_clear_error(scores, labels, k):
    with pytest.raises(ValueError):
        pets.top_k_accuracy(scores, labels, k)
    pets.check_raises(pets.top_k_accuracy, scores, labels, k)


def test_check_raises_fails_on_a_silent_answer():
    with pytest.raises(AssertionError, match="expected a ValueError"):
        pets.check_raises(lambda: 0.0)


# --------------------------------------------------------------------------
# task 5: evaluation
# --------------------------------------------------------------------------
def test_confusion_and_pairs():
    labels = [0, 0, 1, 1, 2, 2, 2]
    preds = [0, 1, 0, 1, 0, 1, 2]
    cm = pets.confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[1, 1, 0], [1, 1, 0], [1, 1, 1]]
    pairs = pets.most_confused_pairs(cm, ["a", "b", "c"], 5)
    assert pairs == [("a", "b", 2), ("a", "c", 1), ("b", "c", 1)]
    assert pets.most_confused_pairs(cm, ["a", "b", "c"], 1) == [("a", "b", 2)]
    assert pets.most_confused_pairs(np.eye(3, dtype=int), "abc", 5) == []


def test_per_species_and_species_confusions():
    species = ["cat", "dog", "dog"]
    labels = [0, 0, 1, 2, 2]
    preds = [0, 1, 1, 2, 1]
    acc = pets.per_species_accuracy(labels, preds, species)
    assert acc == {"cat": 0.5, "dog": pytest.approx(2 / 3)}
    assert pets.species_confusions(labels, preds, species) == 1
    assert np.isnan(pets.per_species_accuracy([1], [1], species)["cat"])
    pets.check_close(acc, dict(acc), "same")
    with pytest.raises(AssertionError, match="per"):
        pets.check_close({"cat": 0.4, "dog": 2 / 3}, acc, "per species")


def test_min_top1_cannot_be_lowered_by_an_override():
    from tlcourse.profiles import PROFILES, get_profile
    p = get_profile("smoke", pets_min_top1=0.0)
    assert pets.min_top1(p) == PROFILES["smoke"].pets_min_top1 > 0
    assert PROFILES["full"].pets_min_top1 >= 0.90


def test_report_says_stand_in():
    class Split:
        standin, label = True, "stand-in data"

        def __len__(self):
            return 10
    text = pets.report(0.5, 0.8, {"cat": 0.4, "dog": 0.6}, [("a", "b", 3)], Split(),
                       print_fn=lambda s: None)
    assert "STAND-IN DATA" in text and "a <-> b: 3" in text


# --------------------------------------------------------------------------
# grading helpers: renamed notebooks
# --------------------------------------------------------------------------
def _nb(path, ids, sources):
    nb = nbformat.v4.new_notebook()
    for gid, src in zip(ids, sources):
        c = nbformat.v4.new_code_cell(src)
        c.metadata["nbgrader"] = {"grade_id": gid}
        nb.cells.append(c)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_find_renamed_picks_the_matching_framework(tmp_path):
    src = tmp_path / "source" / "lab"
    _nb(src / "LabTorch.ipynb", ["a", "b"], ["import torch", "x = 1"])
    _nb(src / "LabTF.ipynb", ["a", "b"], ["import keras", "x = 1"])
    sub = tmp_path / "submitted" / "ann" / "lab"
    _nb(sub / "my lab (copy).ipynb", ["a", "b"], ["import keras", "x = 2"])
    found = grading.find_renamed(tmp_path, "lab", "ann")
    assert found == [(sub / "my lab (copy).ipynb", sub / "LabTF.ipynb")]
    # both names already present: nothing to rename
    _nb(sub / "LabTF.ipynb", ["a", "b"], ["import keras", "x = 2"])
    _nb(sub / "LabTorch.ipynb", ["a", "b"], ["import torch", "x = 2"])
    assert grading.find_renamed(tmp_path, "lab", "ann") == []


def test_find_renamed_does_not_guess(tmp_path):
    src = tmp_path / "source" / "lab"
    _nb(src / "LabTorch.ipynb", ["a", "b"], ["same", "cells"])
    _nb(src / "LabTF.ipynb", ["a", "b"], ["same", "cells"])
    sub = tmp_path / "submitted" / "bob" / "lab"
    _nb(sub / "mine.ipynb", ["a", "b"], ["same", "cells"])       # fits both equally
    (sub / "notes.ipynb").write_text(json.dumps({"not": "a notebook"}))
    assert grading.find_renamed(tmp_path, "lab", "bob") == []
