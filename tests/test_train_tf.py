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


def test_fit_traces_its_step_once_and_runs_a_few_steps_eagerly(base):
    net, _ = base
    tlc.train._TRAINED_BY_SETUP.entries.clear()   # no twin from another test lends its step
    model = tlc.with_new_head(net, 2)
    calls = counting_train_steps(model)
    # optimizer and metric variables made before the trace: TensorFlow does not trace twice
    tlc.fit(model, random_batches(tlc.train.EAGER_STEPS + 1), None, epochs=1, lr=1e-3,
            progress=False)
    assert len(calls) == 1 and not model.run_eagerly
    traced = model.train_function
    calls.clear()
    tlc.fit(model, random_batches(4), None, epochs=1, steps_per_epoch=2, progress=False)
    assert len(calls) == 2, "a fit of 2 steps runs each step eagerly"
    assert not model.run_eagerly and model.train_function is traced, "and leaves the traced step"
    calls.clear()
    tlc.fit(model, random_batches(tlc.train.EAGER_STEPS + 1), None, epochs=1, progress=False)
    assert calls == [], "the model as compiled: its traced step again"


def test_fit_hides_the_frozen_weights_from_the_tape_while_training(base):
    import tensorflow as tf

    net, _ = base
    model = tlc.with_new_head(net, 2)
    tlc.pets.unfreeze_top(net, 1)
    trainable = {id(v.value) for v in model.trainable_weights}
    watched = []

    class Watch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            x, _ = next(iter(random_batches(1)))
            with tf.GradientTape() as tape:   # watches every trainable tf.Variable it reads
                model(x, training=False)
            watched.append({id(v) for v in tape.watched_variables()})

    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with tlc.train._frozen_weights_unwatched(model):
        model.fit(random_batches(1), epochs=1, verbose=0, callbacks=[Watch()])
    assert watched and watched[0] == trainable
    frozen = [v for v in net.weights if id(v.value) not in trainable]
    assert frozen and all(v.value.trainable for v in frozen if "moving" not in v.path), \
        "after training every other tape sees the frozen weights again"
    net.trainable = False


def small_net(base, seed):
    """``base`` (shared) + a new dropout/dense head, compiled to fine-tune the base's
    last layer: the shape of section 9's fine-tuning nets."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,))
    outputs = keras.layers.Dense(2)(keras.layers.Dropout(0.2)(base(inputs, training=False)))
    net = keras.Model(inputs, outputs)
    for layer in base.layers:
        layer.trainable = layer is base.layers[-1]
    net.compile(optimizer=keras.optimizers.Adam(1e-2),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    return net


def test_a_new_model_of_a_traced_architecture_trains_on_its_twins_step():
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Dense(4)])
    X, y = blobs(64, dim=8)
    loader = lambda: tlc.array_loader(X, y, 16, shuffle=True, seed=1)
    assert 2 * len(list(loader())) > tlc.train.EAGER_STEPS   # not a short (eager) fit
    twin = small_net(base, seed=1)
    tlc.fit(twin, loader(), epochs=2, progress=False)   # traced: it lends its step from now on
    assert twin.train_function is not None
    twin_weights = [w.numpy().copy() for w in twin.weights]
    base_start = [w.numpy().copy() for w in base.weights]

    model = small_net(base, seed=2)
    calls = counting_train_steps(model)
    history = tlc.fit(model, loader(), epochs=2, progress=False, name="borrowed")
    assert calls == [] and model.train_function is None, "no trace of its own"
    assert history.name == "borrowed" and len(history.epochs) == 2
    borrowed = [w.numpy().copy() for w in model.weights]
    head_of = lambda net: [w.numpy() for w in net.layers[-1].weights]
    # the lender has its own head back; the base both nets share kept the training
    assert all(np.array_equal(a, b) for a, b in zip(head_of(twin), twin_weights[-2:]))
    assert not np.array_equal(base.layers[-1].weights[0].numpy(), base_start[-2])

    # the same model trained on a step of its own: the same numbers
    for w, value in zip(base.weights, base_start):
        w.assign(value)
    tlc.train._TRAINED_BY_SETUP.entries.clear()
    own = small_net(base, seed=2)
    tlc.fit(own, loader(), epochs=2, progress=False)
    assert own.train_function is not None, "traced its own step"
    for a, b in zip(borrowed, [w.numpy() for w in own.weights]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_loop_borrows_the_graph_of_a_compiled_twin():
    from tlcourse.tf import models

    def net(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(2)])
    X, y = blobs(96)
    loader = tlc.array_loader(X, y, 16)   # 6 batches: a loop worth compiling
    twin, model = net(1), net(2)
    tlc.evaluate(twin, loader)
    assert models._COMPILED[twin].function.experimental_get_tracing_count() == 1
    twin_weights = [w.numpy().copy() for w in twin.weights]
    probs, labels = tlc.predict(model, loader)
    assert model not in models._COMPILED or \
        models._COMPILED[model].function.experimental_get_tracing_count() == 0, "no own trace"
    expected = keras.ops.softmax(model(X, training=False)).numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    assert np.array_equal(labels, y)
    assert all(np.array_equal(w.numpy(), v) for w, v in zip(twin.weights, twin_weights))
    other = keras.Sequential([keras.Input((16,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    assert models.architecture(other) != models.architecture(model)
