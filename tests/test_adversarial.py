"""The framework-neutral part of the adversarial assignment (numpy only)."""
import math

import numpy as np
import pytest

from tlcourse import adversarial as adv
from tlcourse import imagenet


@pytest.mark.parametrize("spec, want", [("4/255", 4 / 255), ("1/255", 1 / 255), ("4", 4 / 255),
                                        (0.0157, 0.0157), (8 / 255, 8 / 255), ("0", 0.0)])
def test_parse_eps(spec, want):
    assert adv.parse_eps(spec) == pytest.approx(want)


@pytest.mark.parametrize("bad", ["four", "4/0", "-1/255", "300"])
def test_parse_eps_rejects_nonsense(bad):
    with pytest.raises(ValueError, match="epsilon"):
        adv.parse_eps(bad)


def test_eps_label_round_trips():
    for k in (1, 2, 4, 8):
        assert adv.eps_label(k / 255) == f"{k}/255"
        assert adv.parse_eps(adv.eps_label(k / 255)) == pytest.approx(k / 255)
    assert adv.eps_label(2.5 / 255) == "2.5/255"


def test_total_variation_reference_known_values():
    arrs = adv.tv_test_arrays()
    tv = adv.total_variation_reference
    assert tv(arrs["constant"]) == 0
    assert tv(arrs["stripes"]) == pytest.approx(1.0)        # every horizontal pair differs by 1
    assert tv(arrs["ramp_down"]) == pytest.approx(0.25)     # 5 rows, steps of 1/4
    assert tv(arrs["one_pixel"]) == 0                       # no pairs at all: 0, not NaN
    row = arrs["one_row"]
    assert tv(row) == pytest.approx(np.abs(np.diff(row, axis=1)).mean())
    # layout does not matter, and a batch of one is the image itself
    r = arrs["random"]
    assert tv(r.transpose(2, 0, 1), channels_last=False) == pytest.approx(tv(r))
    assert tv(r[None]) == pytest.approx(tv(r))
    with pytest.raises(ValueError):
        tv(r[0, 0])


def test_total_variation_check_accepts_reference_and_rejects_mistakes():
    ref = lambda b: adv.total_variation_reference(b)                      # noqa: E731
    adv.check_total_variation(ref, np.asarray, channels_last=True)
    ref_cf = lambda b: adv.total_variation_reference(b, channels_last=False)  # noqa: E731
    adv.check_total_variation(ref_cf, np.asarray, channels_last=False)

    def no_abs(b):
        return float(np.diff(b, axis=1).mean() + np.diff(b, axis=2).mean())

    def summed(b):
        return float(np.abs(np.diff(b, axis=1)).sum() + np.abs(np.diff(b, axis=2)).sum())

    def nan_on_thin(b):
        return float(np.abs(np.diff(b, axis=1)).mean() + np.abs(np.diff(b, axis=2)).mean())

    for wrong in (no_abs, summed, nan_on_thin):
        with pytest.raises(AssertionError):
            with np.errstate(all="ignore"):
                adv.check_total_variation(wrong, np.asarray, channels_last=True)


def test_projected_step_check():
    rng = np.random.default_rng(0)
    x0 = rng.integers(0, 256, (8, 8, 3)) / 255
    eps = 4 / 255
    good = np.clip(x0 + eps * np.sign(rng.standard_normal(x0.shape)), 0, 1)
    adv.check_projected_step(good, x0, x0, eps, -3.0, -2.0)
    with pytest.raises(AssertionError, match="eps-ball"):
        adv.check_projected_step(np.clip(x0 + 2 * eps, 0, 1), x0, x0, eps, -3.0, -2.0)
    with pytest.raises(AssertionError, match=r"\[0, 1\]"):
        adv.check_projected_step(x0 * 0 - eps / 2, x0 * 0, x0 * 0, eps, -3.0, -2.0)
    with pytest.raises(AssertionError, match="did not change"):
        adv.check_projected_step(x0, x0, x0, eps, -3.0, -2.0)
    with pytest.raises(AssertionError, match="log-probability"):
        adv.check_projected_step(good, x0, x0, eps, -2.0, -3.0)


def _result(eps, success, steps, linf=None, l2=1.0):
    probs = np.full(1000, 1e-4)
    probs[imagenet.TABBY if success else 0] = 0.9
    r = adv.make_result(original=np.zeros((2, 2, 3)), adversarial=np.full((2, 2, 3), linf or eps),
                        probs_before=np.eye(1000)[243], probs_after=probs,
                        target=imagenet.TABBY, eps=eps, steps=steps)
    return r


def test_make_result_and_norms():
    r = _result(2 / 255, True, 3)
    assert r.success and r.final_class == imagenet.TABBY and r.start_class == 243
    assert r.linf == pytest.approx(2 / 255)
    assert r.l2 == pytest.approx(math.sqrt(12) * 2 / 255)
    assert "SUCCESS" in r.summary() and "2/255" in r.summary()
    assert adv.perturbation_norms(np.ones(3), np.zeros(3)) == pytest.approx((1.0, math.sqrt(3)))


def test_results_table_and_smallest_eps():
    results = [_result(1 / 255, False, 20), _result(1 / 255, True, 9),
               _result(2 / 255, True, 2), _result(2 / 255, True, 4),
               _result(4 / 255, True, 1), _result(4 / 255, True, 1)]
    rows = adv.results_table(results)
    assert [r["eps"] for r in rows] == ["1/255", "2/255", "4/255"]
    assert [r["success_rate"] for r in rows] == [0.5, 1.0, 1.0]
    assert rows[0]["mean_steps"] == 9 and rows[1]["mean_steps"] == 3 and rows[1]["max_steps"] == 4
    assert adv.smallest_working_eps(results) == pytest.approx(2 / 255)
    assert adv.smallest_working_eps(results[:2]) is None
    text = adv.format_table(rows)
    assert "50%" in text and "100%" in text


def test_check_attack():
    adv.check_attack(_result(4 / 255, True, 5), 4 / 255, 20)
    with pytest.raises(AssertionError, match="not the target"):
        adv.check_attack(_result(4 / 255, False, 5), 4 / 255, 20)
    with pytest.raises(AssertionError, match="exceeds"):
        adv.check_attack(_result(4 / 255, True, 5, linf=8 / 255), 4 / 255, 20)
    with pytest.raises(AssertionError, match="steps"):
        adv.check_attack(_result(4 / 255, True, 25), 4 / 255, 20)


def test_class_list_and_prob():
    assert adv.class_list("tabby") == [imagenet.TABBY]
    assert adv.class_list(imagenet.DOMESTIC_CAT_CLASSES) == [281, 282, 283, 284, 285]
    p = np.zeros((2, 1000))
    p[0, 281], p[0, 285], p[1, 0] = 0.5, 0.25, 1.0
    assert adv.class_prob(p, imagenet.DOMESTIC_CAT_CLASSES).tolist() == [0.75, 0.0]


def test_transforms_sample():
    rng = np.random.default_rng(0)
    still = adv.Transforms(jitter=0, scales=(1.0,), angles=(0,), fine_jitter=0)
    assert np.allclose(still.sample(rng, 100), [[1, 0, 0], [0, 1, 0]])
    m = adv.STANDARD_TRANSFORMS.sample(rng, 100)
    assert m.shape == (2, 3) and np.all(np.abs(m[:, 2]) <= 2 * 12 / 100 + 1e-6)
    det = np.linalg.det(m[:, :2])   # 1/scale^2 with scale in [0.9, 1.1]
    assert 1 / 1.1 ** 2 - 1e-5 <= det <= 1 / 0.9 ** 2 + 1e-5
    # the same seed gives the same draws (both frameworks use these numbers)
    assert np.array_equal(adv.STANDARD_TRANSFORMS.sample(np.random.default_rng(5), 64),
                          adv.STANDARD_TRANSFORMS.sample(np.random.default_rng(5), 64))


def test_fourier_pieces():
    s = adv.fourier_scale(16)
    assert s.shape == (16, 9) and s[0, 0] == s.max()     # lowest frequency weighted most
    assert adv.fourier_init(16, 2, seed=1).shape == (2, 3, 16, 9, 2)
    assert np.array_equal(adv.fourier_init(16, seed=1), adv.fourier_init(16, seed=1))
    assert np.allclose(np.linalg.norm(adv.COLOR_CORRELATION, axis=0).max(), 1.0)


def _one_hot(cls: int) -> np.ndarray:
    probs = np.full((1, 1000), 0.0)
    probs[0, cls] = 1.0
    return probs


def test_attack_loop_steps_until_the_target_and_stops_at_the_budget():
    # a fake model: class 281 once the "image" (a number) reaches 3, class 0 before
    classify = lambda x: _one_hot(281 if x >= 3 else 0)   # noqa: E731
    to_image = lambda x: np.full((2, 2, 3), x / 255, np.float32)   # noqa: E731
    won = adv.run_targeted_attack(0, lambda x: x + 1, classify, to_image, target=281,
                                  eps=4 / 255, steps=10, name="fake")
    assert won.success and won.steps == 3 and won.name == "fake"
    assert won.linf == pytest.approx(3 / 255) and won.start_class == 0
    lost = adv.run_targeted_attack(0, lambda x: x + 1, classify, to_image, target=281,
                                   eps=4 / 255, steps=2)
    assert not lost.success and lost.steps == 2 and lost.final_class == 0
    at_target = adv.run_targeted_attack(5, lambda x: x + 1, classify, to_image, target=281,
                                        eps=0, steps=2)
    assert at_target.success and at_target.steps == 0


def test_attack_photos_runs_every_photo_at_every_budget(tmp_path):
    calls = []

    def targeted_attack(model, preprocess, image, target, eps, steps, name=""):
        calls.append((image, eps, steps, name))
        return name

    attack_photos = adv.attack_photos_with(targeted_attack)
    photos = [tmp_path / "a.png", tmp_path / "b.png"]
    names = attack_photos("model", "prep", photos, "tabby", ["1/255", "2/255"], steps=5,
                          progress=False)
    assert names == ["a.png", "b.png", "a.png", "b.png"]
    assert [(c[0].name, c[1], c[2]) for c in calls] == [
        ("a.png", "1/255", 5), ("b.png", "1/255", 5), ("a.png", "2/255", 5), ("b.png", "2/255", 5)]


def test_growth_loop_and_parameterisation_choice():
    made = adv.parameterisation("fourier", {"pixels": dict, "fourier": lambda **kw: kw}, 8, 1)
    assert made == {"size": 8, "seed": 1}
    mine = object()
    assert adv.parameterisation(mine, {}, 8, 1) is mine
    with pytest.raises(ValueError, match="'dream' is not a parameterisation"):
        adv.parameterisation("dream", {"pixels": dict}, 8, 1)
    seen = iter([0.1, 0.4, 0.7])
    grown = adv.run_growth(lambda: np.zeros((1, 4, 4, 3)), lambda: next(seen),
                           lambda x: _one_hot(281) * 0.9, lambda x: x[0], target=[281, 282],
                           steps=3, progress=False, label="cat")
    assert grown.history == [0.1, 0.4, 0.7] and grown.prob == pytest.approx(0.9)
    assert grown.image.shape == (4, 4, 3) and grown.steps == 3 and grown.label == "cat"


def test_transforms_copies_draw_one_after_another():
    three = adv.Transforms(copies=3)
    many = three.sample_copies(np.random.default_rng(9), 64)
    rng = np.random.default_rng(9)
    one_by_one = [adv.STANDARD_TRANSFORMS.sample(rng, 64) for _ in range(3)]
    assert many.shape == (3, 2, 3) and np.array_equal(many, np.stack(one_by_one))
    assert not np.array_equal(many[0], many[1])
    for bad in (0, 1.5, -2):
        with pytest.raises(ValueError, match=f"copies={bad!r}"):
            adv.Transforms(copies=bad)


def test_growth_recipe_gives_grow_class_image_its_settings():
    kwargs = adv.TRANSFERABLE.kwargs()
    assert set(kwargs) == {"image", "steps", "lr", "size", "tv_weight", "transforms", "objective"}
    assert kwargs["image"] == "fourier" and isinstance(kwargs["transforms"], adv.Transforms)
    assert kwargs["objective"] == "logit"
    assert adv.GrowthRecipe("pixels", 8, 0.1, 64).kwargs() == dict(
        image="pixels", steps=8, lr=0.1, size=64, tv_weight=0.0, transforms=None,
        objective="log_prob")
    with pytest.raises(ValueError, match="objective 'softmax': use one of 'log_prob', 'logit'"):
        adv.GrowthRecipe("pixels", 8, 0.1, 64, objective="softmax")


def test_bench_line_gives_median_spread_and_both_targets():
    from tlcourse.bench import adversarial as bench

    runs = [{"seed": s, "load": 2.5} for s in (0, 1, 2)]
    row = {"class": "zebra", "steps": 256, "size": 128, "runs": runs, "median_second": 0.91,
           "min_second": 0.2, "max_second": 0.99, "median_first": 1.0, "max_seconds": 25.0,
           "median_met": True, "time_met": False}
    (line,) = bench.transferable_lines([row])
    assert "median 0.910 (min 0.200, max 0.990) over seeds [0, 1, 2]" in line
    assert "median >= 0.85: met" in line and "<= 20 s an image: NOT MET" in line
    assert "load 2.5" in line
