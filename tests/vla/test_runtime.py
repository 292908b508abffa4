"""vla/runtime.py: the thread rule every app applies, and that every app's config carries it."""

import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from vla import runtime
from vla.config import CONF_DIR


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(("cores", "processes", "expected"), [(2, 1, 1), (1, 1, 1), (16, 1, 15), (16, 2, 7)])
def test_auto_leaves_one_core_and_splits_the_rest_among_processes(cores, processes, expected) -> None:
    assert runtime.resolve_threads("auto", cores=cores, processes=processes) == expected


def test_auto_takes_omp_num_threads_and_a_number_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runtime.resolve_threads("auto", cores=16) == 3
    assert runtime.resolve_threads(2, cores=16) == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert runtime.resolve_threads(None, cores=16) == 3  # (16 - 1) // 4


@pytest.mark.parametrize(("cores", "processes", "expected"), [(2, 1, 2), (1, 1, 1), (16, 2, 8), (2, 4, 1)])
def test_all_takes_every_core_split_among_processes(cores, processes, expected, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # `all` is explicit: an inherited count does not cap it
    assert runtime.resolve_threads("all", cores=cores, processes=processes) == expected


@pytest.mark.parametrize("bad", [0, -1, "two", 100])
def test_bad_setting_names_the_key_and_the_range(bad) -> None:
    must = r"runtime.torch_threads=.* must be 'auto', 'all' or an integer in 1\.\.8"
    with pytest.raises(ValueError, match=must):
        runtime.resolve_threads(bad, cores=2)


def test_configure_sets_torch_and_the_environment_children_inherit() -> None:
    """In a child process (torch's thread pool is process-wide): torch and a grandchild see the count."""
    code = (
        "import torch, subprocess, sys\n"
        "from vla import runtime\n"
        "n = runtime.configure({'torch_threads': 1})\n"
        "child = subprocess.run([sys.executable, '-c', 'import torch; print(torch.get_num_threads())'],"
        " capture_output=True, text=True).stdout.strip()\n"
        "print(n, torch.get_num_threads(), child)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["1", "1", "1"]


@pytest.mark.parametrize("app", ["config", "eval", "record", "deploy"])
def test_every_model_app_config_has_the_runtime_group(app: str) -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(app, overrides=["runtime.torch_threads=2"])
    assert cfg.runtime.torch_threads == 2
