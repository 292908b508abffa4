"""Training checkpoints: safetensors + YAML + JSON, never pickle; atomic on disk.

Layout of one run (what `vla train` writes and `resume=` / `vla eval policy_path=` read):

    <run_dir>/checkpoints/
        step_000500/
            config.yaml                 resolved Hydra config of the run
            pretrained/                 what the policy's save_pretrained writes (weights, tokenizer,
                                        normalisation stats, its own config): `vla eval` loads this
            training_state/
                model.safetensors       raw weights, only when pretrained/ holds EMA weights
                optimizer.safetensors   tensor state (exp_avg, ...);  optimizer.json: the rest
                scheduler.json
                rng_rank<r>.safetensors torch/numpy/python/cuda RNG states as uint8 tensors
                rng_rank<r>.json        their scalar parts
                state.json              step, data position (epoch, batch in epoch, counted in
                                        num_processes x batch_size samples), extras
        last -> step_000500             symlink, replaced atomically

A checkpoint is written into `.tmp-step_000500-<pid>` and renamed into place only when every file
is on disk, then `last` is re-pointed with a second atomic rename, so a process killed at any
moment (SIGKILL, power loss after fsync) leaves `last` on a complete checkpoint.
"""

import json
import os
import random
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
LAST = "last"
PRETRAINED = "pretrained"
TRAINING_STATE = "training_state"
_PREFIX = "step_"
_TMP_PREFIX = ".tmp-"


def step_dir_name(step: int) -> str:
    return f"{_PREFIX}{step:06d}"


# ----------------------------------------------------------------------------------------- saving


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    *,
    save_pretrained: Callable[[Path], None],
    config_yaml: str,
    optimizer_state: Mapping[str, Any] | None = None,
    scheduler: Any = None,
    state: Mapping[str, Any] | None = None,
    raw_model_state: Mapping[str, torch.Tensor] | None = None,
    keep_last: int = 0,
    rank: int = 0,
    rng_states: Sequence[tuple[dict[str, torch.Tensor], dict[str, Any]]] | None = None,
) -> Path:
    """Writes checkpoint `step` atomically, re-points `last`, applies retention; returns its dir.

    save_pretrained(dir) writes the deployable policy (the caller's policy.save_pretrained).
    optimizer_state: the optimizer's state_dict() (parameters by index), gathered in full under FSDP.
    raw_model_state: the non-EMA weights when pretrained/ holds EMA weights (needed to resume).
    state: JSON-serialisable scalars (data position, ...); `step` is added.
    rng_states: capture_rng_state() of every process, in rank order (multi-process training);
    None = this process's, saved as `rank`.
    """
    ckpt_root = Path(run_dir) / CHECKPOINTS
    ckpt_root.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(ckpt_root)
    final = ckpt_root / step_dir_name(step)
    tmp = ckpt_root / f"{_TMP_PREFIX}{final.name}-{os.getpid()}"
    (tmp / TRAINING_STATE).mkdir(parents=True)
    save_pretrained(tmp / PRETRAINED)
    (tmp / "config.yaml").write_text(config_yaml)
    rngs = dict(enumerate(rng_states)) if rng_states is not None else {rank: capture_rng_state()}
    _write_training_state(
        tmp / TRAINING_STATE, step, optimizer_state, scheduler, state, raw_model_state, rngs
    )
    _fsync_tree(tmp)
    if final.exists():  # re-saving a step (e.g. after a resume): move the old one out of the way first
        old = ckpt_root / f"{_TMP_PREFIX}old-{final.name}-{os.getpid()}"
        os.replace(final, old)
        shutil.rmtree(old)
    os.replace(tmp, final)
    _fsync_dir(ckpt_root)
    _point_last(ckpt_root, final.name)
    apply_retention(ckpt_root, keep_last)
    return final


def _write_training_state(
    out: Path,
    step: int,
    optimizer_state: Mapping[str, Any] | None,
    scheduler: Any,
    state: Mapping[str, Any] | None,
    raw_model_state: Mapping[str, torch.Tensor] | None,
    rng_states: Mapping[int, tuple[dict[str, torch.Tensor], dict[str, Any]]],
) -> None:
    if raw_model_state is not None:
        save_file(_contiguous(raw_model_state), str(out / "model.safetensors"))
    if optimizer_state is not None:
        tensors, meta = optimizer_state_to_flat(optimizer_state)
        save_file(tensors, str(out / "optimizer.safetensors"))
        _write_json(out / "optimizer.json", meta)
    if scheduler is not None:
        _write_json(out / "scheduler.json", scheduler.state_dict())
    for rank, (rng_tensors, rng_meta) in rng_states.items():
        save_file(rng_tensors, str(out / f"rng_rank{rank}.safetensors"))
        _write_json(out / f"rng_rank{rank}.json", rng_meta)
    _write_json(out / "state.json", {**dict(state or {}), "step": step})


def _point_last(ckpt_root: Path, name: str) -> None:
    """`last` -> name, by renaming a fresh symlink over the old one (atomic on POSIX)."""
    tmp_link = ckpt_root / f"{_TMP_PREFIX}{LAST}-{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(name, tmp_link)
    os.replace(tmp_link, ckpt_root / LAST)
    _fsync_dir(ckpt_root)


def apply_retention(ckpt_root: Path, keep_last: int) -> list[Path]:
    """Deletes all but the newest `keep_last` step checkpoints (0 keeps all); never the `last` target."""
    if keep_last <= 0:
        return []
    steps = sorted(p for p in ckpt_root.glob(f"{_PREFIX}*") if p.is_dir())
    last = (ckpt_root / LAST).resolve() if (ckpt_root / LAST).is_symlink() else None
    removed = [p for p in steps[:-keep_last] if p.resolve() != last]
    for path in removed:
        shutil.rmtree(path)
    return removed


def _remove_stale_tmp(ckpt_root: Path) -> None:
    """Leftovers of a write that was killed: never complete, never pointed to."""
    for path in ckpt_root.glob(f"{_TMP_PREFIX}*"):
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------- loading


def resolve_checkpoint(path: str | Path) -> Path:
    """A run dir, a checkpoints/ dir, `last`, or a step dir -> the step dir (symlinks resolved)."""
    path = Path(path)
    for candidate in (path / CHECKPOINTS / LAST, path / LAST, path):
        if (candidate / PRETRAINED).is_dir() and (candidate / TRAINING_STATE).is_dir():
            return candidate.resolve()
    raise FileNotFoundError(
        f"no checkpoint at {str(path)!r}: expected a run dir with checkpoints/last, or a checkpoint dir "
        f"holding '{PRETRAINED}/' and '{TRAINING_STATE}/' (written by vla train)"
    )


def pretrained_dir(path: str | Path) -> Path:
    """Where the deployable policy lives: a checkpoint (any form above) or a pretrained/ dir itself."""
    path = Path(path)
    if (path / "config.yaml").exists() and not (path / TRAINING_STATE).exists() and path.name == PRETRAINED:
        return path
    return resolve_checkpoint(path) / PRETRAINED


DEFAULT_FPS = 10  # checkpoints that name no rate were trained on the tabletop envs' default 10 Hz data


def trained_fps(pretrained: str | Path) -> int | None:
    """The control rate (Hz) a policy was trained at: its own config.yaml (`policy.fps`, or a top-level
    `fps`), else the run's config (`env.kwargs.control_hz`, the rate its data was recorded at) next to a
    pretrained/ dir; None when neither says (the caller decides, e.g. DEFAULT_FPS)."""
    import yaml

    pretrained = Path(pretrained)
    own = yaml.safe_load((pretrained / "config.yaml").read_text()) or {}
    fps = own.get("fps") or (own.get("policy") or {}).get("fps")
    run_config = pretrained.parent / "config.yaml"
    if fps is None and pretrained.name == PRETRAINED and run_config.exists():
        run = yaml.safe_load(run_config.read_text()) or {}
        fps = ((run.get("env") or {}).get("kwargs") or {}).get("control_hz")
    return None if fps is None else int(fps)


def load_training_state(
    ckpt_dir: str | Path,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    rank: int = 0,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restores optimizer, scheduler and RNG states in place; returns state.json (step, data position)."""
    ts = Path(ckpt_dir) / TRAINING_STATE
    if optimizer is not None:
        optimizer.load_state_dict(read_optimizer_state(ckpt_dir))
    if scheduler is not None:
        scheduler.load_state_dict(json.loads((ts / "scheduler.json").read_text()))
    if restore_rng:
        saved = saved_process_count(ckpt_dir)
        if saved == 0:
            raise ValueError(f"{ts} holds no rng_rank<r>.json: not a checkpoint written by vla train")
        # Resumed on more processes than saved it: process r takes process (r mod N)'s stream. vla train
        # seeds every process alike, so the streams start as one; more processes cannot be exact anyway
        # (the global batch changes), and this keeps them seeded as the saved run was.
        source = rank % saved
        rng_meta = json.loads((ts / f"rng_rank{source}.json").read_text())
        restore_rng_state(load_file(str(ts / f"rng_rank{source}.safetensors")), rng_meta)
    return json.loads((ts / "state.json").read_text())


def read_optimizer_state(ckpt_dir: str | Path) -> dict[str, Any]:
    """The saved optimizer state_dict (parameters by index), as Optimizer.load_state_dict takes it."""
    ts = Path(ckpt_dir) / TRAINING_STATE
    meta = json.loads((ts / "optimizer.json").read_text())
    return optimizer_state_from_flat(load_file(str(ts / "optimizer.safetensors")), meta)


def saved_process_count(ckpt_dir: str | Path) -> int:
    """How many processes wrote the checkpoint: its rng_rank<r> files (one per process, r = 0..N-1)."""
    return len(list((Path(ckpt_dir) / TRAINING_STATE).glob("rng_rank*.json")))


def load_raw_model_state(ckpt_dir: str | Path) -> dict[str, torch.Tensor] | None:
    """The non-EMA weights if the checkpoint has them (EMA runs), else None (pretrained/ is raw)."""
    path = Path(ckpt_dir) / TRAINING_STATE / "model.safetensors"
    return load_file(str(path)) if path.exists() else None


# ------------------------------------------------------------------- optimizer state without pickle


def optimizer_state_to_flat(sd: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch optimizer state_dict -> ({"state/<param>/<name>": tensor}, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in sd["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{pid}/{name}"] = value.detach().cpu().clone().contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_state_from_flat(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, pid, name = key.split("/", 2)
        state.setdefault(int(pid), {})[name] = value
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    # JSON turns tuples into lists; torch optimizers expect tuples for e.g. AdamW's betas.
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# ------------------------------------------------------------------------------------- RNG states


def capture_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch / cuda / numpy / python RNG states as uint8 tensors + JSON scalars."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda/{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.uint32).view(np.uint8).copy())
    version, internal, gauss_next = random.getstate()
    tensors["python"] = torch.from_numpy(np.asarray(internal, dtype=np.uint32).view(np.uint8).copy())
    meta = {
        "numpy": {
            "kind": kind,
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "gauss_next": gauss_next},
    }
    return tensors, meta


def restore_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda/"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    n = meta["numpy"]
    keys = tensors["numpy"].numpy().view(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = meta["python"]
    internal = tuple(int(x) for x in tensors["python"].numpy().view(np.uint32))
    random.setstate((p["version"], internal, p["gauss_next"]))


# -------------------------------------------------------------------------------------- file utils


def _contiguous(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses shared or strided storage: save independent contiguous copies.
    return {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for path in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        _fsync_dir(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
