"""Generic checks over every assignment: sources, nbgrader metadata, generated copies."""
import shutil
import subprocess
from pathlib import Path
import sys

import pytest

from tlcourse.course.lab import COURSE_KERNEL, COURSE_KERNEL_DISPLAY

from course import (ROOT, assignments, graded_code_cells, nbgrader_meta, read,
                    solution_notebooks, source_notebooks)

SOURCES = source_notebooks()
IDS = [f"{p.parent.name}/{p.name}" for p in SOURCES]


def test_there_are_assignments():
    assert assignments(), "source/ holds no assignment"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_source_has_no_outputs(path):
    nb = read(path)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_nbgrader_metadata(path):
    nb = read(path)
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade_id")]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids in {path}: {ids}"
    graded = graded_code_cells(nb)
    assert graded, f"{path} has no autograded test cell"
    for cell in graded:
        meta = nbgrader_meta(cell)
        assert meta.get("locked") is True, f"{meta['grade_id']}: graded test cells must be locked"
        assert meta.get("points", 0) > 0, f"{meta['grade_id']}: graded test cells need points"
        assert "assert" in cell.source, f"{meta['grade_id']}: a test cell without an assert"
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution"):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, \
                f"{meta['grade_id']}: solution cell without BEGIN/END SOLUTION markers"
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{path}: exactly one cell must be tagged 'parameters'"
    assert nb.metadata["kernelspec"]["name"] == COURSE_KERNEL, \
        f"{path}: students' notebooks open on the course kernel ({COURSE_KERNEL})"


def test_course_kernel_is_registered_in_this_environment():
    # `make setup` registers it inside the venv; JupyterLab lists it by this name.
    from jupyter_client.kernelspec import KernelSpecManager
    spec = KernelSpecManager().get_kernel_spec(COURSE_KERNEL)
    assert spec.display_name == COURSE_KERNEL_DISPLAY
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve(), \
        f"kernel {COURSE_KERNEL} runs {spec.argv[0]}, not this environment's Python; rerun make setup"


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_notebook_imports_one_framework(path):
    text = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    uses_torch = "import torch" in text or "tlcourse import torch" in text
    uses_tf = "import tensorflow" in text or "tlcourse import tf" in text or "import keras" in text
    assert not (uses_torch and uses_tf), f"{path} imports both frameworks"


@pytest.mark.slow
def test_generated_copies_in_sync():
    proc = subprocess.run([sys.executable, "-m", "tlcourse.cli", "build", "--check"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_hand_edit_to_generated_copy_is_caught(tmp_path):
    from tlcourse.course.build import build

    for name in ("source", "release", "notebooks"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    edited = []
    for sub in ("release", "notebooks"):
        for nb in sorted((tmp_path / sub).glob("*/*.ipynb")):
            text = nb.read_text()
            nb.write_text(text.replace("assert", "assert True or", 1))
            edited.append(str(nb.relative_to(tmp_path)))
    (tmp_path / "release" / "stray.txt").write_text("not generated")
    import io
    import contextlib
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = build(tmp_path, check=True)
    assert rc == 1
    for rel in edited + ["release/stray.txt"]:
        assert rel in out.getvalue(), f"{rel} edited by hand but not reported:\n{out.getvalue()}"


def test_solution_copies_exist_for_every_source():
    got = {(p.parent.name, p.name) for p in solution_notebooks()}
    want = {(p.parent.name, p.name) for p in SOURCES}
    assert got == want


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_notebook_imports_tlcourse_before_the_framework(path):
    # tlcourse sets OMP_WAIT_POLICY=PASSIVE, which only works before torch is imported
    code = "\n".join(c.source for c in read(path).cells if c.cell_type == "code")
    lines = [line.strip() for line in code.splitlines()]
    first_tlcourse = next(i for i, line in enumerate(lines) if line.startswith("import tlcourse"))
    framework = [i for i, line in enumerate(lines)
                 if line.split(" ")[:2] in (["import", "torch"], ["import", "tensorflow"],
                                            ["import", "keras"], ["from", "torch"])]
    assert not framework or first_tlcourse < framework[0], \
        f"{path}: `import tlcourse` must come before the framework import"


def test_importing_tlcourse_makes_openmp_threads_sleep():
    import os
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", "import os, tlcourse; "
                          "print(os.environ.get('OMP_WAIT_POLICY'))"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "PASSIVE"


def test_release_works_without_a_shared_exchange(tmp_path):
    """On one machine with no JupyterHub exchange, nbgrader's Release goes to a
    git-ignored exchange/ in the course instead of failing."""
    import os
    if Path("/usr/local/share/nbgrader/exchange").is_dir():
        pytest.fail("a shared nbgrader exchange exists on this machine; this test would "
                    "release into it: run it where there is none (CI)")
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "release" / "transfer_learning", tmp_path / "release" / "transfer_learning")
    bindir = str(Path(sys.executable).parent)
    proc = subprocess.run([f"{bindir}/nbgrader", "release_assignment", "transfer_learning"],
                          cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"]))
    assert proc.returncode == 0, proc.stderr[-2000:]
    released = tmp_path / "exchange" / "tlcourse" / "outbound" / "transfer_learning"
    assert sorted(p.name for p in released.glob("*.ipynb")) == \
        ["TransferLearningPyTorch.ipynb", "TransferLearningTF.ipynb"]
    assert "exchange/" in (ROOT / ".gitignore").read_text().splitlines()
