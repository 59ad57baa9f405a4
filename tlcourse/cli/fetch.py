"""`tlcourse fetch`: put assets into the cache, or list them."""
from __future__ import annotations

from tlcourse import assets


def _print_list() -> None:
    rows = assets.status_rows()
    print(f"{'asset':34} {'cached':7} {'offline':8} {'smoke':6} sources")
    for r in rows:
        print(f"{r['name']:34} {'yes' if r['cached'] else 'no':7} "
              f"{'yes' if r['offline'] else 'no':8} {'yes' if r['smoke'] else '':6} "
              f"{r['sources'][0]}")
        for extra in r["sources"][1:]:
            print(f"{'':58} {extra}")
    from tlcourse import datasets
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
    from tlcourse import datasets
    archives = {a for names, _ in datasets.DATASETS.values() for a in names}
    return [name for name in assets.REGISTRY if name not in archives] + list(datasets.DATASETS)


def main(args) -> int:
    if args.list:
        _print_list()
        return 0
    standin = args.standin
    names = list(args.names)
    profile = getattr(args, "profile", None)
    if profile == "full" and not names:   # GPU runners: the real data and every model
        names = full_profile_names()
    elif not names:   # everything the smoke profile needs, stand-in datasets included
        names = assets.smoke_assets() + ["cats_dogs", "oxford_pets"]
        standin = True
    failed = []
    for name in names:
        try:
            if name not in assets.REGISTRY:
                from tlcourse import datasets   # dataset names: cats_dogs, oxford_pets
                path = datasets.fetch(name, standin=standin)
            else:
                path = assets.fetch(name)
            print(f"ok      {name:34} {path}")
        except (assets.AssetError, KeyError, ValueError) as exc:
            failed.append(name)
            print(f"FAILED  {name}\n{exc}")
    if failed:
        print(f"\n{len(failed)} of {len(names)} could not be fetched: {', '.join(failed)}")
        return 1
    return 0
