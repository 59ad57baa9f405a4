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
    try:
        from tlcourse import datasets
        for line in datasets.status_lines():
            print(line)
    except ImportError:
        pass


def main(args) -> int:
    if args.list:
        _print_list()
        return 0
    names = list(args.names) or assets.smoke_assets()
    failed = []
    for name in names:
        try:
            if name not in assets.REGISTRY:
                from tlcourse import datasets   # dataset names: cats_dogs, oxford_pets
                path = datasets.fetch_dataset(name, standin=args.standin)
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
