"""Training records, learning curves, model comparisons and the feature cache.  Framework-neutral.

The two adapters' ``fit`` return a ``History`` from here, so the notebooks,
the plots and the Pets lab read the same record whatever the framework:

    history = tlc.fit(model, train_loader, val_loader, epochs=3, lr=1e-3)
    history.best("val_accuracy"), history.seconds_per_epoch
    train.plot_history(history, other_history, standin=data.standin)

Features from a frozen base are computed once and kept as ``.npz`` files in
``<user cache>/features/`` (``features_path(key)``; ``cache.user_dir()`` is the
cache itself unless that is a read-only class cache), written atomically; a
second run reuses them (or the class cache's) and says so.  ``probe_accuracy``
is a small numpy softmax regression used by the exercises' tests to judge
features without a framework.
``data_size_study`` runs the notebooks' approaches (functions they define in
their framework) on shrinking subsets of the training images.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from tlcourse import cache
from tlcourse.messages import _, figure_text

METRICS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds")


# --------------------------------------------------------------------------
# the training record
# --------------------------------------------------------------------------
@dataclasses.dataclass
class History:
    """Per-epoch loss/accuracy (train and validation) and seconds of one training run."""
    name: str = "model"
    epochs: list = dataclasses.field(default_factory=list)   # one dict per epoch (METRICS)
    standin: bool = False      # trained on stand-in data: every plot and table says so

    def add(self, loss, accuracy, val_loss=None, val_accuracy=None, seconds=None) -> None:
        def num(v):
            return None if v is None else float(v)
        self.epochs.append(dict(loss=num(loss), accuracy=num(accuracy), val_loss=num(val_loss),
                                val_accuracy=num(val_accuracy), seconds=num(seconds)))

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, metric: str) -> list:
        """``history["val_accuracy"]``: the metric for every epoch (None where not measured)."""
        if metric not in METRICS:
            raise KeyError(_("unknown metric {metric}; one of {metrics}", metric=repr(metric),
                             metrics=METRICS))
        return [e[metric] for e in self.epochs]

    def last(self, metric: str = "val_accuracy"):
        values = self[metric]
        return values[-1] if values else None

    def best(self, metric: str = "val_accuracy"):
        values = [v for v in self[metric] if v is not None]
        if not values:
            return None
        return min(values) if metric.endswith("loss") else max(values)

    @property
    def seconds_per_epoch(self) -> float | None:
        secs = [s for s in self["seconds"] if s is not None]
        return float(np.mean(secs)) if secs else None

    def extend(self, other: "History") -> "History":
        """This run followed by ``other`` (e.g. head training then fine-tuning), as a new record."""
        return History(f"{self.name} + {other.name}", self.epochs + other.epochs,
                       self.standin or other.standin)

    def table(self) -> str:
        lines = [f"{self.name}" + (" (" + _("stand-in data") + ")" if self.standin else ""),
                 f"{'epoch':>5} {'loss':>8} {'acc':>7} {'val_loss':>9} {'val_acc':>8} {'s':>7}"]
        fmt = lambda v, f: format(v, f) if v is not None else "-"   # noqa: E731
        for i, e in enumerate(self.epochs, 1):
            lines.append(f"{i:>5} {fmt(e['loss'], '8.4f'):>8} {fmt(e['accuracy'], '7.3f'):>7} "
                         f"{fmt(e['val_loss'], '9.4f'):>9} {fmt(e['val_accuracy'], '8.3f'):>8} "
                         f"{fmt(e['seconds'], '7.1f'):>7}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(d.get("name", "model"), list(d.get("epochs", [])), bool(d.get("standin")))

    @classmethod
    def of(cls, record, name: str | None = None, standin: bool = False) -> "History":
        """A ``History`` from any training record a notebook holds: a ``History``; a
        dict of per-epoch lists such as ``{"loss": [...], "val_loss": [...],
        "val_accuracy": [...]}`` (what a hand-written PyTorch loop returns); or a
        Keras ``History`` (its ``.history`` is such a dict).  Unknown keys (a
        learning rate) are left out; a metric that is missing is None."""
        if isinstance(record, History):
            return record
        values = getattr(record, "history", record)
        if not isinstance(values, dict):
            raise TypeError(_("a training record is a History, a dict of per-epoch lists or a "
                              "Keras History, not {type}", type=type(record).__name__))
        columns = {m: list(values[m]) for m in METRICS if m in values}
        n = max((len(v) for v in columns.values()), default=0)
        history = cls(name or "model", standin=standin)
        for i in range(n):
            history.add(*(columns[m][i] if m in columns and i < len(columns[m]) else None
                          for m in METRICS))
        return history


# --------------------------------------------------------------------------
# plots and tables
# --------------------------------------------------------------------------
def plot_history(*histories, title: str | None = None, standin: bool | None = None,
                 names: tuple[str, ...] | None = None):
    """Learning curves: loss and accuracy per epoch, train dashed, validation solid.

    Each history is a ``History``, a dict of per-epoch lists or a Keras
    ``History`` (``History.of``); ``names`` labels them.  Several histories share
    the axes (one colour each).  Stamped "STAND-IN DATA" when any of them was
    trained on stand-in data (or ``standin`` says so)."""
    import matplotlib.pyplot as plt

    from tlcourse.plots import stamp_standin

    names = names or [None] * len(histories)
    histories = [History.of(h, name) for h, name in zip(histories, names)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, h in enumerate(histories):
        color = f"C{k}"
        x = np.arange(1, len(h) + 1)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            for key, style, label in ((metric, "--", _("train")), ("val_" + metric, "-", _("val"))):
                y = np.array([np.nan if v is None else v for v in h[key]], dtype=float)
                if np.isfinite(y).any():
                    ax.plot(x, y, style, color=color, marker="o", ms=3,
                            label=f"{h.name} ({label})")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel(figure_text("epoch"))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[1].legend(fontsize=7, loc="lower right")
    standin = any(h.standin for h in histories) if standin is None else standin
    fig.suptitle((title or figure_text("Learning curves"))
                 + (" (" + figure_text("stand-in data") + ")" if standin else ""))
    fig.tight_layout()
    return stamp_standin(fig, standin)


def plot_lr_finder(lrs, losses, chosen: float | None = None, title: str | None = None,
                   standin: bool = False):
    """A learning-rate range test: the loss of each step against its learning rate
    (log scale), and the rate ``chosen`` from it as a dashed line."""
    import matplotlib.pyplot as plt

    from tlcourse.plots import stamp_standin

    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs.shape != losses.shape or lrs.ndim != 1 or not len(lrs):
        raise ValueError(_("need one loss per learning rate: {rates} rates, {losses} losses",
                           rates=lrs.shape, losses=losses.shape))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(lrs, losses, marker="o", ms=2)
    if chosen is not None:
        ax.axvline(chosen, color="C3", ls="--",
                   label=figure_text("chosen {rate}", rate=format(chosen, ".2g")))
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(figure_text("learning rate"))
    ax.set_ylabel(figure_text("training loss"))
    ax.grid(alpha=0.3)
    ax.set_title((title or figure_text("Learning-rate range test"))
                 + (" (" + figure_text("stand-in data") + ")" if standin else ""))
    fig.tight_layout()
    return stamp_standin(fig, standin)


def comparison_table(rows: list[dict], standin: bool = False, print_fn=print) -> str:
    """Print one line per model: name, parameters, seconds per epoch, validation accuracy.

    ``rows``: dicts with ``model``, ``params`` (total), ``trainable`` (optional),
    ``seconds_per_epoch``, ``val_accuracy`` and an optional ``note``."""
    model, params, trainable = _("model"), _("params"), _("trainable")
    per_epoch, accuracy, note = _("s/epoch"), _("val acc"), _("note")
    head = f"{model:20} {params:>12} {trainable:>11} {per_epoch:>9} {accuracy:>8}  {note}"
    lines = [head, "-" * len(head)]
    for r in rows:
        acc = r.get("val_accuracy")
        sec = r.get("seconds_per_epoch")
        lines.append(f"{r['model']:20} {r.get('params') or 0:>12,} {r.get('trainable') or 0:>11,} "
                     f"{'-' if sec is None else format(sec, '9.1f'):>9} "
                     f"{'-' if acc is None else format(acc, '8.3f'):>8}  {r.get('note', '')}")
    if standin:
        lines.append(_("(stand-in data: these numbers say nothing about real cats and dogs)"))
    text = "\n".join(lines)
    print_fn(text)
    return text


def plot_comparison(rows: list[dict], standin: bool = False, title: str | None = None):
    """Bar charts side by side: validation accuracy, parameters (millions), seconds per epoch."""
    import matplotlib.pyplot as plt

    from tlcourse.plots import stamp_standin

    rows = [r for r in rows if r.get("val_accuracy") is not None]
    names = [r["model"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    panels = (("val_accuracy", _("validation accuracy"), 1.0),
              ("params", _("parameters (millions)"), 1e-6),
              ("seconds_per_epoch", _("seconds per epoch"), 1.0))
    for ax, (key, label, scale) in zip(axes, panels):
        values = [(r.get(key) or 0) * scale for r in rows]
        bars = ax.bar(names, values, color=[f"C{k}" for k in range(len(rows))])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelrotation=15, labelsize=8)
    fig.suptitle((title or figure_text("Models compared"))
                 + (" (" + figure_text("stand-in data") + ")" if standin else ""))
    fig.tight_layout()
    return stamp_standin(fig, standin)


def show_feature_maps(maps: list, image=None, channels: int = 8, title: str | None = None):
    """A row per layer: the first ``channels`` feature maps of one image.

    ``maps``: [(layer name, array (H, W, C)), ...] as the adapters'
    ``feature_maps`` return; ``image`` (optional) is shown on the left."""
    import matplotlib.pyplot as plt

    from tlcourse.plots import image_array

    ncols = channels + (1 if image is not None else 0)
    fig, axes = plt.subplots(len(maps), ncols, figsize=(1.5 * ncols, 1.6 * len(maps)),
                             squeeze=False)
    for row, (name, fmap) in zip(axes, maps):
        fmap = np.asarray(fmap)
        cells = list(row)
        if image is not None:
            cells[0].imshow(image_array(image))
            cells[0].set_title(figure_text("input"), fontsize=7)
            cells = cells[1:]
        # the most active channels say most about what the layer responds to
        order = np.argsort(-fmap.mean(axis=(0, 1)))[:channels]
        for ax, c in zip(cells, order):
            ax.imshow(fmap[..., c], cmap="viridis")
            ax.set_title(f"{name} #{c}", fontsize=6)
        for ax in row:
            ax.axis("off")
        row[1 if image is not None else 0].text(
            -0.1, 0.5, f"{name}\n{fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}",
            transform=row[1 if image is not None else 0].transAxes, ha="right", va="center",
            fontsize=7)
    fig.suptitle(title or figure_text("Feature maps (most active channels)"), fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# the feature cache
# --------------------------------------------------------------------------
def features_key(framework: str, model_name: str, split, preprocess) -> str:
    """A file-name-safe key naming what the features depend on: framework, model,
    input size and normalisation, and the split's exact files and labels."""
    digest = hashlib.sha256()
    digest.update(json.dumps([list(split.paths), list(split.labels),
                              dataclasses.asdict(preprocess)], default=str).encode())
    data = "standin" if split.standin else "real"
    return (f"{framework}-{model_name}-{preprocess.size}-{split.dataset}-{split.name}-{data}-"
            f"{digest.hexdigest()[:12]}")


def features_path(key: str, folder: Path | None = None) -> Path:
    """Where features under ``key`` are written: this user's cache (or ``folder``)."""
    if not key or any(c in key for c in "/\\") or key.startswith("."):
        raise ValueError(f"feature cache key {key!r} must be a plain file name")
    return (cache.user_dir() if folder is None else folder) / "features" / f"{key}.npz"


def save_features(key: str, X, y, seconds: float | None = None) -> Path:
    """Write features atomically: a crash leaves no half-written file where a reader looks."""
    path = features_path(key)
    with cache.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:   # a file object: np.savez would append ".npz" to a name
            np.savez(f, X=np.asarray(X, np.float32), y=np.asarray(y, np.int64),
                     seconds=np.float64(np.nan if seconds is None else seconds),
                     created=np.float64(time.time()))
    return path


def load_features(key: str) -> dict | None:
    """``{"X", "y", "seconds", "path"}`` from this user's cache, else the class
    cache, or None when absent or unreadable."""
    for path in dict.fromkeys((features_path(key), features_path(key, cache.cache_dir()))):
        if not path.is_file():
            continue
        try:
            with np.load(path) as z:
                secs = float(z["seconds"])
                return dict(X=z["X"], y=z["y"], seconds=None if np.isnan(secs) else secs,
                            path=path)
        except Exception:   # damaged or foreign file: recompute (and overwrite) rather than fail
            continue
    return None


def cached_features(key: str | None, compute, log=print):
    """``(X, y)`` from the cache under ``key``, else ``compute()`` (timed) and saved.

    ``compute`` returns ``(X, y)``.  Says which of the two happened."""
    if key is not None:
        hit = load_features(key)
        if hit is not None:
            took = _(", computed in {seconds} s", seconds=format(hit["seconds"], ".1f")) \
                if hit["seconds"] is not None else ""
            log(_("features: reusing {path} ({rows} x {columns}{took}); delete the file to "
                  "recompute", path=hit["path"], rows=format(hit["X"].shape[0], ","),
                  columns=hit["X"].shape[1], took=took))
            return hit["X"], hit["y"]
    start = time.perf_counter()
    X, y = compute()
    seconds = time.perf_counter() - start
    X, y = np.asarray(X, np.float32), np.asarray(y, np.int64)
    if key is not None:
        try:
            path = save_features(key, X, y, seconds)
            log(_("features: computed {rows} x {columns} in {seconds} s, saved to {path}",
                  rows=format(X.shape[0], ","), columns=X.shape[1],
                  seconds=format(seconds, ".1f"), path=path))
        except OSError as exc:     # full or read-only: the features are still good to use
            log(_("features: computed {rows} x {columns} in {seconds} s, not saved ({why}: "
                  "{folder}); computed again next time", rows=format(X.shape[0], ","),
                  columns=X.shape[1], seconds=format(seconds, ".1f"), why=exc.strerror or exc,
                  folder=features_path(key).parent))
    return X, y


def feature_seconds(key: str) -> float | None:
    """How long computing the cached features took (one pass of the split through the base)."""
    hit = load_features(key)
    return None if hit is None else hit["seconds"]


# --------------------------------------------------------------------------
# numpy checks used by the exercises' tests
# --------------------------------------------------------------------------
def chance_accuracy(labels) -> float:
    """Accuracy of always guessing the most frequent class."""
    labels = np.asarray(labels, dtype=int)
    return float(np.bincount(labels).max() / len(labels))


def probe_accuracy(X_train, y_train, X_val, y_val, epochs: int = 300, lr: float = 0.5,
                   weight_decay: float = 1e-3) -> float:
    """Validation accuracy of a softmax regression trained on ``X_train`` (numpy,
    full-batch gradient descent on standardised features; deterministic)."""
    X_train, X_val = np.asarray(X_train, np.float64), np.asarray(X_val, np.float64)
    y_train, y_val = np.asarray(y_train, int), np.asarray(y_val, int)
    mean, std = X_train.mean(0), X_train.std(0) + 1e-6
    A, B = (X_train - mean) / std, (X_val - mean) / std
    k = int(max(y_train.max(), y_val.max())) + 1
    W, b = np.zeros((A.shape[1], k)), np.zeros(k)
    onehot = np.eye(k)[y_train]
    for _ in range(epochs):
        z = A @ W + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(A)
        W -= lr * (A.T @ g + weight_decay * W)
        b -= lr * g.sum(0)
    return float(np.mean((B @ W + b).argmax(1) == y_val))


def epoch_title(epoch: int, epochs: int) -> str:
    """The progress bar's title for epoch ``epoch`` (0-based) of ``epochs``."""
    return _("epoch {epoch}/{epochs}", epoch=epoch + 1, epochs=epochs)


def epoch_line(epoch: int, epochs: int, record: dict) -> str:
    """The line printed after epoch ``epoch`` (0-based) of ``epochs``: ``record`` is one of
    ``History.epochs`` (loss, accuracy, val_loss, val_accuracy, seconds)."""
    line = _("epoch {epoch}/{epochs}: loss {loss}, acc {accuracy}", epoch=epoch + 1,
             epochs=epochs, loss=format(record["loss"], ".4f"),
             accuracy=format(record["accuracy"], ".3f"))
    if record.get("val_loss") is not None:
        line += _(", val_loss {loss}, val_acc {accuracy}", loss=format(record["val_loss"], ".4f"),
                  accuracy=format(record["val_accuracy"], ".3f"))
    return line + " " + _("({seconds} s)", seconds=format(record["seconds"], ".1f"))


def check_features(X, y, n: int, dim: int, labels=None) -> None:
    """Assert ``(X, y)`` are features of ``n`` images with ``dim`` values each;
    the message says what is wrong."""
    X, y = np.asarray(X), np.asarray(y)
    assert X.shape == (n, dim), _("features have shape {shape}, expected ({n}, {dim})",
                                  shape=X.shape, n=n, dim=dim)
    assert y.shape == (n,), _("labels have shape {shape}, expected ({n},)", shape=y.shape, n=n)
    assert np.issubdtype(X.dtype, np.floating), _("features must be floats, not {dtype}",
                                                  dtype=X.dtype)
    assert np.isfinite(X).all(), _("features contain NaN or infinity")
    assert X.std() > 0, _("all features are equal: did the images reach the network?")
    if labels is not None:
        assert np.array_equal(y, np.asarray(labels)), \
            _("labels are not in the loader's order (don't shuffle when extracting features)")


# --------------------------------------------------------------------------
# comparing pretrained bases on the same data (notebooks: heavier vs lighter model)
# --------------------------------------------------------------------------
def feature_benchmark(tlc, model_name: str, data, profile, epochs: int | None = None,
                      log=print) -> dict:
    """One row for ``comparison_table``: ``model_name``'s frozen base as a feature
    extractor on ``data`` (a ``datasets.Splits``), a classifier trained on its
    cached features, and what it costs.

    ``tlc`` is the adapter module (``tlcourse.torch`` or ``tlcourse.tf``), so
    this stays framework-neutral.  ``seconds_per_epoch`` is one pass of the
    training images through the frozen base (what each epoch of frozen-base
    training costs) plus one epoch of the classifier.  A model this framework
    or this machine cannot load gives a row with a note instead of failing."""
    from tlcourse.assets import AssetError

    try:
        base, prep = tlc.pretrained(model_name, include_top=False)
    except (NotImplementedError, AssetError) as exc:
        reason = str(exc).split(".")[0]
        log(_("{model}: skipped ({reason})", model=model_name, reason=reason))
        return dict(model=model_name, note=_("not available here: {reason}", reason=reason[:60]))
    prep = dataclasses.replace(prep, size=profile.image_size)
    features = {}
    for split in (data.train, data.val):
        key = tlc.features_key(model_name, split, prep)
        loader = tlc.make_loader(split, prep, train=False, profile=profile)
        features[split.name] = tlc.extract_features(base, loader, cache_key=key)
        if split is data.train:
            seconds = feature_seconds(key)
    (X_tr, y_tr), (X_va, y_va) = features["train"], features["val"]
    clf = tlc.feature_classifier(X_tr.shape[1], len(data.class_names))
    history = tlc.fit(clf, tlc.array_loader(X_tr, y_tr, 64, shuffle=True, standin=data.standin),
                      tlc.array_loader(X_va, y_va, 256),
                      epochs=epochs or profile.epochs_features, lr=profile.lr_head,
                      name=model_name, progress=False)
    return dict(model=model_name, params=tlc.count_params(base)[1],
                trainable=tlc.count_params(clf)[0],
                seconds_per_epoch=(seconds or 0.0) + (history.seconds_per_epoch or 0.0),
                val_accuracy=history.last("val_accuracy"), history=history,
                note=_("{features} features at {size} px", features=X_tr.shape[1],
                       size=prep.size))


# --------------------------------------------------------------------------
# how many labelled images: approaches on shrinking training sets
# --------------------------------------------------------------------------
def rows_of(split, subset) -> np.ndarray:
    """Positions in ``split`` of the images of ``subset`` (from ``split.subset``), in
    ``subset``'s order: the rows of ``split``'s cached features that belong to it."""
    position = {path: i for i, path in enumerate(split.paths)}
    missing = [p for p in subset.paths if p not in position]
    if missing:
        raise ValueError(_("{path} is not in the {split} split: pass split.subset(...)",
                           path=missing[0], split=split.name))
    return np.array([position[p] for p in subset.paths], dtype=int)


def data_size_study(split, per_class, approaches: dict, log=print) -> list[dict]:
    """Train every approach on ``split.subset(n)`` for each ``n`` of ``per_class``
    (None: all the images) and return one row per (approach, size):
    ``dict(approach, per_class, images, val_accuracy, seconds)``.

    ``approaches`` maps a name to a function ``subset -> validation accuracy``
    (it trains on ``subset`` and measures once, at the end); the row keeps that
    accuracy and the wall time of the call."""
    rows = []
    for n in per_class:
        subset = split.subset(n)
        images = len(subset)
        for name, train_on in approaches.items():
            start = time.perf_counter()
            accuracy = train_on(subset)
            seconds = time.perf_counter() - start
            if not isinstance(accuracy, (int, float, np.floating)) or not 0 <= accuracy <= 1:
                raise ValueError(_("{name} returned {accuracy}: return the validation accuracy, "
                                   "a number in [0, 1] (e.g. tlc.evaluate(model, loader)[1])",
                                   name=name, accuracy=repr(accuracy)))
            rows.append(dict(approach=name, per_class=images // len(split.class_names),
                             images=images, val_accuracy=float(accuracy), seconds=seconds))
            log(_("{name}: {images} training images, validation accuracy {accuracy} "
                  "({seconds} s)", name=format(name, ">20"), images=format(images, "4d"),
                  accuracy=format(accuracy, ".3f"), seconds=format(seconds, ".1f")))
    return rows
