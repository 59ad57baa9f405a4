"""`tlcourse fetch [NAME...] [--list] [--check] [--standin] [--profile]`: put assets into the
cache, or list them, or check that a cache is complete.

A fetch leaves the cache ready to be shared read-only by a class: every asset
stamped as verified and every dataset scanned, so users need write nothing there.
"""
from __future__ import annotations

from tlcourse import assets, cache, datasets
from tlcourse.cli.checks import UsageError


def add_parser(sub):
    p = sub.add_parser("fetch", help="download/verify assets into the cache")
    p.add_argument("names", nargs="*", help="asset or dataset names (default: what smoke needs)")
    p.add_argument("--list", action="store_true", help="show every asset, cached or not")
    p.add_argument("--check", action="store_true",
                   help="write nothing: say whether each one (default: what smoke needs) is in "
                        "the cache, verified and ready to be used read-only; exit 1 if not")
    p.add_argument("--standin", action="store_true",
                   help="for datasets: write the offline stand-in instead of downloading")
    p.add_argument("--profile", choices=["smoke", "full"], default=None,
                   help="with no names: what that profile needs (default smoke: offline "
                        "assets and stand-ins; full: every model's weights and the real "
                        "datasets, downloaded once, for GPU runners)")
    return p


def _print_list() -> None:
    rows = assets.status_rows()
    print(f"{'asset':34} {'cached':7} {'offline':8} {'smoke':6} sources")
    for r in rows:
        print(f"{r['name']:34} {'yes' if r['cached'] else 'no':7} "
              f"{'yes' if r['offline'] else 'no':8} {'yes' if r['smoke'] else '':6} "
              f"{r['sources'][0]}")
        for extra in r["sources"][1:]:
            print(f"{'':58} {extra}")
    print(f"\n{'dataset':34} {'real':6} {'stand-in':9} archives (offline: `tlcourse fetch NAME --standin`)")
    for row in datasets.list_rows():
        print(f"{row['name']:34} {'yes' if row['real_ready'] else 'no':6} "
              f"{'yes' if row['standin_ready'] else 'no':9} "
              + ", ".join(a['file'] for a in row['archives']))
        for a in row["archives"]:
            for src in a["sources"]:
                print(f"{'':51} {a['file']}: {src}")


def full_profile_names() -> list[str]:
    """Everything the full profile may use: every registered asset (weights of
    all four models in both frameworks, sample photos) and the real datasets
    (their archive assets are fetched and extracted through the dataset names)."""
    archives = {a for names, _ in datasets.DATASETS.values() for a in names}
    return [name for name in assets.REGISTRY if name not in archives] + list(datasets.DATASETS)


def run(args) -> int:
    known = set(assets.REGISTRY) | set(datasets.DATASETS)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise UsageError(f"unknown asset or dataset {', '.join(map(repr, unknown))}; "
                         "`tlcourse fetch --list` shows every name")
    try:
        assets.url_timeout_s()   # a bad $TLCOURSE_URL_TIMEOUT is a usage error, said before any download
    except assets.AssetError as exc:
        raise UsageError(str(exc)) from None
    if args.list:
        _print_list()
        return 0
    standin = args.standin
    names = list(args.names)
    if args.profile == "full" and not names:   # GPU runners: the real data and every model
        names = full_profile_names()
    elif not names:   # everything the smoke profile needs, stand-in datasets included
        names = assets.smoke_assets() + ["cats_dogs", "oxford_pets"]
        standin = True
    if args.check:
        return _check(names, standin)
    failed = []
    for name in names:
        try:
            if name in datasets.DATASETS:
                path = datasets.prepare(name, use_standin=standin)
            else:
                path = assets.fetch(name)
            print(f"ok      {name:34} {path}")
        except (assets.AssetError, datasets.DatasetError) as exc:
            failed.append(name)
            print(f"FAILED  {name}\n{exc}")
    assets.stamp_all(names)
    if failed:
        print(f"\n{len(failed)} of {len(names)} could not be fetched: {', '.join(failed)}")
        return 1
    return 0


def _check(names: list[str], standin: bool) -> int:
    """One line per name: ready, or what is wrong and the fix; nothing is written."""
    problems = 0
    for name in names:
        if name in datasets.DATASETS:
            path, why = datasets.dataset_root(name, standin), datasets.not_ready(name, standin)
        else:
            asset = assets.get(name)
            path, why = asset.path, None
            if not asset.path.is_file():
                why = "missing"
            elif not assets.has_stamp(asset):
                why = ("verified, but not stamped: every use hashes it again"
                       if assets.is_cached(asset, write_stamp=False)
                       else f"does not match {asset.hash}")
        problems += why is not None
        print(f"{'ok' if why is None else 'NOT OK':7} {name:34} {path}" + (f": {why}" if why else ""))
    where = cache.cache_dir()
    if problems:
        print(f"\n{problems} of {len(names)} not ready in {where}: run the same `tlcourse fetch` "
              "without --check where the cache is writable")
        return 1
    print(f"\nall {len(names)} ready in {where}" + ("" if cache.is_writable(where) else
                                                   " (read-only)"))
    return 0
