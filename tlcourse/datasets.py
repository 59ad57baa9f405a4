"""Cats vs Dogs and Oxford-IIIT Pet: download, extract, scan, split.  Framework-neutral.

    from tlcourse import datasets
    data = datasets.cats_dogs()          # or datasets.oxford_pets()
    data.train.paths, data.train.labels, data.class_names, data.scan_report

``profile.data`` picks the source: ``"real"`` downloads the official archives
(resumable, verified against upstream hashes, mirror fallback) and extracts
them atomically into ``<cache>/datasets/``, after checking each archive to its
last byte and the extracted layout; ``"standin"`` generates a small dataset
with the same layout into ``<cache>/datasets/standin/`` (see
``tlcourse.standin``).  The same scanning and splitting code runs on both.
Concurrent fetches of one dataset wait for each other (``cache.locked``).

Nothing in a dataset folder is ever deleted, moved or changed.  Files the scan
will not use (empty, truncated, not an image, not a regular file, over
``tlcourse.images.MAX_PIXELS``) are listed with the reason as "excluded" in the
scan report and left out of the splits; readable files in odd modes
(grayscale, CMYK, RGBA, palette, PNG named .jpg) stay in and are converted to
RGB on load by ``tlcourse.images.load_rgb``.  (A damaged downloaded *archive*,
by contrast, is quarantined: moved aside to ``<cache>/quarantine/``.)

Splits are deterministic: files are sorted, then shuffled per class by a
seeded generator, so the same seed gives the same split on every machine and
in both frameworks.  Class indices: Cats vs Dogs ``Cat=0, Dog=1``; Pets
``CLASS-ID - 1`` from the official annotation files.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import re
import shutil
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from tlcourse import assets, cache, standin
from tlcourse.assets import AssetError
from tlcourse.catalog import CHUNK, DATASETS, dataset_folder, datasets_dir  # noqa: F401  (re-exported)
from tlcourse.images import UnreadableImage, load_rgb, open_image  # noqa: F401  (load_rgb: re-exported for loaders)
from tlcourse.messages import _

# ---------------------------------------------------------------------------
# the archives, with every known mirror
# ---------------------------------------------------------------------------
# The archives (hashes, sizes, mirrors) and the folder each dataset extracts to
# are declared in tlcourse.catalog (DATASETS), so `tlcourse fetch --list` shows
# them; see the comments there for where each hash came from.

TITLES = {"cats_dogs": "Cats vs Dogs", "oxford_pets": "Oxford-IIIT Pet"}
STANDIN_LABEL = "stand-in data"
SCAN_FILE = ".tlcourse-scan.json"


class DatasetError(AssetError):
    """A dataset could not be prepared; the message says why and what to do."""


# ---------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FileNote:
    path: str
    reason: str


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """What the scan found.  ``excluded``: files not used, left out of every
    split (they stay where they are, unchanged).  ``converted``: readable but
    not plain RGB JPEG; kept and converted to RGB on load."""
    dataset: str
    checked: int
    excluded: tuple = ()
    converted: tuple = ()
    standin: bool = False
    root: str = ""             # the dataset folder; note paths are relative to it
    # files that passed the scan but failed when a loader read them (damaged in
    # place since): skipped by the loaders, noted here (see ``load_split_image``)
    skipped_on_load: list = dataclasses.field(default_factory=list, compare=False)

    def summary(self, examples: int = 5) -> str:
        lines = [f"{TITLES.get(self.dataset, self.dataset)}"
                 + (" (" + _("stand-in data") + ")" if self.standin else "")
                 + _(": {checked} image files checked, {excluded} excluded (not used), "
                     "{converted} converted on load (odd format or mode).",
                     checked=format(self.checked, ","), excluded=len(self.excluded),
                     converted=len(self.converted))]
        if self.skipped_on_load:
            lines.append(_("{count} skipped by the loader: unreadable when read (changed since "
                           "the scan; the next load scans them again).",
                           count=len(self.skipped_on_load)))
        for title, more, notes in ((_("Excluded"), _("excluded"), self.excluded),
                                   (_("Converted"), _("converted"), self.converted),
                                   (_("Skipped on load"), _("skipped on load"),
                                    self.skipped_on_load)):
            for n in notes[:examples]:
                lines.append(f"  {title}: {n.path}: {shown_reason(n.reason)}")
            if len(notes) > examples:
                lines.append("  " + _("... and {count} more {what}",
                                      count=len(notes) - examples, what=more))
        lines.append(_("Nothing was deleted or changed on disk."))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclasses.dataclass(frozen=True)
class Split:
    """One split as plain data: image paths, integer labels, class names."""
    dataset: str
    name: str                  # "train" | "val" | "test"
    paths: tuple
    labels: tuple
    class_names: tuple
    standin: bool
    root: str
    scan_report: ScanReport | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def quarantine(self) -> ScanReport | None:
        """The notebooks' name for ``scan_report`` (source/ uses ``data.quarantine``)."""
        return self.scan_report

    @property
    def label(self) -> str:
        """"stand-in data" or "real data": put it beside every figure and number."""
        return _("stand-in data") if self.standin else _("real data")

    def stamp(self, text: str) -> str:
        """``text`` with "(stand-in data)" appended when the data is a stand-in."""
        return f"{text} ({_('stand-in data')})" if self.standin else text

    def counts(self) -> dict[str, int]:
        c = np.bincount(np.asarray(self.labels, dtype=int), minlength=len(self.class_names))
        return {n: int(k) for n, k in zip(self.class_names, c)}

    def subset(self, per_class: int | None, seed: int = 0) -> "Split":
        """At most ``per_class`` images of each class, chosen by a seeded shuffle."""
        if per_class is None:
            return self
        rng = np.random.default_rng(seed)
        labels = np.asarray(self.labels)
        keep = []
        for c in range(len(self.class_names)):
            idx = np.flatnonzero(labels == c)
            keep.extend(rng.permutation(idx)[:per_class].tolist())
        keep.sort()
        return dataclasses.replace(self, paths=tuple(self.paths[i] for i in keep),
                                   labels=tuple(self.labels[i] for i in keep))


@dataclasses.dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split

    @property
    def class_names(self) -> tuple:
        return self.train.class_names

    @property
    def standin(self) -> bool:
        return self.train.standin

    @property
    def label(self) -> str:
        return self.train.label

    @property
    def scan_report(self) -> ScanReport:
        return self.train.scan_report

    @property
    def quarantine(self) -> ScanReport:
        """The notebooks' name for ``scan_report`` (source/ uses ``data.quarantine``)."""
        return self.scan_report

    @property
    def root(self) -> str:
        return self.train.root

    def __iter__(self):
        return iter((self.train, self.val, self.test))

    def __str__(self) -> str:
        sizes = ", ".join(f"{s.name} {len(s):,}" for s in self)
        return _("{title} ({label}): {classes} classes; {sizes}",
                 title=TITLES.get(self.train.dataset, self.train.dataset), label=self.label,
                 classes=len(self.class_names), sizes=sizes)


# ---------------------------------------------------------------------------
# where things live
# ---------------------------------------------------------------------------
def dataset_root(name: str, standin_data: bool = False) -> Path:
    """The extracted folder.  For Pets its parent is the ``root`` that
    ``torchvision.datasets.OxfordIIITPet`` expects."""
    _check_name(name)
    return dataset_folder(name, standin_data)


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise DatasetError(_("Unknown dataset {name}; known: {known}", name=repr(name),
                             known=", ".join(DATASETS)))


def _use_standin(profile) -> bool:
    from tlcourse.profiles import Profile, get_profile
    if profile is None or isinstance(profile, str):
        profile = get_profile(profile)
    if not isinstance(profile, Profile):
        raise TypeError(_("expected a Profile or a profile name, got {type}",
                          type=type(profile).__name__))
    if profile.data not in ("standin", "real"):
        raise ValueError(_("profile.data must be 'standin' or 'real', not {data}",
                           data=repr(profile.data)))
    return profile.data == "standin"


# ---------------------------------------------------------------------------
# fetching and extracting
# ---------------------------------------------------------------------------
def fetch(name: str, use_standin: bool = False, progress: bool = True, log=print) -> Path:
    """Make sure dataset ``name`` is extracted in the cache; return its folder.

    ``use_standin=True`` generates the offline stand-in (seconds); otherwise the
    official archives are downloaded (resumable, verified, mirror fallback)
    and extracted atomically.  This is ``tlcourse fetch <name> [--standin]``.
    """
    _check_name(name)
    dest = dataset_root(name, use_standin)
    if dest.is_dir():
        return dest
    problem = cache.cannot_write(dest.parent)
    if problem:
        raise DatasetError(_("{title} is not in the cache ({dest} is missing) and cannot be "
                             "written there: {problem}. ", title=TITLES[name], dest=dest,
                             problem=problem)
                           + cache.fix_for(name + (" --standin" if use_standin else "")))
    with cache.locked(f"dataset-{name}" + ("-standin" if use_standin else ""),
                      on_wait=lambda: log(_("{name}: another fetch of it is under way; waiting "
                                            "for it to finish", name=name))):
        # a killed run's half-extracted folder (ours would hold this lock)
        for stale in dest.parent.glob(f".tmp-{dest.name}.*"):
            shutil.rmtree(stale, ignore_errors=True)
        if dest.is_dir():       # the fetch we waited for made it
            return dest
        if use_standin:
            log(_("{name}: writing the offline stand-in to {dest}", name=name, dest=dest))
            try:
                return standin.write_into(dest, standin_writer(name))
            except OSError as exc:
                if cache.is_out_of_space(exc):
                    raise DatasetError(cache.no_room(dest.parent, None,
                                                     f"write the {name} stand-in")) from None
                raise
        archives = []
        for asset_name in DATASETS[name][0]:
            try:
                archives.append(assets.fetch(asset_name, progress=progress, log=log))
            except AssetError as exc:
                raise DatasetError(_manual_instructions(name, asset_name, exc)) from exc
        return extract_archives(archives, dest, progress=progress, layout=LAYOUTS[name])


def prepare(name: str, use_standin: bool = False, progress: bool = True, log=print) -> Path:
    """``fetch``, then scan once: the scan record is written beside the data, so
    a class cache filled this way is used read-only with no write at all."""
    root = fetch(name, use_standin=use_standin, progress=progress, log=log)
    load(name, "smoke" if use_standin else "full", progress=progress)
    return root


def not_ready(name: str, use_standin: bool = False) -> str | None:
    """What keeps dataset ``name`` from being used read-only, or None; writes nothing."""
    root = dataset_root(name, use_standin)
    if not root.is_dir():
        return "missing"
    lacks = LAYOUTS[name](root)
    if lacks:
        return f"incomplete: no {lacks}"
    record = _read_scan_record(root / SCAN_FILE)
    if not record:
        return "not scanned: every user's first load scans it into their own cache"
    if any(r["key"] != _stat_key(root, rel) for rel, r in record.items()):
        return "scan record out of date: every user's first load scans again"
    return None


def standin_writer(name: str):
    return {"cats_dogs": standin.write_cats_dogs, "oxford_pets": standin.write_oxford_pets}[name]


def _manual_instructions(name: str, asset_name: str, exc: Exception) -> str:
    a = assets.get(asset_name)
    urls = "\n".join(f"    {s.describe()}" for s in a.sources)
    size = _(", {bytes} bytes", bytes=format(a.size, ",")) if a.size else ""
    return (f"{exc}\n\n"
            + _("The {title} dataset needs {filename}. To get it by hand:\n"
                "  1. download it in a browser from one of:\n{urls}\n"
                "  2. save it as {path}\n"
                "     (expected {hash}{size})\n"
                "  3. run `tlcourse fetch {name}`: it verifies and extracts the file.\n"
                "To work offline instead, use the stand-in: `tlcourse fetch {name} --standin` "
                "and TLCOURSE_PROFILE=smoke.", title=TITLES[name], filename=a.filename,
                urls=urls, path=a.path, hash=a.hash, size=size, name=name))


def _safe_members(names, archive: Path) -> None:
    for n in names:
        p = Path(n)
        if p.is_absolute() or ".." in p.parts:
            raise DatasetError(_("{archive} contains an unsafe path {path}; not extracted",
                                 archive=archive, path=repr(n)))


def _check_tar_to_the_end(tf: tarfile.TarFile) -> None:
    """Read the archive past its last member to the end of the file.

    ``tarfile`` stops quietly at the first header it cannot parse, and reads a
    compressed stream only as far as the end-of-archive marker.  After the
    last member only zero blocks may follow; reading them to the end also
    makes gzip (or bz2, xz) check its trailer's checksum."""
    tf.fileobj.seek(tf.offset)
    at = tf.offset
    while block := tf.fileobj.read(CHUNK):
        if block.strip(b"\0"):
            raise tarfile.TarError(f"unreadable tar header or stray data at byte {at:,}: "
                                   f"the archive ends early after {len(tf.getmembers()):,} "
                                   "members")
        at += len(block)


def _damaged(archives, why: str) -> DatasetError:
    """Quarantine ``archives`` (so the next fetch downloads them afresh) and say so."""
    names = " and ".join(Path(a).name for a in archives)
    where = ", ".join(str(assets.quarantine(Path(a), f"could not be extracted: {why}"))
                      for a in archives)
    damaged = _("{names} is damaged ({why}).", names=names, why=why) if len(archives) == 1 \
        else _("{names} are damaged ({why}).", names=names, why=why)
    return DatasetError(damaged + " " + _("Moved to {where} and nothing was extracted; run the "
                                          "fetch again to download afresh.", where=where))


def extract_archives(archives, dest: Path, progress: bool = True, layout=None) -> Path:
    """Extract every archive into one temporary folder beside ``dest``, then
    rename it to ``dest``: a reader sees the whole dataset or nothing.

    Each archive is read to its last byte (tar members, trailing blocks and the
    compressed stream's checksum; zip members' CRCs); ``layout(folder)``, if
    given, then names what the extracted folder lacks, or returns None.  A
    broken archive (truncated, corrupt, or without the expected layout) is
    moved to the quarantine folder, so the next fetch downloads it again, and
    nothing is left at ``dest``.  Free space is checked against the members'
    sizes before extracting; a disk that fills up anyway is a ``DatasetError``
    that keeps the (good) archive, and the partial folder is removed."""
    from tqdm.auto import tqdm

    def make_room(tmp: Path, archive: Path, needed: int) -> None:
        problem = cache.no_room(tmp.parent, needed, f"extract {archive.name}")
        if problem:
            raise DatasetError(problem)

    def extract_all(tmp: Path) -> None:
        for archive in archives:
            archive = Path(archive)
            try:
                if zipfile.is_zipfile(archive):
                    with zipfile.ZipFile(archive) as zf:
                        members = zf.infolist()
                        _safe_members([m.filename for m in members], archive)
                        make_room(tmp, archive, sum(m.file_size for m in members))
                        for m in tqdm(members, desc=_("extracting {name}", name=archive.name),
                                      unit="file", disable=not progress, leave=False):
                            zf.extract(m, tmp)
                else:
                    with tarfile.open(archive, "r:*") as tf:
                        members = tf.getmembers()
                        _check_tar_to_the_end(tf)
                        _safe_members([m.name for m in members], archive)
                        make_room(tmp, archive, sum(m.size for m in members if m.isfile()))
                        for m in tqdm(members, desc=_("extracting {name}", name=archive.name),
                                      unit="file", disable=not progress, leave=False):
                            tf.extract(m, tmp, filter="data")
            except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                if cache.is_out_of_space(exc):   # the disk's fault, not the archive's: keep it
                    raise DatasetError(cache.no_room(tmp.parent, None,
                                                     f"extract {archive.name}")) from None
                raise _damaged([archive], f"{type(exc).__name__}: {exc}") from exc
        lacks = layout(tmp) if layout is not None else None
        if lacks:
            raise _damaged(archives, f"no {lacks}")

    # same temporary-folder-then-rename as the stand-ins
    return standin.write_into(Path(dest), extract_all)


def _cats_dogs_layout(root: Path) -> str | None:
    for cls in CATS_DOGS_CLASSES:
        if not any((root / "PetImages" / cls).glob("*.jpg")):
            return f"PetImages/{cls}/*.jpg"
    return None


def _pets_layout(root: Path) -> str | None:
    for part in ("trainval", "test"):
        listed = root / "annotations" / f"{part}.txt"
        if not listed.is_file():
            return f"annotations/{part}.txt"
        try:
            rows = read_pets_list(listed)
        except (DatasetError, ValueError) as exc:
            return f"readable annotations/{part}.txt ({exc})"
        missing = [r[0] for r in rows if not (root / "images" / f"{r[0]}.jpg").is_file()]
        if missing:
            return (f"images/{missing[0]}.jpg (and {len(missing) - 1:,} more of the "
                    f"{len(rows):,} images annotations/{part}.txt lists)")
    return None


# what a correctly extracted dataset holds (checked before it is put in place)
LAYOUTS = {"cats_dogs": _cats_dogs_layout, "oxford_pets": _pets_layout}


# ---------------------------------------------------------------------------
# scanning
# ---------------------------------------------------------------------------
def check_image(path) -> tuple[str, str]:
    """(format, mode) of a readable image; ``UnreadableImage`` otherwise.

    JPEGs are decoded at reduced scale (``draft``): still the whole file is
    read, so truncation is caught, at a fraction of the cost of a full decode."""
    path = Path(path)
    try:
        with open_image(path) as im:
            fmt, mode = im.format, im.mode
            if fmt == "JPEG":
                im.draft("RGB", (64, 64))
            im.load()
        return fmt, mode
    except FileNotFoundError:
        raise UnreadableImage(f"{path}: listed but missing") from None
    except UnreadableImage as exc:    # refused unopened: the report names the file already
        raise UnreadableImage(str(exc).removeprefix(f"{path}: ")) from None
    except Exception as exc:  # PIL raises many kinds for broken files
        if path.stat().st_size == 0:
            reason = "empty file (0 bytes)"
        elif isinstance(exc, UnidentifiedImageError):
            with open(path, "rb") as f:
                head = f.read(12)
            reason = f"not an image PIL can read (starts with {head!r})"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        raise UnreadableImage(reason) from exc


# A scan's reasons are stored in English (the cached record serves every edition) and
# shown in the edition's language: these are the forms check_image and _odd_reason write.
ON_LOAD = "; converted to RGB on load"
_MODES = {"L": "grayscale", "CMYK": "CMYK", "RGBA": "RGBA (transparency)", "P": "palette",
          "LA": "grayscale with alpha"}


def shown_reason(reason: str) -> str:
    """A stored scan reason as a student reads it (a library's own error quoted as code)."""
    if reason.endswith(ON_LOAD):
        shown = []
        for part in reason[:-len(ON_LOAD)].split(", "):
            named = re.fullmatch(r"(\w+) file named \.jpg", part)
            mode = re.fullmatch(r"mode (\w+)", part)
            shown.append(_("{format} file named .jpg", format=named.group(1)) if named else
                         _("mode {mode}", mode=mode.group(1)) if mode else
                         {"grayscale": _("grayscale"), "RGBA (transparency)": _("RGBA (transparency)"),
                          "palette": _("palette"), "grayscale with alpha": _("grayscale with alpha")
                          }.get(part, part))
        return _("{what}; converted to RGB on load", what=", ".join(shown))
    unreadable = re.fullmatch(r"not an image PIL can read \(starts with (.*)\)", reason)
    if unreadable:
        return _("not an image PIL can read (starts with {head})", head=unreadable.group(1))
    if re.fullmatch(r"\w+(Error|Exception): .*", reason):
        return _("unreadable: `{error}`", error=reason)
    return {"empty file (0 bytes)": _("empty file (0 bytes)"),
            "listed but missing": _("listed but missing")}.get(reason, reason)


def _odd_reason(fmt: str, mode: str) -> str | None:
    parts = []
    if fmt != "JPEG":
        parts.append(f"{fmt} file named .jpg")
    if mode != "RGB":
        parts.append(_MODES.get(mode, f"mode {mode}"))
    return ", ".join(parts) + ON_LOAD if parts else None


def _stat_key(root: Path, rel: str) -> str:
    """What a scan record remembers a file by: any change to it changes this."""
    try:
        st = (root / rel).stat()
        # ctime too: a file damaged in place with its size and mtime put back is checked again
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    except FileNotFoundError:
        return "missing"


def _user_scan_record(root: Path) -> Path:
    """This user's scan record of the dataset folder ``root`` (``<datasets>/standin/x``
    -> ``<user cache>/scans/standin-x.json``)."""
    return cache.user_dir() / "scans" / f"{root.parent.name}-{root.name}.json"


def _read_scan_record(path: Path) -> dict:
    """The entries of a scan record that have the right shape; a record that
    cannot be read or is of another format counts as empty (rebuilt by the scan)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {rel: r for rel, r in data.items()
            if isinstance(r, dict) and isinstance(r.get("key"), str)
            and isinstance(r.get("ok"), bool) and isinstance(r.get("reason"), (str, type(None)))}


def _write_scan_record(root: Path, memo: dict) -> None:
    """Keep the scan beside the data, else in this user's cache; the record only
    saves time, so a read-only or full disk means the next load scans again."""
    text = json.dumps(memo)
    for path in (root / SCAN_FILE, _user_scan_record(root)):
        try:
            with cache.atomic_path(path) as tmp:
                tmp.write_text(text)
            return
        except OSError:
            continue


def scan(root: Path, rel_paths, dataset: str, standin_data: bool, progress: bool = True,
         workers: int = 4) -> tuple[set, ScanReport]:
    """Check every listed image once; return (readable relative paths, report).

    Results are remembered in ``<root>/.tlcourse-scan.json`` (or this user's
    cache when ``root`` is read-only) keyed by size, modification and change
    time, so only new or changed files are decoded again."""
    from tqdm.auto import tqdm

    root = Path(root)
    # the record beside the data, then this user's own (a read-only class cache)
    memo = _read_scan_record(root / SCAN_FILE)
    memo.update(_read_scan_record(_user_scan_record(root)))
    rel_paths = list(rel_paths)

    keys = {rel: _stat_key(root, rel) for rel in rel_paths}
    todo = [rel for rel in rel_paths if memo.get(rel, {}).get("key") != keys[rel]]

    def check(rel):
        try:
            fmt, mode = check_image(root / rel)
            return rel, {"key": keys[rel], "ok": True, "reason": _odd_reason(fmt, mode)}
        except UnreadableImage as exc:
            return rel, {"key": keys[rel], "ok": False, "reason": str(exc)}

    if todo:
        # PIL releases the GIL while decoding, so threads overlap the work
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for rel, result in tqdm(pool.map(check, todo), total=len(todo), disable=not progress,
                                    desc=_("checking {count} images", count=format(len(todo), ",")),
                                    unit="img"):
                memo[rel] = result
        _write_scan_record(root, memo)

    good, excluded, converted = set(), [], []
    for rel in rel_paths:
        r = memo[rel]
        if r["ok"]:
            good.add(rel)
            if r["reason"]:
                converted.append(FileNote(rel, r["reason"]))
        else:
            excluded.append(FileNote(rel, r["reason"]))
    report = ScanReport(dataset, len(rel_paths), tuple(excluded), tuple(converted),
                              standin_data, str(root))
    return good, report


def load_split_image(split: Split, path: str):
    """``load_rgb(path)``, or None for a file the scan kept that can no longer be
    read (damaged in place, deleted): both frameworks' loaders skip it, so an
    epoch never stops on one file.  It is noted once in
    ``split.scan_report.skipped_on_load`` and warned about (from a DataLoader
    worker process only the warning reaches the user)."""
    try:
        return load_rgb(path)
    except (UnreadableImage, OSError) as exc:
        report = split.scan_report
        rel = os.path.relpath(path, split.root) if split.root else str(path)
        if report is None or all(n.path != rel for n in report.skipped_on_load):
            if report is not None:
                report.skipped_on_load.append(FileNote(rel, str(exc)))
            warnings.warn(_("skipped {path}: {error}", path=path, error=exc), stacklevel=2)
        return None


# ---------------------------------------------------------------------------
# splitting
# ---------------------------------------------------------------------------
def stratified_split(labels, fractions, seed: int = 0) -> list[np.ndarray]:
    """Indices for each part, class by class, with a seeded shuffle.

    Every class is split in the given proportions (rounded; the last part
    takes the remainder), so each part has every class in the same ratio."""
    labels = np.asarray(labels)
    fractions = np.asarray(fractions, dtype=float)
    if not np.isclose(fractions.sum(), 1.0):
        raise ValueError(_("fractions must add up to 1, got {fractions}",
                           fractions=fractions.tolist()))
    rng = np.random.default_rng(seed)
    parts = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        bounds = np.round(np.cumsum(fractions)[:-1] * len(idx)).astype(int)
        for part, chunk in zip(parts, np.split(idx, bounds)):
            part.extend(chunk.tolist())
    return [np.sort(np.asarray(p, dtype=int)) for p in parts]


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _make_split(dataset, name, root, rels, labels, class_names, standin_data, report,
                per_class, seed) -> Split:
    sp = Split(dataset, name, tuple(str(Path(root) / r) for r in rels),
               tuple(int(x) for x in labels), tuple(class_names), standin_data, str(root), report)
    return sp.subset(per_class, seed=seed)


# ---------------------------------------------------------------------------
# the two datasets
# ---------------------------------------------------------------------------
CATS_DOGS_CLASSES = ("Cat", "Dog")


def cats_dogs(profile=None, seed: int = 0, fractions=(0.7, 0.15, 0.15),
              progress: bool = True) -> Splits:
    """Cats vs Dogs split into train/val/test (stratified, seeded).

    ``profile`` (a Profile or a name; default: the one in force) picks real or
    stand-in data and caps the images per class and split
    (``profile.images_per_class``).  What is missing is fetched first."""
    from tlcourse.profiles import get_profile
    prof = get_profile(profile) if profile is None or isinstance(profile, str) else profile
    use_standin = _use_standin(prof)
    root = fetch("cats_dogs", use_standin=use_standin, progress=progress)
    # a stand-in put where the download goes (a benchmark's real-sized one) still says so
    standin_data = use_standin or standin.is_standin_folder(root)
    rels, labels = [], []
    for c, cls in enumerate(CATS_DOGS_CLASSES):
        folder = root / "PetImages" / cls
        if not folder.is_dir():
            raise DatasetError(_("{folder} is missing: {root} is not an extracted "
                                 "kagglecatsanddogs_5340.zip. Move the folder aside and run "
                                 "`tlcourse fetch cats_dogs{standin}`.", folder=folder, root=root,
                                 standin=" --standin" if use_standin else ""))
        # only *.jpg: the real folders also hold Thumbs.db
        files = sorted((f.name for f in folder.iterdir() if f.suffix.lower() == ".jpg"),
                       key=_natural_key)
        rels += [f"PetImages/{cls}/{f}" for f in files]
        labels += [c] * len(files)
    good, report = scan(root, rels, "cats_dogs", standin_data, progress=progress)
    keep = [i for i, r in enumerate(rels) if r in good]
    rels = [rels[i] for i in keep]
    labels = np.asarray([labels[i] for i in keep])
    parts = stratified_split(labels, fractions, seed)
    return Splits(*(
        _make_split("cats_dogs", name, root, [rels[i] for i in idx], labels[idx],
                    CATS_DOGS_CLASSES, standin_data, report, prof.images_per_class, seed)
        for name, idx in zip(("train", "val", "test"), parts)))


def pet_class_name(raw: str) -> str:
    """"american_pit_bull_terrier" -> "American Pit Bull Terrier" (torchvision's spelling)."""
    return " ".join(part.title() for part in raw.split("_"))


def read_pets_list(path: Path) -> list[tuple[str, int, int, int]]:
    """Rows (image id, CLASS-ID, SPECIES, BREED-ID) of an official annotation file."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 4:
            raise DatasetError(_("{path}:{line}: expected 4 columns (image CLASS-ID SPECIES "
                                 "BREED-ID), got {text}", path=path, line=n, text=repr(line)))
        rows.append((fields[0], int(fields[1]), int(fields[2]), int(fields[3])))
    return rows


def oxford_pets(profile=None, seed: int = 0, val_fraction: float = 0.2,
                progress: bool = True) -> Splits:
    """Oxford-IIIT Pet: the official trainval/test lists, with a stratified,
    seeded ``val_fraction`` of trainval held out as validation."""
    from tlcourse.profiles import get_profile
    prof = get_profile(profile) if profile is None or isinstance(profile, str) else profile
    use_standin = _use_standin(prof)
    root = fetch("oxford_pets", use_standin=use_standin, progress=progress)
    standin_data = use_standin or standin.is_standin_folder(root)   # as in cats_dogs
    ann = root / "annotations"
    lists = {}
    for part in ("trainval", "test"):
        if not (ann / f"{part}.txt").is_file():
            raise DatasetError(_("{path} is missing: {root} is not a complete Oxford-IIIT Pet "
                                 "folder. Move it aside and fetch it again.",
                                 path=ann / (part + ".txt"), root=root))
        lists[part] = read_pets_list(ann / f"{part}.txt")
    # class names by CLASS-ID, from the lists themselves (as torchvision does)
    by_id = {}
    for image_id, class_id, _species, _breed in lists["trainval"] + lists["test"]:
        by_id.setdefault(class_id, pet_class_name(image_id.rsplit("_", 1)[0]))
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise DatasetError(_("{path}: CLASS-IDs are not 1..N: {ids}", path=ann,
                             ids=sorted(by_id)))
    class_names = tuple(by_id[i] for i in sorted(by_id))

    rels = {p: [f"images/{r[0]}.jpg" for r in rows] for p, rows in lists.items()}
    good, report = scan(root, rels["trainval"] + rels["test"], "oxford_pets", standin_data,
                        progress=progress)
    out = {}
    for part in ("trainval", "test"):
        pairs = [(rel, r[1] - 1) for rel, r in zip(rels[part], lists[part]) if rel in good]
        out[part] = ([p for p, _ in pairs], np.asarray([c for _, c in pairs], dtype=int))
    tv_rels, tv_labels = out["trainval"]
    train_idx, val_idx = stratified_split(tv_labels, (1 - val_fraction, val_fraction), seed)
    mk = lambda name, rs, ls: _make_split("oxford_pets", name, root, rs, ls, class_names,
                                          standin_data, report, prof.pets_images_per_class, seed)
    return Splits(mk("train", [tv_rels[i] for i in train_idx], tv_labels[train_idx]),
                  mk("val", [tv_rels[i] for i in val_idx], tv_labels[val_idx]),
                  mk("test", *out["test"]))


def load(name: str, profile=None, **kwargs) -> Splits:
    """``cats_dogs`` or ``oxford_pets`` by name."""
    _check_name(name)
    return {"cats_dogs": cats_dogs, "oxford_pets": oxford_pets}[name](profile, **kwargs)


def list_rows() -> list[dict]:
    """One row per dataset for ``tlcourse fetch --list``: where it is and its sources."""
    rows = []
    for name, (asset_names, _) in DATASETS.items():
        rows.append(dict(
            name=name, title=TITLES[name],
            real=str(dataset_root(name)), real_ready=dataset_root(name).is_dir(),
            standin=str(dataset_root(name, True)), standin_ready=dataset_root(name, True).is_dir(),
            archives=[dict(name=a, file=assets.get(a).filename, hash=str(assets.get(a).hash),
                           size=assets.get(a).size,
                           sources=[s.describe() for s in assets.get(a).sources])
                      for a in asset_names]))
    return rows
