"""A bubblewrap sandbox for each student's kernel while nbgrader grades it.

nbgrader (outside) reads the gradebook, runs the notebook through a kernel and
records the scores; only the kernel, where the student's code runs, is inside
``bwrap``.  ``prepare`` writes a kernel spec whose command is this module: the
launcher (outside) starts ``python -m ipykernel_launcher`` inside bwrap and
watches it.  What the kernel sees:

* the system's /usr, the Python installation, the ``tlcourse`` package and a
  few files of /etc, read-only;
* its own notebook folder (``autograded/<student>/<assignment>``), writable,
  and of the course's ``nbgrader_config.py`` only the grading profile's line;
* the shared cache at its usual path, read-only, inside a private writable
  scratch copy of its folders (new files such as features, and copies of the
  verification stamps the package rewrites, go to the scratch space, which is
  thrown away after the student);
* a private /tmp and home; no network but its own loopback (the grader talks
  to it over Unix sockets: ``KernelManager.transport = "ipc"``);
* not the course's source/, gradebook.db, other students' folders or the
  instructor's home;
* of the grader's environment, only the variables named in ``KERNEL_VARS``
  (never a secret: names that look like one are refused).

Limits: memory per process (RLIMIT_DATA) and for all processes together (the
launcher kills the sandbox past it), processes and threads (RLIMIT_NPROC,
counted per sandbox in its own user namespace; root's processes are exempt
from it, so as root the kernel runs as ``nobody``), size of a file written.
The launcher writes what it saw (peak processes and memory, a kill) to a
report that ``grade`` turns into notes in the table.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KERNEL_NAME = "tlcourse-sandbox"
NOBODY = 65534
# a folder with more files than this directly in it, none of them a stamp (a data set's
# images: the package writes a data set whole, never into it), is bound read-only as a
# whole instead of file by file: one mount instead of a hundred (each costs the kernel's
# start and end about 2 ms)
WHOLE_DIR_FILES = 64
INSIDE_HOME = "/home/student"
# The variables the kernel may see, by exact name: what the kernel side of the package,
# the frameworks and nbgrader's execution read.  Never a prefix: `tlcourse grade` runs with
# TLCOURSE_GRADEBOOK_URL (the database password), hub passwords and API tokens set, and
# whatever a submission prints goes back to its student as feedback.
KERNEL_VARS = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONHASHSEED", "MPLBACKEND",
               "NBGRADER_EXECUTION", "NBGRADER_VALIDATING",
               "TLCOURSE_PROFILE", "TLCOURSE_DEVICE", "TLCOURSE_URL_TIMEOUT",
               "TORCH_HOME", "KERAS_HOME", "CUDA_VISIBLE_DEVICES",
               "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY",
               "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_CPP_MIN_LOG_LEVEL",
               "TF_ENABLE_ONEDNN_OPTS", "TF_FORCE_GPU_ALLOW_GROWTH")
# names refused even when added to KERNEL_VARS by mistake
SECRET_NAME = re.compile(r"TOKEN|PASSW|SECRET|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_KEY|AUTH|"
                         r"GRADEBOOK|^JUPYTERHUB_|^TLCOURSE_HUB_", re.IGNORECASE)
ETC_FILES = ("passwd", "group", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
             "localtime", "hosts", "ssl", "ca-certificates", "fonts", "alternatives",
             "mime.types", "matplotlibrc")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/sys")


class SandboxError(RuntimeError):
    """The sandbox cannot be set up here; the message says why and what to do."""


@dataclasses.dataclass
class Limits:
    memory_bytes: int = 8 << 30     # per process and for the sandbox as a whole
    processes: int = 512            # processes and threads together
    file_bytes: int = 4 << 30       # largest file the kernel may write

    def describe(self) -> str:
        return (f"memory {self.memory_bytes / 2**30:.0f} GiB, {self.processes} processes, "
                f"files up to {self.file_bytes / 2**30:.0f} GiB, no network")


def default_limits() -> Limits:
    """Half the machine's memory, at most 16 GiB: a memory hog can't starve the grader."""
    import psutil
    return Limits(memory_bytes=min(psutil.virtual_memory().total // 2, 16 << 30))


def require_bwrap() -> str:
    """Path of ``bwrap``, checked to work here (user namespaces allowed)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxError("bubblewrap (bwrap) is not installed; the grading sandbox needs it: "
                           "sudo apt-get install bubblewrap  (or grade with --no-sandbox: every "
                           "submission then runs with your rights)")
    proc = subprocess.run([bwrap, "--unshare-all", "--ro-bind", "/", "/", "--", "true"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SandboxError(f"bwrap cannot create a sandbox here: {proc.stderr.strip()[:300]} "
                           "(user namespaces disabled? on Ubuntu 24.04: sudo sysctl "
                           "kernel.apparmor_restrict_unprivileged_userns=0)")
    return bwrap


def sandbox_ids() -> tuple[int, int]:
    """(uid, gid) the kernel runs as: ``nobody`` when grading as root (the kernel limits
    don't bind root), else the grader's own."""
    if os.geteuid() == 0:
        return NOBODY, NOBODY
    return os.getuid(), os.getgid()


@dataclasses.dataclass
class Spec:
    """What the launcher needs; written as JSON beside the kernel spec."""
    bwrap: str
    setpriv: str            # as root: drops the kernel to nobody
    as_root: bool
    uid: int
    gid: int
    limits: dict
    readonly: list          # host paths shown read-only at the same place
    cache: str              # the shared cache (TLCOURSE_CACHE)
    cache_binds: list       # [kind, path] under the cache: "dir"/"copy" in scratch, "file"/"tree" bound
    scratch: str            # private writable space: cache/, home/, tmp/
    runtime: str            # connection file and sockets
    devices: list           # GPU device nodes
    report: str


def _readonly_paths() -> list[str]:
    import tlcourse
    paths = [sys.base_prefix, sys.exec_prefix, sys.prefix,
             str(Path(tlcourse.__file__).resolve().parent)]
    paths += [p for p in SYSTEM_DIRS if os.path.exists(p)]
    paths += [f"/etc/{name}" for name in ETC_FILES if os.path.exists(f"/etc/{name}")]
    for var in ("TORCH_HOME", "KERAS_HOME"):     # only if chosen outside the cache
        if os.environ.get(var) and os.path.isdir(os.environ[var]):
            paths.append(os.environ[var])
    return sorted(set(paths))


def _cache_binds(cache: Path, uid: int) -> list[list[str]]:
    """How to show ``cache`` read-only inside a writable scratch copy of its folders.

    Raises SandboxError when the sandbox user could not read part of it."""
    binds, unreadable = [], []
    if not cache.is_dir():
        return binds
    other = uid != os.getuid()          # the kernel runs as nobody: "other" bits count

    def readable(path: Path, need: int) -> bool:
        return not other or (path.stat().st_mode & need) == need

    seen = set()
    # a linked folder (a dataset on another disk, a benchmark's scratch cache) is part of
    # the cache: followed, once; the links themselves would dangle inside
    for dirpath, dirnames, filenames in os.walk(cache, followlinks=True):
        here = Path(dirpath)
        if here.resolve() in seen:
            dirnames[:] = []
            continue
        seen.add(here.resolve())
        if not readable(here, 0o005):
            unreadable.append(here)
            dirnames[:] = []
            continue
        if (here != cache and len(filenames) > WHOLE_DIR_FILES
                and not any(name.startswith(".") for name in filenames)):
            binds.append(["tree", str(here)])
            dirnames[:] = []
            continue
        if here != cache:
            binds.append(["dir", str(here)])
        if here == cache / "locks":
            # lock files (``cache.locked``) order the writers of a cache; the kernel writes
            # to its scratch space alone: an empty locks folder of its own
            dirnames[:] = []
            continue
        for name in filenames:
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            if not readable(path, 0o004):
                unreadable.append(path)
                continue
            # hidden files are the package's verification stamps, rewritten on each check:
            # the kernel gets its own copy of them
            binds.append(["copy" if name.startswith(".") else "file", str(path)])
    if unreadable:
        shown = ", ".join(str(p) for p in unreadable[:3])
        more = f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
        raise SandboxError(f"the sandboxed kernel runs as 'nobody' and cannot read {shown}{more} "
                           f"in the cache; fix: chmod -R a+rX {cache}  (or grade as a non-root "
                           "user, whose kernel keeps your read rights)")
    return binds


def _refuse_secrets(names) -> None:
    secret = [name for name in names if SECRET_NAME.search(name)]
    if secret:
        raise SandboxError(f"{', '.join(secret)} look like secrets: the grading sandbox never "
                           "passes such variables to a student's kernel (remove them from "
                           "KERNEL_VARS)")


def _kernel_env(cache: Path, names=KERNEL_VARS) -> dict:
    """The kernel's whole environment: ``names`` from this process's, and where things are.
    Made by the launcher, whose environment is the one nbgrader gives a kernel
    (NBGRADER_EXECUTION is set there, not in the grader that wrote the spec)."""
    import tlcourse
    _refuse_secrets(names)
    env = {name: os.environ[name] for name in names if name in os.environ}
    env.update(HOME=INSIDE_HOME, TMPDIR="/tmp", TLCOURSE_CACHE=str(cache),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                     "/usr/bin", "/bin"]),
               PYTHONPATH=str(Path(tlcourse.__file__).resolve().parent.parent))
    return env


class Sandbox:
    """The sandbox for one grading run: checked and described once, then a ``Session``
    (private scratch space, kernel spec) per student under one work folder."""

    def __init__(self, cache: Path, limits: Limits | None = None):
        self.bwrap = require_bwrap()
        _refuse_secrets(KERNEL_VARS)           # before any student, not at each kernel's start
        self.limits = limits or default_limits()
        self.uid, self.gid = sandbox_ids()
        self.as_root = os.geteuid() == 0
        self.cache = Path(cache)
        self.cache_binds = _cache_binds(self.cache, self.uid)
        self.work = Path(tempfile.mkdtemp(prefix="tlcourse-sandbox-"))
        self.home = None                       # the session that prepares it starts empty
        self.home = self._prepare_home()

    def _prepare_home(self) -> Path:
        """A home with the font lists matplotlib and fontconfig would otherwise build at each
        kernel's first plot (0.3 s here, seconds where many fonts are installed): made once,
        in the sandbox, so that they list what a kernel sees there; each student gets a copy."""
        session = self.session()
        try:
            code = start(session.spec, session.spec.runtime,
                         [sys.executable, "-c", "import matplotlib.font_manager"]).wait(timeout=120)
            if code != 0:
                raise SandboxError(f"Python in the sandbox failed (exit {code}; its error is "
                                   "above): no kernel could start there")
            return Path(shutil.move(session.work / "scratch" / "home", self.work / "home"))
        finally:
            session.close()

    def describe(self) -> str:
        user = "nobody" if self.as_root else "your user"
        return f"sandbox: on (bubblewrap, as {user}; {self.limits.describe()})"

    def session(self) -> "Session":
        return Session(self)

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


class Session:
    """One student's sandbox: a kernel spec for nbgrader and the scratch space it uses.

    ``nbgrader_args()`` and ``env()`` select it for one ``nbgrader autograde`` run;
    ``report()`` reads what the launcher saw; ``close()`` removes the scratch space."""

    def __init__(self, box: Sandbox):
        self.work = Path(tempfile.mkdtemp(prefix="student-", dir=box.work))
        for sub in ("runtime", "scratch/cache", "scratch/tmp"):
            (self.work / sub).mkdir(parents=True)
        if box.home:
            shutil.copytree(box.home, self.work / "scratch" / "home", symlinks=True)
        else:
            (self.work / "scratch" / "home").mkdir()
        self.spec = spec = Spec(
            bwrap=box.bwrap, setpriv=shutil.which("setpriv") or "setpriv", as_root=box.as_root,
            uid=box.uid, gid=box.gid, limits=dataclasses.asdict(box.limits),
            readonly=_readonly_paths(), cache=str(box.cache), cache_binds=box.cache_binds,
            scratch=str(self.work / "scratch"), runtime=str(self.work / "runtime"),
            devices=sorted(str(p) for p in Path("/dev").glob("nvidia*")),
            report=str(self.work / "report.json"))
        spec_path = self.work / "spec.json"
        spec_path.write_text(json.dumps(dataclasses.asdict(spec), indent=1))
        kernel_dir = self.work / "jupyter" / "kernels" / KERNEL_NAME
        kernel_dir.mkdir(parents=True)
        (kernel_dir / "kernel.json").write_text(json.dumps({
            # no history database: the kernel would make one in its fresh home at each start
            "argv": [sys.executable, "-m", "tlcourse.course.sandbox", "--spec", str(spec_path),
                     "--", "-f", "{connection_file}", "--HistoryManager.hist_file=:memory:"],
            "display_name": "Python 3 (tlcourse grading sandbox)",
            "language": "python",
            # a SIGINT to the launcher's process group would end bwrap, and the kernel with it
            "interrupt_mode": "message",
        }))
        for kind, path in box.cache_binds:    # the shared cache's folders and stamps, writable copies
            mine = self.work / "scratch" / "cache" / Path(path).relative_to(box.cache)
            if kind == "dir":
                mine.mkdir()
            elif kind == "copy":
                shutil.copy2(path, mine)
        for path in (self.work / "runtime", *(self.work / "scratch").rglob("*")):
            os.chown(path, box.uid, box.gid)
        os.chown(self.work / "scratch", box.uid, box.gid)

    def nbgrader_args(self) -> list[str]:
        return [f"--Execute.kernel_name={KERNEL_NAME}", "--KernelManager.transport=ipc",
                f"--KernelManager.ip={self.work / 'runtime' / 'kernel'}"]

    def env(self) -> dict:
        return {"JUPYTER_PATH": str(self.work / "jupyter"),
                "JUPYTER_RUNTIME_DIR": str(self.work / "runtime")}

    def report(self) -> dict:
        try:
            return json.loads((self.work / "report.json").read_text())
        except (OSError, ValueError):
            return {}

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def give_back(folder: Path) -> None:
    """Files the kernel (as nobody) made or was given in ``folder`` go back to the grader.
    Links are not followed: a student's symlink can't redirect it."""
    if os.geteuid() != 0 or not folder.exists():
        return
    uid, gid = os.getuid(), os.getgid()
    os.lchown(folder, uid, gid)
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


# --------------------------------------------------------------------------
# the launcher: runs outside, as the kernel command of the kernel spec
# --------------------------------------------------------------------------
def bwrap_args(spec: Spec, cwd: str, env: dict, shown: dict | None = None) -> list[str]:
    """bwrap's arguments (without the command) for a kernel whose notebook folder is ``cwd``,
    with the environment ``env`` and the files ``shown`` (path inside -> file outside)."""
    shown = shown or {}
    scratch = Path(spec.scratch)
    if spec.as_root:   # bwrap mounts as root; setpriv (the command's prefix) drops to nobody
        args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:              # in a user namespace of its own, where RLIMIT_NPROC counts its tasks
        args = ["--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(spec.uid),
                "--gid", str(spec.gid)]
    # /tmp and home first: the binds after them may lie below /tmp (a course in /tmp)
    args += ["--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev",
            "--bind", str(scratch / "tmp"), "/tmp", "--perms", "0755", "--dir", str(Path(INSIDE_HOME).parent),
            "--bind", str(scratch / "home"), INSIDE_HOME]
    # bwrap makes the folders leading to a bind owner-only: the kernel could not pass them
    places = [*spec.readonly, *spec.devices, spec.cache, spec.runtime, cwd, *shown]
    for parent in sorted({str(p) for place in places for p in Path(place).parents} - {"/"}):
        args += ["--perms", "0755", "--dir", parent]
    for path in spec.readonly:
        args += ["--ro-bind", path, path]
    for dev in spec.devices:
        args += ["--dev-bind", dev, dev]
    args += ["--bind", str(scratch / "cache"), spec.cache]
    for kind, path in spec.cache_binds:
        if kind in ("file", "tree"):      # folders and stamps are already in the scratch copy
            args += ["--ro-bind", path, path]
    args += ["--bind", spec.runtime, spec.runtime, "--bind", cwd, cwd, "--chdir", cwd]
    for inside, outside in shown.items():
        args += ["--ro-bind", outside, inside]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args


def _set_limits(spec: Spec) -> None:
    """In the child, before exec: bwrap and the kernel inherit them (root ignores
    RLIMIT_NPROC, so it counts from the switch to nobody)."""
    import resource
    limits = spec.limits
    resource.setrlimit(resource.RLIMIT_DATA, (limits["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _write_report(path: str, report: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(report, f)
    os.replace(tmp, path)


def _pss(proc) -> int:
    """Proportional set size (shared pages split between the processes sharing them),
    or the resident size where it can't be read."""
    try:
        with open(f"/proc/{proc.pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return proc.memory_info().rss
    except Exception:    # gone meanwhile
        return 0


def watch(proc: subprocess.Popen, spec: Spec, interval: float = 0.25) -> int:
    """Wait for the sandbox, recording peak processes and memory; past the memory limit
    for the whole sandbox, kill it.  Returns its exit status."""
    import psutil
    report = {"peak_processes": 0, "peak_memory": 0, "killed": None,
              "limits": spec.limits}
    limit = spec.limits["memory_bytes"]
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        tasks = memory = 0
        try:
            family = root.children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for p in family:
            try:
                tasks += p.num_threads()
                memory += p.memory_info().rss
            except psutil.Error:
                pass
        if memory > limit:   # RSS counts pages forked processes share once each: use PSS
            memory = sum(_pss(p) for p in family)
        if tasks > report["peak_processes"] or memory > report["peak_memory"]:
            report["peak_processes"] = max(tasks, report["peak_processes"])
            report["peak_memory"] = max(memory, report["peak_memory"])
            _write_report(spec.report, report)
        if memory > limit:
            report["killed"] = "memory"
            _write_report(spec.report, report)
            for p in [root, *family]:   # bwrap's pid namespace would end them too
                try:
                    p.kill()
                except psutil.Error:
                    pass
            break
        time.sleep(interval)
    return proc.wait()


def launch(spec_path: str, kernel_args: list[str]) -> int:
    """Start ipykernel inside bwrap with ``kernel_args`` (``-f CONNECTION_FILE …``)."""
    spec = Spec(**json.loads(Path(spec_path).read_text()))
    cwd = os.getcwd()
    # the connection file may lie anywhere (nbclient: in /tmp): a copy where the kernel sees it
    at = kernel_args.index("-f") + 1
    connection = Path(spec.runtime) / Path(kernel_args[at]).name
    shutil.copyfile(kernel_args[at], connection)
    os.chmod(connection, 0o600)
    os.chown(connection, spec.uid, spec.gid)
    kernel_args = [*kernel_args[:at], str(connection), *kernel_args[at + 1:]]
    if os.geteuid() == 0:        # the kernel, as nobody, writes in its notebook folder
        for dirpath, dirnames, filenames in os.walk(cwd):
            for name in [".", *dirnames, *filenames]:
                os.lchown(os.path.join(dirpath, name), spec.uid, spec.gid)
    # the grader's interrupts go to the kernel as messages; this process only watches
    signal.signal(signal.SIGINT, lambda *_: None)
    return watch(start(spec, cwd, [sys.executable, "-m", "ipykernel_launcher", *kernel_args]),
                 spec)


def _course_config(spec: Spec, cwd: str) -> dict:
    """The course's nbgrader_config.py as the kernel sees it: only the grading profile's line
    and the edition's language (the kernel reads them while grading; the real file may hold
    the gradebook's URL)."""
    from tlcourse import messages, profiles
    course = profiles.find_course_root(Path(cwd))
    if course is None:
        return {}
    line = Path(spec.scratch) / profiles.COURSE_CONFIG
    text = f"{profiles.GRADING_KEY} = {profiles.grading_profile(course)[0]!r}\n"
    language = profiles.course_setting(course, messages.LANGUAGE_KEY)
    if language:
        text += f"{messages.LANGUAGE_KEY} = {language!r}\n"
    line.write_text(text)
    return {str(course / profiles.COURSE_CONFIG): str(line)}


def start(spec: Spec, cwd: str, command: list[str]) -> subprocess.Popen:
    """Start ``command`` in the sandbox ``spec`` describes, in the folder ``cwd``."""
    args = bwrap_args(spec, cwd, _kernel_env(Path(spec.cache)), _course_config(spec, cwd))
    with tempfile.TemporaryFile(dir=spec.runtime) as argfile:
        argfile.write(b"\0".join(a.encode() for a in args) + b"\0")
        argfile.flush()
        argfile.seek(0)
        fd = argfile.fileno()
        become = ([spec.setpriv, f"--reuid={spec.uid}", f"--regid={spec.gid}", "--clear-groups",
                   "--inh-caps=-all"] if spec.as_root else [])
        # bwrap gets no environment of its own: inside, /proc/1/environ (bwrap's, readable
        # where the kernel has the grader's uid) would show the grader's; the kernel's
        # comes from --setenv alone
        return subprocess.Popen([spec.bwrap, "--args", str(fd), "--", *become, *command],
                                pass_fds=(fd,), env={}, preexec_fn=lambda: _set_limits(spec))


if __name__ == "__main__":
    # the kernel launcher the sandboxed kernelspec runs (not a user command)
    import argparse
    parser = argparse.ArgumentParser(prog="python -m tlcourse.course.sandbox",
                                     description="start a grading kernel inside bubblewrap")
    parser.add_argument("--spec", required=True, help="the sandbox's SPEC.json")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER,
                        help="ipykernel's arguments (-f CONNECTION_FILE ...)")
    args = parser.parse_args()
    kernel_args = args.kernel_args[1:] if args.kernel_args[:1] == ["--"] else args.kernel_args
    sys.exit(launch(args.spec, kernel_args))
