"""Where downloaded and generated files live.

One variable, ``TLCOURSE_CACHE``, moves everything; the default is the user's
cache directory.  Weights go where the frameworks' own loaders look:
``$TORCH_HOME/hub/checkpoints`` and ``$KERAS_HOME/models`` (both default to
folders inside our cache unless the user set them).  ``locked`` makes
concurrent fetches of one thing (two runs sharing a cache) wait for each other.

A class shares one cache filled once by ``tlcourse fetch`` and mounted
read-only.  What a user must still write (scan records of datasets scanned
later, feature files) goes to ``user_dir()``: ``$TLCOURSE_USER_CACHE``, else
the cache itself where this user may write, else the user's own cache
directory.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

import platformdirs

ENV_VAR = "TLCOURSE_CACHE"
USER_VAR = "TLCOURSE_USER_CACHE"


def cache_dir() -> Path:
    root = os.environ.get(ENV_VAR) or platformdirs.user_cache_dir("tlcourse")
    return Path(root).expanduser()


def _nearest_existing(folder: Path) -> Path:
    """``folder``, or the folder above it that exists: where it would be made."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def cannot_write(folder: Path) -> str | None:
    """Why this process may not create files in ``folder`` (made where missing),
    or None.  ``os.access`` also says no for a read-only mount, even to root."""
    folder = _nearest_existing(folder)
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is read-only (or not writable by this user)"
    return None


def is_writable(folder: Path) -> bool:
    return cannot_write(folder) is None


def fix_for(name: str) -> str:
    """What to do when ``name`` (``tlcourse fetch`` argument) is missing from a cache we cannot write."""
    return (f"Ask whoever fills the class cache to run `tlcourse fetch {name}` there, or set "
            f"{ENV_VAR} to a folder you can write to.")


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system that holds ``folder`` (or would, once made)."""
    return shutil.disk_usage(_nearest_existing(folder)).free


def is_out_of_space(exc: BaseException) -> bool:
    """A write refused for a full disk or quota (not a damaged file)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_room(folder: Path, needed: int | None, what: str) -> str | None:
    """One line when ``needed`` bytes do not fit in ``folder`` (None when they do;
    ``needed=None``: the disk is already full), naming the folder, the need and the free space."""
    free = free_bytes(folder)
    if needed is not None and needed <= free:
        return None
    need = "more than is free" if needed is None else f"{needed / 1e6:,.1f} MB needed"
    return (f"not enough space in {folder} to {what}: {need}, {free / 1e6:,.1f} MB free. "
            f"Free some space, or point {ENV_VAR} at a larger disk.")


def user_dir() -> Path:
    """Where this user's own files go (see the module docstring)."""
    if os.environ.get(USER_VAR):
        return Path(os.environ[USER_VAR]).expanduser()
    shared = cache_dir()
    return shared if is_writable(shared) else Path(platformdirs.user_cache_dir("tlcourse"))


def torch_home() -> Path:
    return Path(os.environ.get("TORCH_HOME") or cache_dir() / "torch").expanduser()


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or cache_dir() / "keras").expanduser()


def export_framework_homes() -> None:
    """Point torchvision and Keras at our cache (unless the user chose otherwise)."""
    os.environ.setdefault("TORCH_HOME", str(torch_home()))
    os.environ.setdefault("KERAS_HOME", str(keras_home()))


def current_umask() -> int:
    """The process's umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(dest: Path):
    """Yield a temporary path beside ``dest``; on success it replaces ``dest``.

    A crash or kill mid-write leaves only a ``.tmp-*`` file, never a partial
    file where a loader reads.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{dest.name}.", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():   # mkstemp makes it owner-only; give it the mode a plain open() would
            os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def locked(name: str, on_wait=None):
    """Hold the exclusive lock ``<cache>/locks/<name>.lock`` (``fcntl.flock``).

    Another process (or thread) asking for the same name waits here until this
    one is done; ``on_wait()`` is called first if it has to wait.  The kernel
    drops the lock when its holder dies, so a killed fetch never blocks the
    next one.  Lock files are left in place: deleting one while another
    process waits on it would let a third take a different lock.
    """
    path = cache_dir() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
