"""The environment resolves the same way everywhere: pins agree across files."""
import re
import tomllib

import yaml

from course import ROOT


def requirements(extras: bool = True) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    if extras:
        deps += [d for group in project.get("optional-dependencies", {}).values() for d in group]
    return deps


def pins_pyproject(extras: bool = True) -> dict:
    return dict(d.split("==") for d in requirements(extras))


def pins_environment_yml() -> dict:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return dict(p.split("==") for p in pip if "==" in p)


def pins_lock() -> dict:
    lines = (ROOT / "requirements-lock.txt").read_text().splitlines()
    return dict(l.split("==") for l in lines if "==" in l and not l.startswith("#"))


def norm(d: dict) -> dict:
    return {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in d.items()}


def test_every_dependency_is_pinned_exactly():
    deps = requirements()
    assert len(set(deps)) == len(deps), "a package listed twice"
    assert deps and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][^ ;,]*", d) for d in deps), deps


def test_environment_yml_pins_match_pyproject():
    assert norm(pins_environment_yml()) == norm(pins_pyproject())


def test_lock_agrees_with_pyproject():
    lock = norm(pins_lock())
    for name, version in norm(pins_pyproject()).items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"


def test_environment_yml_is_conda_forge_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert [c for c in env["channels"] if c != "nodefaults"] == ["conda-forge"]


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version
    for name, pinned in pins_pyproject().items():
        assert version(name) == pinned, f"{name} installed {version(name)}, pinned {pinned}"
