"""Which code a result came from: the git commit and the measured folders that differ from it.

A run records it in its status.json (vla/apps/run_status.py) and a benchmark in its results file
(benchmarks/common.py), so that a published figure names the commit it was measured at, from git.
"""

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# the code a figure measures: a figure taken with these changed from HEAD must say so
MEASURED_CODE = ("vla", "envs", "policies", "benchmarks", "conf")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def git_stamp(root: Path = REPO_ROOT) -> tuple[str | None, list[str]]:
    """(short HEAD, the measured folders whose files differ from HEAD, untracked ones included).

    Results files are written by the benchmarks themselves, so they do not count as changed code.
    (None, []) outside a git checkout (an installed package) or without git.
    """
    try:
        head = _git(root, "rev-parse", "--short", "HEAD").strip()
        status = _git(
            root, "status", "--porcelain", "--", *MEASURED_CODE, ":(exclude)benchmarks/results"
        ).splitlines()
    except (OSError, subprocess.CalledProcessError):
        return None, []
    paths = [line[3:].split(" -> ")[-1].strip('"') for line in status]  # "XY path" or "R  old -> new"
    return head, sorted({p.split("/")[0] + "/" for p in paths})


def commit_before(when: str, root: Path = REPO_ROOT) -> str | None:
    """The short hash of the last commit of HEAD's history made before `when` (ISO time), or None."""
    try:
        return _git(root, "rev-list", "-1", f"--before={when}", "--abbrev-commit", "HEAD").strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None
