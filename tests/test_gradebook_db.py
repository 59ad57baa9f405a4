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
