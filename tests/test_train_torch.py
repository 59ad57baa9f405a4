"""Training plumbing, PyTorch side (and the framework-neutral core): small data, seconds."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

from tlcourse import train
from tlcourse import torch as tlc


def blobs(n=120, dim=16, seed=0):
    """Two Gaussian blobs: linearly separable features with labels 0/1."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, dim)).astype(np.float32) + 3.0 * y[:, None]
    return X, y


def test_feature_cache_round_trip_says_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    X, y = blobs(10, 4)
    calls, said = [], []

    def compute():
        calls.append(1)
        return X, y

    a = train.cached_features("demo", compute, log=said.append)
    b = train.cached_features("demo", compute, log=said.append)
    assert len(calls) == 1 and np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert "computed" in said[0] and "reusing" in said[1]
    assert train.features_path("demo").is_file()
    assert not list((tmp_path / "features").glob(".tmp-*")), "temporary file left behind"
    train.features_path("demo").write_bytes(b"garbage")        # damaged file: recomputed
    train.cached_features("demo", compute, log=said.append)
    assert len(calls) == 2
    with pytest.raises(ValueError):
        train.features_path("../escape")


def test_probe_accuracy_beats_chance_only_on_informative_features():
    X, y = blobs(200, 8)
    assert train.probe_accuracy(X[:150], y[:150], X[150:], y[150:]) > 0.9
    rng = np.random.default_rng(1)
    noise = rng.normal(size=X.shape)
    assert train.probe_accuracy(noise[:150], y[:150], noise[150:], y[150:]) < 0.75
    assert train.chance_accuracy([0, 0, 1]) == pytest.approx(2 / 3)


def test_history_records_and_plots():
    h = train.History("demo", standin=True)
    h.add(1.0, 0.5, 0.9, 0.6, 2.0)
    h.add(0.5, 0.8, 0.7, 0.75, 4.0)
    assert h["val_accuracy"] == [0.6, 0.75] and h.best("val_loss") == 0.7
    assert h.seconds_per_epoch == 3.0 and "stand-in" in h.table()
    fig = train.plot_history(h, h.extend(h))
    assert any("STAND-IN" in t.get_text() for t in fig.texts)
    rows = [dict(model="a", params=10, seconds_per_epoch=1.0, val_accuracy=0.9)]
    assert "stand-in" in train.comparison_table(rows, standin=True, print_fn=lambda s: None)
    train.plot_comparison(rows, standin=True)


def test_fit_learns_separable_features():
    X, y = blobs()
    model = tlc.feature_classifier(X.shape[1], 2, dropout=0.0)
    history = tlc.fit(model, tlc.array_loader(X[:90], y[:90], 16, shuffle=True),
                      tlc.array_loader(X[90:], y[90:]), epochs=8, lr=5e-2, progress=False)
    assert len(history) == 8 and history.epochs[0]["seconds"] > 0
    assert history.last("val_accuracy") > 0.9
    loss, acc = tlc.evaluate(model, tlc.array_loader(X[90:], y[90:]))
    assert acc == pytest.approx(history.last("val_accuracy"))
    probs, labels = tlc.predict(model, tlc.array_loader(X[90:], y[90:]))
    assert probs.shape == (30, 2) and np.allclose(probs.sum(1), 1)
    assert np.array_equal(labels, y[90:])


@pytest.fixture(scope="module")
def base():
    model, prep = tlc.pretrained("mobilenet_v2", include_top=False)
    return model, prep


def random_batches(n_batches=2, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(4, 3, size, size, generator=g), torch.tensor([0, 1, 0, 1]))
            for _ in range(n_batches)]


def test_frozen_base_stays_frozen_including_batchnorm(base):
    net, _ = base
    model = tlc.with_new_head(net, 2)
    trainable, total = tlc.count_params(model)
    assert trainable == 1280 * 2 + 2 and total == trainable + tlc.count_params(net)[1]
    before = {k: v.clone() for k, v in net.state_dict().items()}       # weights and BN statistics
    head_before = model.head[1].weight.detach().clone()
    tlc.fit(model, random_batches(), None, epochs=1, lr=1e-2, progress=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not torch.equal(head_before, model.head[1].weight)
    assert model(random_batches(1)[0][0]).shape == (4, 2)


def test_fine_tuning_groups_and_blocks(base):
    net, _ = base
    model = tlc.with_new_head(net, 2)
    top = tlc.top_layers(net, 2)
    assert [id(m) for m in top] == [id(net.features[17]), id(net.features[18])]
    for m in top:
        m.requires_grad_(True)
    assert len(tlc.adam(model, 1e-3).param_groups[0]["params"]) == \
        len([p for p in model.parameters() if p.requires_grad]), "adam takes what trains"
    with pytest.raises(ValueError):
        tlc.top_layers(net, 99)
    tlc.freeze(net)


def test_fit_keeps_only_frozen_batchnorm_in_inference_mode():
    """No magic for a child named `base`: a trainable BatchNorm there learns batch
    statistics; a frozen one keeps its running statistics (as Keras does)."""
    def model():
        torch.manual_seed(0)
        base = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                   torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        return torch.nn.Sequential(OrderedDict(base=base, head=torch.nn.Linear(4, 2)))

    trainable = model()
    stats = trainable.base[1].running_mean.clone()
    tlc.fit(trainable, random_batches(), None, epochs=1, lr=1e-3, progress=False)
    assert not torch.equal(stats, trainable.base[1].running_mean)
    frozen = model()
    tlc.freeze(frozen.base)
    tlc.fit(frozen, random_batches(), None, epochs=1, lr=1e-3, progress=False)
    assert torch.equal(stats, frozen.base[1].running_mean)


def test_save_and_load_model(base, tmp_path):
    net, prep = base
    model = tlc.with_new_head(net, 3)
    torch.nn.init.normal_(model.head[1].weight)
    path = tlc.save_model(model, tmp_path / "model.pt")
    loaded = tlc.load_model(path)
    x = random_batches(1)[0][0]
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-5)
    with pytest.raises(ValueError):
        tlc.save_model(model, tmp_path / "model.pth")


def test_feature_maps_shapes(base):
    from tlcourse.photos import chelsea
    import dataclasses

    net, prep = base
    maps = tlc.feature_maps(net, dataclasses.replace(prep, size=64), chelsea(), n_layers=3)
    assert [name for name, _ in maps] == ["features.0", "features.9", "features.18"]
    assert maps[0][1].shape == (32, 32, 32) and maps[-1][1].shape == (2, 2, 1280)


def test_course_device_is_cuda_when_torch_sees_a_gpu(monkeypatch):
    from tlcourse.torch import models
    monkeypatch.delenv("TLCOURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert tlc.device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert models.device() == torch.device("cuda")
    monkeypatch.setenv("TLCOURSE_DEVICE", "cpu")            # the override wins
    assert tlc.device() == torch.device("cpu")


def test_models_and_heads_are_moved_to_the_course_device(monkeypatch):
    """On a GPU runner, pretrained() must put the base on the GPU and fit() must
    bring a head built on the CPU to it (else the full profile trains on the CPU
    or fails on mixed devices).  No GPU here: PyTorch's "meta" device stands in
    for "somewhere that is not the CPU"."""
    from tlcourse.torch import train as torch_train
    monkeypatch.setenv("TLCOURSE_DEVICE", "meta")
    base, _ = tlc.pretrained("mobilenet_v2", include_top=False)
    assert {p.device.type for p in base.parameters()} == {"meta"}
    model = tlc.with_new_head(base, 2)
    assert {p.device.type for p in model.head.parameters()} == {"cpu"}    # built on the CPU
    opt = tlc.adam(model, 1e-3)              # moves the model first, then takes its parameters
    assert {p.device.type for p in model.parameters()} == {"meta"}
    held = {id(p) for g in opt.param_groups for p in g["params"]}
    assert held == {id(p) for p in model.parameters() if p.requires_grad}
    assert torch_train._move_to_device(model) == torch.device("meta")           # what fit() etc. call
    assert held == {id(p) for p in model.parameters() if p.requires_grad}, \
        "moving a model already on the device replaced its parameters"
    cpu_head = tlc.feature_classifier(8, 2)       # a head alone, as fit() gets it
    torch_train._move_to_device(cpu_head)
    assert {p.device.type for p in cpu_head.parameters()} == {"meta"}
