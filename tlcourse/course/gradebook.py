"""Where the course's nbgrader gradebook lives: SQLite in the course by default,
a server database (PostgreSQL) when ``TLCOURSE_GRADEBOOK_URL`` names one.

nbgrader_config.py reads the same variable (``CourseDirectory.db_url``), so every
nbgrader command, the formgrader and ``tlcourse grade`` use one gradebook.

``check`` connects once before anything is graded: a server that cannot be
reached or refuses the login is a ``GradebookUnreachable`` whose one-line message
names the host and the database, never the password.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TLCOURSE_GRADEBOOK_URL"
# Seconds to wait for a server gradebook before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10


class GradebookUnreachable(RuntimeError):
    """The configured gradebook database cannot be opened; the message says which and why."""


def env_var(course: Path) -> str:
    """The variable naming ``course``'s gradebook database: ``TLCOURSE_GRADEBOOK_URL``, an
    edition's ``TLCOURSE_GRADEBOOK_URL_<LANG>`` (its own gradebook, as its config says)."""
    from tlcourse import messages
    from tlcourse.settings import COURSE_CONFIG, course_setting

    config = Path(course) / COURSE_CONFIG
    lang = course_setting(course, messages.LANGUAGE_KEY) if config.is_file() else None
    return f"{ENV_VAR}_{lang.upper()}" if lang else ENV_VAR


def url(course: Path, sqlite_wait_s: float | None = None) -> str:
    """The gradebook's SQLAlchemy URL: ``$TLCOURSE_GRADEBOOK_URL`` (an edition's
    ``$TLCOURSE_GRADEBOOK_URL_<LANG>``) or ``course/gradebook.db``.

    ``sqlite_wait_s``: for a SQLite gradebook that several processes write at once,
    how long each waits for the write lock (SQLite serialises the writers; its
    default wait, 5 s, would fail a busy one instead)."""
    db_url = os.environ.get(env_var(course)) or f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"
    if sqlite_wait_s and is_sqlite(db_url) and "timeout=" not in db_url:
        db_url += ("&" if "?" in db_url else "?") + f"timeout={sqlite_wait_s:g}"
    return db_url


def is_sqlite(db_url: str) -> bool:
    return db_url.startswith("sqlite:")


def describe(db_url: str) -> str:
    """Where ``db_url`` points, for messages: the file, or database and host (no password)."""
    from sqlalchemy.engine import make_url
    parsed = make_url(db_url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database}"
    host = f"{parsed.host or 'localhost'}" + (f":{parsed.port}" if parsed.port else "")
    user = f" as {parsed.username}" if parsed.username else ""
    return f"{parsed.get_backend_name()} database {parsed.database!r} on {host}{user}"


def check(db_url: str) -> None:
    """Connect once; raise ``GradebookUnreachable`` (one line, no password) when that fails."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(db_url)
    except sqlalchemy.exc.ArgumentError:
        raise GradebookUnreachable(f"{ENV_VAR} is not a database URL (e.g. "
                                   "postgresql://user:password@host/dbname)") from None
    if is_sqlite(db_url):
        folder = Path(parsed.database or ".").parent
        if not folder.is_dir():
            raise GradebookUnreachable(f"gradebook {describe(db_url)}: folder {folder} does not exist")
        return
    args = {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
    try:
        engine = sqlalchemy.create_engine(parsed, connect_args=args)
    except (ImportError, sqlalchemy.exc.ArgumentError) as exc:
        raise GradebookUnreachable(f"gradebook {describe(db_url)}: no driver for it ({exc}); "
                                   "PostgreSQL needs psycopg (pinned in the course's lock file)") from None
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.DBAPIError as exc:
        reason = _first_line(exc.orig).replace(parsed.password or "\0", "***")
        raise GradebookUnreachable(f"gradebook {describe(db_url)} cannot be opened: {reason} "
                                   f"(check {ENV_VAR} and that the server is running)") from None
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    """The driver's message on one line (libpq adds a hint on a second line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # 'connection failed: connection to server at "h", port p failed: FATAL:  <reason>'
    return lines[0].rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()
