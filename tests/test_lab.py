"""`make lab` / `tlcourse lab` without a browser: the two views' command lines and
configuration, and the landing copy the browser opens instead of the tracked
START_HERE.ipynb (tests/test_browser.py drives the real servers)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from course import ROOT
from tlcourse.course import lab


@pytest.fixture
def course(tmp_path) -> Path:
    shutil.copytree(ROOT / "release", tmp_path / "release")
    shutil.copy(ROOT / lab.LANDING, tmp_path / lab.LANDING)
    return tmp_path


def option(args: list[str], name: str) -> list[str]:
    return [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]


def test_student_view_serves_my_work_without_the_instructor_tools(course):
    args = lab.command(course, "student", port=8899, token="t", open_browser=False)
    assert option(args, "ServerApp.root_dir") == [str(course / lab.WORK)]
    assert option(args, "LabApp.default_url") == [f"/lab/tree/{lab.LANDING}"]
    assert sorted(option(args, "ServerApp.jpserver_extensions")) == [
        "nbgrader.server_extensions.assignment_list=False",
        "nbgrader.server_extensions.course_list=False",
        "nbgrader.server_extensions.formgrader=False",
        "nbgrader.server_extensions.validate_assignment=False",
        "tlcourse.course.validate=True"]
    assert option(args, "ServerApp.ip") == ["127.0.0.1"]
    # Validate stays, answered by the course's summarising handler: its plugin stays on
    assert not any("validate" in p for p in lab.STUDENT_OFF_PLUGINS)


def test_instructor_view_serves_the_course_with_every_tool(course):
    args = lab.command(course, "instructor")
    assert option(args, "ServerApp.root_dir") == [str(course)]
    # the landing page opened is the copy, never the tracked file (autosave would write it)
    assert option(args, "LabApp.default_url") == [f"/lab/tree/{lab.WORK}/{lab.LANDING}"]
    assert sorted(option(args, "ServerApp.jpserver_extensions")) == [
        "nbgrader.server_extensions.validate_assignment=False", "tlcourse.course.validate=True"]
    with lab.view_env("instructor") as env:
        assert env == {}
    with pytest.raises(ValueError, match="choose student or instructor"):
        lab.command(course, "teacher")


def test_student_plugins_are_off_through_a_private_config_dir_removed_afterwards():
    with lab.view_env("student", {"JUPYTER_CONFIG_PATH": "/etc/site-jupyter"}) as env:
        first, rest = env["JUPYTER_CONFIG_PATH"].split(os.pathsep)
        assert rest == "/etc/site-jupyter"
        page = json.loads((Path(first) / "labconfig" / "page_config.json").read_text())
        assert page == {"disabledExtensions": {p: True for p in lab.STUDENT_OFF_PLUGINS}}
        assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} \
            <= set(page["disabledExtensions"])
    assert not Path(first).exists()
    with lab.view_env("student", {}) as env:
        assert os.pathsep not in env["JUPYTER_CONFIG_PATH"]


def test_landing_copy_links_the_students_copies_relative_to_my_work(course):
    lab.student_copies(course)
    path, what = lab.landing_copy(course)
    assert (path, what) == (course / lab.WORK / lab.LANDING, "made")
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    links = re.findall(r"\]\(([^)\s]+\.ipynb)\)", text)
    assert len(links) == 6 and all((path.parent / link).is_file() for link in links), links
    assert not any(link.startswith(f"{lab.WORK}/") for link in links)


def test_landing_copy_follows_the_course_but_keeps_a_students_edit(course):
    path, _ = lab.landing_copy(course)
    # what autosave writes (the kernel's language details) is no edit: still refreshed
    nb = nbformat.read(path, as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    nbformat.write(nb, path)
    assert lab.landing_copy(course)[1] == "kept"
    tracked = nbformat.read(course / lab.LANDING, as_version=4)
    tracked.cells[0].source += "\n\nA new sentence."
    nbformat.write(tracked, course / lab.LANDING)
    assert lab.landing_copy(course)[1] == "updated"
    assert "A new sentence." in path.read_text()
    # the student writes in it: kept as it is, whatever the course's page becomes
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\n\nmy notes"
    nbformat.write(nb, path)
    tracked.cells[0].source += " And another."
    nbformat.write(tracked, course / lab.LANDING)
    assert lab.landing_copy(course)[1] == "edited, kept"
    assert "my notes" in path.read_text() and "And another." not in path.read_text()
    assert sorted(p.name for p in path.parent.iterdir()) == [lab.LANDING], "no temporary files"


def test_prepare_never_touches_the_tracked_landing_page_or_release(course):
    before = {p: p.read_bytes() for p in course.rglob("*") if p.is_file()}
    lab.prepare(course, log=lambda *_: None)
    lab.prepare(course, log=lambda *_: None)
    assert {p: p.read_bytes() for p in before} == before


def test_lab_command_line_takes_the_role():
    from tlcourse.cli import build_parser
    parse = build_parser().parse_args
    assert parse(["lab"]).role == "student"
    assert parse(["lab", "--instructor"]).role == "instructor"
    assert parse(["lab", "--role", "instructor", "--edition", "hi"]).role == "instructor"
    with pytest.raises(SystemExit) as exit_:
        parse(["lab", "--role", "teacher"])
    assert exit_.value.code == 2


def test_make_lab_passes_role_and_edition():
    def dry(*args):
        out = subprocess.run(["make", "-n", "--no-print-directory", "lab", *args], cwd=ROOT,
                             capture_output=True, text=True, timeout=60).stdout
        return [line for line in out.splitlines() if "tlcourse lab" in line]
    assert dry() == [".venv/bin/tlcourse lab --role student  -- "]
    assert dry("ROLE=instructor", "EDITION=hi") == [
        ".venv/bin/tlcourse lab --role instructor --edition hi -- "]
