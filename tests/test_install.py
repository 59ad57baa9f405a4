"""A student's install is slim: what the notebooks import needs only `pip install .`.

Every import the six notebooks make, and every import (at any depth, lazy ones inside
functions included) of the tlcourse modules they reach, must come from the standard
library, tlcourse itself, or a distribution that the runtime dependencies of
pyproject.toml bring in (themselves or what they require).  The instructor's and the
tests' packages (nbclient, psutil, jupyterhub, pytest, playwright ...) are extras.
"""
import ast
import re
import sys
from importlib import metadata

from course import ROOT, read, source_notebooks
from test_environment import requirements


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_distributions() -> set[str]:
    """The runtime dependencies and, recursively, what they require (extras left out)."""
    todo = [d.split("==")[0] for d in requirements(extras=False)]
    seen = set()
    while todo:
        name = canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    return seen


def imports_of(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "tlcourse" or node.module.startswith("tlcourse."):
                names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def module_file(name: str):
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def notebook_imports() -> dict[str, str]:
    """{third-party top-level module: where it is imported} for the notebooks' closure."""
    todo = []
    for path in [*source_notebooks(), ROOT / "START_HERE.ipynb"]:
        for cell in read(path).cells:
            if cell.cell_type == "code":
                todo += [(n, path.name) for n in imports_of(ast.parse(cell.source))]
    return third_party_imports(todo)


def third_party_imports(todo: list[tuple[str, str]]) -> dict[str, str]:
    """{third-party top-level module: where} for the imports in ``todo`` (name, where)
    and everything the tlcourse modules among them import."""
    seen, third_party = set(), {}
    while todo:
        name, where = todo.pop()
        top = name.split(".")[0]
        if top != "tlcourse":
            if top not in sys.stdlib_module_names:
                third_party.setdefault(top, where)
            continue
        # a package's parents run first (tlcourse.torch's __init__ for tlcourse.torch.train)
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            module = ".".join(parts[:i])
            path = module_file(module)
            if path is None or module in seen:
                continue
            seen.add(module)
            todo += [(n, str(path.relative_to(ROOT))) for n in imports_of(ast.parse(path.read_text()))]
    return third_party


def test_the_notebooks_need_only_the_runtime_dependencies():
    allowed = runtime_distributions()
    owners = metadata.packages_distributions()
    extra = {}
    for module, where in notebook_imports().items():
        dists = {canonical(d) for d in owners.get(module, [module])}
        if not dists & allowed:
            extra[module] = (sorted(dists), where)
    assert not extra, f"imported by the notebooks' code but only in an extra: {extra}"


def test_the_check_sees_an_instructor_package():
    runtime = runtime_distributions()
    assert not {"jupyterhub", "psycopg", "pytest", "playwright", "nbval"} & runtime
    assert {"torch", "keras", "nbgrader", "nbformat"} <= runtime
    # the instructor's tools import extras, and the walk finds them through tlcourse
    assert "psutil" in third_party_imports([("tlcourse.course.grade", "test")])
    assert "nbclient" in third_party_imports([("tlcourse.course.run", "test")])
