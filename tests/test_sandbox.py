"""Hostile submissions against the grading sandbox (`tlcourse grade`, bubblewrap).

A tiny assignment in a temp course keeps this fast: two honest graded tasks
(2 + 3 points) around a free cell where each attacker puts one attack.  With
the sandbox every attack fails, the attacker keeps the 5 points its honest
cells earn, nothing outside its scratch space changes, and a well-behaved
student graded after it gets full marks.  The control run grades the same
attacks without the sandbox and shows they succeed there: the sandbox is what
stops them.  (The fork bomb and the 20 GB allocation are left out of the
control run: unsandboxed they would take the test machine down with them.)
"""
import ast
import hashlib
import os
import socket
import sqlite3
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from course import ROOT
from tlcourse.course import grade as grading
from tlcourse.course import sandbox

pytestmark = pytest.mark.grading

ASSIGNMENT = "tiny"
SECRET = "HIDDEN-TEST-SECRET-7431"
FULL = 5
LIMITS = sandbox.Limits(memory_bytes=2 << 30, processes=128, file_bytes=1 << 30)


def meta(grade_id, points=None, solution=False):
    m = {"grade": points is not None, "grade_id": grade_id, "locked": not solution,
         "solution": solution, "schema_version": 3}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def source_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    code = nbformat.v4.new_code_cell
    nb.cells = [
        code("### BEGIN SOLUTION\ndef add(a, b):\n    return a + b\n### END SOLUTION",
             metadata=meta("add", solution=True)),
        code("assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\n"
             f"assert add(-1, 1) == 0, '{SECRET}'\n### END HIDDEN TESTS",
             metadata=meta("test_add", points=2)),
        code("### BEGIN SOLUTION\npass\n### END SOLUTION", metadata=meta("free", solution=True)),
        code("### BEGIN SOLUTION\ndef mul(a, b):\n    return a * b\n### END SOLUTION",
             metadata=meta("mul", solution=True)),
        code("assert mul(2, 3) == 6\n### BEGIN HIDDEN TESTS\nassert mul(0, 5) == 0\n"
             "### END HIDDEN TESTS", metadata=meta("test_mul", points=3)),
    ]
    return nb


def report(name, attempt: str) -> str:
    """A cell that runs ``attempt`` and prints whether it worked."""
    body = "\n".join("    " + line for line in attempt.strip().splitlines())
    return (f"try:\n{body}\n    print('SUCCEEDED {name}')\n"
            f"except BaseException as exc:\n    print('BLOCKED {name}:', type(exc).__name__, exc)")


def attacks(course: Path, cache: Path, port: int) -> dict:
    """student -> code of the free cell."""
    nb = course / "source" / ASSIGNMENT / "Tiny.ipynb"
    return {
        "read_source": report("read_source", f"print(open({str(nb)!r}).read())"),
        "write_gradebook": report("write_gradebook", f"""
import sqlite3
db = sqlite3.connect({str(course / 'gradebook.db')!r})
db.execute('UPDATE grade SET extra_credit = 99')
db.commit()"""),
        "overwrite_other": report("overwrite_other", f"""
open({str(course / 'autograded' / 'aaa_victim' / ASSIGNMENT / 'Tiny.ipynb')!r}, 'w').write('{{}}')"""),
        "replace_cache": report("replace_cache", f"""
import os
open('/tmp/fake', 'wb').write(b'poisoned')
os.replace('/tmp/fake', {str(cache / 'features' / 'shared.npz')!r})"""),
        "replace_weights": report("replace_weights", f"""
print('read', open({str(cache / 'torch' / 'weights.pth')!r}, 'rb').read())
open({str(cache / 'torch' / 'weights.pth')!r}, 'wb').write(b'poisoned')"""),
        "network": report("network", f"""
import socket
socket.create_connection(('127.0.0.1', {port}), timeout=5).sendall(b'PWNED')"""),
        "fork_bomb": report("fork_bomb", """
import os, time
born = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)        # each child holds a process slot
            os._exit(0)
        born += 1
finally:
    print('processes started:', born)"""),
        # uncaught, as a real memory hog's error would be: the table notes it
        "memory_hog": "hog = bytearray(20 * 2**30)\nprint('SUCCEEDED memory_hog')",
    }


def digest_tree(path: Path) -> dict:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


class Listener:
    """A TCP server on 127.0.0.1 that records what connects; stopped when the test ends."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(100))
                except OSError:
                    self.received.append(b"")

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def make_cache(tmp: Path) -> Path:
    """A small shared cache: weights and a feature file the kernels may read, not change."""
    cache = tmp / "cache"
    (cache / "torch").mkdir(parents=True)
    (cache / "torch" / "weights.pth").write_bytes(b"real weights")
    (cache / "features").mkdir()
    (cache / "features" / "shared.npz").write_bytes(b"real features")
    return cache


def make_course(tmp: Path):
    """A temp course with the tiny assignment; returns it and the released notebook."""
    course = tmp / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(), course / "source" / ASSIGNMENT / "Tiny.ipynb")
    grading.make_course(ROOT, course, [ASSIGNMENT])
    return course, nbformat.read(course / "release" / ASSIGNMENT / "Tiny.ipynb", as_version=4)


def student_notebook(released, free_code: str, tmp: Path, name: str) -> Path:
    nb = nbformat.from_dict(released)
    answers = {"add": "def add(a, b):\n    return a + b", "mul": "def mul(a, b):\n    return a * b",
               "free": free_code}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            c.source = answers[gid]
    path = tmp / "work" / name / "Tiny.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def outputs(course: Path, student: str) -> str:
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "Tiny.ipynb", as_version=4)
    free = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "free")
    return "\n".join(o.get("text", "") + o.get("ename", "") + o.get("evalue", "")
                     for o in free.outputs)


def grade(tmp: Path, cache: Path, box, chosen: list[str]):
    """Grade victim, then the attackers, then a well-behaved student; hashes around the attackers."""
    course, released = make_course(tmp)
    listener = Listener()
    try:
        code = attacks(course, cache, listener.port)
        for name in ["aaa_victim", "zzz_honest"]:
            grading.submit(course, name, ASSIGNMENT, [student_notebook(released, "pass", tmp, name)])
        for name in chosen:
            grading.submit(course, name, ASSIGNMENT,
                           [student_notebook(released, code[name], tmp, name)])
        env = {"TLCOURSE_CACHE": str(cache)}
        kw = dict(cell_timeout=60, student_timeout=180, extra_env=env, sandbox=box)
        first = grading.grade_class(course, ASSIGNMENT, ["aaa_victim"], **kw)
        before = {"source": digest_tree(course / "source"), "cache": digest_tree(cache),
                  "victim": digest_tree(course / "autograded" / "aaa_victim"),
                  "submitted": digest_tree(course / "submitted")}
        results = grading.grade_class(course, ASSIGNMENT, chosen, **kw)
        after = {"source": digest_tree(course / "source"), "cache": digest_tree(cache),
                 "victim": digest_tree(course / "autograded" / "aaa_victim"),
                 "submitted": digest_tree(course / "submitted")}
        last = grading.grade_class(course, ASSIGNMENT, ["zzz_honest"], **kw)
    finally:
        listener.close()
    grading.print_table(first + results + last, sandbox=box.describe() if box else "sandbox: off")
    with sqlite3.connect(course / "gradebook.db") as db:
        extra = db.execute("SELECT count(*) FROM grade WHERE extra_credit = 99").fetchone()[0]
    return dict(course=course, cache=cache, results={r.student: r for r in first + results + last},
                before=before, after=after, received=listener.received, extra_credit_99=extra)


ALL = ["read_source", "write_gradebook", "overwrite_other", "replace_cache", "replace_weights",
       "network", "fork_bomb", "memory_hog"]


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandboxed")
    cache = make_cache(tmp)
    box = sandbox.Sandbox(cache, LIMITS)
    try:
        yield grade(tmp, cache, box, ALL)
    finally:
        box.close()


def test_every_attack_fails_and_honest_cells_still_count(sandboxed):
    results = sandboxed["results"]
    for name in ALL:
        text = outputs(sandboxed["course"], name)
        blocked = "MemoryError" if name == "memory_hog" else f"BLOCKED {name}"
        assert blocked in text and f"SUCCEEDED {name}" not in text, (name, text)
        # while the bomb's processes hold every slot, a cell that starts a thread fails
        # (documented); the kernel itself needs none (no history database), so the tasks
        # after the bomb, which start none, still count
        assert results[name].score == FULL, (name, results[name])
    assert SECRET not in outputs(sandboxed["course"], "read_source")
    # the shared cache is there to read, only not to change
    assert "read b'real weights'" in outputs(sandboxed["course"], "replace_weights")


def test_nothing_outside_the_scratch_space_changed(sandboxed):
    before, after = sandboxed["before"], sandboxed["after"]
    for part in ("source", "cache", "victim"):
        assert before[part] == after[part], part
    assert sandboxed["extra_credit_99"] == 0
    assert sandboxed["received"] == []
    victim = sandboxed["results"]["aaa_victim"]
    assert victim.score == FULL, victim


def test_limits_are_reported(sandboxed):
    results = sandboxed["results"]
    assert any("process limit reached" in n for n in results["fork_bomb"].notes), results["fork_bomb"]
    assert any("memory limit refused" in n for n in results["memory_hog"].notes), results["memory_hog"]
    assert all(r.status == "ok" for r in results.values()), results


def test_well_behaved_student_after_the_attacks_gets_full_marks(sandboxed):
    honest = sandboxed["results"]["zzz_honest"]
    assert honest.score == FULL and honest.status == "ok" and not honest.failed, honest


CONTROL = ["read_source", "write_gradebook", "overwrite_other", "replace_cache", "replace_weights",
           "network"]


def test_without_the_sandbox_the_attacks_succeed(tmp_path):
    run = grade(tmp_path, make_cache(tmp_path), None, CONTROL)
    for name in CONTROL:
        assert f"SUCCEEDED {name}" in outputs(run["course"], name), name
    assert SECRET in outputs(run["course"], "read_source")
    assert run["before"]["cache"] != run["after"]["cache"]
    assert run["before"]["victim"] != run["after"]["victim"]
    assert run["extra_credit_99"] > 0 and run["received"] == [b"PWNED"]


def test_missing_bwrap_is_an_error_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))          # no bwrap on it
    with pytest.raises(sandbox.SandboxError, match="apt-get install bubblewrap"):
        sandbox.Sandbox(tmp_path, LIMITS)


def test_grade_exits_1_without_bwrap_and_never_grades_unsandboxed(monkeypatch, tmp_path, capsys):
    course, released = make_course(tmp_path)
    grading.submit(course, "someone", ASSIGNMENT, [student_notebook(released, "pass", tmp_path, "s")])
    monkeypatch.chdir(course)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))   # the venv, but no bwrap
    assert grading.main(ASSIGNMENT, feedback=False) == 1
    assert "apt-get install bubblewrap" in capsys.readouterr().err
    assert not (course / "autograded").exists()


def test_sandbox_uses_ipc_and_hides_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    box = sandbox.Sandbox(make_cache(tmp_path), LIMITS)
    try:
        session = box.session()
        assert "--KernelManager.transport=ipc" in session.nbgrader_args()
        import json
        spec = json.loads((session.work / "spec.json").read_text())
        env = sandbox._kernel_env(box.cache)
        assert "AWS_SECRET_ACCESS_KEY" not in env
        args = sandbox.bwrap_args(sandbox.Spec(**spec), str(tmp_path), env)
        assert "--unshare-net" in args or "--unshare-all" in args
        assert os.fspath(ROOT / "source") not in args
    finally:
        box.close()


def test_watch_kills_processes_that_together_pass_the_memory_limit(tmp_path):
    """Each process stays under its own limit; together they pass the sandbox's."""
    import json
    import subprocess
    import time
    spec = sandbox.Spec(bwrap="", setpriv="", as_root=False, uid=0, gid=0,
                        limits={"memory_bytes": 300 << 20, "processes": 64, "file_bytes": 1 << 30},
                        readonly=[], cache="", cache_binds=[], scratch="", runtime="", devices=[],
                        report=str(tmp_path / "report.json"))
    hog = ("import os, time\nos.fork(); os.fork()\n"          # four processes
           "block = bytearray(120 << 20)\nblock[::4096] = b'x' * len(block[::4096])\ntime.sleep(60)")
    start = time.perf_counter()
    proc = subprocess.Popen(["sh", "-c", f"{sys.executable} -c \"$0\"", hog])
    sandbox.watch(proc, spec, interval=0.1)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["killed"] == "memory" and time.perf_counter() - start < 30, report
    notes = grading.sandbox_notes(report, [])
    assert any("killed at the memory limit" in n for n in notes), notes


CANARY = "CANARY-4e1d7b"
# the grader's secrets, and a variable under each prefix the kernel was once given whole
CANARY_VARS = ("TLCOURSE_HUB_PASSWORD", "TLCOURSE_HUB_ADMIN_PASSWORD", "JUPYTERHUB_API_TOKEN",
               "AWS_SECRET_ACCESS_KEY", "TLCOURSE_EXCHANGE", "TLCOURSE_CANARY", "OMP_CANARY",
               "MKL_CANARY", "OPENBLAS_CANARY", "KMP_CANARY", "TF_CANARY", "XLA_CANARY",
               "NVIDIA_CANARY")
# what the kernel's environment may hold besides KERNEL_VARS: the sandbox's own
# variables, and those ipykernel sets for itself
KERNEL_OWN = {"HOME", "TMPDIR", "TLCOURSE_CACHE", "PATH", "PYTHONPATH", "PWD", "TERM", "CLICOLOR",
              "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER", "MPLBACKEND",
              "PYDEVD_USE_FRAME_EVAL"}
SHOW_ENVIRONMENT = """
import os
import tlcourse
from tlcourse import profiles
print('PROFILE', tlcourse.get_profile().name, tlcourse.get_profile().grading)
print(open(profiles.find_course_root() / 'nbgrader_config.py').read())
print('KEYS', sorted(os.environ))
print(dict(os.environ))
for pid in ['self', '1', str(os.getppid())] + sorted(p for p in os.listdir('/proc') if p.isdigit()):
    try:
        print(pid, open(f'/proc/{pid}/environ', 'rb').read())
    except OSError as exc:
        print(pid, 'unreadable:', exc)
"""


def test_no_secret_of_the_grader_reaches_a_sandboxed_kernel(tmp_path, monkeypatch):
    """A submission prints its whole environment, and every process's it can read: none of
    the canaries set in the grader's environment is in its graded notebook or feedback."""
    course, released = make_course(tmp_path)
    # the gradebook where TLCOURSE_GRADEBOOK_URL says, a path holding the canary (as a
    # server's URL would hold its password); grading must still work
    book = tmp_path / f"db-{CANARY}" / "gradebook.db"
    book.parent.mkdir()
    (course / "gradebook.db").rename(book)
    monkeypatch.setenv("TLCOURSE_GRADEBOOK_URL", f"sqlite:///{book}")
    with open(course / "nbgrader_config.py", "a") as config:     # a URL written in the config
        config.write(f"# c.CourseDirectory.db_url = 'postgresql://grader:{CANARY}@db/x'\n")
    for name in CANARY_VARS:
        monkeypatch.setenv(name, f"{CANARY}-{name}")
    grading.submit(course, "spy", ASSIGNMENT,
                   [student_notebook(released, SHOW_ENVIRONMENT, tmp_path, "spy")])
    cache = make_cache(tmp_path)
    box = sandbox.Sandbox(cache, LIMITS)
    try:
        [result] = grading.grade_class(course, ASSIGNMENT, ["spy"], cell_timeout=60,
                                       extra_env={"TLCOURSE_CACHE": str(cache)}, sandbox=box)
    finally:
        box.close()
    assert result.score == FULL and result.status == "ok", result
    assert grading.generate_feedback(course, ASSIGNMENT).returncode == 0
    printed = outputs(course, "spy")
    assert "self b'" in printed and "HOME=/home/student" in printed, printed   # it read /proc
    # what a graded kernel needs did come in: nbgrader's flag, the course's grading profile
    assert "'NBGRADER_EXECUTION': 'autograde'" in printed, printed
    assert "PROFILE smoke True" in printed, printed
    [feedback] = grading.feedback_files(course, ASSIGNMENT, "spy")
    for path in (course / "autograded" / "spy" / ASSIGNMENT / "Tiny.ipynb", feedback):
        assert CANARY not in path.read_text(), path
    keys = next(line for line in printed.splitlines() if line.startswith("KEYS "))
    assert set(ast.literal_eval(keys[5:])) <= set(sandbox.KERNEL_VARS) | KERNEL_OWN, keys


def test_bwrap_shows_no_secret_to_a_kernel_with_the_graders_uid(tmp_path, monkeypatch):
    """Graded by a normal user, the kernel has bwrap's uid and may read /proc/1/environ
    (bwrap's): that holds no variable of the grader's either."""
    import json
    monkeypatch.setenv("TLCOURSE_HUB_PASSWORD", CANARY)
    box = sandbox.Sandbox(make_cache(tmp_path), LIMITS)
    box.as_root, box.uid, box.gid = False, os.getuid(), os.getgid()   # as a normal user's
    try:
        spec = sandbox.Spec(**json.loads((box.session().work / "spec.json").read_text()))
        folder = tmp_path / "notebook"
        folder.mkdir()
        proc = sandbox.start(spec, str(folder), ["sh", "-c", "cat /proc/1/environ > seen"])
        assert proc.wait(timeout=60) == 0
    finally:
        box.close()
    seen = (folder / "seen").read_bytes()
    assert CANARY.encode() not in seen, seen


@pytest.mark.parametrize("name", ["TLCOURSE_GRADEBOOK_URL", "TLCOURSE_HUB_PASSWORD",
                                  "JUPYTERHUB_API_TOKEN", "GITHUB_TOKEN", "DB_PASSWORD",
                                  "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY"])
def test_a_secret_added_to_the_kernel_variables_is_refused(tmp_path, name):
    with pytest.raises(sandbox.SandboxError, match=f"{name} look like secrets"):
        sandbox._kernel_env(tmp_path, (*sandbox.KERNEL_VARS, name))


def test_the_kernel_variables_hold_no_secret(tmp_path):
    assert sandbox._kernel_env(tmp_path)["TLCOURSE_CACHE"] == str(tmp_path)


def test_a_linked_folder_of_the_cache_is_shown_read_only(tmp_path):
    """A folder of the cache that is a link (a dataset on another disk; a benchmark's scratch
    cache) is there inside, read-only, like the rest; a link back into the cache is no loop."""
    cache = make_cache(tmp_path)
    disk = tmp_path / "disk" / "datasets"
    disk.mkdir(parents=True)
    (disk / "images.txt").write_text("real images")
    (disk / "back").symlink_to(cache, target_is_directory=True)
    (cache / "datasets").symlink_to(disk, target_is_directory=True)
    box = sandbox.Sandbox(cache, LIMITS)
    try:
        session = box.session()
        folder = tmp_path / "notebook"
        folder.mkdir()
        os.chown(folder, box.uid, box.gid)
        seen = cache / "datasets" / "images.txt"
        proc = sandbox.start(session.spec, str(folder),
                             ["sh", "-c", f"cat {seen} > seen; echo poisoned > {seen}"])
        assert proc.wait(timeout=60) != 0             # the write is refused
    finally:
        box.close()
    assert (folder / "seen").read_text() == "real images"
    assert (disk / "images.txt").read_text() == "real images"


def test_each_kernel_starts_with_the_font_lists_made_once(tmp_path):
    box = sandbox.Sandbox(make_cache(tmp_path), LIMITS)
    try:
        home = Path(box.session().spec.scratch) / "home"
        assert list(home.rglob("fontlist-*.json")), sorted(home.rglob("*"))
    finally:
        box.close()


def test_the_cache_takes_few_mounts_and_locks_are_the_kernels_own(tmp_path):
    """A data set's folder is one mount; a folder with stamps keeps writable copies of them;
    the lock files are not shown: the kernel locks (on a miss) in a locks folder of its own."""
    cache = make_cache(tmp_path)
    images, stamped = cache / "datasets" / "pets" / "images", cache / "photos"
    for folder in (images, stamped):
        folder.mkdir(parents=True)
        for i in range(sandbox.WHOLE_DIR_FILES + 1):
            (folder / f"{i}.jpg").write_bytes(b"jpeg")
    (stamped / ".0.jpg.ok").write_text("verified")
    (cache / "locks").mkdir()
    (cache / "locks" / "dataset-pets.lock").touch()
    binds = sandbox._cache_binds(cache, os.getuid())
    assert ["tree", str(images)] in binds
    assert ["file", str(stamped / "0.jpg")] in binds and ["copy", str(stamped / ".0.jpg.ok")] in binds
    assert ["dir", str(cache / "locks")] in binds
    assert not [path for _, path in binds if path.startswith(f"{cache / 'locks'}/")]
    box = sandbox.Sandbox(cache, LIMITS)
    try:
        session = box.session()
        folder = tmp_path / "notebook"
        folder.mkdir()
        os.chown(folder, box.uid, box.gid)
        lock = "from tlcourse import cache\nwith cache.locked('dataset-pets'):\n    print('locked')"
        proc = sandbox.start(session.spec, str(folder), ["sh", "-c", f'python -c "{lock}" > seen'])
        assert proc.wait(timeout=60) == 0
    finally:
        box.close()
    assert (folder / "seen").read_text() == "locked\n"
