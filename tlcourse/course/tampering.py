"""Tampering earns nothing and is flagged: the grader's side of ``tlcourse.integrity``.

Why detection and not a separate process for the checks (docs/architecture.md):
a graded check here calls the student's functions and inspects what they return
(a PyTorch module, a Keras model, an optimizer bound to the model's weights),
which cannot cross a process boundary.  So the checks run in the student's
kernel, and the grader outside it decides what a passed check is worth from two
sources the student cannot edit after the fact:

* the kernel's own record (``integrity.attest``: one output per cell, stripped
  here before anything is saved or shown);
* the student's cells as handed in, read here, outside the kernel
  (``scan_cell``): code that rebinds the grading machinery (an attribute of a
  ``tlcourse`` module, of ``numpy``/``numpy.testing``/``torch.testing``/builtins,
  a function's ``__code__``, a trace hook, IPython's event hooks) is a change,
  like one the kernel saw; code that reaches for the machinery by other means
  (``exec``/``eval``/``compile``/``__import__``, ``importlib``, ``inspect``,
  ``gc``, ``ctypes``, ``sys.modules``, frames, ``__wrapped__``, the guard's own
  module) is flagged for a person to look at, its points kept.

``CheckIntegrity`` (after nbgrader's Execute) turns every graded test cell that
ran after a change into a failed one (a ``TamperingDetected`` error, so
SaveAutoGrades scores it 0); ``FlagForReview`` (after SaveAutoGrades) marks those
cells, and the ones flagged for review, "needs manual grading" in the gradebook,
which formgrader shows with the cell's output giving the reason.
"""
from __future__ import annotations

import ast

import nbformat
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, SaveAutoGrades
from nbgrader.utils import is_grade, is_locked, is_solution

from tlcourse.integrity import MIME

# nbgrader starts every kernel with the monitor armed, before the first cell runs
KERNEL_ARGUMENTS = [
    "--IPKernelApp.exec_lines=__import__('tlcourse.integrity').integrity.arm()"]
RESOURCE = "tlcourse_integrity"      # resources[RESOURCE]: {grade_id: (verdict, reason)}
ERROR_NAME = "TamperingDetected"

# module roots whose attributes are grading machinery when rebound
_MACHINERY_MODULES = ("tlcourse", "numpy", "builtins", "math", "unittest")
_MACHINERY_PATHS = ("numpy.testing", "torch.testing", "tensorflow.debugging")
_CODE_ATTRIBUTES = {"__code__", "__defaults__", "__kwdefaults__", "__globals__", "__dict__",
                    "__enter__", "__exit__", "__class__"}
_HOOKS = {("sys", "settrace"), ("sys", "setprofile"), ("threading", "settrace"),
          ("threading", "setprofile"), ("sys", "addaudithook")}
_DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint"}
# (the notebooks import tlcourse.exercises for their test cells: a student's cell that
# *uses* it is flagged, through _DYNAMIC_NAMES)
_DYNAMIC_MODULES = {"importlib", "inspect", "gc", "ctypes", "marshal", "types", "dis",
                    "code", "codeop", "tlcourse.integrity"}
_DYNAMIC_ATTRIBUTES = {"__wrapped__", "__closure__", "__globals__", "__code__", "__dict__",
                       "__builtins__", "__subclasses__", "__tlcourse_reference__", "f_back",
                       "f_globals", "f_locals"}
_DYNAMIC_NAMES = {"sys.modules", "sys.meta_path", "sys.path_hooks", "sys._getframe",
                  "tlcourse.exercises", "tlcourse.integrity"}


# --------------------------------------------------------------------------
# reading the student's cells
# --------------------------------------------------------------------------
def _python(source: str) -> ast.Module | None:
    """A cell as Python (IPython's magics and shell escapes turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager
    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None     # it fails when it runs; nothing to scan


def _tail(node) -> str:
    """The attribute chain at the end of an expression: ``get_ipython().events.register``
    -> ``events.register``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join(reversed(parts))


def dotted_name(node) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases           # local name -> module or object it was imported as
        self.changes: list[str] = []
        self.reviews: list[str] = []

    def full(self, dotted: str | None) -> str | None:
        """``np.testing.x`` -> ``numpy.testing.x`` through the notebook's imports."""
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        base = self.aliases.get(head)
        return f"{base}.{rest}" if base and rest else base or None

    def is_machinery(self, target) -> bool:
        name = self.full(dotted_name(target))
        return bool(name) and (name.partition(".")[0] in _MACHINERY_MODULES
                               or name.startswith(_MACHINERY_PATHS))

    def visit_Import(self, node):
        for alias in node.names:
            self.aliases[alias.asname or alias.name.partition(".")[0]] = \
                alias.name if alias.asname else alias.name.partition(".")[0]
            if alias.name in _DYNAMIC_MODULES or alias.name.partition(".")[0] in _DYNAMIC_MODULES:
                self.reviews.append(f"imports {alias.name}")

    def visit_ImportFrom(self, node):
        module = node.module or ""
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
            if module in _DYNAMIC_MODULES or module.partition(".")[0] in _DYNAMIC_MODULES \
                    or f"{module}.{alias.name}" in _DYNAMIC_MODULES:
                self.reviews.append(f"imports {alias.name} from {module}")

    def _assigned(self, target, how: str):
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._assigned(t, how)
        elif isinstance(target, ast.Attribute):
            if target.attr in _CODE_ATTRIBUTES:
                self.changes.append(f"{how} {dotted_name(target) or '...'}")
            elif self.is_machinery(target.value):
                self.changes.append(f"{how} {self.full(dotted_name(target))}")

    def visit_Assign(self, node):
        for target in node.targets:
            self._assigned(target, "rebinds")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._assigned(node.target, "rebinds")
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._assigned(target, "deletes")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = self.full(dotted_name(node.func)) or dotted_name(node.func)
        if func in ("setattr", "delattr") and node.args and self.is_machinery(node.args[0]):
            self.changes.append(f"{func}() on {self.full(dotted_name(node.args[0]))}")
        elif func and tuple(func.rsplit(".", 1)) in _HOOKS:
            self.changes.append(f"calls {func}")
        elif _tail(node.func) in ("events.register", "events.unregister"):
            self.changes.append("changes IPython's event hooks")
        elif func in _DYNAMIC_CALLS:
            self.reviews.append(f"calls {func}()")
        elif _tail(node.func) in ("run_cell_magic", "system", "getoutput"):
            self.reviews.append("runs a cell magic or a shell command")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        name = self.full(dotted_name(node)) or ""
        if node.attr in _DYNAMIC_ATTRIBUTES:
            self.reviews.append(f"uses .{node.attr}")
        elif any(name == n or name.startswith(n + ".") for n in _DYNAMIC_NAMES):
            self.reviews.append(f"uses {name}")
            return          # once per expression, not once per attribute of it
        self.generic_visit(node)

    def visit_Name(self, node):
        name = self.aliases.get(node.id, node.id)
        if node.id == "__builtins__" or name in _DYNAMIC_NAMES:
            self.reviews.append(f"uses {name}")


def scan_cell(source: str, aliases: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(changes, reviews) a student's cell makes to the grading machinery, read from its
    source; ``aliases`` (import name -> module) carries over from earlier cells."""
    tree = _python(source)
    if tree is None:
        return [], []
    scanner = _Scanner(aliases if aliases is not None else {})
    scanner.visit(tree)
    return list(dict.fromkeys(scanner.changes)), list(dict.fromkeys(scanner.reviews))


def student_editable(cell) -> bool:
    """Cells the student's copy may change: nbgrader restores locked and test cells."""
    return cell.cell_type == "code" and (is_solution(cell) or not (is_locked(cell) or is_grade(cell)))


# --------------------------------------------------------------------------
# nbgrader preprocessors
# --------------------------------------------------------------------------
def _passed(cell) -> bool:
    return not any(o.get("output_type") == "error" for o in cell.get("outputs", []))


class CheckIntegrity(NbGraderPreprocessor):
    """After Execute: strip the kernel's integrity records; fail every graded test cell
    that ran after a change (kernel evidence or a rebinding in a student's cell),
    note the ones to review; ``resources[RESOURCE]`` says which and why."""

    def preprocess(self, nb, resources):
        verdicts = {}
        changes, reviews, aliases = [], [], {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            records = [o for o in cell.get("outputs", [])
                       if o.get("output_type") == "display_data" and MIME in o.get("data", {})]
            cell.outputs = [o for o in cell.get("outputs", []) if o not in records]
            found, suspicious = scan_cell(cell.source, aliases)   # every cell's imports count
            if student_editable(cell):
                changes += [f"a cell of yours {what}" for what in found if
                            f"a cell of yours {what}" not in changes]
                reviews += [f"a cell of yours {what}" for what in suspicious if
                            f"a cell of yours {what}" not in reviews]
            if not (is_grade(cell) and not is_solution(cell)):
                continue
            evidence = list(changes)
            if len(records) == 1:
                evidence += [e for e in records[0]["data"][MIME].get("evidence", [])
                             if e not in evidence]
            elif records:
                evidence.append("this cell has more than one integrity record (a forged one)")
            else:
                evidence.append("this cell has no integrity record (the monitor was removed, "
                                "or the kernel did not run it)")
            grade_id = cell.metadata.nbgrader["grade_id"]
            if evidence:       # a cell that failed anyway is shown to the instructor too
                reason = "; ".join(evidence)
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename=ERROR_NAME,
                    evalue=f"the grading machinery was changed before this check ran ({reason}): "
                           "scored 0 and sent to your instructor for review",
                    traceback=[f"{ERROR_NAME}: {reason}"]))
                verdicts[grade_id] = ("changed", reason)
            elif reviews:
                reason = "; ".join(reviews)
                cell.outputs.append(nbformat.v4.new_output(   # stderr would score 0
                    "stream", name="stdout",
                    text=f"tlcourse: sent to your instructor for review ({reason})\n"))
                verdicts[grade_id] = ("review", reason)
        resources[RESOURCE] = verdicts
        return nb, resources


class FlagForReview(NbGraderPreprocessor):
    """After SaveAutoGrades: cells ``CheckIntegrity`` judged need manual grading."""

    def preprocess(self, nb, resources):
        verdicts = resources.get(RESOURCE) or {}
        if verdicts:
            info = resources["nbgrader"]
            with Gradebook(info["db_url"]) as gb:
                for grade_id in verdicts:
                    grade = gb.find_grade(grade_id, info["notebook"], info["assignment"],
                                          info["student"])
                    grade.needs_manual_grade = True
                gb.db.commit()
        return nb, resources


def autograde_preprocessors(defaults: list) -> list:
    """nbgrader's autograde steps with ours: CheckIntegrity right after Execute,
    FlagForReview right after SaveAutoGrades."""
    out = []
    for step in defaults:
        out.append(step)
        if step is Execute:
            out.append(CheckIntegrity)
        elif step is SaveAutoGrades:
            out.append(FlagForReview)
    if CheckIntegrity not in out or FlagForReview not in out:
        raise RuntimeError("nbgrader's autograde steps have changed: put CheckIntegrity after "
                           "Execute and FlagForReview after SaveAutoGrades by hand")
    return out


def flagged(notebook_path) -> list[tuple[str, str, str]]:
    """(grade_id, verdict, reason) of the cells flagged in an autograded notebook."""
    out = []
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for o in cell.get("outputs", []):
            if o.get("ename") == ERROR_NAME:
                out.append((grade_id, "changed", o["traceback"][0].partition(": ")[2]))
            elif o.get("name") == "stdout" and o.get("text", "").startswith(
                    "tlcourse: sent to your instructor for review"):
                out.append((grade_id, "review", o["text"].partition("(")[2].rstrip(")\n")))
    return out
