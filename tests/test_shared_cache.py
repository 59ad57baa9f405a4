"""A cache a whole class shares: filled once by `tlcourse fetch`, mounted read-only,
each student writing only to a small cache of their own (issue 30).

Read-only and full file systems are made for real: a read-only bind mount or a
small tmpfs inside a private mount namespace (``unshare -m``, or ``-rm`` when not
root), so the code meets EROFS and ENOSPC as it would on a hub.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course import ROOT
from tlcourse import assets, cache, datasets

UNSHARE = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]


def _namespaces_work() -> bool:
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_namespace = pytest.mark.skipif(not _namespaces_work(),
                                     reason="needs a private mount namespace (unshare -m)")


def read_only(path) -> str:
    q = shlex.quote(str(path))
    return f"mount --bind {q} {q} && mount -o remount,ro,bind {q}"


def in_namespace(setup: str, cmd: list[str], env: dict, timeout: int = 300):
    """Run ``cmd`` after the shell ``setup`` (mounts) in a private mount namespace."""
    script = f"{setup} && exec {shlex.join(cmd)}"
    return subprocess.run([*UNSHARE, "bash", "-c", script], env=env, cwd=env.get("CWD", ROOT),
                          capture_output=True, text=True, timeout=timeout)


def class_env(shared: Path, student: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "KERAS_HOME")}
    env.update(TLCOURSE_CACHE=str(shared), TLCOURSE_USER_CACHE=str(student),
               TLCOURSE_PROFILE="smoke")
    return env


def tlcourse(*args) -> list[str]:
    return [sys.executable, "-m", "tlcourse.cli", *args]


def snapshot(folder: Path) -> dict:
    """Every entry under ``folder`` with what any write would change."""
    return {str(p.relative_to(folder)): (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            for p in sorted(folder.rglob("*")) for st in [p.lstat()]}


@pytest.fixture(scope="module")
def class_cache(tmp_path_factory) -> Path:
    """What an instructor makes: the smoke assets copied in (as from another
    machine: stamps no longer match), then `tlcourse fetch` run on it."""
    shared = tmp_path_factory.mktemp("class") / "cache"
    names = assets.smoke_assets()
    sources = {n: assets.fetch(n, progress=False, log=lambda *_: None) for n in names}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOURSE_CACHE", str(shared))
        mp.delenv("TORCH_HOME", raising=False)
        mp.delenv("KERAS_HOME", raising=False)
        targets = {n: assets.get(n).path for n in names}
    for n in names:
        targets[n].parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(sources[n], targets[n])
        stamp = assets._stamp_path(sources[n])
        if stamp.is_file():      # a built file's stamp is its sha256: still valid
            shutil.copy2(stamp, assets._stamp_path(targets[n]))
    proc = subprocess.run(tlcourse("fetch"), env=class_env(shared, shared), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return shared


@needs_namespace
@pytest.mark.slow
def test_a_class_works_from_a_read_only_cache_filled_by_fetch(class_cache, tmp_path):
    student = tmp_path / "student-cache"
    env = class_env(class_cache, student)
    ro = read_only(class_cache)
    before = snapshot(class_cache)

    check = in_namespace(ro, tlcourse("fetch", "--check"), env)
    assert check.returncode == 0 and "(read-only)" in check.stdout, check.stdout + check.stderr
    for args in (["fetch", "--list"], ["fetch"]):
        proc = in_namespace(ro, tlcourse(*args), env)
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])

    chelsea = str(class_cache / "photos" / "chelsea.png")
    proc = in_namespace(ro, tlcourse("classify", chelsea, "-k", "1"), env)
    assert proc.returncode == 0 and "cat" in proc.stdout.lower(), proc.stderr

    load = ("from tlcourse import datasets; import tlcourse.torch as tlc\n"
            "data = datasets.oxford_pets('smoke', progress=False)\n"
            "base, prep = tlc.pretrained('mobilenet_v2', include_top=False)\n"
            "x, y = next(iter(tlc.make_loader(data.train, prep, train=True)))\n"
            "print('batch', tuple(x.shape), len(data.train))\n"
            "few = data.val.subset(1)\n"
            "tlc.extract_features(base, tlc.make_loader(few, prep, train=False),\n"
            "                     tlc.features_key('mobilenet_v2', few, prep))\n")
    proc = in_namespace(ro, [sys.executable, "-c", load], env)
    assert proc.returncode == 0 and "batch" in proc.stdout, proc.stderr[-3000:]

    # a student's copy of a smoke notebook, run in the student's own folder
    work = tmp_path / "work"
    work.mkdir()
    nb = shutil.copy(ROOT / "notebooks" / "pets_lab" / "OxfordPetsPyTorch.ipynb", work)
    run = ("from pathlib import Path; from tlcourse.course.run import execute_one; "
           f"execute_one(Path({str(nb)!r}), Path({str(work / 'out.ipynb')!r}), 600)")
    proc = in_namespace(ro, [sys.executable, "-c", run], env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]

    assert snapshot(class_cache) == before           # the class cache was never written
    assert list((student / "features").glob("*.npz"))  # the features went to the student's


def test_fetch_stamps_what_it_fetched(class_cache):
    """Stamps are written by `tlcourse fetch`, not on first use (which a
    read-only cache would refuse)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLCOURSE_CACHE", str(class_cache))
        mp.delenv("TORCH_HOME", raising=False)
        mp.delenv("KERAS_HOME", raising=False)
        unstamped = [n for n in assets.smoke_assets() if not assets.has_stamp(assets.get(n))]
        assert not unstamped
        assert all(datasets.not_ready(n, True) is None for n in datasets.DATASETS)


def test_fetch_check_writes_nothing_and_names_what_is_missing(class_cache, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(class_cache / "photos", partial / "photos")
    shutil.copytree(class_cache / "datasets", partial / "datasets")     # new ctimes: rescan
    before = snapshot(partial)
    proc = subprocess.run(tlcourse("fetch", "--check"), env=class_env(partial, partial),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    # a copied file is still good, but its stamp no longer vouches for it
    assert any(l.startswith("NOT OK") and "photo_chelsea" in l and "not stamped" in l
               for l in lines)
    assert any(l.startswith("NOT OK") and "mobilenet_v2_torch" in l and "missing" in l
               for l in lines)
    assert any(l.startswith("NOT OK") and "cats_dogs" in l and "out of date" in l
               for l in lines)
    assert snapshot(partial) == before


@needs_namespace
def test_missing_asset_in_a_read_only_cache_is_one_clear_error(class_cache, tmp_path):
    env = class_env(class_cache, tmp_path / "student")
    proc = in_namespace(read_only(class_cache), tlcourse("fetch", "vgg16_torch"), env)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "read-only" in proc.stdout and "tlcourse fetch vgg16_torch" in proc.stdout


@needs_namespace
def test_read_only_dataset_without_a_scan_record_scans_into_the_user_cache(class_cache, tmp_path):
    shared = tmp_path / "shared"
    shutil.copytree(class_cache / "datasets", shared / "datasets")
    (shared / "datasets" / "standin" / "cats_vs_dogs" / datasets.SCAN_FILE).unlink(missing_ok=True)
    student = tmp_path / "student"
    code = ("from tlcourse import datasets; "
            "d = datasets.cats_dogs('smoke', progress=False); print(len(d.scan_report.excluded))")
    for _ in range(2):     # the second load reads the student's record
        proc = in_namespace(read_only(shared), [sys.executable, "-c", code],
                            class_env(shared, student))
        assert proc.returncode == 0 and int(proc.stdout) > 0, proc.stderr[-2000:]
    assert (student / "scans" / "standin-cats_vs_dogs.json").is_file()


@pytest.mark.parametrize("value", ["file", "unwritable home"])
def test_unusable_cache_location_is_one_line(tmp_path, value):
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH_HOME", "KERAS_HOME")}
    if value == "file":
        (tmp_path / "a-file").write_text("x")
        env["TLCOURSE_CACHE"] = str(tmp_path / "a-file")
        cmd = tlcourse("fetch", "photo_chelsea")
    else:            # a service account: a HOME nothing can be made in, no TLCOURSE_CACHE
        # (a HOME below a file: unusable for root too, wherever the checkout lies; running
        # as nobody instead needs the checkout readable by everyone)
        (tmp_path / "a-file").write_text("x")
        env.pop("TLCOURSE_CACHE", None)
        env.pop("XDG_CACHE_HOME", None)
        env["HOME"] = str(tmp_path / "a-file" / "home")
        cmd = tlcourse("fetch", "photo_chelsea")
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out, out
    assert "TLCOURSE_CACHE" in out


# ---------------------------------------------------------------------------
# bookkeeping files are never trusted
# ---------------------------------------------------------------------------
def _tiny_dataset(root: Path) -> list[str]:
    from PIL import Image
    root.mkdir(parents=True)
    Image.new("RGB", (32, 32), (200, 10, 10)).save(root / "good.jpg")
    Image.new("L", (32, 32), 90).save(root / "gray.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    return ["good.jpg", "gray.jpg", "broken.jpg"]


@pytest.mark.parametrize("record", ["[]", "null", "other format", "list entry", "entry without ok",
                                    "non-UTF-8", "a directory"])
def test_a_damaged_scan_record_is_ignored_and_rebuilt(tmp_path, monkeypatch, record):
    monkeypatch.setenv("TLCOURSE_USER_CACHE", str(tmp_path / "user"))
    root = tmp_path / "data"
    rels = _tiny_dataset(root)
    memo = root / datasets.SCAN_FILE
    st = (root / "good.jpg").stat()
    key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    text = {"[]": "[]", "null": "null", "other format": '{"format": 2, "files": [["good.jpg"]]}',
            "list entry": '{"good.jpg": []}',
            "entry without ok": '{"good.jpg": {"key": "%s"}}' % key}.get(record)
    if record == "a directory":
        memo.mkdir()
    elif record == "non-UTF-8":
        memo.write_bytes(b'{"good.jpg": "\xff\xfe"}')
    else:
        memo.write_text(text)
    good, report = datasets.scan(root, rels, "tiny", False, progress=False)
    assert good == {"good.jpg", "gray.jpg"}
    assert [n.path for n in report.excluded] == ["broken.jpg"]
    again, _ = datasets.scan(root, rels, "tiny", False, progress=False)     # from the new record
    assert again == good
    if record != "a directory":
        assert set(datasets._read_scan_record(memo)) == set(rels)


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path))
    dest = datasets.dataset_root("cats_dogs", standin_data=True)
    stale = dest.parent / f".tmp-{dest.name}.k1ll3d"      # as mkdtemp names it
    (stale / "PetImages" / "Cat").mkdir(parents=True)
    (stale / "PetImages" / "Cat" / "1.jpg").write_bytes(b"half")
    monkeypatch.setattr(datasets.standin, "write_into", lambda d, writer: d.mkdir() or d)
    assert datasets.fetch("cats_dogs", use_standin=True, log=lambda *_: None) == dest
    assert not stale.exists()


# ---------------------------------------------------------------------------
# out of space: a small tmpfs in a private mount namespace
# ---------------------------------------------------------------------------
def small_disk(path: Path, size: str) -> str:
    q = shlex.quote(str(path))
    return f"mkdir -p {q} && mount -t tmpfs -o size={size} tmpfs {q}"


@pytest.fixture(scope="module")
def cats_dogs_zip(tmp_path_factory) -> Path:
    from tlcourse import standin
    out = tmp_path_factory.mktemp("archives")
    return Path(standin.build_archives(out, cats_dogs_per_class=12, pets_per_breed=1)["kagglecatsanddogs_5340.zip"])


EXTRACT = """
import os, sys
from pathlib import Path
from tlcourse import cache, datasets
if sys.argv[3] == "disk fills while extracting":     # the check passes; the disk fills anyway
    cache.free_bytes = lambda folder: 10 ** 12
archive, dest = Path(sys.argv[1]), Path(sys.argv[2])
try:
    datasets.extract_archives([archive], dest, progress=False, layout=datasets.LAYOUTS["cats_dogs"])
except datasets.DatasetError as exc:
    print("ERROR", exc)
print("LEFT", sorted(os.listdir(dest.parent)))
"""


@needs_namespace
@pytest.mark.parametrize("case", ["checked before extracting", "disk fills while extracting"])
def test_a_disk_too_small_to_extract_keeps_the_archive_and_leaves_nothing(
        tmp_path, cats_dogs_zip, case):
    data = tmp_path / "cache" / "datasets"
    env = class_env(tmp_path / "cache", tmp_path / "user")
    proc = in_namespace(small_disk(data, "64k"),
                        [sys.executable, "-c", EXTRACT, str(cats_dogs_zip),
                         str(data / "cats_vs_dogs"), case], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    error = next(l for l in proc.stdout.splitlines() if l.startswith("ERROR"))
    assert f"not enough space in {data}" in error and "MB free" in error
    if case.startswith("checked"):
        assert "MB needed" in error
    assert "LEFT []" in proc.stdout                       # no partial folder
    assert cats_dogs_zip.is_file()                         # the good archive is kept
    assert not (tmp_path / "cache" / "quarantine").exists()


@needs_namespace
def test_a_full_disk_when_the_scan_record_is_written_is_no_crash(tmp_path):
    disk = tmp_path / "disk"
    code = f"""
import os
from pathlib import Path
from tlcourse import datasets
root = Path({str(disk / "data")!r})
os.environ["TLCOURSE_USER_CACHE"] = {str(disk / "user")!r}
import test_shared_cache as t
rels = t._tiny_dataset(root)
fd = os.open({str(disk / "filler")!r}, os.O_WRONLY | os.O_CREAT)   # fill the disk up
try:
    while True:
        os.write(fd, b"x" * 4096)
except OSError:
    os.close(fd)
good, report = datasets.scan(root, rels, "tiny", False, progress=False)
print(sorted(good), [n.path for n in report.excluded])
"""
    env = class_env(tmp_path / "cache", disk / "user")
    env["PYTHONPATH"] = str(ROOT / "tests") + os.pathsep + env.get("PYTHONPATH", "")
    proc = in_namespace(small_disk(disk, "256k"), [sys.executable, "-c", code], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "['good.jpg', 'gray.jpg'] ['broken.jpg']" in proc.stdout


DOWNLOAD = """
import hashlib, sys
from tlcourse import assets
body = hashlib.sha256(b"seed").digest() * 8192
assets.REGISTRY["big"] = assets.Asset(name="big", filename="big.bin", location="downloads",
    hash=assets.sha256(hashlib.sha256(body).hexdigest()), size=None,   # size unknown: no check first
    sources=(assets.Url(sys.argv[1]), assets.Url(sys.argv[1])))
try:
    assets.fetch("big", progress=False, log=lambda *_: None)
except assets.AssetError as exc:
    print("ERROR", exc)
"""


@needs_namespace
def test_a_disk_that_fills_during_a_download_is_one_line(tmp_path):
    from test_cache_faults import BODY, RawServer, static
    server = RawServer()
    try:
        server.routes["/f"] = static(BODY)
        cache_root = tmp_path / "cache"
        env = class_env(cache_root, tmp_path / "user")
        proc = in_namespace(small_disk(cache_root, "64k"),
                            [sys.executable, "-c", DOWNLOAD, server.url + "/f"], env)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    error = proc.stdout.strip()
    assert error.startswith(f"ERROR not enough space in {cache_root / 'partial'}"), error
    assert "\n" not in error and "MB free" in error and "resumes" in error
    assert len(server.requests) == 1          # the second source was not tried on a full disk
