"""The TensorFlow adversarial pieces, and agreement with PyTorch on the same input.

conftest imports torch first (the other order crashes), so both adapters can
be compared in this one process."""
import numpy as np
import pytest
import torch

from tlcourse import adversarial as adv
from tlcourse import imagenet, photos
from tlcourse.torch import adversarial as TA   # torch before tensorflow
from tlcourse.tf import adversarial as A  # noqa: E402
from tlcourse.tf import pretrained, to_pixels  # noqa: E402

import tensorflow as tf  # noqa: E402


@pytest.fixture(scope="module")
def mobilenet():
    return pretrained("mobilenet_v2")


@pytest.fixture(scope="module")
def dalmatian():
    return [p for p, c in photos.dog_photos() if c == 251][0]


def test_total_variation_matches_reference():
    adv.check_total_variation(A.total_variation, tf.constant, channels_last=True)


def test_total_variation_agrees_with_torch():
    rng = np.random.default_rng(7)
    for shape in ((2, 17, 13, 3), (1, 1, 9, 3), (3, 224, 224, 3)):
        x = rng.random(shape, dtype=np.float32)
        got_tf = float(A.total_variation(tf.constant(x)))
        got_torch = float(TA.total_variation(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())))
        assert got_tf == pytest.approx(got_torch, rel=1e-5, abs=1e-7)
        assert got_tf == pytest.approx(adv.total_variation_reference(x), rel=1e-5)


def test_parameterisations_and_transforms_agree_with_torch():
    for tf_image, torch_image in ((A.fourier_image(32, seed=3), TA.fourier_image(32, seed=3)),
                                  (A.pixel_image(32, seed=3), TA.pixel_image(32, seed=3))):
        a = tf_image().numpy()
        b = torch_image().detach().numpy().transpose(0, 2, 3, 1)
        assert a.shape == (1, 32, 32, 3) and np.abs(a - b).max() < 1e-5
    x = np.random.default_rng(0).random((2, 40, 40, 3)).astype(np.float32)
    for transforms in (adv.STANDARD_TRANSFORMS, adv.Transforms(copies=3)):
        a = A.apply_transforms(tf.constant(x), transforms, np.random.default_rng(4))
        b = TA.apply_transforms(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
                                transforms, np.random.default_rng(4))
        assert a.shape == (2 * transforms.copies, 64, 64, 3)
        assert np.abs(a.numpy() - b.numpy().transpose(0, 2, 3, 1)).max() < 1e-4
    # copy-major: on a batch of two equal images, rows 0-1 share the first draw, row 2
    # is the second draw
    same = tf.constant(np.stack([x[0], x[0]]))
    c = A.apply_transforms(same, adv.Transforms(copies=3), np.random.default_rng(4)).numpy()
    assert np.allclose(c[0], c[1]) and not np.allclose(c[0], c[2])


def test_gradients_flow_through_fourier_and_transforms():
    image = A.fourier_image(32, seed=1)
    with tf.GradientTape() as tape:
        y = A.apply_transforms(image(), adv.STANDARD_TRANSFORMS, np.random.default_rng(0))
        loss = tf.reduce_sum(y * y) + A.total_variation(y)
    grad = tape.gradient(loss, image.variables)[0]
    assert grad is not None and float(tf.norm(grad)) > 0


def test_pgd_step_stays_in_ball_and_raises_target(mobilenet, dalmatian):
    model, prep = mobilenet
    x0 = to_pixels(prep, dalmatian)
    x1 = A.pgd_step(model, prep, x0, x0, imagenet.TABBY, "2/255", 1 / 255)
    lp = lambda x: float(A.class_log_prob(model, prep, x, imagenet.TABBY)[0])   # noqa: E731
    adv.check_projected_step(x1.numpy(), x0.numpy(), x0.numpy(), 2 / 255, lp(x0), lp(x1))
    x2 = A.pgd_step(model, prep, x1, x0, imagenet.TABBY, "2/255", 4 / 255)
    assert float(tf.reduce_max(tf.abs(x2 - x0))) <= 2 / 255 + 1e-6
    f = A.fgsm(model, prep, x0, imagenet.TABBY, "4/255")
    assert float(tf.reduce_max(tf.abs(f - x0))) == pytest.approx(4 / 255, abs=1e-6)


def test_targeted_attack_reaches_tabby(mobilenet, dalmatian):
    model, prep = mobilenet
    r = A.targeted_attack(model, prep, dalmatian, "tabby", "4/255", steps=20)
    adv.check_attack(r, 4 / 255, 20)
    assert r.start_class == 251 and r.steps >= 1
    assert np.allclose(r.adversarial * 255, np.round(r.adversarial * 255), atol=1e-3)
    r0 = A.targeted_attack(model, prep, dalmatian, "tabby", 0, steps=3)
    assert not r0.success and r0.linf == 0 and r0.steps == 3


def test_grow_class_image_raises_probability(mobilenet):
    model, prep = mobilenet
    r = A.grow_class_image(model, prep, imagenet.ZEBRA, "pixels", steps=12, size=64,
                           progress=False)
    assert r.image.shape == (64, 64, 3)
    assert r.history[-1] > r.history[0] and r.prob > 0.5


def test_compiled_grow_step_draws_a_new_transform_every_step(mobilenet):
    """grow_class_image compiles its step with tf.function; the random
    transform must still be a new draw each step (a trace that froze the first
    draw would still "work", just worse).  Reference: the same loop, eager,
    with fresh draws; the same loop with the first draw repeated must differ
    (so this test can tell the two apart)."""
    import keras
    model, prep = mobilenet
    steps, size, seed = 4, 48, 3
    got = A.grow_class_image(model, prep, imagenet.ZEBRA, "fourier", steps=steps, size=size,
                             transforms=adv.STANDARD_TRANSFORMS, seed=seed, progress=False)

    def eager(frozen):
        param, rng = A.fourier_image(size=size, seed=seed), np.random.default_rng(seed)
        opt, history = keras.optimizers.Adam(learning_rate=0.05), []
        for _ in range(steps):
            draw = np.random.default_rng(seed) if frozen else rng
            with tf.GradientTape() as tape:
                logp = A.class_log_prob(model, prep, A.apply_transforms(
                    param(), adv.STANDARD_TRANSFORMS, draw), imagenet.ZEBRA)
                loss = -tf.reduce_mean(logp)
            opt.apply_gradients(zip(tape.gradient(loss, param.variables), param.variables))
            history.append(float(tf.reduce_mean(tf.exp(logp))))
        return np.asarray(history)

    # compiled vs eager float order differs by ~1% here (Adam amplifies it); frozen: >50%
    fresh, frozen = eager(frozen=False), eager(frozen=True)
    assert np.allclose(got.history, fresh, rtol=0.05), (got.history, fresh)
    assert not np.allclose(frozen, fresh, rtol=0.05), "reference draws did not differ"


def test_logit_objective_climbs_the_class_score_not_log_p():
    """objective="logit" takes Adam steps on the target's logit, as a hand-written
    loop does; the default takes them on log p, which gives another image."""
    import keras
    from tlcourse.tf.models import normalize
    size, steps, lr = 8, 3, 0.05
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((size, size, 3)), keras.layers.Flatten(),
                            keras.layers.Dense(1000)])
    prep = type("P", (), {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "bgr": False,
                          "scale": None})()
    grown = {objective: A.grow_class_image(net, prep, imagenet.DOMESTIC_CAT_CLASSES, "pixels",
                                           steps=steps, lr=lr, size=size, objective=objective,
                                           progress=False).image
             for objective in ("logit", "log_prob")}
    image = A.pixel_image(size=size)
    opt = keras.optimizers.Adam(learning_rate=lr)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            logits = net(normalize(prep, image()))
            loss = -tf.reduce_mean(tf.reduce_logsumexp(
                tf.gather(logits, list(imagenet.DOMESTIC_CAT_CLASSES), axis=1), axis=1))
        opt.apply_gradients(zip(tape.gradient(loss, image.variables), image.variables))
    by_hand = image()[0].numpy()
    np.testing.assert_allclose(grown["logit"], by_hand, atol=1e-5)
    assert np.abs(grown["log_prob"] - by_hand).max() > 1e-4
    with pytest.raises(ValueError, match="objective 'prob'"):
        A.grow_class_image(net, prep, 281, "pixels", steps=1, size=size, objective="prob")


def test_images_grown_on_one_model_share_its_one_traced_step():
    """Every image grown on a model (any class, penalty, rate, seed) runs the
    model's one traced step, and the same settings give the same pixels."""
    import keras
    from tlcourse.tf.models import traced
    size = 8
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3),
                            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1000)])
    prep = type("P", (), {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "bgr": False})()
    settings = dict(image="fourier", steps=3, lr=0.05, size=size, progress=False,
                    transforms=adv.STANDARD_TRANSFORMS, objective="logit")
    first = A.grow_class_image(net, prep, imagenet.ZEBRA, seed=1, **settings).image
    step = traced(net).functions[("score_gradient", "logit")]
    A.grow_class_image(net, prep, imagenet.ZEBRA, seed=0, **settings)
    again = A.grow_class_image(net, prep, imagenet.ZEBRA, seed=1, **settings).image
    np.testing.assert_allclose(again, first, atol=1e-6)
    cat = A.grow_class_image(net, prep, imagenet.DOMESTIC_CAT_CLASSES, seed=1,
                             tv_weight=0.5, **settings)
    assert np.abs(cat.image - again).max() > 1e-4
    A.grow_class_image(net, prep, imagenet.ZEBRA, seed=1, **{**settings, "lr": 0.1})
    assert step.experimental_get_tracing_count() == 1, "one trace for them all"
