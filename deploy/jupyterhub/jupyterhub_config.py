"""JupyterHub for the course: students' own servers, the instructor's formgrader as a
hub-managed service, one shared nbgrader exchange, the course kernel.

Start it with ``tlcourse hub`` (or ``make hub``), which sets the TLCOURSE_HUB_*
variables below; deploy/jupyterhub/README.md maps each part to a multi-machine
hub (Zero to JupyterHub on Kubernetes).

Follows nbgrader's JupyterHub guide ("One Class, Multiple Graders"): students are
the hub group ``nbgrader-tlcourse``, instructors ``formgrade-tlcourse``; the
formgrader is a Jupyter server run by the hub as the service ``tlcourse`` (the
service name is the course id) in the course directory, and only that group may
open it.  As a trial on one machine every server runs as the hub's own OS user
(``SimpleLocalProcessSpawner``, homes under the state folder) and users log in
with a shared password (``SharedPasswordAuthenticator``).
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub

HERE = Path(__file__).resolve().parent
COURSE_ID = "tlcourse"
STATE = Path(os.environ.get("TLCOURSE_HUB_STATE", HERE.parents[1] / "hub-state")).resolve()
COURSE = Path(os.environ.get("TLCOURSE_COURSE_ROOT", HERE.parents[1])).resolve()
EXCHANGE = os.environ.get("TLCOURSE_EXCHANGE", str(STATE / "exchange"))
STUDENTS = [s for s in os.environ.get("TLCOURSE_HUB_STUDENTS", "student1,student2").split(",") if s]
INSTRUCTORS = [s for s in os.environ.get("TLCOURSE_HUB_INSTRUCTORS", "instructor").split(",") if s]
PORT = int(os.environ.get("TLCOURSE_HUB_PORT", "8000"))
# The hub, the proxy's API and the formgrader listen on loopback whatever the public IP.
HUB_PORT = int(os.environ.get("TLCOURSE_HUB_API_PORT", "8081"))
PROXY_API_PORT = int(os.environ.get("TLCOURSE_HUB_PROXY_API_PORT", "8001"))
FORMGRADER_PORT = int(os.environ.get("TLCOURSE_HUB_FORMGRADER_PORT", "8082"))
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# The course's Python environment: servers, kernels and nbgrader come from it.
ENV_BIN = str(Path(sys.executable).parent)

from tlcourse.course.lab import hub_server_switches  # noqa: E402 - the course's environment

# ---------------------------------------------------------------- the hub itself
c.JupyterHub.ip = os.environ.get("TLCOURSE_HUB_IP", "127.0.0.1")
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = HUB_PORT
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
# JupyterHub's default proxy, pinned in deploy/jupyterhub/package-lock.json (`tlcourse hub`
# runs `npm ci` there once); falls back to one on PATH.
proxy = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
if proxy.exists():
    c.ConfigurableHTTPProxy.command = [str(proxy)]
# Stop the proxy and every server with the hub: a trial leaves nothing running.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# ---------------------------------------------------------------- who may log in
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("TLCOURSE_HUB_PASSWORD")
c.SharedPasswordAuthenticator.admin_password = os.environ.get("TLCOURSE_HUB_ADMIN_PASSWORD")
c.Authenticator.allowed_users = set(STUDENTS) | set(INSTRUCTORS)
c.Authenticator.admin_users = set(INSTRUCTORS)

# nbgrader's group names: nbgrader-<course> for students, formgrade-<course> for graders.
c.JupyterHub.load_groups = {
    f"nbgrader-{COURSE_ID}": {"users": STUDENTS},
    f"formgrade-{COURSE_ID}": {"users": INSTRUCTORS},
}
c.JupyterHub.load_roles = [
    {"name": f"formgrade-{COURSE_ID}", "groups": [f"formgrade-{COURSE_ID}"],
     "scopes": [f"access:services!service={COURSE_ID}"]},
]

# ---------------------------------------------------------------- students' servers
c.JupyterHub.spawner_class = "simple"          # trial: one OS user, a home per hub user
c.SimpleLocalProcessSpawner.home_dir_template = str(STATE / "home" / "{username}")
c.Spawner.default_url = "/lab"
c.Spawner.cmd = [os.path.join(ENV_BIN, "jupyterhub-singleuser")]
# Every user's own server: the course's summarising Validate instead of nbgrader's, and no
# Formgrader or Course List (instructors grade in the formgrader service below; the lab
# plugins are off by etc/labconfig/page_config.json). The Assignment List stays: fetch, submit.
c.Spawner.args = (["--ServerApp.allow_root=True"] if AS_ROOT else []) + hub_server_switches()
c.Spawner.env_keep = ["PATH", "PYTHONPATH", "LANG", "LC_ALL", "VIRTUAL_ENV",
                      "TLCOURSE_CACHE", "TLCOURSE_PROFILE", "OMP_WAIT_POLICY"]
c.Spawner.environment = {
    # the hub-wide nbgrader settings (course id, exchange): deploy/jupyterhub/etc/
    "JUPYTER_CONFIG_PATH": str(HERE / "etc"),
    "TLCOURSE_EXCHANGE": EXCHANGE,
    "PATH": ENV_BIN + os.pathsep + os.environ.get("PATH", ""),
}
# Two CPU cores start a Jupyter server with the nbgrader and lab extensions slowly.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120


def name_the_student(spawner):
    """A student's server submits under their hub name (see etc/nbgrader_config.py)."""
    if any(g.name == f"nbgrader-{COURSE_ID}" for g in spawner.user.groups):
        spawner.environment = {**spawner.environment, "TLCOURSE_STUDENT_ID": spawner.user.name}


c.Spawner.pre_spawn_hook = name_the_student

# ---------------------------------------------------------------- the formgrader
# A Jupyter server in the course directory, run by the hub and reached at
# /services/tlcourse/; it reads the course's nbgrader_config.py (gradebook,
# source/, submitted/) and gets the gradebook's URL, which students never see.
c.JupyterHub.services = [{
    "name": COURSE_ID,
    "url": f"http://127.0.0.1:{FORMGRADER_PORT}",
    "command": [os.path.join(ENV_BIN, "jupyterhub-singleuser"),
                "--ServerApp.default_url=/formgrader"]
               + (["--ServerApp.allow_root=True"] if AS_ROOT else []),
    "cwd": str(COURSE),
    "environment": {
        "TLCOURSE_EXCHANGE": EXCHANGE,
        "PATH": ENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        **{k: os.environ[k] for k in ("PYTHONPATH", "TLCOURSE_GRADEBOOK_URL", "TLCOURSE_CACHE",
                                       "TLCOURSE_PROFILE", "OMP_WAIT_POLICY", "HOME")
           if k in os.environ},
    },
    "oauth_no_confirm": True,
}]
