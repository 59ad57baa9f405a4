"""Training plumbing, Keras side: small data, seconds (the core: test_train_torch.py)."""
import numpy as np
import pytest

import torch  # noqa: F401  (torch before tensorflow in one process; see conftest)
import keras  # noqa: E402

from tlcourse import tf as tlc  # noqa: E402


def blobs(n=120, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, dim)).astype(np.float32) + 3.0 * y[:, None]
    return X, y


def test_fit_learns_separable_features():
    X, y = blobs()
    model = tlc.feature_classifier(X.shape[1], 2, dropout=0.0)
    history = tlc.fit(model, tlc.array_loader(X[:90], y[:90], 16, shuffle=True, standin=True),
                      tlc.array_loader(X[90:], y[90:]), epochs=8, lr=5e-2, progress=False)
    assert len(history) == 8 and history.epochs[0]["seconds"] > 0 and history.standin
    assert history.last("val_accuracy") > 0.9
    loss, acc = tlc.evaluate(model, tlc.array_loader(X[90:], y[90:]))
    assert acc == pytest.approx(history.last("val_accuracy"))
    assert loss == pytest.approx(history.last("val_loss"), rel=1e-3)
    probs, labels = tlc.predict(model, tlc.array_loader(X[90:], y[90:]))
    assert probs.shape == (30, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.array_equal(labels, y[90:])
    listed, _ = tlc.predict(model, list(tlc.array_loader(X[90:], y[90:])))   # a list of batches
    assert np.allclose(listed, probs, atol=1e-6)


@pytest.fixture(scope="module")
def base():
    return tlc.pretrained("mobilenet_v2", include_top=False)


def random_batches(n_batches=2, size=64, seed=0):
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4 * n_batches, size, size, 3)).astype(np.float32)
    y = np.tile([0, 1], 2 * n_batches).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(4)


def test_frozen_base_stays_frozen_including_batchnorm(base):
    net, _ = base
    model = tlc.with_new_head(net, 2)
    trainable, total = tlc.count_params(model)
    assert trainable == 1280 * 2 + 2 and total == trainable + tlc.count_params(net)[1]
    before = [w.numpy().copy() for w in net.weights]           # includes the BN statistics
    head = model.layers[-1]
    head_before = [w.numpy().copy() for w in head.weights]
    tlc.fit(model, random_batches(), None, epochs=1, lr=1e-2, progress=False)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, net.weights))
    assert not all(np.array_equal(a, w.numpy()) for a, w in zip(head_before, head.weights))
    x, _ = next(iter(random_batches(1)))
    assert model(x).shape == (4, 2)


def test_fine_tuning_recompile(base):
    net, _ = base
    model = tlc.with_new_head(net, 2)
    tlc.fit(model, random_batches(1), None, epochs=1, lr=1e-3, progress=False)
    assert tlc.compiled_with_current_trainable(model)
    top = tlc.top_layers(net, 2)
    assert {l.name.split("_")[1] for l in top} == {"17", "18"}
    net.trainable = True
    for layer in net.layers:
        layer.trainable = layer in top
    assert not tlc.compiled_with_current_trainable(model)     # Keras needs a recompile now
    opt = keras.optimizers.Adam(1e-5)            # the guide: one low rate for everything
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert tlc.compiled_with_current_trainable(model)
    base_vars = {id(v) for v in net.weights}
    w = [v for v in model.trainable_weights if id(v) in base_vars][0]
    before = w.numpy().copy()
    tlc.fit(model, random_batches(1), None, epochs=1, optimizer=opt, progress=False)
    assert model.optimizer is opt, "fit trains the model as the caller compiled it"
    step = np.abs(w.numpy() - before).max()
    assert 0 < step < 5e-5, "the top of the base moves, by about the learning rate"
    assert isinstance(tlc.adam(model, 1e-3), keras.optimizers.Adam)
    net.trainable = False


def test_save_and_load_model(base, tmp_path):
    net, _ = base
    model = tlc.with_new_head(net, 3)
    path = tlc.save_model(model, tmp_path / "model.keras")
    loaded = tlc.load_model(path)
    x, _ = next(iter(random_batches(1)))
    assert np.allclose(model(x, training=False), loaded(x, training=False), atol=1e-5)
    with pytest.raises(ValueError):
        tlc.save_model(model, tmp_path / "model.h5")


def test_feature_maps_match_the_torch_layout(base):
    from tlcourse.photos import chelsea
    import dataclasses

    net, prep = base
    maps = tlc.feature_maps(net, dataclasses.replace(prep, size=64), chelsea(), n_layers=3)
    assert [name for name, _ in maps] == ["features.0", "features.9", "features.18"]
    assert maps[0][1].shape == (32, 32, 32) and maps[-1][1].shape == (2, 2, 1280)


def counting_train_steps(model):
    """The number of times Keras's training step runs as Python: once per trace
    in graph mode, once per batch when eager."""
    calls = []
    step = model.train_step

    def counted(data):
        calls.append(1)
        return step(data)
    model.train_step = counted
    return calls


def test_fit_traces_its_step_once_and_runs_a_short_fit_eagerly(base):
    net, _ = base
    model = tlc.with_new_head(net, 2)
    calls = counting_train_steps(model)
    # optimizer and metric variables made before the trace: TensorFlow does not trace twice
    tlc.fit(model, random_batches(tlc.train.EAGER_STEPS + 1), None, epochs=1, lr=1e-3,
            progress=False)
    assert len(calls) == 1 and not model.run_eagerly
    calls.clear()
    tlc.fit(model, random_batches(tlc.train.EAGER_STEPS + 1), None, epochs=1, progress=False)
    assert calls == [], "the model as compiled: its traced step again"
    tlc.fit(model, random_batches(4), None, epochs=1, steps_per_epoch=2, lr=1e-3,
            progress=False)
    assert len(calls) == 2 and model.run_eagerly, "a short fit that compiles runs eagerly"
    calls.clear()
    tlc.fit(model, random_batches(tlc.train.EAGER_STEPS + 1), None, epochs=1, lr=1e-3,
            progress=False)
    assert len(calls) == 1 and not model.run_eagerly, "compiled again: traced again"


def test_trainable_changes_before_the_first_fit_after_compile_are_taken(base):
    """What compiled_with_current_trainable relies on: Keras builds the optimizer
    and traces the step at the first fit after compile, for the weights trainable
    then; after that fit a change needs a compile."""
    net, _ = base
    model = tlc.with_new_head(net, 2)
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    top = tlc.pets.unfreeze_top(net, 1)               # after the compile, before the fit
    assert tlc.compiled_with_current_trainable(model)
    w = top[0].trainable_weights[0]
    before = w.numpy().copy()
    tlc.fit(model, random_batches(1), None, epochs=1, steps_per_epoch=1, progress=False)
    assert not np.array_equal(before, w.numpy()), "the unfrozen block trained"
    assert tlc.compiled_with_current_trainable(model)
    net.trainable = False                               # after a fit: compile again
    assert not tlc.compiled_with_current_trainable(model)
    plain = tlc.feature_classifier(4, 2)                # compiled and fitted by Keras alone:
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")   # unknown: False
    plain.fit(np.zeros((4, 4), np.float32), np.zeros(4, np.int64), verbose=0)
    assert not tlc.compiled_with_current_trainable(plain)
    assert not tlc.compiled_with_current_trainable(tlc.feature_classifier(4, 2))


def test_predict_of_a_second_model_of_one_architecture_is_its_own():
    """Two models of one architecture: each predicts with its own weights."""
    def net(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(2)])
    X, y = blobs(96)
    loader = tlc.array_loader(X, y, 16)   # 6 batches: a loop worth compiling
    first, second = net(1), net(2)
    for model in (first, second):
        probs, labels = tlc.predict(model, loader)
        expected = keras.ops.softmax(model(X, training=False)).numpy()
        np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
        assert np.array_equal(labels, y)
