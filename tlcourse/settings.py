"""The course root around a notebook and the settings its ``nbgrader_config.py`` holds.

nbgrader runs each notebook in its folder inside the course, so the nearest folder
upwards with ``nbgrader_config.py`` is the course (an edition's root for the Hindi
edition).  Its settings are plain ``key = "value"`` lines, read without running the file
(it only runs inside nbgrader): the grading profile (``tlcourse.profiles``), the language
the package speaks (``tlcourse.messages``).
"""
from __future__ import annotations

import ast
from pathlib import Path

COURSE_CONFIG = "nbgrader_config.py"          # marks the course root


def find_course_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory)
    that holds ``nbgrader_config.py``: the course nbgrader runs."""
    start = Path.cwd() if start is None else Path(start)
    for folder in (start, *start.parents):
        if (folder / COURSE_CONFIG).is_file():
            return folder
    return None


def course_setting(course_root: Path, key: str) -> str | None:
    """The last ``key = "value"`` line of the course's ``nbgrader_config.py`` (read, not
    executed: it only runs inside nbgrader), or of the configuration it loads first
    (``load_subconfig("../../nbgrader_config.py")``, as an edition's does); None without one."""
    path = Path(course_root) / COURSE_CONFIG
    value, seen = None, set()
    while value is None and path not in seen and path.is_file():
        seen.add(path)
        body = ast.parse(path.read_text()).body
        values = [node.value.value for node in body
                  if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                  and any(isinstance(t, ast.Name) and t.id == key for t in node.targets)]
        value = values[-1] if values else None
        loads = [node.value.args[0].value for node in body
                 if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                 and getattr(node.value.func, "id", None) == "load_subconfig"
                 and node.value.args and isinstance(node.value.args[0], ast.Constant)]
        path = (path.parent / loads[0]).resolve() if loads else path
    return value
