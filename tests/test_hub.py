"""The course on a real JupyterHub with a PostgreSQL gradebook, end to end.

Everything listens on 127.0.0.1 and is stopped by process id afterwards: a
throw-away PostgreSQL server (tests/postgres.py) holds the gradebook; the hub is
the one `tlcourse hub` starts (deploy/jupyterhub/jupyterhub_config.py, its pinned
proxy) with two students and one instructor, logged in through the hub's login
page with the trial's shared passwords.  The instructor releases the tiny
assignment through the formgrader service, both students fetch it through their
own servers (nbgrader's assignment-list API behind the hub), one submits the
solution and one the untouched notebook, the instructor collects through the
formgrader and grades with `tlcourse grade --workers 2` into PostgreSQL: full
marks and zero, feedback written, the formgrader shows the same scores.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

import postgres
from course import ROOT
from tlcourse.course import hub, lab, tiny, validate

pytestmark = pytest.mark.grading

START_S = 180          # a Jupyter server with lab + nbgrader on a busy 2-core machine
COURSE_ID = hub.COURSE_ID


# ---------------------------------------------------------------- quick checks

def tlcourse(*args, cwd=ROOT, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "tlcourse.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, says", [
    (["--port", "70000"], "--port 70000"),
    (["--ip", "localhost:80"], "--ip 'localhost:80'"),
    (["--students", "Alice"], "'Alice' is not a user name"),
    (["--students", ","], "names nobody"),
    (["--students", "ann", "--instructors", "ann"], "ann cannot be both"),
])
def test_hub_bad_arguments_are_one_line_exit_2(args, says, capsys):
    from tlcourse.cli import main
    assert main(["hub", *args]) == 2      # checked before anything is installed or started
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_hub_config_is_loopback_with_course_groups_and_formgrader_service(tmp_path):
    """The configuration `tlcourse hub` gives JupyterHub, read the way JupyterHub reads it."""
    from traitlets.config import PyFileConfigLoader
    settings = hub.HubSettings(state=tmp_path, students=("ann", "ben"), instructors=("tea",))
    env = hub.environment(settings, {"TLCOURSE_HUB_PASSWORD": "p" * 8,
                                     "TLCOURSE_HUB_ADMIN_PASSWORD": "a" * 32})
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        cfg = PyFileConfigLoader(hub.CONFIG.name, str(hub.CONFIG.parent)).load_config()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert cfg.JupyterHub.ip == "127.0.0.1" and cfg.JupyterHub.hub_ip == "127.0.0.1"
    assert cfg.JupyterHub.load_groups == {f"nbgrader-{COURSE_ID}": {"users": ["ann", "ben"]},
                                          f"formgrade-{COURSE_ID}": {"users": ["tea"]}}
    [service] = cfg.JupyterHub.services
    assert service["name"] == COURSE_ID and service["cwd"] == str(ROOT)
    assert service["url"].startswith("http://127.0.0.1:")
    [role] = cfg.JupyterHub.load_roles
    assert role["groups"] == [f"formgrade-{COURSE_ID}"]
    assert role["scopes"] == [f"access:services!service={COURSE_ID}"]
    assert cfg.Spawner.environment["TLCOURSE_EXCHANGE"] == str(tmp_path / "exchange")
    # the gradebook's URL (and its password) goes to the formgrader only, never to students
    assert "TLCOURSE_GRADEBOOK_URL" not in cfg.Spawner.env_keep
    assert "TLCOURSE_GRADEBOOK_URL" not in cfg.Spawner.environment
    # every user's own server: the summarising Validate, no Formgrader nor Course List
    assert cfg.Spawner.args[-len(lab.hub_server_switches()):] == lab.hub_server_switches()
    assert f"--ServerApp.jpserver_extensions={validate.EXTENSION}=True" in cfg.Spawner.args
    assert "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=False" \
        in cfg.Spawner.args
    page = json.loads((hub.CONFIG.parent / "etc" / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == set(lab.HUB_OFF_PLUGINS)
    assert all(page["disabledExtensions"].values())


def test_trial_passwords_are_made_once_and_private(tmp_path):
    first = hub.passwords(tmp_path)
    assert hub.passwords(tmp_path) == first
    assert len(first["TLCOURSE_HUB_ADMIN_PASSWORD"]) >= 32
    assert (tmp_path / "passwords").stat().st_mode & 0o077 == 0


# ---------------------------------------------------------------- the real hub

def free_port() -> int:
    return postgres.free_port()


def stop_by_pid(pids: list[int], timeout: float = 30) -> None:
    """SIGTERM each process still alive, SIGKILL what is left after ``timeout``."""
    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            p.terminate()
            alive.append(p)
        except psutil.NoSuchProcess:
            pass
    _, left = psutil.wait_procs(alive, timeout=timeout)
    for p in left:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(scope="module")
def database():
    with postgres.server() as server:
        yield server.create_database("gradebook", "grader", "grader-secret-7")


@pytest.fixture(scope="module")
def class_course(tmp_path_factory) -> Path:
    """A course directory with the course's nbgrader_config.py and the tiny assignment."""
    course = tmp_path_factory.mktemp("hub") / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    tiny.write_source(course)
    return course


@pytest.fixture(scope="module")
def running_hub(class_course, database, tmp_path_factory):
    """JupyterHub with alice and bob (students) and teacher; yields (settings, environment)."""
    import requests
    hub.ensure_proxy()
    settings = hub.HubSettings(state=tmp_path_factory.mktemp("hubstate"), course=class_course,
                               students=("alice", "bob"), instructors=("teacher",),
                               port=free_port(), hub_port=free_port(),
                               proxy_api_port=free_port(), formgrader_port=free_port())
    env = hub.prepare(settings)
    env["TLCOURSE_GRADEBOOK_URL"] = database
    log = open(settings.state / "hub.log", "w")
    proc = subprocess.Popen(hub.command(), cwd=settings.state, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                if requests.get(f"{settings.url}/hub/api", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, \
                "the hub did not start:\n" + (settings.state / "hub.log").read_text()[-3000:]
            time.sleep(1)
        yield settings, env
    finally:
        family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)] \
            if proc.poll() is None else []
        stop_by_pid([proc.pid], timeout=60)    # the hub stops its servers and proxy itself
        stop_by_pid(family)                   # whatever it left behind, by pid
        log.close()
        print((settings.state / "hub.log").read_text()[-4000:])


class HubUser:
    """One person using the hub: logs in with the shared password, gets an API token."""

    def __init__(self, settings, name: str, password: str):
        import requests
        self.base, self.name = settings.url, name
        session = requests.Session()
        session.get(f"{self.base}/hub/login", timeout=30)
        r = session.post(f"{self.base}/hub/login", timeout=60, data={
            "username": name, "password": password, "_xsrf": session.cookies["_xsrf"]})
        assert r.ok and "/hub/login" not in r.url, f"{name} could not log in: {r.status_code}"
        r = session.post(f"{self.base}/hub/api/users/{name}/tokens", timeout=30,
                         headers={"X-XSRFToken": session.cookies["_xsrf"]},
                         json={"note": "test_hub", "expires_in": 3600})
        assert r.status_code == 201, r.text
        self.headers = {"Authorization": f"token {r.json()['token']}"}

    def request(self, method: str, path: str, **kw):
        import requests
        kw.setdefault("timeout", 120)
        return requests.request(method, f"{self.base}{path}", headers=self.headers, **kw)

    def start_server(self):
        # logging in through the page already asked the hub to start it
        r = self.request("POST", f"/hub/api/users/{self.name}/server")
        assert r.status_code in (201, 202) or "is already running" in r.text, r.text
        deadline = time.monotonic() + START_S
        while not self.request("GET", f"/hub/api/users/{self.name}").json() \
                .get("servers", {}).get("", {}).get("ready"):
            assert time.monotonic() < deadline, f"{self.name}'s server did not start"
            time.sleep(1)

    def assignments(self, action: str | None = None) -> list:
        path = f"/user/{self.name}/assignments" + (f"/{action}" if action else "")
        r = self.request("POST" if action else "GET", path,
                         params={"course_id": COURSE_ID, "assignment_id": tiny.ASSIGNMENT})
        answer = r.json() if r.ok else {}
        assert answer.get("success"), f"{path}: {r.status_code} {r.text[:1000]}"
        return answer["value"]

    def formgrader(self, method: str, api: str):
        return self.request(method, f"/services/{COURSE_ID}/formgrader/api/{api}", timeout=300)


def test_a_class_on_the_hub_graded_in_parallel_into_postgresql(running_hub, class_course,
                                                                database):
    settings, env = running_hub
    teacher = HubUser(settings, "teacher", env["TLCOURSE_HUB_ADMIN_PASSWORD"])
    alice = HubUser(settings, "alice", env["TLCOURSE_HUB_PASSWORD"])
    bob = HubUser(settings, "bob", env["TLCOURSE_HUB_PASSWORD"])

    # only the instructors' group reaches the formgrader service
    assert alice.formgrader("GET", "assignments").status_code == 403
    # the instructor generates and releases the assignment through the formgrader
    for step in ("assign", "release"):
        r = teacher.formgrader("POST", f"assignment/{tiny.ASSIGNMENT}/{step}")
        assert r.ok and r.json()["success"], f"{step}: {r.text[:1000]}"
    assert (settings.exchange / COURSE_ID / "outbound" / tiny.ASSIGNMENT / "Tiny.ipynb").is_file()

    # each student fetches it into their own server; alice solves it, bob hands it in as is
    for student in (alice, bob):
        student.start_server()
        assert [(a["assignment_id"], a["status"]) for a in student.assignments()] \
            == [(tiny.ASSIGNMENT, "released")]
        student.assignments("fetch")
    # a student's own server has no formgrader, and its Validate summarises (bob's untouched copy)
    assert alice.request("GET", "/user/alice/formgrader").status_code == 404
    r = bob.request("POST", "/user/bob/assignments/validate", timeout=300,
                    data={"path": f"{tiny.ASSIGNMENT}/{tiny.NOTEBOOK}.ipynb"})
    [report] = r.json()["value"]["failed"]
    assert report["source"] == ("0 of 2 checks pass; the 2 failing carry 3 of 3 points. "
                                "Hidden tests run when it is graded."), report
    home = settings.state / "home"
    fetched = home / "alice" / tiny.ASSIGNMENT / f"{tiny.NOTEBOOK}.ipynb"
    assert fetched.is_file() and (home / "bob" / tiny.ASSIGNMENT / f"{tiny.NOTEBOOK}.ipynb").is_file()
    contents = f"/user/alice/api/contents/{tiny.ASSIGNMENT}/{tiny.NOTEBOOK}.ipynb"
    nb = alice.request("GET", contents).json()["content"]
    [cell] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert "NotImplementedError" in "".join(cell["source"])
    cell["source"] = tiny.SOLUTION
    assert alice.request("PUT", contents, json={"type": "notebook", "content": nb}).ok
    for student in (alice, bob):
        student.assignments("submit")
    inbound = sorted(p.name.split("+")[0] for p in
                     (settings.exchange / COURSE_ID / "inbound").iterdir())
    assert inbound == ["alice", "bob"]

    # collect through the formgrader, grade two at a time into PostgreSQL
    r = teacher.formgrader("POST", f"assignment/{tiny.ASSIGNMENT}/collect")
    assert r.ok and r.json()["success"], r.text[:1000]
    # the tiny assignment needs no datasets: the sandboxed kernels get an empty cache
    cache = Path(tempfile.mkdtemp(prefix="tlcourse-hub-cache-"))
    cache.chmod(0o755)
    grade_env = dict(env, TLCOURSE_GRADEBOOK_URL=database, TLCOURSE_PROFILE="smoke",
                     TLCOURSE_CACHE=str(cache))
    try:
        done = tlcourse("grade", tiny.ASSIGNMENT, "--workers", "2", cwd=class_course,
                        env=grade_env, timeout=600)
    finally:
        shutil.rmtree(cache)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (class_course / "gradebook.db").exists(), "graded into SQLite, not PostgreSQL"

    from nbgrader.api import Gradebook
    with Gradebook(database) as gb:
        got = {s.student.id: s.score for s in gb.assignment_submissions(tiny.ASSIGNMENT)}
    assert got == {"alice": tiny.POINTS, "bob": 0.0}, done.stdout
    for student in ("alice", "bob"):
        assert (class_course / "feedback" / student / tiny.ASSIGNMENT
                / f"{tiny.NOTEBOOK}.html").is_file()
    # the formgrader (the same gradebook) shows the scores
    shown = {s["student"]: s["score"]
             for s in teacher.formgrader("GET", f"submissions/{tiny.ASSIGNMENT}").json()}
    assert shown == {"alice": tiny.POINTS, "bob": 0.0}
