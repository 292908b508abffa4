"""`make bench`: runs every benchmark script in turn; each rewrites its own BENCHMARKS.md section."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    failed = []
    for name in names:
        print(f"=== benchmarks.{name}", flush=True)
        try:
            importlib.import_module(f"benchmarks.{name}").main([])
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"benchmarks.{name} failed: {exc!r}", file=sys.stderr)
            failed.append(name)
    if failed:
        sys.exit(f"failed: {failed}")


if __name__ == "__main__":
    main()
