"""The package's layout: the import graph of tlcourse has no cycles, and tooling
sits on top of the house (the core and the adapters never import the command
line, the benchmarks or the course operations).  Read from the source, so a
lazy import inside a function counts too."""
import ast
from pathlib import Path

import pytest

import tlcourse

PKG = Path(tlcourse.__file__).parent
TOOLING = ("tlcourse.cli", "tlcourse.bench", "tlcourse.course")
ADAPTERS = ("tlcourse.torch", "tlcourse.tf")


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


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for mod, path in known.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
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
