"""What a run records about itself for `vla sweep report`: status.json and the training summary.

    <job dir>/status.json   {"status": "running" | "done" | "failed", "error", "traceback", "pid", "host",
                             "commit", "uncommitted", "started", "ended", "wall_s", "peak_rss_mb",
                             "run_dir"}
    metrics.jsonl           one {"split": "summary"} record at the end of training: params,
                            samples_per_s, train_s, eval_s (see train_summary)

"running" is written when the job starts, so a job that is killed (SIGKILL, a lost node) leaves
"running" with a pid that no longer exists: the report calls it failed, never drops it.
"""

import contextlib
import datetime
import json
import os
import resource
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vla.provenance import git_stamp

STATUS_FILE = "status.json"
SUMMARY_SPLIT = "summary"  # the metrics.jsonl split of the end-of-training record


def read_status(job_dir: Path) -> dict[str, Any] | None:
    return read_json(Path(job_dir) / STATUS_FILE)


def read_json(path: Path) -> Any:
    """The file's JSON, or None when it does not exist yet or is being written (a live sweep)."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write(job_dir: Path, status: dict[str, Any]) -> None:
    tmp = job_dir / f".{STATUS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(status, indent=1))
    os.replace(tmp, job_dir / STATUS_FILE)  # a reader never sees half a file


@contextlib.contextmanager
def recorded(job_dir: str | Path) -> Iterator[dict[str, Any]]:
    """status.json in job_dir: "running" now; "done" or "failed" (with the error) when the block ends.

    Exceptions are re-raised untouched. Only the main process of a multi-process run writes (the
    others run the same job). The yielded dict is written at the end: add "run_dir" to it.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        yield {}
        return
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    _reset_peak_rss()
    t0 = time.perf_counter()
    status: dict[str, Any] = {"status": "running", "pid": os.getpid(), "host": socket.gethostname()}
    # the code it ran: the commit, and the folders that differed from it (vla/provenance.py)
    status["commit"], status["uncommitted"] = git_stamp()
    status["started"] = _now()
    _write(job_dir, status)
    extra: dict[str, Any] = {}
    try:
        yield extra
    except BaseException as err:
        if isinstance(err, SystemExit) and err.code in (None, 0):
            _finish(job_dir, status, extra, t0, "done")
        else:
            _finish(job_dir, status, extra, t0, "failed", describe_error(err), traceback.format_exc())
        raise
    _finish(job_dir, status, extra, t0, "done")


def _finish(
    job_dir: Path, status: dict, extra: dict, t0: float, state: str, error: str = "", tb: str = ""
) -> None:
    status.update(
        extra, status=state, ended=_now(), wall_s=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb()
    )
    if error:
        status.update(error=error, traceback=tb)
    _write(job_dir, status)


def describe_error(err: BaseException) -> str:
    """One line: `sys.exit("vla train: config error: ...")` gives its message, an exception its type too."""
    if isinstance(err, SystemExit):
        return str(err.code)
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def process_alive(pid: int, host: str | None) -> bool | None:
    """True / False for a process of this host; None when it ran elsewhere (cannot tell from here)."""
    if host and host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    try:  # a killed job whose parent has not reaped it yet is a zombie: dead all the same
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux: since _reset_peak_rss, i.e. this job), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _reset_peak_rss() -> None:
    # Hydra's basic launcher runs every job of a sweep in one process: without the reset, each job
    # would report the largest peak of all jobs before it. Linux only; elsewhere the peak is the process's.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


class Stopwatch:
    """Wraps a function and adds up the seconds spent in it (the sim evaluations inside training)."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def train_summary(policy: Any, steps: int, samples_per_step: int, fit_s: float, eval_s: float) -> dict:
    """The end-of-training record: size and throughput, comparable across policies.

    samples_per_s counts the samples of all processes (action and scene-QA samples) over the training
    time less the sim evaluations.
    """
    params = list(policy.parameters())
    return {
        "params": sum(p.numel() for p in params),
        "trainable_params": sum(p.numel() for p in params if p.requires_grad),
        "train_s": fit_s, "eval_s": eval_s, "steps_trained": steps,
        "samples_per_s": steps * samples_per_step / max(fit_s - eval_s, 1e-9),
    }  # fmt: skip
