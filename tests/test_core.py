"""The framework-neutral core: imports without torch/tensorflow; profiles."""
import json
import pkgutil
import subprocess
import sys

import pytest

import tlcourse
from course import ROOT


# Modules that need a framework: the adapters and the model ports.  Everything
# else (the tooling too) loads without either.
FRAMEWORK_MODULES = ("tlcourse.torch", "tlcourse.tf", "tlcourse.ports.")


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(tlcourse.__path__, "tlcourse.")
                  if not m.name.startswith(FRAMEWORK_MODULES) and not m.name.endswith("__main__"))


def test_core_imports_without_frameworks():
    mods = core_modules()
    assert "tlcourse.assets" in mods and "tlcourse.profiles" in mods
    code = ("import sys, json, importlib\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('torch', 'tensorflow', 'keras', 'torchvision'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_profile_switch(monkeypatch):
    from tlcourse.profiles import choose_auto, get_profile
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("TLCOURSE_PROFILE", "smoke")
    assert get_profile().name == "smoke" and get_profile().on_standin
    monkeypatch.delenv("TLCOURSE_PROFILE")   # unset: auto decides, from the machine and cache
    assert get_profile().name == choose_auto()[0] and not get_profile().grading
    assert get_profile("smoke", batch_size=3).batch_size == 3
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert get_profile("smoke").grading


def test_unknown_profile_is_a_clear_error(monkeypatch):
    from tlcourse.profiles import get_profile
    monkeypatch.setenv("TLCOURSE_PROFILE", "tiny")
    with pytest.raises(ValueError, match="smoke, full"):
        get_profile()
    with pytest.raises(TypeError, match="epochz"):
        get_profile("smoke", epochz=1)


def test_torch_adapter_refuses_after_tensorflow():
    code = "import tensorflow\nimport tlcourse.torch"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and "one framework per notebook" in proc.stderr


def test_atomic_writes_get_the_mode_a_plain_write_would(tmp_path):
    """mkstemp makes owner-only files; a shared cache or a report must stay readable."""
    from tlcourse.cache import atomic_path
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with atomic_path(tmp_path / "atomic.txt") as tmp:
        tmp.write_text("x")
    assert oct((tmp_path / "atomic.txt").stat().st_mode & 0o777) == oct(plain.stat().st_mode & 0o777)
    assert not list(tmp_path.glob(".tmp-*"))
