"""Shared by the benchmark scripts: machine description and BENCHMARKS.md section updates.

Each script owns one section of BENCHMARKS.md, delimited by HTML comments, and rewrites only it,
so scripts can run alone or all together (`make bench`).
"""

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
_HEADER = (
    "# Benchmarks\n\n"
    "Each section was written by the script and command it names; rerun `make bench` to refresh.\n"
)


def machine() -> str:
    """One line: CPU model, cores, memory, OS, Python, torch (when importable)."""
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


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uncommitted"


def write_section(name: str, title: str, command: str, body: str) -> None:
    """Replaces (or appends) the section `name` of BENCHMARKS.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- section:{name} -->\n## {title}\n\n"
        f"Command: `{command}`  \nMachine: {machine()}  \nWhen: {stamp}, commit {git_commit()}\n\n"
        f"{body.strip()}\n<!-- /section:{name} -->\n"
    )
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else _HEADER
    pattern = re.compile(rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:{re.escape(name)} -->\n", re.S)
    text = (
        pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    )
    BENCHMARKS_MD.write_text(text)
    print(section)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
