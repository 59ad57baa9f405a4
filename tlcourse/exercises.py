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
  a ``functools.partial``) fails at the start of the block;
* whatever object runs it, the answer's *code* is recognised: while the
  student's functions under test run, a trace hook compares every function that
  starts with the answers' code fingerprints (bytecode, names and non-text constants: see
  ``fingerprint``), so the decorator's ``__wrapped__``, a second import of the
  module from its file, a new function around the same code object, or the
  source copied into a cell are refused like the function itself.  A student
  who rewrites the algorithm in their own words is doing the exercise.

A refusal sticks: a student function that catches ``NotOwnCode`` and carries on
still fails the test when the block ends.  Student code is any frame whose file
is neither the test cell's own nor inside the installed packages (tlcourse, the
standard library, site-packages).  Changes to this machinery itself (a no-op
``own_code.__enter__``, a replaced check helper) are the business of
``tlcourse.integrity``, which reports them to the grader outside the kernel.
"""
from __future__ import annotations

import dataclasses
import dis
import functools
import importlib
import sys
import threading
import types
from typing import Callable, Mapping

from tlcourse import feedback, integrity
from tlcourse.contract import FRAMEWORKS
from tlcourse.integrity import is_package_file
from tlcourse.messages import _

ADAPTER = "tlc."   # a forbidden name starting so: the notebook's framework adapter (tlcourse.torch / .tf)


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One graded test cell and the package answers it forbids.

    ``delegations``: each student function the test checks, with the one-line
    body that would answer it from the package (the shortcut the guard stops;
    a dict by framework where the two differ).  ``forbids``: dotted names of
    the package functions that answer it (``tlc.`` = the framework adapter).
    ``runs``: student functions the test also runs, defined in other exercises'
    cells (the Pets lab's accuracy test trains the student's whole pipeline).
    A function only one notebook defines has a body for that framework only."""
    assignment: str
    grade_id: str
    solution: str | None                        # grade_id of the solution cell
    delegations: Mapping[str, str | Mapping[str, str]]
    forbids: tuple[str, ...]
    runs: tuple[str, ...] = ()

    def delegation(self, function: str, framework: str) -> str | None:
        """The delegating body of ``function`` in ``framework``'s notebook (None: that
        notebook has no such function)."""
        body = self.delegations[function]
        return body if isinstance(body, str) else body.get(framework)

    @property
    def students(self) -> tuple[str, ...]:
        """Every student function the test runs."""
        return (*self.delegations, *self.runs)


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
    Exercise("pets_lab", "test_pipeline", "pipeline",
             {"make_transform": {"torch": "return tlc.make_transform(prep, train)"},
              "make_loader": {"torch": "return tlc.make_loader(split, prep, train=shuffle, "
                                       "batch_size=batch_size)"},
              "make_dataset": {"tf": "return tlc.make_loader(split, prep, train=shuffle, "
                                     "batch_size=batch_size)"}},
             ("tlc.make_transform", "tlc.make_loader"),
             runs=("make_augmentation", "make_normalization")),
    Exercise("pets_lab", "test_model", "model",
             {"build_model": "return tlc.with_new_head(base, num_classes, dropout)"},
             ("tlc.with_new_head", "tlc.feature_classifier", "tlc.freeze")),
    Exercise("pets_lab", "test_training", "training",
             {"fit": {"torch": "return tlc.fit(model, train_loader, val_loader, epochs=epochs, "
                               "lr=optimizer.param_groups[0]['lr'])"},
              "evaluate": {"torch": "return tlc.evaluate(model, loader)"},
              "compile_and_fit": {"tf": "return tlc.fit(model, train_ds, val_ds, epochs=epochs, "
                                        "lr=lr)"}},
             ("tlc.fit", "tlc.evaluate"), runs=("train_one_epoch",)),
    Exercise("pets_lab", "test_finetune", "finetune",
             {"unfreeze_top": {"torch": "return tlc.pets.unfreeze_top(base, n_blocks)",
                               "tf": "return tlc.pets.unfreeze_top(base, n_layers)"}},
             ("tlc.pets.unfreeze_top", "tlc.top_layers"), runs=("finetune_optimizer", "recompile")),
    # the grader trains the student's own pipeline: every answer above is refused there too
    Exercise("pets_lab", "test_accuracy_target", None, {},
             ("tlc.make_transform", "tlc.make_loader", "tlc.with_new_head",
              "tlc.feature_classifier", "tlc.freeze", "tlc.fit", "tlc.evaluate"),
             runs=("make_transform", "make_loader", "make_dataset", "make_augmentation",
                   "make_normalization", "build_model", "train_one_epoch", "evaluate", "fit",
                   "compile_and_fit")),
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
    "test_lr_finder": "the package has no learning-rate range test",
}


class NotOwnCode(AssertionError):
    """A graded exercise's check ran into the package's answer instead of the student's code."""


# --------------------------------------------------------------------------
# the guard
# --------------------------------------------------------------------------
def fingerprint(code: types.CodeType, texts: bool = False) -> tuple:
    """What makes two code objects the same algorithm, wherever they were compiled:
    the instructions with the names, numbers and nested code they use, but not local
    variable names or line numbers, nor (unless ``texts``) the text constants, so a
    copy with its docstring or messages edited, its locals renamed or its lines
    moved is still the same code.  With ``texts``, the docstring and messages count:
    a verbatim copy.  Instructions are compared by meaning, not bytes: CPython
    writes a method call either as LOAD_METHOD or as LOAD_GLOBAL/LOAD_ATTR and pads
    them with caches."""
    instructions = [i for i in dis.get_instructions(code) if i.opname not in _PADDING]
    position = {i.offset: n for n, i in enumerate(instructions)}
    out = []
    for i in instructions:
        if i.opcode in _JUMPS:
            arg = position.get(i.argval)
        elif i.opcode in dis.haslocal or i.opcode in dis.hasfree:
            arg = i.arg
        elif isinstance(i.argval, types.CodeType):
            arg = fingerprint(i.argval, texts)
        elif isinstance(i.argval, (str, bytes)) and i.opcode in dis.hasconst and not texts:
            arg = None
        elif i.opcode in dis.hasconst or i.opcode in dis.hasname:
            arg = (type(i.argval).__name__, repr(i.argval))
        else:
            arg = i.arg
        out.append((_SAME_OP.get(i.opname, i.opname), arg))
    docstring = code.co_consts[:1] if texts and code.co_consts[:1] != (None,) else ()
    return (code.co_argcount, code.co_kwonlyargcount, code.co_flags & _STAR_ARGS, docstring,
            tuple(out))


def _shape(code: types.CodeType) -> tuple:
    """A cheap first test for ``fingerprint``: equal fingerprints have equal shapes."""
    return code.co_argcount, code.co_names


# An answer shorter than this (in instructions) is refused as a copy only when copied
# verbatim (docstring and messages too): its few lines (a Sequential head, reading a
# list file) are what a student writes anyway.
COPY_MIN_INSTRUCTIONS = 50
_PADDING = {"CACHE", "RESUME", "EXTENDED_ARG", "NOP", "PRECALL"}
_SAME_OP = {"LOAD_METHOD": "LOAD_ATTR"}
_JUMPS = set(dis.hasjrel) | set(dis.hasjabs)
_STAR_ARGS = 0x04 | 0x08      # CO_VARARGS | CO_VARKEYWORDS (inspect.CO_*): *args, **kwargs


class _Activation:
    """One running ``own_code`` block: the test cell's frame and what it forbids."""

    def __init__(self, exercise: Exercise, frame):
        self.exercise = exercise
        self.frame = frame
        self.filename = frame.f_code.co_filename
        self.forbidden: dict[int, str] = {}     # id(original function) -> its dotted name
        self.codes: dict[tuple, tuple] = {}     # fingerprint -> (name, verbatim one, code object)
        self.unset_expected = False             # the hook raised: CPython removes it
        self.hook = self.on_call                # one bound method: sys.gettrace() is it
        self.shapes: set[tuple] = set()         # their _shape
        self.seen: dict[int, tuple] = {}        # id(code) -> (code, name or None): the hook's memo
        self.swaps: list[tuple[object, str, object]] = []   # (namespace, name, original)
        self.refusals: list[NotOwnCode] = []

    def forbid(self, name: str, fn: Callable) -> None:
        self.forbidden[id(fn)] = name
        if isinstance(getattr(fn, "__code__", None), types.CodeType):
            self.codes[fingerprint(fn.__code__)] = (name, fingerprint(fn.__code__, texts=True),
                                                    fn.__code__)
            self.shapes.add(_shape(fn.__code__))

    def refuse(self, name: str, why: str = ""):
        ex = self.exercise
        students = ", ".join(n for n in ex.students if callable(self.frame.f_globals.get(n)))
        error = NotOwnCode(_("{grade_id} asks for your own implementation of {students}: it may "
                             "not use {name}, the package's answer", grade_id=ex.grade_id,
                             students=students, name=name) + why)
        self.refusals.append(error)      # sticks, even if the student's code catches it
        return error

    def check(self, name: str, caller, direct_call_allowed: bool) -> None:
        """Raise unless the call reached ``caller`` from the test code, not from the student's."""
        frame = caller
        while frame is not None and frame is not self.frame:
            filename = frame.f_code.co_filename
            if filename != self.filename and not is_package_file(filename):
                raise self.refuse(name)
            frame = frame.f_back
        if frame is None:
            raise self.refuse(name, " (" + _("called from outside the test") + ")")
        if not direct_call_allowed and caller.f_code.co_filename == self.filename:
            raise self.refuse(name, " (" + _("test code gets it through exercises.reference") + ")")

    def on_call(self, frame, event, arg):
        """``sys.settrace`` hook for the block, called as each Python function starts
        (returning None traces nothing inside it: cheaper than a profile hook, which
        also sees every return and every C call): code with an answer's fingerprint
        runs only for the test code and the package's checks, whatever object runs it."""
        if event != "call":
            return
        code = frame.f_code
        memo = self.seen.get(id(code))
        if memo is None or memo[0] is not code:
            answer = self.codes.get(fingerprint(code)) if _shape(code) in self.shapes else None
            memo = self.seen[id(code)] = (code, answer)
        if memo[1] is None:
            return
        name, verbatim, original = memo[1]
        try:
            if not is_package_file(code.co_filename):
                # a few lines written like the package's are the student's own; copied
                # verbatim (its docstring and messages too) they are not
                if len(fingerprint(code)[-1]) >= COPY_MIN_INSTRUCTIONS \
                        or fingerprint(code, texts=True) == verbatim:
                    raise self.refuse(name, " (" + _("a copy of its code") + ")")
            else:
                how = " (" + (_("its code, reached through another object") if code is original
                              else _("its code, from a second import of its module")) + ")"
                if frame.f_back.f_code is _TRACED_CODE:    # it *is* the student's function
                    raise self.refuse(name, how)
                try:
                    self.check(name, frame.f_back, direct_call_allowed=False)
                except NotOwnCode:
                    self.refusals.pop()
                    raise self.refuse(name, how) from None
        except NotOwnCode:
            self.unset_expected = True      # tlcourse.integrity: not the student's doing
            raise


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


def _traced(act: _Activation, fn: Callable) -> Callable:
    """``fn`` (a student's function under test) run with ``act``'s trace hook on."""
    @functools.wraps(fn)
    def traced(*args, **kwargs):
        if sys.gettrace() is act.hook:          # a student function calling another
            return fn(*args, **kwargs)
        sys.settrace(act.hook)
        threading.settrace(act.hook)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.settrace(None)
            threading.settrace(None)
    return traced


# the code of ``traced``: a frame of it calling an answer's code means the student's
# function under test is that code (on_call)
_TRACED_CODE = next(c for c in _traced.__code__.co_consts if isinstance(c, types.CodeType))


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
        if grade_id in NOTHING_TO_FORBID:     # the same block everywhere; nothing to refuse
            self.exercise = Exercise("", grade_id, None, {}, ())
        elif grade_id in EXERCISES:
            self.exercise = EXERCISES[grade_id]
        else:
            raise KeyError(f"no exercise {grade_id!r} in tlcourse.exercises.EXERCISES or "
                           f"NOTHING_TO_FORBID; declared: {', '.join(EXERCISES)}")

    def __enter__(self):
        global _active
        if _active is not None:
            raise RuntimeError(f"own_code({self.exercise.grade_id!r}) inside "
                               f"own_code({_active.exercise.grade_id!r}): one at a time")
        act = _Activation(self.exercise, sys._getframe(1))
        for name in self.exercise.forbids:
            for fn in resolve(name):
                act.forbid(name, fn)
        # a student function that is itself a package answer fails at once
        for function in self.exercise.students:
            fn = act.frame.f_globals.get(function)
            if fn is not None and id(_original(fn)) in act.forbidden:
                refused = act.refuse(act.forbidden[id(_original(fn))],
                                     " (" + _("{function} is it", function=function) + ")")
                feedback.attach(refused, act.exercise.grade_id, act.filename)
                raise refused
        self._swap_in_guards(act)
        self._trace_students(act)
        _active = self.act = act
        return self

    @staticmethod
    def _trace_students(act: _Activation) -> None:
        """The student's functions under test run with the trace hook on (and threads
        they start): every function they run is checked, while the test's own calls
        into the package (training a model, loading weights) run at full speed."""
        for function in act.exercise.students:
            fn = act.frame.f_globals.get(function)
            if callable(fn):
                act.swaps.append((act.frame.f_globals, function, fn))
                act.frame.f_globals[function] = _traced(act, fn)

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

    def __exit__(self, exc_type, exc, tb):
        global _active
        act = self.act
        if sys._getframe(1) is not act.frame:      # the student's code ending the block early
            integrity.note(f"own_code({act.exercise.grade_id!r}) was ended from outside its test")
            raise act.refuse(_("the guard"),
                             " (" + _("the test's block was ended from your code") + ")")
        if _active is not act:
            integrity.note(f"the guard of {act.exercise.grade_id} was switched off during its test")
        _active = None
        for namespace, key, value in reversed(act.swaps):
            namespace[key] = value
        if exc_type is None and act.refusals:       # refused, caught, and carried on
            exc = act.refusals[0]
        if exc is not None:     # the student reads what to fix, not frames of our code
            feedback.attach(exc, act.exercise.grade_id, act.filename)
        if exc_type is None and act.refusals:
            raise exc
        return False


def reference(fn: Callable) -> Callable:
    """The package's answer ``fn`` for the test code of the running ``own_code`` block
    (to compute expected values); refused to the student's code, and void after the block."""
    act = _active
    if act is None:
        raise RuntimeError("exercises.reference works inside `with exercises.own_code(...)` only")
    caller = sys._getframe(1)
    if caller.f_code.co_filename != act.filename:
        raise act.refuse(getattr(fn, "__qualname__", repr(fn)),
                         " (" + _("reference is for the test") + ")")
    original = _original(fn)
    name = act.forbidden.get(id(original), getattr(original, "__qualname__", repr(original)))

    def call_reference(*args, **kwargs):
        if _active is not act:
            raise act.refuse(name, " (" + _("this reference belongs to a finished test") + ")")
        act.check(name, sys._getframe(1), direct_call_allowed=True)
        return original(*args, **kwargs)
    return call_reference
