"""Graded exercises that only the student's own code can pass.

The package holds reference answers to most exercises (the lessons use them
elsewhere, and the hidden tests compare against them).  ``EXERCISES`` declares,
for every graded test cell (nbgrader ``grade_id``), the student functions it
checks and the package functions that answer them.  A locked test cell runs its
checks inside ``own_code``::

    with exercises.own_code("test_top_k"):
        assert top_k_accuracy(s, y, 1) == 0.5
        want = exercises.reference(pets.top_k_accuracy)(scores, labels, 3)   # hidden tests

While the block runs, a forbidden function raises ``NotOwnCode`` whenever the
student's code is on the call stack (directly, through a helper, or through any
package function), or when the test cell calls it directly (the student's name
may be an alias of it).  Test code gets the reference through ``reference``;
the package's own checks (``pets.check_label_map`` ...) may call it freely.

How a forbidden function is caught:

* functions defined in the core carry the guard themselves (``@reference_answer``),
  so a student who captured the function object earlier is caught too;
* other functions (the framework adapters') are replaced, for the length of the
  block, by a guarded wrapper in every loaded ``tlcourse`` module and in the
  notebook's namespace; and a student function that *is* one of them (an alias,
  a ``functools.partial``) fails at the start of the block.  A reference hidden
  elsewhere (a default argument, a closure) escapes this until its module
  decorates it with ``@reference_answer``.

Student code is any frame whose file is neither the test cell's own nor inside
the installed packages (tlcourse, the standard library, site-packages).  This
stops shortcuts, not a student determined to tamper with the grader in-process.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import sys
import sysconfig
from pathlib import Path
from typing import Callable, Mapping

from tlcourse.contract import FRAMEWORKS

ADAPTER = "tlc."   # a forbidden name starting so: the notebook's framework adapter (tlcourse.torch / .tf)


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded test cell and the package answers it forbids.

    ``delegations``: each student function the test checks, with the one-line
    body that would answer it from the package (the shortcut the guard stops;
    a dict by framework where the two differ).  ``forbids``: dotted names of
    the package functions that answer it (``tlc.`` = the framework adapter)."""
    assignment: str
    grade_id: str
    solution: str                               # grade_id of the solution cell
    delegations: Mapping[str, str | Mapping[str, str]]
    forbids: tuple[str, ...]

    def delegation(self, function: str, framework: str) -> str:
        body = self.delegations[function]
        return body if isinstance(body, str) else body[framework]


def _exercises(*rows: Exercise) -> dict[str, Exercise]:
    table = {}
    for row in rows:
        if row.grade_id in table:
            raise ValueError(f"grade_id {row.grade_id!r} is declared twice")
        table[row.grade_id] = row
    return table


EXERCISES = _exercises(
    # adversarial_cat
    Exercise("adversarial_cat", "test_total_variation", "total_variation",
             {"total_variation": "return tlc.total_variation(x)"},
             ("tlc.total_variation", "tlcourse.adversarial.total_variation_reference")),
    Exercise("adversarial_cat", "test_projected_step", "projected_step",
             {"projected_step":
              "return tlc.pgd_step(model, preprocess, x_adv, x_orig, target, eps, step_size)"},
             ("tlc.pgd_step",)),
    Exercise("adversarial_cat", "test_attack", "attack",
             {"attack": "return tlc.as_pixels(tlc.targeted_attack(model, preprocess, image, "
                        "target, eps, steps).adversarial)"},
             ("tlc.targeted_attack", "tlc.attack_photos", "tlc.pgd_step")),
    # pets_lab
    Exercise("pets_lab", "test_label_map", "label_map",
             {"breed_of": "return pets.breed_of(filename)",
              "species_of": "return pets.species_of(name)",
              "make_label_map": "return pets.label_map(filenames)"},
             ("tlcourse.pets.breed_of", "tlcourse.pets.species_of", "tlcourse.pets.label_map")),
    Exercise("pets_lab", "test_splits", "splits",
             {"read_split_list": "return pets.read_list(path)",
              "stratified_split": "return datasets.stratified_split(labels, "
                                  "(1 - val_fraction, val_fraction), seed)"},
             ("tlcourse.pets.read_list", "tlcourse.datasets.stratified_split")),
    Exercise("pets_lab", "test_transfer_model", "transfer_model",
             {"make_head": "return tlc.feature_classifier(feature_dim, num_classes, dropout)",
              "build_model": "return tlc.with_new_head(base, NUM_CLASSES)"},
             ("tlc.feature_classifier", "tlc.with_new_head")),
    Exercise("pets_lab", "test_top_k", "top_k",
             {"top_k_accuracy": "return pets.top_k_accuracy(scores, labels, k)"},
             ("tlcourse.pets.top_k_accuracy",)),
    Exercise("pets_lab", "test_evaluation", "evaluation",
             {"confusion_matrix": "return pets.confusion_matrix(labels, preds, num_classes)",
              "most_confused_pairs": "return pets.most_confused_pairs(cm, class_names, n)",
              "per_species_accuracy":
                  "return pets.per_species_accuracy(labels, preds, class_species)"},
             ("tlcourse.pets.confusion_matrix", "tlcourse.pets.most_confused_pairs",
              "tlcourse.pets.per_species_accuracy")),
    # transfer_learning
    Exercise("transfer_learning", "test_ex_b_compute_features", "ex_b_compute_features",
             {"compute_features": "return tlc.extract_features(base, loader)"},
             ("tlc.extract_features",)),
    Exercise("transfer_learning", "test_ex_a_build_model", "ex_a_build_model",
             {"build_model": "return tlc.with_new_head(base, num_classes)"},
             ("tlc.with_new_head", "tlc.feature_classifier")),
    Exercise("transfer_learning", "test_ex_c_fine_tuning", "ex_c_fine_tuning",
             {"setup_fine_tuning": {
                 "torch": "tlc.pets.unfreeze_top(base, n_blocks); return torch.optim.Adam(["
                          "{'params': [p for p in base.parameters() if p.requires_grad], "
                          "'lr': lr_base}, {'params': model.head.parameters(), 'lr': lr_head}])",
                 "tf": "tlc.pets.unfreeze_top(base, n_blocks); "
                       "model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), "
                       "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), "
                       "metrics=['accuracy']); return model.optimizer"}},
             ("tlc.pets.unfreeze_top",)),
)

# Graded test cells with no package answer to forbid, and why.
NOTHING_TO_FORBID = {
    "test_small_cnn": "the package has no small CNN trained from scratch",
    "test_accuracy_target": "it measures the model itself, however it was built",
}


class NotOwnCode(AssertionError):
    """A graded exercise's check ran into the package's answer instead of the student's code."""


# --------------------------------------------------------------------------
# the guard
# --------------------------------------------------------------------------
_TRUSTED = tuple(sorted({str(Path(__file__).resolve().parent)} | {
    str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))}))


@functools.lru_cache(maxsize=None)
def _trusted(filename: str) -> bool:
    """True for code of the installed packages (tlcourse, stdlib, site-packages)."""
    if filename.startswith("<frozen "):
        return True
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return path.startswith(_TRUSTED)


class _Activation:
    """One running ``own_code`` block: the test cell's frame and what it forbids."""

    def __init__(self, exercise: Exercise, frame):
        self.exercise = exercise
        self.frame = frame
        self.filename = frame.f_code.co_filename
        self.forbidden: dict[int, str] = {}     # id(original function) -> its dotted name
        self.swaps: list[tuple[object, str, object]] = []   # (namespace, name, original)

    def refuse(self, name: str, why: str = ""):
        ex = self.exercise
        students = ", ".join(ex.delegations)
        return NotOwnCode(f"{ex.grade_id} asks for your own implementation of {students}: "
                          f"it may not use {name}, the package's answer{why}")

    def check(self, name: str, caller, direct_call_allowed: bool) -> None:
        """Raise unless the call reached ``caller`` from the test code, not from the student's."""
        frame = caller
        while frame is not None and frame is not self.frame:
            filename = frame.f_code.co_filename
            if filename != self.filename and not _trusted(filename):
                raise self.refuse(name)
            frame = frame.f_back
        if frame is None:
            raise self.refuse(name, " (called from outside the test)")
        if not direct_call_allowed and caller.f_code.co_filename == self.filename:
            raise self.refuse(name, " (test code gets it through exercises.reference)")


_active: _Activation | None = None


def _original(fn):
    """The plain function behind a guard, partial, bound method or functools wrapper."""
    seen = set()
    while id(fn) not in seen:
        seen.add(id(fn))
        if hasattr(fn, "__tlcourse_reference__"):
            fn = fn.__tlcourse_reference__
        elif isinstance(fn, functools.partial):
            fn = fn.func
        elif hasattr(fn, "__func__"):
            fn = fn.__func__
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
    return fn


def _guarded(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        act = _active
        if act is not None and id(fn) in act.forbidden:
            act.check(act.forbidden[id(fn)], sys._getframe(1), direct_call_allowed=False)
        return fn(*args, **kwargs)
    guarded.__tlcourse_reference__ = fn
    return guarded


def reference_answer(fn: Callable) -> Callable:
    """Decorator for a package function that answers a graded exercise: inside
    ``own_code`` blocks that forbid it, it refuses calls from the student's code."""
    return _guarded(fn)


def resolve(name: str) -> list[Callable]:
    """The loaded package functions a forbidden ``name`` means (unwrapped).  ``tlc.x``:
    ``x`` of each framework adapter already imported (importing the other one
    could crash the kernel)."""
    if name.startswith(ADAPTER):
        modules = [sys.modules[f"tlcourse.{f}"] for f in FRAMEWORKS if f"tlcourse.{f}" in sys.modules]
        path = name[len(ADAPTER):].split(".")
    else:
        module_name, _, attr = name.rpartition(".")
        modules, path = [importlib.import_module(module_name)], [attr]
    found = []
    for obj in modules:
        for part in path:
            obj = getattr(obj, part)
        found.append(_original(obj))
    return found


class own_code:   # noqa: N801  (used like a function: `with exercises.own_code(...)`)
    """Run a graded test's checks so that the package's answers refuse the student's code."""

    def __init__(self, grade_id: str):
        if grade_id not in EXERCISES:
            raise KeyError(f"no exercise {grade_id!r} in tlcourse.exercises.EXERCISES; "
                           f"declared: {', '.join(EXERCISES)}")
        self.exercise = EXERCISES[grade_id]

    def __enter__(self):
        global _active
        if _active is not None:
            raise RuntimeError(f"own_code({self.exercise.grade_id!r}) inside "
                               f"own_code({_active.exercise.grade_id!r}): one at a time")
        act = _Activation(self.exercise, sys._getframe(1))
        for name in self.exercise.forbids:
            for fn in resolve(name):
                act.forbidden[id(fn)] = name
        # a student function that is itself a package answer fails at once
        for function in self.exercise.delegations:
            fn = act.frame.f_globals.get(function)
            if fn is not None and id(_original(fn)) in act.forbidden:
                raise act.refuse(act.forbidden[id(_original(fn))], f" ({function} is it)")
        self._swap_in_guards(act)
        _active = act
        return self

    @staticmethod
    def _swap_in_guards(act: _Activation) -> None:
        """Replace undecorated forbidden functions by guarded wrappers wherever a
        loaded tlcourse module or the notebook's namespace holds them."""
        wrappers = {}
        namespaces = [vars(m) for n, m in list(sys.modules.items())
                      if (n == "tlcourse" or n.startswith("tlcourse.")) and m is not None]
        namespaces.append(act.frame.f_globals)
        for namespace in namespaces:
            for key, value in list(namespace.items()):
                if id(value) in act.forbidden and not hasattr(value, "__tlcourse_reference__"):
                    if id(value) not in wrappers:
                        wrappers[id(value)] = _guarded(value)
                    act.swaps.append((namespace, key, value))
                    namespace[key] = wrappers[id(value)]

    def __exit__(self, *exc):
        global _active
        act, _active = _active, None
        for namespace, key, value in reversed(act.swaps):
            namespace[key] = value
        return False


def reference(fn: Callable) -> Callable:
    """The package's answer ``fn`` for the test code of the running ``own_code`` block
    (to compute expected values); refused to the student's code, and void after the block."""
    act = _active
    if act is None:
        raise RuntimeError("exercises.reference works inside `with exercises.own_code(...)` only")
    caller = sys._getframe(1)
    if caller.f_code.co_filename != act.filename:
        raise act.refuse(getattr(fn, "__qualname__", repr(fn)), " (reference is for the test)")
    original = _original(fn)
    name = act.forbidden.get(id(original), getattr(original, "__qualname__", repr(original)))

    def call_reference(*args, **kwargs):
        if _active is not act:
            raise act.refuse(name, " (this reference belongs to a finished test)")
        act.check(name, sys._getframe(1), direct_call_allowed=True)
        return original(*args, **kwargs)
    return call_reference
