"""The gradebook on PostgreSQL or SQLite (TLCOURSE_GRADEBOOK_URL), and parallel grading.

A real PostgreSQL server is started for the module (tests/postgres.py: 127.0.0.1,
a free port, stopped by pid).  The tiny assignment (tlcourse/course/tiny.py)
keeps each nbgrader run to seconds.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import postgres
from course import ROOT
from tlcourse.course import gradebook, tiny

SECRET = "s3cret-Pa55word"


# ---------------------------------------------------------------- the URL and its check

def test_default_gradebook_is_sqlite_in_the_course(monkeypatch, tmp_path):
    monkeypatch.delenv(gradebook.ENV_VAR, raising=False)
    assert gradebook.url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    monkeypatch.setenv(gradebook.ENV_VAR, "postgresql://g:pw@db.example.org/tl")
    assert gradebook.url(tmp_path) == "postgresql://g:pw@db.example.org/tl"


def test_description_names_host_and_database_never_the_password():
    text = gradebook.describe(f"postgresql://grader:{SECRET}@db.example.org:5433/course")
    assert text == "postgresql database 'course' on db.example.org:5433 as grader"


def test_unreachable_server_is_one_line_naming_host_and_database():
    port = postgres.free_port()            # nothing listens there
    with pytest.raises(gradebook.GradebookUnreachable) as err:
        gradebook.check(f"postgresql://grader:{SECRET}@127.0.0.1:{port}/course")
    msg = str(err.value)
    assert f"'course' on 127.0.0.1:{port}" in msg and "Connection refused" in msg, msg
    assert SECRET not in msg and "\n" not in msg


def test_a_url_that_is_not_one_is_named_as_such():
    with pytest.raises(gradebook.GradebookUnreachable, match="is not a database URL"):
        gradebook.check("grades.db")


# ---------------------------------------------------------------- a real PostgreSQL

@pytest.fixture(scope="module")
def server():
    with postgres.server() as srv:
        yield srv


@pytest.fixture(scope="module")
def db_url(server):
    return server.create_database("gradebook", "grader", SECRET)


def test_wrong_password_and_missing_database_are_one_line_without_the_password(server, db_url):
    gradebook.check(db_url)                       # the right login works
    for url, says in [(server.url("gradebook", "grader", "wrong-password"),
                       'password authentication failed for user "grader"'),
                      (server.url("nodb", "grader", SECRET), 'database "nodb" does not exist')]:
        with pytest.raises(gradebook.GradebookUnreachable) as err:
            gradebook.check(url)
        msg = str(err.value)
        assert says in msg and f"on 127.0.0.1:{server.port}" in msg, msg
        assert SECRET not in msg and "wrong-password" not in msg and "\n" not in msg


def tiny_course(where: Path) -> Path:
    course = where / "course"
    course.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    tiny.write_source(course)
    return course


def test_nbgrader_commands_use_the_configured_database(tmp_path, db_url):
    """nbgrader_config.py hands TLCOURSE_GRADEBOOK_URL to every nbgrader command."""
    from nbgrader.api import Gradebook
    course = tiny_course(tmp_path)
    env = dict(os.environ, **{gradebook.ENV_VAR: db_url})
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", tiny.ASSIGNMENT,
                           "--log-level=WARN"], cwd=course, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not (course / "gradebook.db").exists()
    with Gradebook(db_url) as gb:
        nb = gb.find_notebook(tiny.NOTEBOOK, tiny.ASSIGNMENT)
        assert sum(c.max_score for c in nb.grade_cells) == tiny.POINTS


# ---------------------------------------------------------------- grading into it

def test_grade_stops_before_anyone_is_graded_when_the_gradebook_cannot_be_opened(tmp_path):
    course = tiny_course(tmp_path)
    dest = course / "submitted" / "ann" / tiny.ASSIGNMENT
    dest.mkdir(parents=True)
    shutil.copy(course / "source" / tiny.ASSIGNMENT / f"{tiny.NOTEBOOK}.ipynb", dest)
    port = postgres.free_port()
    env = dict(os.environ, **{gradebook.ENV_VAR: f"postgresql://grader:{SECRET}@127.0.0.1:{port}/gb"})
    done = subprocess.run([sys.executable, "-m", "tlcourse.cli", "grade", tiny.ASSIGNMENT,
                           "--workers", "2"], cwd=course, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"'gb' on 127.0.0.1:{port}" in line and SECRET not in line + done.stdout
    assert not (course / "autograded").exists() and not (course / "gradebook.db").exists()


# A simulated class: full marks, the untouched student version, a partial answer.
ANSWERS = {"s1": tiny.SOLUTION, "s2": None,
           "s3": "def double(x):\n    return 2 * x if x >= 0 else 0", "s4": tiny.SOLUTION}


def simulated_class(where: Path) -> Path:
    """A tiny course with ANSWERS handed in (student versions, answers filled in)."""
    import nbformat
    course = tiny_course(where)
    with tempfile.TemporaryDirectory() as tmp:        # the gradebook is made on the way
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", tiny.ASSIGNMENT,
                        "--force", f"--CourseDirectory.release_directory={tmp}",
                        "--log-level=WARN"], cwd=course, check=True, timeout=300)
        student_version = Path(tmp) / tiny.ASSIGNMENT / f"{tiny.NOTEBOOK}.ipynb"
        for student, answer in ANSWERS.items():
            dest = course / "submitted" / student / tiny.ASSIGNMENT / student_version.name
            dest.parent.mkdir(parents=True)
            nb = nbformat.read(student_version, as_version=4)
            for cell in nb.cells:
                if answer and cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source = answer
            nbformat.write(nb, dest)
    return course


def outcome(results) -> list[tuple]:
    return [(r.student, r.score, r.max_score, r.failed, r.status) for r in results]


EXPECTED = [("s1", 3.0, 3.0, [], "ok"), ("s2", 0.0, 3.0, ["test_double", "test_negative"], "ok"),
            ("s3", 2.0, 3.0, ["test_negative"], "ok"), ("s4", 3.0, 3.0, [], "ok")]


@pytest.mark.grading
def test_parallel_grading_gives_the_serial_scores_on_sqlite_and_postgresql(tmp_path, db_url,
                                                                             monkeypatch):
    from tlcourse.course.grade import grade_class, scores
    runs = {}
    for name, url, workers in [("sqlite serial", None, 1), ("sqlite 2 workers", None, 2),
                               ("postgresql 2 workers", db_url, 2)]:
        if url:
            monkeypatch.setenv(gradebook.ENV_VAR, url)
        else:
            monkeypatch.delenv(gradebook.ENV_VAR, raising=False)
        course = simulated_class(tmp_path / name.replace(" ", "-"))
        runs[name] = outcome(grade_class(course, tiny.ASSIGNMENT, cell_timeout=60,
                                         workers=workers, log=lambda *_: None))
        # every score is in the gradebook, once per graded cell
        recorded = sorted((s.student, s.grade_id) for s in scores(course, tiny.ASSIGNMENT)
                          if s.autograded)
        assert recorded == sorted((s, g) for s in ANSWERS for g in ("test_double", "test_negative"))
        assert (course / "gradebook.db").exists() == (url is None)
    assert runs == {name: EXPECTED for name in runs}
