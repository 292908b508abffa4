"""Published speed figures come from the committed results files, and name commits that exist.

No benchmark runs here: summary.py renders the pages from benchmarks/results/*.json (a fraction of a
second), and the commit stamp is checked on a throwaway git repository.
"""

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import summary
from benchmarks.common import git_stamp
from benchmarks.summary import FIGURES

ROOT = Path(__file__).resolve().parents[1]


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def test_pages_are_what_the_results_render():
    """BENCHMARKS.md, the README's speed table and every marked figure in the docs: none typed by hand."""
    stale = [str(p.relative_to(ROOT)) for p in summary.stale()]
    assert stale == [], f"run `python -m benchmarks.summary` (or `make bench`): {stale} differ"


def test_readme_has_the_generated_speed_table():
    readme = summary.README.read_text()
    assert summary.TABLE.search(readme), "README.md lost its <!-- bench:speed-table --> markers"
    table = summary.render_table(summary.load())
    assert table in readme and table.count("\n") > 2


def test_every_commit_named_in_benchmarks_md_is_in_the_history():
    if (
        shutil.which("git") is None
        or _git(ROOT, "rev-parse", "--is-shallow-repository").stdout.strip() != "false"
    ):
        pytest.skip("needs git and a full clone")
    shas = re.findall(r"\bcommit ([0-9a-f]{7,40})\b", summary.BENCHMARKS_MD.read_text())
    assert shas, "BENCHMARKS.md names no commit"
    missing = [sha for sha in shas if _git(ROOT, "cat-file", "-e", f"{sha}^{{commit}}").returncode != 0]
    assert missing == [], f"BENCHMARKS.md names commits that are not in the history: {missing}"


def test_every_figure_renders_from_the_committed_results():
    results = summary.load()
    for section, names in FIGURES.items():
        for name in names:
            text = summary.figure(results, f"{section}.{name}")
            assert text and "{" not in text, f"{section}.{name} -> {text!r}"


def test_an_unknown_figure_is_an_error():
    with pytest.raises(KeyError, match="unknown figure"):
        summary.render_page("<!-- fig:envs.nothing -->1<!-- /fig -->", summary.load())


def test_rows_follow_the_like_for_like_rules():
    """FAST latency only with 0 repairs; real-time rows say when SCHED_FIFO was refused."""
    results = copy.deepcopy(summary.load())
    model = results["model"]["figures"]
    for key in ("fast/parallel", "fast/ar"):
        model["latency"][key].update(repairs=0, calls=40, p50_ms=12.0, actions_s=833.0)
    bridge = results["bridge"]["figures"]
    bridge["rt_permitted"] = False
    for row in bridge["rows"]:
        if row["rt"]:
            row["p99_ms"] = None
    table = summary.render_table(results)
    assert "p50 12.0 / 12.0 ms, 833 / 833 actions/s (0 repairs in 40 / 40 calls)" in table
    assert table.count("FIFO not permitted here") == 2 and "real-time met" not in table
    model["latency"]["fast/ar"]["repairs"] = 1
    assert "not shown: decodes malformed" in summary.render_table(results)


def test_a_section_missing_its_results_gets_no_row():
    results = {k: v for k, v in summary.load().items() if k != "threads"}
    table = summary.render_table(results)
    assert "[threads]" not in table and "[model]" in table


def test_stamp_marks_uncommitted_changes_in_measured_code(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    for args in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"]):
        _git(tmp_path, *args)
    for path in ("vla/a.py", "docs/a.md", "benchmarks/results/x.json"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "init")
    head = _git(tmp_path, "rev-parse", "--short", "HEAD").stdout.strip()
    assert git_stamp(tmp_path) == (head, [])
    (tmp_path / "docs/a.md").write_text("2\n")  # not measured code
    (tmp_path / "benchmarks/results/x.json").write_text("2\n")  # written by the benchmarks themselves
    assert git_stamp(tmp_path) == (head, [])
    (tmp_path / "vla/a.py").write_text("2\n")
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs/new.py").write_text("1\n")  # untracked counts too
    assert git_stamp(tmp_path) == (head, ["envs/", "vla/"])
    stamped = {"when": "now", "commit": head, "uncommitted": ["envs/", "vla/"]}
    assert summary.stamp(stamped) == f"now, commit {head} (uncommitted changes in envs/, vla/)"


def test_results_files_are_plain_json_with_a_stamp():
    for path in sorted(summary.RESULTS_DIR.glob("*.json")):
        result = json.loads(path.read_text())
        assert result["name"] == path.stem
        assert {"title", "command", "machine", "when", "commit", "uncommitted", "figures", "body"} <= set(
            result
        )


def _sweep_dir(root: Path, preset: str, statuses: list[dict]) -> Path:
    """A multirun dir as Hydra and `vla train -m` leave it: multirun.yaml, job dirs with status.json."""
    (root / "multirun.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text(f"hydra:\n  overrides:\n    task:\n    - experiment={preset}\n")
    for job, status in enumerate(statuses):
        (root / str(job) / ".hydra").mkdir(parents=True)
        (root / str(job) / ".hydra" / "overrides.yaml").write_text(f"- policy=p{job}\n")
        (root / str(job) / "status.json").write_text(json.dumps(status))
    return root


def test_a_published_sweep_names_the_commit_its_runs_ran(tmp_path):
    """--publish stamps a sweep with its runs' commit (status.json), never the checkout's at publishing."""
    from benchmarks.bench_compare import sweep_stamp

    t0, t1 = "2026-12-02T03:00:00+00:00", "2026-12-02T04:30:00+00:00"
    runs = [
        {"commit": "abc1234", "uncommitted": [], "started": t0, "ended": "2026-12-02T03:45:00+00:00"},
        {"commit": "abc1234", "uncommitted": ["conf/"], "started": t0, "ended": t1},
    ]
    sweep = _sweep_dir(tmp_path / "s", "compare_pick", runs)
    assert sweep_stamp(sweep, "compare_pick") == (("abc1234", ["conf/"]), 90.0)
    with pytest.raises(
        SystemExit, match=r"not a sweep of experiment=compare \(.*\); pass the --preset it ran"
    ):
        sweep_stamp(sweep, "compare")
    mixed = _sweep_dir(tmp_path / "m", "compare", [runs[0], {**runs[1], "commit": "def5678"}])
    with pytest.raises(SystemExit, match=r"ran different commits \['abc1234', 'def5678'\]"):
        sweep_stamp(mixed, "compare")
    # runs from before status.json held a commit: the last commit before the sweep started, from git
    old = _sweep_dir(tmp_path / "o", "compare", [{"started": "2099-01-01T00:00:00+00:00"}])
    assert sweep_stamp(old, "compare")[0] == (git_stamp(ROOT)[0], [])
