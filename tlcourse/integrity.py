"""Tamper evidence for a graded run, kept inside the student's kernel.

The graded checks run in the same Python process as the student's code, so a
student can reach them: make ``own_code.__enter__`` a no-op, replace
``pets.check_raises`` or ``numpy.testing.assert_allclose``, swap a function's
``__code__``, install a trace hook.  This module does not try to forbid that
(in-process, it can't); it makes it *visible* to the grader outside:

* ``arm()`` runs when nbgrader starts the kernel, before any cell (nbgrader_config.py
  passes it as ``IPKernelApp.exec_lines``).  It records the grading machinery as
  it is then: the functions and classes of every ``tlcourse`` module, of numpy,
  numpy.testing, math and builtins, the classes' methods and every function's
  code object; modules imported later (the framework adapter, torch.testing) are
  recorded when first seen, and must hold the package's own code then;
* a permanent audit hook (``sys.addaudithook``: Python code cannot remove one)
  records ``sys.settrace``/``sys.setprofile`` and writes to a package function's
  ``__code__``/``__defaults__``, made by code outside the installed packages;
* after every cell, ``attest`` compares the machinery with the record and
  publishes what changed so far (``MIME``, one output per cell, no text a
  reader sees).  The grader (``tlcourse.course.tampering``) strips these
  outputs, scores 0 every graded test cell that ran after a change, and marks
  it for manual grading with the reason.  A graded cell without exactly one
  record (the hook removed, a forged record) counts as a change too.

Evidence is sticky: a change undone later still counts from the cell it was
seen in.  What this cannot see (a patch a student's function makes and undoes
within one test cell, a forged monitor) needs code that the grader's static
scan of the student's cells flags for review (``tampering.scan_cell``).
"""
from __future__ import annotations

import builtins
import dataclasses
import functools
import importlib
import sys
import sysconfig
import types
from pathlib import Path

MIME = "application/vnd.tlcourse.integrity+json"
# the machinery graded checks call besides the student's code; a module listed
# here and imported after arm() is recorded at the first check that sees it
WATCHED = ("numpy", "numpy.testing", "math", "torch.testing")
WATCHED_PACKAGES = ("tlcourse",)
# builtins IPython puts in and takes out around every cell (BuiltinTrap), and the
# display hook's history: not grading machinery
_IPYTHON_BUILTINS = {"exit", "quit", "get_ipython", "_", "__", "___",
                     "input", "raw_input"}    # ipykernel forwards input() per request

_PACKAGE_ROOTS = tuple(sorted({str(Path(__file__).resolve().parent)} | {
    str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (p := sysconfig.get_paths().get(key))}))


@functools.lru_cache(maxsize=None)
def is_package_file(filename: str) -> bool:
    """True for code of the installed packages (tlcourse, stdlib, site-packages),
    False for code compiled from a notebook cell or anywhere else."""
    if filename.startswith("<frozen "):
        return True
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    return path.startswith(_PACKAGE_ROOTS)


def _watchable(value) -> bool:
    """Functions, classes and modules: what a check calls.  Data (caches, counters,
    the guard's state) legitimately changes while a notebook runs."""
    return isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type,
                              types.ModuleType)) or type(value).__name__ == "ufunc"


def _raw_function(value):
    """The Python function behind a method-like class attribute, if any."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    elif isinstance(value, property):
        value = value.fget
    return value if isinstance(value, types.FunctionType) else None


class _Record:
    """The machinery as first seen: (where, name) -> (object, its code or None)."""

    def __init__(self):
        self.entries: dict[tuple[str, str], tuple[object, object]] = {}
        self.namespaces: dict[str, dict] = {}     # where -> the namespace watched
        self.modules: dict[str, types.ModuleType] = {}

    def add_module(self, name: str, module: types.ModuleType) -> list[str]:
        """Record ``module``; the changes already made to it (a function that is not
        the package's own code) as evidence."""
        self.modules[name] = module
        found = []
        self._add(name, vars(module), found)
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name:
                # dataclasses write their methods from generated source ("<string>")
                made = "<string>" if dataclasses.is_dataclass(value) else None
                self._add(f"{name}.{value.__qualname__}", value.__dict__, found, methods=True,
                          generated=made)
        return found

    def _add(self, where: str, namespace, found: list, methods: bool = False,
             generated: str | None = None) -> None:
        self.namespaces[where] = namespace
        for key, value in list(namespace.items()):
            function = _raw_function(value) if methods else (
                value if isinstance(value, types.FunctionType) else None)
            if not (function or (not methods and _watchable(value))):
                continue
            code = function.__code__ if function else None
            self.entries[(where, key)] = (value, code)
            if code is not None and code.co_filename != generated \
                    and not is_package_file(code.co_filename) \
                    and where.startswith(WATCHED_PACKAGES + WATCHED):
                found.append(f"{where}.{key} is not the package's own code")

    def changes(self) -> list[str]:
        found = []
        for name, module in self.modules.items():
            if sys.modules.get(name, module) is not module:
                found.append(f"sys.modules[{name!r}] was replaced")
        for (where, key), (value, code) in self.entries.items():
            now = self.namespaces[where].get(key, _MISSING)
            if now is not value:
                found.append(f"{where}.{key} was replaced" if now is not _MISSING
                             else f"{where}.{key} was deleted")
            elif code is not None and (_raw_function(now) or now).__code__ is not code:
                found.append(f"{where}.{key}.__code__ was swapped")
        return found


_MISSING = object()


class Monitor:
    """The record, the evidence seen so far and the hooks that feed it."""

    def __init__(self):
        self.record = _Record()
        self.evidence: list[str] = []       # reasons, in the order seen, each once
        self.cells = 0

    def note(self, reason: str) -> None:
        if reason not in self.evidence:
            self.evidence.append(reason)

    def watch_new_modules(self) -> None:
        for name, module in list(sys.modules.items()):
            if module is None or name in self.record.modules:
                continue
            if name in WATCHED or name.partition(".")[0] in WATCHED_PACKAGES:
                for reason in self.record.add_module(name, module):
                    self.note(reason)

    def check(self) -> list[str]:
        """Note what changed since the record; the evidence so far."""
        self.watch_new_modules()
        for reason in self.record.changes():
            self.note(reason)
        if sys.gettrace() is not None:
            self.note("a trace hook (sys.settrace) is installed")
        if sys.getprofile() is not None:
            self.note("a profile hook (sys.setprofile) is installed")
        return list(self.evidence)

    def audit(self, event: str, args: tuple) -> None:
        """sys.addaudithook: evidence no later state check could see."""
        if event in ("sys.settrace", "sys.setprofile"):
            if any(getattr(getattr(hook, "__self__", None), "unset_expected", False)
                   for hook in (sys.gettrace(), sys.getprofile())):
                return      # CPython removing the guard's trace hook after it refused
            caller = sys._getframe(1).f_code
            if not is_package_file(caller.co_filename):     # the own_code guard's are fine
                self.note(f"{event} was called by {caller.co_name} in {caller.co_filename}")
        elif event in ("object.__setattr__", "object.__delattr__") and len(args) >= 2 \
                and not is_package_file(sys._getframe(1).f_code.co_filename):
            # (libraries set their own functions' defaults at import: pyparsing does)
            target, name = args[0], args[1]
            if name in ("__code__", "__defaults__", "__kwdefaults__") \
                    and isinstance(target, types.FunctionType) \
                    and is_package_file(target.__code__.co_filename):
                self.note(f"{target.__module__}.{target.__qualname__}.{name} was changed")
            elif isinstance(target, (types.ModuleType, type)) and \
                    str(getattr(target, "__name__", "")).startswith(WATCHED_PACKAGES):
                self.note(f"object.__setattr__ on {target.__name__}.{name}")


_monitor: Monitor | None = None


def arm() -> None:
    """Start watching (once per kernel): record the machinery, install the hooks."""
    global _monitor
    if _monitor is not None:
        return
    import numpy  # noqa: F401  (recorded now, before any cell)
    import numpy.testing  # noqa: F401
    for name in _core_modules():
        importlib.import_module(name)
    _monitor = monitor = Monitor()
    monitor.record._add("builtins", vars(builtins), [])
    for key in _IPYTHON_BUILTINS:
        monitor.record.entries.pop(("builtins", key), None)
    monitor.watch_new_modules()
    sys.addaudithook(monitor.audit)
    shell = _shell()
    if shell is not None:
        shell.events.register("post_run_cell", attest)


def _core_modules() -> list[str]:
    """The framework-free tlcourse modules (the adapters are recorded when imported)."""
    import pkgutil

    import tlcourse
    return [m.name for m in pkgutil.iter_modules(tlcourse.__path__, "tlcourse.") if not m.ispkg]


def _shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def attest(result=None) -> None:
    """After each cell: publish the evidence seen so far (an output of the cell that
    only the grader reads; ``tampering.CheckIntegrity`` removes it)."""
    from IPython.display import display

    monitor = _monitor
    monitor.cells += 1
    display({MIME: {"cell": monitor.cells, "evidence": monitor.check()}}, raw=True)


def note(reason: str) -> None:
    """Evidence found elsewhere (the own_code guard switched off mid-test)."""
    if _monitor is not None:
        _monitor.note(reason)


def armed() -> bool:
    return _monitor is not None
