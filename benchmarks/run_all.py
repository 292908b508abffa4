"""`make bench-speed`: runs every speed benchmark script in turn, each writing its results file, then the
summary. `make bench` runs this, then the policy comparison (bench_compare: four policies trained for
25 min each, then evaluated; `make compare` alone).

Each script re-renders the pages as it publishes; the summary at the end does it once more, so the
pages match the results files even when a script failed (its previous results stay published).
"""

import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks import summary

SEPARATE = {"bench_compare"}  # `make compare` (also the second half of `make bench`)


def main() -> None:
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    names = sorted(m.name for m in modules if m.name.startswith("bench_") and m.name not in SEPARATE)
    failed = []
    for name in names:
        print(f"=== benchmarks.{name}", flush=True)
        try:
            importlib.import_module(f"benchmarks.{name}").main([])
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"benchmarks.{name} failed: {exc!r}", file=sys.stderr)
            failed.append(name)
    print("=== benchmarks.summary", flush=True)
    summary.write_all()
    if failed:
        sys.exit(f"failed: {failed}")


if __name__ == "__main__":
    main()
