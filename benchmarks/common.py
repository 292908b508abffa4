"""Shared by the benchmark scripts: machine description, commit stamp, and publishing a result.

Each script publishes one result (`write_section`): its figures and its BENCHMARKS.md section body go
to `benchmarks/results/<name>.json`, stamped with the machine, the time and the commit; then
`benchmarks/summary.py` re-renders BENCHMARKS.md, the README's speed table and the figures quoted in
the docs from every results file. Scripts can run alone or all together (`make bench`).
"""

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import summary
from vla.provenance import git_stamp

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """One line: CPU model, cores, memory, Python, torch (when importable)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    parts = [f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB", f"Python {platform.python_version()}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__}")
    except ImportError:
        pass
    return "; ".join(parts)


def write_section(
    name: str,
    title: str,
    command: str,
    body: str,
    figures: dict,
    dry_run: bool = False,
    stamp: tuple[str | None, list[str]] | None = None,
) -> dict:
    """Publishes the result `name`: writes benchmarks/results/<name>.json, re-renders every page.

    `figures` holds the headline numbers (plain JSON) that summary.py turns into the README's speed
    table and the figures quoted in the docs; `body` is the section's markdown below its header.
    dry_run (the scripts' --no-write): print the section and the figures, write nothing.
    stamp: (commit, changed folders) of the measured code when it is not this checkout's (a sweep
    published after it ran); the default is git_stamp() now.
    """
    commit, changed = git_stamp() if stamp is None else stamp
    result = {
        "name": name,
        "title": title,
        "command": command,
        "machine": machine(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "uncommitted": changed,
        "figures": figures,
        "body": body.strip() + "\n",
    }
    if dry_run:
        print(summary.render_section(result) + "\n" + json.dumps(figures, indent=2))
        return result
    summary.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (summary.RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    summary.write_all()
    print(summary.render_section(result))
    return result


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that reproduces this run, for the section header."""
    argv = sys.argv[1:] if argv is None else argv
    return f"python -m benchmarks.{script}" + (" " + " ".join(argv) if argv else "")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
