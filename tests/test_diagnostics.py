"""The framework-neutral diagnostics: confusion counts, the most confident mistakes,
their figures, and the study of approaches on shrinking training sets."""
import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from tlcourse import diagnostics, plots, train
from tlcourse.datasets import Split
from tlcourse.preprocess import get_preprocess

PROBS = np.array([[0.9, 0.1],    # cat, right
                  [0.3, 0.7],    # cat called dog (0.7)
                  [0.05, 0.95],  # cat called dog (0.95): the most confident mistake
                  [0.2, 0.8],    # dog, right
                  [0.6, 0.4],    # dog called cat (0.6)
                  [0.3, 0.7]])   # cat called dog (0.7), a tie with row 1
LABELS = np.array([0, 0, 0, 1, 1, 0])


def split_of(paths, labels, standin=True):
    return Split("cats_dogs", "test", tuple(paths), tuple(labels), ("Cat", "Dog"), standin, "/x")


def test_confusion_counts_true_rows_and_predicted_columns():
    cm = diagnostics.confusion(LABELS, PROBS)
    assert cm.tolist() == [[1, 3], [1, 1]]
    assert cm.sum() == len(LABELS) and np.trace(cm) == 2


def test_confident_mistakes_most_confident_first_ties_by_index():
    assert diagnostics.confident_mistakes(PROBS, LABELS).tolist() == [2, 1, 5, 4]
    assert diagnostics.confident_mistakes(PROBS, LABELS, n=2).tolist() == [2, 1]
    assert diagnostics.confident_mistakes(PROBS[[0, 3]], LABELS[[0, 3]]).tolist() == []


@pytest.mark.parametrize("probs,labels,match", [
    (PROBS[0], LABELS[:1], "shapes"), (PROBS, LABELS[:3], "shapes"),
    (PROBS, LABELS + 1, r"class indices in \[0, 2\)"), (PROBS, LABELS * 0.5, "class indices")])
def test_bad_input_names_the_shapes_or_labels(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        diagnostics.confusion(labels, probs)


def texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.texts) + " " + " ".join(
        ax.get_title() for ax in fig.axes) + " " + (fig._suptitle.get_text() if fig._suptitle else "")


def test_confusion_figure_writes_each_count_and_the_stamp():
    fig = diagnostics.plot_confusion([[1, 3], [1, 1]], ("Cat", "Dog"), standin=True)
    cells = sorted(t.get_text() for t in fig.axes[0].texts)
    assert cells == ["1", "1", "1", "3"]
    assert "accuracy 0.333" in fig.axes[0].get_title() and plots.STAMP in texts(fig)
    assert plots.STAMP not in texts(diagnostics.plot_confusion([[2, 0], [0, 2]], ("Cat", "Dog")))


def test_mistake_gallery_shows_the_probability_of_the_wrong_answer(tmp_path):
    paths = []
    for i in range(len(LABELS)):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(paths[-1])
    fig = diagnostics.show_confident_mistakes(split_of(paths, LABELS), PROBS, n=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 3 and titles[0].endswith("(p = 0.95)") and "pred: Dog" in titles[0]
    assert "The 3 most confident of 4 mistakes on 6 test images" in texts(fig)
    assert plots.STAMP in texts(fig)
    everything = diagnostics.show_confident_mistakes(split_of(paths, LABELS), PROBS, n=8)
    assert "All 4 mistakes on 6 test images, most confident first" in texts(everything)
    none_wrong = diagnostics.show_confident_mistakes(split_of(paths[:1], LABELS[:1]), PROBS[:1])
    assert "no wrong predictions" in texts(none_wrong)


@pytest.mark.parametrize("channels_last", [True, False])
def test_augmented_views_are_shown_as_the_pixels_they_were_made_from(channels_last):
    prep = get_preprocess("mobilenet_v2")
    x01 = np.random.default_rng(0).random((4, 4, 3)).astype(np.float32)
    view = prep.normalize_array(x01, channels_last=True)
    if not channels_last:
        view = view.transpose(2, 0, 1)
    fig = diagnostics.show_augmentations(Image.new("RGB", (4, 4)), [view, view], prep,
                                         channels_last=channels_last)
    shown = fig.axes[1].images[0].get_array()
    assert np.allclose(shown, x01, atol=1e-5)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["original", "view 1", "view 2"]


# --------------------------------------------------------------------------
# the data-size study
# --------------------------------------------------------------------------
def test_rows_of_finds_a_subset_in_the_split_and_refuses_strangers():
    split = split_of([f"{i}.jpg" for i in range(10)], [i % 2 for i in range(10)])
    sub = split.subset(2)
    rows = train.rows_of(split, sub)
    assert [split.paths[i] for i in rows] == list(sub.paths) and len(rows) == 4
    stranger = dataclasses.replace(sub, paths=("elsewhere.jpg",) + sub.paths[1:])
    with pytest.raises(ValueError, match="elsewhere.jpg is not in the test split"):
        train.rows_of(split, stranger)


def test_study_runs_each_approach_on_each_size_and_keeps_its_validation_accuracy():
    split = split_of([f"{i}.jpg" for i in range(20)], [i % 2 for i in range(20)])
    seen = []

    def approach(bonus):
        def train_on(subset):
            seen.append((bonus, len(subset)))
            return min(1.0, len(subset) / 20 + bonus)
        return train_on

    rows = train.data_size_study(split, (2, None), {"a": approach(0.0), "b": approach(0.1)},
                                 log=lambda *_: None)
    assert seen == [(0.0, 4), (0.1, 4), (0.0, 20), (0.1, 20)]
    assert [(r["approach"], r["per_class"], r["images"]) for r in rows] == \
        [("a", 2, 4), ("b", 2, 4), ("a", 10, 20), ("b", 10, 20)]
    assert [round(r["val_accuracy"], 3) for r in rows] == [0.2, 0.3, 1.0, 1.0]
    assert all(r["seconds"] >= 0 for r in rows)
    fig = plots.plot_data_size_study(rows, chance=0.5, standin=True)
    lines = fig.axes[0].get_lines()
    assert [l.get_label() for l in lines] == ["a", "b", "chance (0.50)"]
    assert np.allclose(lines[1].get_ydata(), [0.3, 1.0]) and plots.STAMP in texts(fig)


@pytest.mark.parametrize("returned", [None, 1.5, "0.9", train.History("x")])
def test_study_refuses_anything_but_an_accuracy(returned):
    split = split_of(["0.jpg", "1.jpg"], [0, 1])
    with pytest.raises(ValueError, match="a returned .* return the validation accuracy, a number"):
        train.data_size_study(split, (None,), {"a": lambda s: returned}, log=lambda *_: None)
