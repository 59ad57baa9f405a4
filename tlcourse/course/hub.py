"""The course on JupyterHub, on one machine for a trial: what `tlcourse hub` and
`make hub` start, and what tests/test_hub.py drives.

``HubSettings`` says where the hub keeps its state (its database, the students'
homes, the shared exchange), which course directory the formgrader serves, who
the students and instructors are and on which ports it listens (127.0.0.1 unless
told otherwise).  ``prepare`` makes the folders and the trial's shared passwords,
``command``/``environment`` are the ``jupyterhub`` process that reads
deploy/jupyterhub/jupyterhub_config.py.  JupyterHub's proxy comes from npm,
pinned in deploy/jupyterhub/package-lock.json (``ensure_proxy``).
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "jupyterhub"
CONFIG = DEPLOY / "jupyterhub_config.py"
PROXY = DEPLOY / "node_modules" / ".bin" / "configurable-http-proxy"
COURSE_ID = "tlcourse"


class HubError(RuntimeError):
    """The hub cannot be started; the message says why and what to do."""


@dataclasses.dataclass
class HubSettings:
    state: Path = ROOT / "hub-state"
    course: Path = ROOT
    students: tuple = ("student1", "student2")
    instructors: tuple = ("instructor",)
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    formgrader_port: int = 8082

    @property
    def exchange(self) -> Path:
        return self.state / "exchange"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.ip in ("", "0.0.0.0") else self.ip
        return f"http://{host}:{self.port}"


def ensure_proxy() -> Path:
    """configurable-http-proxy from deploy/jupyterhub/package-lock.json (``npm ci`` once)."""
    if PROXY.exists():
        return PROXY
    npm = shutil.which("npm")
    if npm is None:
        raise HubError("JupyterHub's proxy needs Node.js and npm (Debian: "
                       "`apt-get install nodejs npm`), then run `tlcourse hub` again")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", str(DEPLOY)],
                          capture_output=True, text=True)
    if done.returncode or not PROXY.exists():
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise HubError(f"`npm ci` in {DEPLOY} could not install configurable-http-proxy: {tail}")
    return PROXY


def passwords(state: Path) -> dict:
    """The trial's shared passwords (students, instructors), made once and kept in
    ``state/passwords`` (readable by its owner only)."""
    path = state / "passwords"
    if path.exists():
        return dict(line.split("=", 1) for line in path.read_text().split())
    made = {"TLCOURSE_HUB_PASSWORD": secrets.token_urlsafe(12),
            "TLCOURSE_HUB_ADMIN_PASSWORD": secrets.token_urlsafe(32)}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{k}={v}\n" for k, v in made.items()))
    os.replace(tmp, path)
    return made


def prepare(settings: HubSettings) -> dict:
    """Make the state folder and the shared exchange; return the hub's environment."""
    settings.state.mkdir(parents=True, exist_ok=True)
    settings.exchange.mkdir(exist_ok=True)
    # every user writes into the exchange, nobody removes another's files (as /tmp)
    os.chmod(settings.exchange, 0o1777)
    return environment(settings, passwords(settings.state))


def environment(settings: HubSettings, secrets_: dict) -> dict:
    """The variables deploy/jupyterhub/jupyterhub_config.py reads, over this process's."""
    env = dict(os.environ, **secrets_)
    env.update(TLCOURSE_HUB_STATE=str(settings.state), TLCOURSE_COURSE_ROOT=str(settings.course),
               TLCOURSE_EXCHANGE=str(settings.exchange),
               TLCOURSE_HUB_STUDENTS=",".join(settings.students),
               TLCOURSE_HUB_INSTRUCTORS=",".join(settings.instructors),
               TLCOURSE_HUB_IP=settings.ip, TLCOURSE_HUB_PORT=str(settings.port),
               TLCOURSE_HUB_API_PORT=str(settings.hub_port),
               TLCOURSE_HUB_PROXY_API_PORT=str(settings.proxy_api_port),
               TLCOURSE_HUB_FORMGRADER_PORT=str(settings.formgrader_port))
    # the servers, kernels and nbgrader the hub starts are this environment's
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def command() -> list[str]:
    """The ``jupyterhub`` command line (run it with cwd = the state folder)."""
    return [sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)]


def main(settings: HubSettings) -> None:
    """`tlcourse hub`: print how to log in, then become the hub (Ctrl+C stops it all)."""
    from tlcourse.course import gradebook

    ensure_proxy()
    env = prepare(settings)
    db = gradebook.url(settings.course)
    print(f"JupyterHub for {COURSE_ID} at {settings.url}/ (state: {settings.state})\n"
          f"  students    {', '.join(settings.students)}: password {env['TLCOURSE_HUB_PASSWORD']}\n"
          f"  instructors {', '.join(settings.instructors)}: password "
          f"{env['TLCOURSE_HUB_ADMIN_PASSWORD']}  (formgrader: {settings.url}/services/{COURSE_ID}/)\n"
          f"  exchange    {settings.exchange}\n"
          f"  gradebook   {gradebook.describe(db)}", flush=True)
    os.chdir(settings.state)
    args = command()
    os.execve(args[0], args, env)
