"""The PyTorch adversarial pieces, on the real offline MobileNetV2."""
import numpy as np
import pytest
import torch

from tlcourse import adversarial as adv
from tlcourse import imagenet, photos
from tlcourse.torch import adversarial as A
from tlcourse.torch import pretrained, to_pixels


@pytest.fixture(scope="module")
def mobilenet():
    return pretrained("mobilenet_v2")


@pytest.fixture(scope="module")
def dalmatian():
    return [p for p, c in photos.dog_photos() if c == 251][0]


def nchw(batch):
    return torch.from_numpy(np.ascontiguousarray(batch))


def test_total_variation_matches_reference():
    adv.check_total_variation(A.total_variation, nchw, channels_last=False)
    x = torch.rand(2, 3, 9, 7, requires_grad=True)
    A.total_variation(x).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_parameterisations_give_valid_images():
    for image in (A.pixel_image(32, batch=2, seed=1), A.fourier_image(32, batch=2, seed=1)):
        x = image()
        assert x.shape == (2, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
        x.sum().backward()
        assert image.variables[0].grad is not None


def test_apply_transforms():
    x = torch.rand(1, 3, 40, 40)
    still = adv.Transforms(pad=4, jitter=0, scales=(1.0,), angles=(0,), fine_jitter=0)
    y = A.apply_transforms(x, still, np.random.default_rng(0))
    assert y.shape == (1, 3, 48, 48)
    assert torch.allclose(y[..., 4:44, 4:44], x, atol=1e-5)     # identity inside the padding
    assert A.apply_transforms(x, None, np.random.default_rng(0)) is x
    z = A.apply_transforms(x, adv.STANDARD_TRANSFORMS, np.random.default_rng(0))
    assert z.shape == (1, 3, 64, 64) and not torch.allclose(z[..., 12:52, 12:52], x)


def test_pgd_step_stays_in_ball_and_raises_target(mobilenet, dalmatian):
    model, prep = mobilenet
    x0 = to_pixels(prep, dalmatian)
    x1 = A.pgd_step(model, prep, x0, x0, imagenet.TABBY, "2/255", 1 / 255)
    lp = lambda x: float(A.class_log_prob(model, prep, x, imagenet.TABBY))   # noqa: E731
    adv.check_projected_step(x1.numpy(), x0.numpy(), x0.numpy(), 2 / 255, lp(x0), lp(x1))
    x2 = A.pgd_step(model, prep, x1, x0, imagenet.TABBY, "2/255", 4 / 255)   # big step, projected
    assert float((x2 - x0).abs().max()) <= 2 / 255 + 1e-6
    f = A.fgsm(model, prep, x0, imagenet.TABBY, "4/255")
    assert float((f - x0).abs().max()) == pytest.approx(4 / 255, abs=1e-6)


def test_targeted_attack_reaches_tabby(mobilenet, dalmatian):
    model, prep = mobilenet
    r = A.targeted_attack(model, prep, dalmatian, "tabby", "4/255", steps=20)
    adv.check_attack(r, 4 / 255, 20)
    assert r.start_class == 251 and r.steps >= 1
    assert np.allclose(r.adversarial * 255, np.round(r.adversarial * 255), atol=1e-3)  # 8-bit grid
    # zero budget: nothing can change, the attack must report failure
    r0 = A.targeted_attack(model, prep, dalmatian, "tabby", 0, steps=3)
    assert not r0.success and r0.linf == 0 and r0.steps == 3


def test_grow_class_image_raises_probability(mobilenet):
    model, prep = mobilenet
    r = A.grow_class_image(model, prep, imagenet.ZEBRA, "pixels", steps=12, size=64,
                           progress=False)
    assert r.image.shape == (64, 64, 3)
    assert r.history[-1] > r.history[0] and r.prob > 0.5


def test_class_log_prob_moves_the_pixels_to_the_model_and_keeps_their_gradient(monkeypatch):
    """A photo on the CPU and a model elsewhere (a GPU in the full profile): the pixels
    follow the model, and the gradient still reaches the CPU tensor the student holds."""
    import torch
    from tlcourse.torch import adversarial as tadv
    moved = []
    real_to = torch.Tensor.to

    def spy(self, *args, **kwargs):
        moved.append(args[0] if args else kwargs.get("device"))
        return real_to(self, *args, **kwargs)

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 1000))
    prep = type("P", (), {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "bgr": False})()
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    monkeypatch.setattr(torch.Tensor, "to", spy)
    logp = tadv.class_log_prob(net, prep, x, 281)
    monkeypatch.undo()
    assert torch.device("cpu") in moved, "the pixels were not sent to the model's device"
    (grad,) = torch.autograd.grad(logp.sum(), x)
    assert grad.shape == x.shape and grad.abs().sum() > 0


def _tiny_classifier(size):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * size * size, 1000))
    prep = type("P", (), {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "bgr": False})()
    return net, prep


def test_logit_objective_climbs_the_class_score_not_log_p():
    """objective="logit" (the recipe of images that transfer) takes Adam steps on
    the target's logit, as a hand-written loop does; the default takes them on
    log p, which gives another image."""
    from tlcourse.torch.models import normalize
    size, steps, lr = 8, 3, 0.05
    net, prep = _tiny_classifier(size)
    grown = {objective: A.grow_class_image(net, prep, imagenet.DOMESTIC_CAT_CLASSES, "pixels",
                                           steps=steps, lr=lr, size=size, objective=objective,
                                           progress=False).image
             for objective in ("logit", "log_prob")}
    image = A.pixel_image(size=size)
    opt = torch.optim.Adam(image.variables, lr=lr)
    for _ in range(steps):
        logits = net(normalize(prep, image()))
        loss = -torch.logsumexp(logits[:, list(imagenet.DOMESTIC_CAT_CLASSES)], dim=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    by_hand = image()[0].detach().numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(grown["logit"], by_hand, atol=1e-6)
    assert np.abs(grown["log_prob"] - by_hand).max() > 1e-4
    with pytest.raises(ValueError, match="objective 'prob'"):
        A.grow_class_image(net, prep, 281, "pixels", steps=1, size=size, objective="prob")
