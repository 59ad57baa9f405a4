"""The package's layout, read from the source (so a lazy import inside a
function counts too):

- the import graph of tlcourse has no cycles, between modules nor between
  subpackages (``ports -> tf -> ports`` is a cycle even when no two modules
  import each other);
- tooling sits on top of the house (the core and the adapters never import the
  command line, the benchmarks or the course operations) and imports no
  framework itself: framework code lives in the adapters and the ports, and
  tooling reaches it through ``contract.adapter``;
- no module uses another tlcourse module's private names (``from tlcourse.a
  import _b``, ``a._b``);
- nothing imports by string (``importlib.import_module``, ``__import__``)
  except the few places ``STRING_IMPORTS`` names, each with why.

Each rule has a self-test proving it catches a sample."""
import ast
from pathlib import Path

import pytest

import tlcourse

PKG = Path(tlcourse.__file__).parent
TOOLING = ("tlcourse.cli", "tlcourse.bench", "tlcourse.course")
ADAPTERS = ("tlcourse.torch", "tlcourse.tf")
FRAMEWORKS = ("torch", "torchvision", "tensorflow", "keras", "tf_keras")
# The only imports by string, by (module, function): why each cannot be a plain import.
# Each must still be found (test_string_import_exceptions_are_current).
STRING_IMPORTS = {
    ("tlcourse.contract", "adapter"):
        "the way tooling gets framework code: which adapter (torch or tf) is picked at run "
        "time, one per process (importing TensorFlow and then torchvision crashes)",
    ("tlcourse.bench.harness", "_import_target"):
        "the child side of call_in_subprocess: the function to run crosses the process "
        "boundary as 'module:function' text",
    ("tlcourse.integrity", "arm"):
        "imports every core module found on disk (pkgutil) before the first cell, so that "
        "the grading machinery is recorded before a student's code runs",
    ("tlcourse.exercises", "resolve"):
        "turns the dotted names of the EXERCISES table ('tlcourse.train.fit') into the "
        "functions a graded block refuses",
}
# Private names another tlcourse module may use: {(user, "target._name"): why}.  None now.
PRIVATE_USES: dict = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py")}


def resolve(name: str, known) -> str | None:
    """The tlcourse module an import names: itself, or the package that holds the name."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def is_main_block(node) -> bool:
    """``if __name__ == "__main__":``: a script that shares the module's file."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def walk(tree, scripts: bool = True):
    """``ast.walk``; with ``scripts=False`` without the ``__main__`` blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if not scripts and is_main_block(node):
            todo.extend(node.orelse)   # an `else:` runs on import
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def import_graph(scripts: bool = True) -> dict[str, set[str]]:
    """{module: the tlcourse modules it imports}; ``scripts=False`` leaves out what
    the ``if __name__ == "__main__":`` blocks import (``python -m`` entry points)."""
    known = modules()
    graph = {}
    for mod, path in known.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets = set()
        for node in walk(ast.parse(path.read_text(), str(path)), scripts):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                # `from pkg import sub` names the submodule when there is one
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                         for a in node.names]
            else:
                continue
            for name in names:
                target = resolve(name, known) if name.startswith("tlcourse") else None
                # a package importing its own submodules is how packages work, not a cycle
                if target and target != mod and not (path.name == "__init__.py"
                                                      and target.startswith(mod + ".")):
                    targets.add(target)
        graph[mod] = targets
    return graph


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    """The reader sees the imports it must (else the tests below prove nothing)."""
    graph = import_graph()
    assert "tlcourse.catalog" in graph["tlcourse.assets"]
    assert "tlcourse.assets" in graph["tlcourse.datasets"]
    assert "tlcourse.course.build" in graph["tlcourse.course.run"]
    assert "tlcourse.adversarial" in graph["tlcourse.torch.adversarial"]


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("layer", ["core", "adapters", "ports"])
def test_tooling_sits_on_top(layer):
    graph = import_graph()

    def in_layer(mod):
        if layer == "adapters":
            return mod.startswith(ADAPTERS)
        if layer == "ports":
            return mod.startswith("tlcourse.ports")
        return not mod.startswith(TOOLING + ADAPTERS + ("tlcourse.ports",))

    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() if in_layer(m)
                 for t in ts if t.startswith(TOOLING))
    assert not bad, f"the {layer} imports tooling: {bad}"


def test_core_never_imports_an_adapter():
    graph = import_graph()
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items()
                 if not m.startswith(TOOLING + ADAPTERS + ("tlcourse.ports",))
                 for t in ts if t.startswith(ADAPTERS + ("tlcourse.ports",)))
    assert not bad, f"the framework-neutral core imports framework code: {bad}"


# --------------------------------------------------------------------------
# subpackages: no cycle between them either (ports -> tf -> ports)
# --------------------------------------------------------------------------
def unit(mod: str) -> str:
    """A module's subpackage (``tlcourse.tf.models`` -> ``tlcourse.tf``); a top-level
    module is its own unit."""
    parts = mod.split(".")
    return ".".join(parts[:2])


def package_graph(graph) -> dict[str, set[str]]:
    out = {}
    for mod, targets in graph.items():
        out.setdefault(unit(mod), set()).update(unit(t) for t in targets if unit(t) != unit(mod))
    return out


def test_main_blocks_can_be_left_out():
    tree = ast.parse("import a\nif __name__ == '__main__':\n    import b\nelse:\n    import c\n")
    imported = {a.name for n in walk(tree, scripts=False) if isinstance(n, ast.Import)
                for a in n.names}
    assert imported == {"a", "c"}


def test_package_cycle_finder_finds_a_cycle_modules_do_not_show():
    sample = {"tlcourse.ports.convert": {"tlcourse.tf.models"},
              "tlcourse.tf.models": {"tlcourse.ports.keras_mobilenet_v2", "tlcourse.images"},
              "tlcourse.ports.keras_mobilenet_v2": set(), "tlcourse.images": set()}
    assert cycles(sample) == []
    assert cycles(package_graph(sample)) == [["tlcourse.ports", "tlcourse.tf"]]


def test_no_import_cycles_between_subpackages():
    """The ``python -m`` entry points of course/ and bench/ are thin calls into the one
    command line (``tlcourse.cli.main``): a script in the module's file, never run when
    the module is imported, so not an edge of the package graph."""
    found = cycles(package_graph(import_graph(scripts=False)))
    assert not found, "subpackage import cycles: " + "; ".join(" <-> ".join(c) for c in found)


# --------------------------------------------------------------------------
# the rules below read each module's syntax tree
# --------------------------------------------------------------------------
def package_trees() -> dict[str, tuple[bool, ast.AST]]:
    """{module: (is a package's __init__, its syntax tree)} for the whole package."""
    return {mod: (path.name == "__init__.py", ast.parse(path.read_text(), str(path)))
            for mod, path in modules().items()}


def sample_trees(sources: dict[str, str]) -> dict[str, tuple[bool, ast.AST]]:
    """Self-test modules: {name: source}; a name ending ``.__init__`` is a package."""
    return {mod.removesuffix(".__init__"): (mod.endswith(".__init__"), ast.parse(src))
            for mod, src in sources.items()}


def absolute(node: ast.ImportFrom, mod: str, is_package: bool) -> str:
    """The module a ``from ... import`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = mod if is_package else mod.rpartition(".")[0]
    parts = package.split(".")
    return ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))


def is_private(name: str) -> bool:
    # `_` is gettext's translation function (tlcourse.messages), public by convention
    return name.startswith("_") and name != "_" and not (name.startswith("__") and name.endswith("__"))


def functions_around(tree) -> dict[ast.AST, str]:
    """{node: the name of the innermost function (or class) around it, "" at module level}."""
    where = {}

    def visit(node, name):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                     ast.ClassDef)) else name
            where[child] = name
            visit(child, inner)

    visit(tree, "")
    return where


# --------------------------------------------------------------------------
# no private name of another tlcourse module
# --------------------------------------------------------------------------
def private_uses(trees) -> list[tuple[str, str, int]]:
    """(module, what it uses, line) for each private name of another tlcourse module:
    ``from tlcourse.a import _b``, ``import tlcourse._a``, and ``a._b`` where ``a``
    names a tlcourse module (bound by ``import tlcourse.a as a``, ``from tlcourse
    import a``, or spelt ``tlcourse.a._b``).  Which module an object returned by a
    call is (``adapter("tf")._x``) cannot be told statically: not checked."""
    known = set(trees)
    found = []
    for mod, (is_package, tree) in trees.items():
        bound = {}   # local name -> the tlcourse module it names
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] != "tlcourse":
                        continue
                    if any(is_private(part) for part in a.name.split(".")):
                        found.append((mod, a.name, node.lineno))
                    if a.asname:
                        bound[a.asname] = a.name
                    else:
                        bound["tlcourse"] = "tlcourse"
            elif isinstance(node, ast.ImportFrom):
                base = absolute(node, mod, is_package)
                if base.split(".")[0] != "tlcourse":
                    continue
                for a in node.names:
                    if (is_private(a.name) or any(is_private(p) for p in base.split("."))) \
                            and base != mod:
                        found.append((mod, f"{base}.{a.name}", node.lineno))
                    if f"{base}.{a.name}" in known:
                        bound[a.asname or a.name] = f"{base}.{a.name}"

        def named_module(node):
            if isinstance(node, ast.Name):
                return bound.get(node.id)
            if isinstance(node, ast.Attribute):
                inner = named_module(node.value)
                return f"{inner}.{node.attr}" if inner else None
            return None

        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                target = named_module(node.value)
                if target in known and target != mod:
                    found.append((mod, f"{target}.{node.attr}", node.lineno))
    return sorted(set(found))


def test_private_use_finder_finds_each_kind():
    trees = sample_trees({
        "tlcourse.__init__": "", "tlcourse.plots": "def _to_image(x): return x\n",
        "tlcourse.standin": "def _animal(): pass\n",
        "tlcourse.train": "from tlcourse.plots import _to_image\n",
        "tlcourse.bench.__init__": "",
        "tlcourse.bench.gpu": "from tlcourse import standin\nstandin._animal()\n",
        "tlcourse.bench.data": "import tlcourse.standin as s\nimport tlcourse.standin\n"
                               "s._animal(); tlcourse.standin._animal()\n",
        "tlcourse.bench.rel": "from ..plots import _to_image\nfrom . import gpu\ngpu._pool\n",
        "tlcourse.fine": ("from tlcourse import cache as _cache\nfrom tlcourse.plots import "
                          "show_images\n_cache.x; tlcourse.__file__\n"
                          "def _mine(): pass\n_mine()\nobject()._anything\n"),
    })
    assert private_uses(trees) == [
        ("tlcourse.bench.data", "tlcourse.standin._animal", 3),
        ("tlcourse.bench.gpu", "tlcourse.standin._animal", 2),
        ("tlcourse.bench.rel", "tlcourse.bench.gpu._pool", 3),
        ("tlcourse.bench.rel", "tlcourse.plots._to_image", 1),
        ("tlcourse.train", "tlcourse.plots._to_image", 1)]


def test_no_private_name_of_another_module():
    found = [(mod, what, line) for mod, what, line in private_uses(package_trees())
             if (mod, what) not in PRIVATE_USES]
    assert not found, "private names used across modules (make them public, or move the " \
        "code): " + "; ".join(f"{m}:{line} uses {w}" for m, w, line in found)
    stale = set(PRIVATE_USES) - {(m, w) for m, w, _ in private_uses(package_trees())}
    assert not stale, f"PRIVATE_USES lists what the package no longer does: {sorted(stale)}"


# --------------------------------------------------------------------------
# no import by string, but where STRING_IMPORTS says why
# --------------------------------------------------------------------------
def string_imports(trees) -> list[tuple[str, str, int]]:
    """(module, the function it is in, line) for each call of ``import_module``,
    ``__import__`` or ``pkgutil.resolve_name``, however spelt
    (``importlib.import_module``, ``from importlib import import_module``,
    ``importlib.__import__``, ``builtins.__import__``)."""
    found = []
    for mod, (_, tree) in trees.items():
        where = functions_around(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            if name in ("import_module", "__import__", "resolve_name"):
                found.append((mod, where.get(node, ""), node.lineno))
    return sorted(found)


def test_string_import_finder_finds_each_kind():
    trees = sample_trees({
        "tlcourse.a": "import importlib\ndef f(n):\n    return importlib.import_module(n)\n",
        "tlcourse.b": "from importlib import import_module as im, import_module\n"
                      "import_module('x')\n",
        "tlcourse.c": "class K:\n    def g(self):\n        return __import__('os')\n",
        "tlcourse.d": "import pkgutil\npkgutil.resolve_name('os:getcwd')\n"
                      "s = \"__import__('os')\"\n",
    })
    assert string_imports(trees) == [("tlcourse.a", "f", 3), ("tlcourse.b", "", 2),
                                     ("tlcourse.c", "g", 3), ("tlcourse.d", "", 2)]


def test_no_import_by_string_elsewhere():
    found = [f"{mod}:{line} ({func or 'module level'})"
             for mod, func, line in string_imports(package_trees())
             if (mod, func) not in STRING_IMPORTS]
    assert not found, ("imports by string (import the module by name, or go through "
                       f"contract.adapter): {found}")


def test_string_import_exceptions_are_current():
    found = {(mod, func) for mod, func, _ in string_imports(package_trees())}
    stale = sorted(set(STRING_IMPORTS) - found)
    assert not stale, f"STRING_IMPORTS lists what the package no longer does: {stale}"


# --------------------------------------------------------------------------
# tooling imports no framework: the adapters and the ports do
# --------------------------------------------------------------------------
def framework_imports(trees, under=TOOLING) -> list[tuple[str, str, int]]:
    """(module, framework module, line) for each import of a framework in a module
    under ``under``."""
    found = []
    for mod, (is_package, tree) in trees.items():
        if not mod.startswith(under):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            found += [(mod, n, node.lineno) for n in names if n.split(".")[0] in FRAMEWORKS]
    return sorted(found)


def test_framework_import_finder_finds_each_kind():
    trees = sample_trees({
        "tlcourse.bench.models": "def f():\n    import torch\n    import tensorflow as tf\n",
        "tlcourse.cli.classify": "from torchvision.models import resnet50\n",
        "tlcourse.course.run": "from keras import layers\nfrom . import torch\n",
        "tlcourse.torch.bench": "import torch\n",
        "tlcourse.ports.convert": "import torch\n",
    })
    assert framework_imports(trees) == [
        ("tlcourse.bench.models", "tensorflow", 3), ("tlcourse.bench.models", "torch", 2),
        ("tlcourse.cli.classify", "torchvision.models", 1), ("tlcourse.course.run", "keras", 1)]


def test_tooling_imports_no_framework():
    found = framework_imports(package_trees())
    assert not found, ("tooling imports a framework (put the code in the adapters, "
                       "tlcourse/<framework>/, and reach it with contract.adapter): "
                       + "; ".join(f"{m}:{line} imports {n}" for m, n, line in found))
