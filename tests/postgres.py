"""A throw-away PostgreSQL server for tests: Debian's `postgresql` binaries, a data
folder in /tmp, 127.0.0.1 and a free port only, stopped by its process id.

PostgreSQL refuses to run as root; as root the server runs as the `postgres` user
that Debian's package creates.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = ("the gradebook tests need PostgreSQL's server: "
                "`apt-get install -y postgresql` (.ci/system-deps does)")
START_S = 60


def binaries() -> Path | None:
    """The folder with initdb and postgres (newest Debian version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, password: str, pid: int):
        self.port, self.password, self.pid = port, password, pid

    def url(self, database: str, user: str = "postgres", password: str | None = None) -> str:
        return (f"postgresql://{user}:{password or self.password}@127.0.0.1:{self.port}"
                f"/{database}")

    def create_database(self, name: str, owner: str, password: str) -> str:
        """A role and its database; returns the database's URL for that role."""
        import psycopg
        from psycopg import sql
        conn = psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                                password=self.password, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)))
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)))
        conn.close()
        return self.url(name, owner, password)


def _accepts_logins(port: int, password: str) -> bool:
    import psycopg
    try:
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", password=password,
                         dbname="postgres", connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


@contextlib.contextmanager
def server():
    """Start PostgreSQL on 127.0.0.1 and a free port; yield a ``Server``; stop it by pid."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    as_root = os.geteuid() == 0
    owner = pwd.getpwnam("postgres") if as_root else None
    run_as = dict(user=owner.pw_uid, group=owner.pw_gid, extra_groups=[]) if owner else {}
    folder = Path(tempfile.mkdtemp(prefix="tlcourse-pg-"))
    password = os.urandom(12).hex()
    (folder / "pw").write_text(password)
    if owner:
        for p in (folder, folder / "pw"):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    proc = None
    try:
        subprocess.run([bin_dir / "initdb", "-D", folder / "data", "-U", "postgres", "-E", "UTF8",
                        "--auth-host=scram-sha-256", "--auth-local=peer",
                        f"--pwfile={folder / 'pw'}"],
                       check=True, capture_output=True, timeout=120, **run_as)
        port = free_port()
        log = open(folder / "server.log", "w")
        if owner:
            os.chown(folder / "server.log", owner.pw_uid, owner.pw_gid)
        proc = subprocess.Popen([bin_dir / "postgres", "-D", folder / "data", "-h", "127.0.0.1",
                                 "-p", str(port), "-k", folder, "-c", "fsync=off"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                **run_as)
        deadline = time.monotonic() + START_S
        while not _accepts_logins(port, password):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start:\n"
                                   + (folder / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        yield Server(port, password, proc.pid)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)          # "fast" shutdown: ends every session
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
